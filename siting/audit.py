"""Coverage audit: which communities reach an existing station within the walk limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from quarterhour.geo.points import PointSet, as_point_set
from quarterhour.siting.inputs import check_ids
from quarterhour.siting.model import CoverageModel

if TYPE_CHECKING:
    from quarterhour.routing.graph import WalkNetwork
    from quarterhour.siting.model import PointsLike
    from quarterhour.siting.result import SitingResult


@dataclass
class CoverageAudit:
    """Coverage of communities by existing stations.

    Attributes
    ----------
    communities
        One row per community (id order): ``community_id, name, nearest_station_id, walk_min,
        covered, weight, access_m, nearest_site_m, status, reason, reason_text``.
    stations
        One row per station: ``station_id, name, lon, lat, communities, weight`` (the communities
        whose nearest station it is) and ``community_ids`` (them, ``;``-separated).
    summary
        ``n_communities, n_stations, covered, covered_share, covered_weight_share, uncovered,
        minutes, meters, speed_kmh, metric, attribution``.
    """

    communities: pd.DataFrame
    stations: pd.DataFrame
    summary: dict[str, object]


def audit_of_stations(result: SitingResult) -> CoverageAudit:
    """Turn the assignment of communities to the existing stations into an audit."""
    table = result.assignments
    communities = pd.DataFrame(
        {
            "community_id": table["community_id"],
            "name": table["community_name"],
            "nearest_station_id": table["station_id"],
            "walk_min": table["walk_min"],
            "covered": table["covered"],
            "weight": table["weight"],
            "access_m": table["access_m"],
            "nearest_site_m": table["nearest_site_m"],
            "status": table["status"],
            "reason": table["reason"],
            "reason_text": table["reason_text"],
        }
    )
    served = (
        communities[communities["covered"]]
        .groupby("nearest_station_id")["community_id"]
        .agg(";".join)
    )
    stations = result.stations[
        ["station_id", "name", "lon", "lat", "served_communities", "served_weight"]
    ]
    stations = stations.rename(
        columns={"served_communities": "communities", "served_weight": "weight"}
    )
    stations = stations.assign(
        community_ids=stations["station_id"].map(served).fillna("").to_numpy()
    )
    full = result.summary
    summary = {
        "n_communities": full["n_communities"],
        "n_stations": len(stations),
        "covered": full["covered"],
        "covered_share": full["covered_share"],
        "covered_weight_share": full["covered_weight_share"],
        "uncovered": full["n_communities"] - full["covered"],
        **{key: full[key] for key in ("minutes", "meters", "speed_kmh", "metric", "attribution")},
    }
    return CoverageAudit(communities, stations, summary)


def coverage_audit(
    network: WalkNetwork | str,
    communities: PointsLike,
    stations: PointsLike,
    *,
    minutes: float | None = None,
    speed_kmh: float | None = None,
    meters: float | None = None,
    crs: str | None = None,
    quiet: bool = True,
) -> CoverageAudit:
    """Audit how well existing ``stations`` cover ``communities`` on a walking ``network``.

    Parameters
    ----------
    network
        A walking network, or the path of an OSM file to load it from.
    communities
        Demand points (with weights).
    stations
        Existing stations.
    minutes, speed_kmh, meters
        Walk limit in minutes at ``speed_kmh``, or in metres with ``meters``.
    crs
        Coordinate system of frames given without one.
    quiet
        Hide progress bars (of the network build and of the walk times).
    """
    stations = as_point_set(stations, crs=crs, role="stations")
    check_ids(stations.ids, "stations")  # the model would call them existing stations
    model = CoverageModel.from_points(
        network,
        communities,
        existing=stations,
        candidates=PointSet.empty(),
        minutes=minutes,
        speed_kmh=speed_kmh,
        meters=meters,
        crs=crs,
        quiet=quiet,
    )
    return model.audit()
