"""Coverage audit: which communities reach an existing station within the walk limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from quarterhour.siting.result import SitingResult


AUDIT_EXTRAS: tuple[str, ...] = (
    "mean_walk_min",
    "longest_walk_min",
    "weighted_walk_min",
    "capacity",
    "staffing",
    "staffing_by_area",
)
"""Summary figures an audit carries when its result has them (walks; staffing with a capacity)."""


@dataclass
class CoverageAudit:
    """Coverage of communities by existing stations.

    Attributes
    ----------
    communities
        One row per input community, in input order, as a plan's assignments: the planner's
        columns, then ``community_id, community_name, weight, status, station_id,
        station_name, walk_min, covered, reason, reason_text ...`` (the nearest existing station
        within the limit, or for an uncovered community the nearest within twice the limit).
    stations
        One row per existing station, in input order: ``station_id, name, status, lon, lat,
        communities, weight`` (the communities whose nearest station it is, zero included) and
        ``community_ids`` (them, ``;``-separated).
    summary
        ``communities_read, status_counts, n_communities, n_stations, covered, covered_share,
        covered_weight_share, uncovered, minutes, meters, speed_kmh, metric, by_area,
        attribution, warnings``, the walks (``mean_walk_min, longest_walk_min``) and, with a
        capacity, ``capacity, staffing, staffing_by_area`` (the stations then have ``aides,
        capacity, demand_weight, aides_needed, shortfall``).
    """

    communities: pd.DataFrame
    stations: pd.DataFrame
    summary: dict[str, Any]


def audit_of_stations(result: SitingResult) -> CoverageAudit:
    """Turn the assignment of communities to the existing stations into an audit."""
    table = result.assignments
    served = table[table["covered"]].groupby("station_id")["community_id"].agg(";".join)
    stations = result.stations.drop(
        columns=["kind", "rank", "new_communities", "new_weight"]
    ).rename(columns={"served_communities": "communities", "served_weight": "weight"})
    stations = stations.assign(
        community_ids=stations["station_id"].map(served).astype(object).fillna("").to_numpy()
    )
    full = result.summary
    summary = {
        key: full[key]
        for key in (
            "communities_read",
            "status_counts",
            "n_communities",
            "covered",
            "covered_share",
            "covered_weight",
            "covered_weight_share",
        )
    }
    summary |= {"n_stations": len(stations), "uncovered": full["n_communities"] - full["covered"]}
    summary |= {
        key: full.get(key)
        for key in (
            "existing_inactive",
            "minutes",
            "meters",
            "speed_kmh",
            "metric",
            "stations_outside_boundary_serve",
            "by_area_kind",
            "by_area",
            "attribution",
            "warnings",
        )
    }
    summary |= {key: full[key] for key in AUDIT_EXTRAS if key in full}
    return CoverageAudit(table, stations, summary)
