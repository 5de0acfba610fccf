"""The outcome of a siting run and its exports (GeoJSON stations, CSV assignments, JSON summary).

The plan folder that holds them is written and read by :mod:`siting.files`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ASSIGNMENT_COLUMNS = ["community_id", "community_name", "station_id", "station_kind", "walk_min", "covered"]


def json_scalar(value: object) -> object:
    """JSON-safe scalar: numpy scalars to Python, NaN and inf to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class SitingResult:
    """Stations chosen, every community's nearest station, the bound and how they were found.

    Attributes
    ----------
    stations
        One row per station, existing ones first (``rank`` 0) then new ones in pick order
        (``rank`` 1, 2 ...): ``station_id, name, kind, rank, lon, lat, new_communities,
        new_weight`` (what the pick newly covered after the stations before it; existing stations
        count what they cover), ``served_communities, served_weight`` (communities whose nearest
        station it is).
    assignments
        One row per community, in id order: ``community_id, community_name, station_id,
        station_kind, walk_min, covered, weight, coverable, access_m, nearest_site_m, reason``.
        ``reason`` explains every uncovered community.
    objective
        ``"min_cover"`` (fewest new stations covering every coverable community) or
        ``"max_cover"`` (most weight covered with ``budget`` new stations).
    bound
        Lower bound on the number of new stations (``min_cover``) or upper bound on the covered
        weight (``max_cover``).
    gap
        Relative distance between the answer and the bound; 0 means proven optimal.
    method
        How the stations were found (``"heuristic"``, ``"exact"`` ...).
    seconds
        Solver time, the coverage matrix excluded.
    stats
        Solver details (reductions, iterations, greedy figures ...).
    params
        Walk limit, speed, metric, budget and other options of the run.
    attribution
        Data attribution carried by every output.
    warnings
        Messages about the input a planner should read (e.g. uncoverable communities).
    """

    stations: pd.DataFrame
    assignments: pd.DataFrame
    objective: str
    bound: float
    gap: float
    method: str
    seconds: float
    stats: dict[str, object] = field(default_factory=dict)
    params: dict[str, object] = field(default_factory=dict)
    attribution: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def new_stations(self) -> pd.DataFrame:
        """The new stations in pick order."""
        return self.stations[self.stations["kind"] == "new"].reset_index(drop=True)

    @property
    def uncoverable(self) -> pd.DataFrame:
        """Communities no station site can reach within the limit, with distances and reasons."""
        return self.assignments[~self.assignments["coverable"]].reset_index(drop=True)

    def summary(self) -> dict[str, object]:
        """Headline figures of the plan, JSON-ready."""
        table = self.assignments
        weight = table["weight"].to_numpy(float)
        covered = table["covered"].to_numpy(bool)
        n = len(table)
        total_weight = float(weight.sum())
        bound = float(self.bound)
        summary = {
            "objective": self.objective,
            "n_communities": n,
            "n_existing": int((self.stations["kind"] == "existing").sum()),
            "n_new": int((self.stations["kind"] == "new").sum()),
            "covered": int(covered.sum()),
            "covered_share": covered.sum() / n if n else 0.0,
            "covered_weight": float(weight[covered].sum()),
            "covered_weight_share": float(weight[covered].sum()) / total_weight if total_weight > 0 else 0.0,
            "uncoverable": int((~table["coverable"]).sum()),
            "lower_bound": bound if self.objective == "min_cover" else None,
            "upper_bound": bound if self.objective == "max_cover" else None,
            "gap": self.gap,
            "method": self.method,
            "seconds": self.seconds,
            **self.params,
            "attribution": self.attribution,
            "warnings": list(self.warnings),
        }
        return {key: json_scalar(value) for key, value in summary.items()}

    def to_geojson(self) -> dict[str, object]:
        """The stations as a GeoJSON FeatureCollection (``kind`` existing/new, ``rank``)."""
        features = []
        for row in self.stations.itertuples(index=False):
            has_point = np.isfinite(row.lon) and np.isfinite(row.lat)
            features.append({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(row.lon), float(row.lat)]} if has_point else None,
                "properties": {
                    key: json_scalar(getattr(row, key))
                    for key in ("station_id", "name", "kind", "rank", "new_communities", "new_weight",
                                "served_communities", "served_weight")
                } | {"existing": row.kind == "existing"},
            })
        return {"type": "FeatureCollection", "features": features, "attribution": self.attribution}

    def assignments_csv(self) -> str:
        """The assignments as CSV text (the columns of ``ASSIGNMENT_COLUMNS`` first)."""
        extra = [name for name in self.assignments.columns if name not in ASSIGNMENT_COLUMNS]
        return self.assignments[ASSIGNMENT_COLUMNS + extra].to_csv(index=False, float_format="%.3f")
