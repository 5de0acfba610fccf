"""Coverage audit: which communities reach an existing station within the walk limit."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from geo.points import PointSet
from routing import settings
from siting.inputs import check_ids
from siting.model import CoverageModel


@dataclass
class CoverageAudit:
    """Coverage of communities by existing stations.

    Attributes
    ----------
    communities
        One row per community (id order): ``community_id, name, nearest_station_id, walk_min,
        covered, weight, access_m, nearest_site_m, reason``.
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


def audit_model(model: CoverageModel) -> CoverageAudit:
    """Audit a model whose sites are all existing stations (no new station is chosen)."""
    result = model.solve(budget=0).result
    table = result.assignments
    communities = pd.DataFrame({
        "community_id": table["community_id"],
        "name": table["community_name"],
        "nearest_station_id": table["station_id"],
        "walk_min": table["walk_min"],
        "covered": table["covered"],
        "weight": table["weight"],
        "access_m": table["access_m"],
        "nearest_site_m": table["nearest_site_m"],
        "reason": table["reason"],  # every site is a station: uncovered means uncoverable
    })
    served = communities[communities["covered"]].groupby("nearest_station_id")["community_id"].agg(";".join)
    stations = result.stations[["station_id", "name", "lon", "lat", "served_communities", "served_weight"]]
    stations = stations.rename(columns={"served_communities": "communities", "served_weight": "weight"})
    stations = stations.assign(community_ids=stations["station_id"].map(served).fillna("").to_numpy())
    full = result.summary()
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
    network: object,
    communities: PointSet,
    stations: PointSet,
    *,
    minutes: float = settings.walk_limit_minutes,
    speed_kmh: float = settings.walk_speed_kmh,
    meters: float | None = None,
    quiet: bool = False,
) -> CoverageAudit:
    """Audit how well existing ``stations`` cover ``communities`` on a walking ``network``.

    Parameters
    ----------
    network
        A ``routing.network.WalkNetwork``, or the path of an OSM file to load it from.
    communities
        Demand points (with weights).
    stations
        Existing stations.
    minutes, speed_kmh, meters
        Walk limit in minutes at ``speed_kmh``, or in metres with ``meters``.
    quiet
        Hide progress bars (of the network build and of the walk times).
    """
    check_ids(stations.ids, "stations")  # the model would call them candidate sites
    model = CoverageModel.from_points(
        network, communities, existing=None, candidates=stations,
        minutes=minutes, speed_kmh=speed_kmh, meters=meters, quiet=quiet,
    )
    model.existing[:] = True
    return audit_model(model)
