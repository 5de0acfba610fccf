"""The tables of a siting model and the outcome of a run (stations, assignments, summary).

The plan folder that holds a result is written and read by :mod:`quarterhour.siting.files`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from quarterhour import settings
from quarterhour.routing.walktimes import check_limit, check_speed
from quarterhour.siting.assign import nearest_station, served_counts
from quarterhour.siting.reasons import (
    REASONS,
    STATUSES,
    as_categorical,
    limit_words,
    reason_codes,
    reason_text,
)

ASSIGNMENT_COLUMNS = [
    "community_id",
    "community_name",
    "station_id",
    "station_kind",
    "walk_min",
    "covered",
]
"""The first columns of ``assignments.csv``."""


def json_scalar(value: object) -> object:
    """JSON-safe scalar: numpy scalars to Python, NaN and inf to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


GAP_NOTE = {
    "min_cover": (
        "gap = (new stations - lower bound rounded up) / new stations. It is computed from the "
        "bound, so it is an upper limit on the true gap to the optimum, not the gap itself: "
        "where the bound is weak the true gap is often much smaller."
    ),
    "max_cover": (
        "gap = (upper bound - covered weight) / upper bound. It is computed from the bound, so "
        "it is an upper limit on the true gap to the optimum, not the gap itself."
    ),
}
"""What the ``gap`` of a plan's summary means, by objective (written into summary.json)."""


@dataclass(frozen=True)
class WalkLimit:
    """A walk limit: minutes at a speed, or metres.

    Attributes
    ----------
    value
        The limit, in minutes (``metric`` time) or metres (``metric`` distance).
    metric
        ``"time"`` or ``"distance"``.
    speed_kmh
        Walking speed (it also turns distances into minutes).
    """

    value: float
    metric: str
    speed_kmh: float

    @classmethod
    def checked(
        cls,
        *,
        minutes: float | None = None,
        meters: float | None = None,
        speed_kmh: float | None = None,
    ) -> WalkLimit:
        """Validate a limit; defaults come from :mod:`quarterhour.settings` at call time."""
        value, metric = check_limit(minutes=minutes, meters=meters)
        return cls(value, metric, check_speed(speed_kmh))

    @property
    def minutes(self) -> float | None:
        """The limit in minutes, or None in distance mode."""
        return self.value if self.metric == "time" else None

    @property
    def meters(self) -> float | None:
        """The limit in metres, or None in time mode."""
        return self.value if self.metric == "distance" else None

    @property
    def unit(self) -> str:
        """``"min"`` or ``"m"``: the unit of ``value``."""
        return "min" if self.metric == "time" else "m"

    @property
    def minutes_per_unit(self) -> float:
        """Minutes walked per unit of the cost matrix."""
        return 1.0 if self.metric == "time" else 60.0 / (self.speed_kmh * 1000.0)

    def words(self, lang: str = "en") -> str:
        """The limit in words (``15 min``, ``1,000 m``; Chinese with ``lang="zh"``)."""
        return limit_words(self.value, self.metric, lang=lang)


@dataclass(frozen=True)
class Communities:
    """The rows of a siting model, in id order.

    Attributes
    ----------
    ids, names
        Strings (object dtype).
    weight
        Residents (or other demand) of each community.
    access_m
        Metres to the walking network (NaN where unknown).
    nearest_site_m
        Straight-line metres to the nearest site (NaN where unknown, inf where none).
    """

    ids: np.ndarray
    names: np.ndarray
    weight: np.ndarray
    access_m: np.ndarray
    nearest_site_m: np.ndarray


@dataclass(frozen=True)
class SiteTable:
    """The columns of a siting model (existing stations and candidate sites), in id order.

    Attributes
    ----------
    ids, names
        Strings (object dtype); existing and candidate ids share one namespace.
    existing
        Whether each site is an existing station (kept).
    lon, lat
        WGS84 degrees (NaN where unknown).
    """

    ids: np.ndarray
    names: np.ndarray
    existing: np.ndarray
    lon: np.ndarray
    lat: np.ndarray


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
        station_kind, walk_min, covered, weight, coverable, access_m, nearest_site_m, status,
        reason, reason_text``. ``reason`` (a code of :data:`~quarterhour.siting.reasons.REASONS`)
        explains every uncovered community; ``reason_text`` says it in English.
    objective
        ``"min_cover"`` (fewest new stations covering every coverable community),
        ``"max_cover"`` (most weight covered with ``budget`` new stations) or ``"audit"``.
    bound
        Lower bound on the number of new stations (``min_cover``) or upper bound on the covered
        weight (``max_cover``).
    gap
        Relative distance between the answer and the bound; 0 means proven optimal. It is an
        upper limit on the true gap to the optimum, which can be much smaller (see
        :data:`GAP_NOTE`).
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

    @property
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
            "covered_weight_share": (
                float(weight[covered].sum()) / total_weight if total_weight > 0 else 0.0
            ),
            "uncoverable": int((~table["coverable"]).sum()),
            "lower_bound": bound if self.objective == "min_cover" else None,
            "upper_bound": bound if self.objective == "max_cover" else None,
            "gap": self.gap,
            "gap_note": GAP_NOTE.get(self.objective),
            "method": self.method,
            "search_stop": self.stats.get("search_stop"),
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
            geometry = (
                {"type": "Point", "coordinates": [float(row.lon), float(row.lat)]}
                if has_point
                else None
            )
            properties = {
                key: json_scalar(getattr(row, key))
                for key in (
                    "station_id",
                    "name",
                    "kind",
                    "rank",
                    "new_communities",
                    "new_weight",
                    "served_communities",
                    "served_weight",
                )
            }
            properties["existing"] = row.kind == "existing"
            features.append({"type": "Feature", "geometry": geometry, "properties": properties})
        return {"type": "FeatureCollection", "features": features, "attribution": self.attribution}

    def assignments_csv(self) -> str:
        """The assignments as CSV text (the columns of ``ASSIGNMENT_COLUMNS`` first)."""
        extra = [name for name in self.assignments.columns if name not in ASSIGNMENT_COLUMNS]
        table = self.assignments[ASSIGNMENT_COLUMNS + extra]
        return table.to_csv(index=False, float_format="%.3f")


def uncoverable_warning(coverable: np.ndarray, limit: WalkLimit) -> list[str]:
    """The warning about communities no site can cover (logged too), or none."""
    import logging

    n_uncoverable = int((~coverable).sum())
    if n_uncoverable == 0:
        return []
    if n_uncoverable == coverable.size:
        message = (
            f"none of the {coverable.size:,} communities has a station site within "
            f"{limit.value:g} {limit.unit}: nothing can be covered"
        )
    else:
        message = (
            f"{n_uncoverable:,} of {coverable.size:,} communities have no station site within "
            f"{limit.value:g} {limit.unit} and stay uncovered (see 'reason')"
        )
    logging.getLogger("quarterhour").warning(message)
    return [message]


def build_result(
    cost: sp.csr_matrix,
    communities: Communities,
    sites: SiteTable,
    limit: WalkLimit,
    *,
    station_cols: np.ndarray,
    n_existing: int,
    coverable: np.ndarray,
    objective: str,
    bound: float,
    gap: float,
    method: str,
    seconds: float,
    stats: dict[str, object],
    budget: int | None,
    attribution: str,
    warnings: list[str],
) -> SitingResult:
    """Assemble the result of a run: the stations and every community's nearest one.

    Parameters
    ----------
    cost
        The model's cost matrix (communities x sites).
    communities, sites, limit
        The model's rows, columns and walk limit.
    station_cols
        The columns of the stations: the ``n_existing`` existing ones, then the new ones in pick
        order.
    n_existing
        How many of ``station_cols`` are existing stations.
    coverable
        Whether some site (an existing station, or any site in a plan) reaches each community.
    objective, bound, gap, method, seconds, stats, budget, attribution, warnings
        What the solver found and how; see :class:`SitingResult`.
    """
    pattern = sp.csr_matrix((np.ones(cost.nnz, bool), cost.indices, cost.indptr), shape=cost.shape)
    by_col = pattern.tocsc()
    kinds = np.asarray(["existing"] * n_existing + ["new"] * (station_cols.size - n_existing))
    kinds = kinds.astype(object)
    # marginal coverage: existing stations together, then each new one in pick order
    covered_so_far = np.zeros(cost.shape[0], bool)
    new_count = np.zeros(station_cols.size, np.int64)
    new_weight = np.zeros(station_cols.size)
    for position, col in enumerate(station_cols):
        rows = by_col.indices[by_col.indptr[col] : by_col.indptr[col + 1]]
        fresh = rows[~covered_so_far[rows]]
        covered_so_far[fresh] = True
        new_count[position] = fresh.size
        new_weight[position] = communities.weight[fresh].sum()
    # nearest station: ties go to the smaller site id, i.e. the smaller column
    by_id = np.argsort(station_cols, kind="stable")
    position, value = nearest_station(cost, station_cols[by_id])
    if by_id.size:
        position = np.where(position >= 0, by_id[np.maximum(position, 0)], -1)
    covered = position >= 0
    safe = np.where(covered, position, 0)
    station_ids = sites.ids[station_cols]
    has_station = station_ids.size > 0
    codes = reason_codes(
        coverable=coverable,
        covered=covered,
        access_m=communities.access_m,
        nearest_site_m=communities.nearest_site_m,
        snap_max_m=settings.snap_max_m,
    )
    if objective == "audit" and not has_station:
        codes[:] = "no_station"
    status = np.where(
        covered,
        np.where(kinds[safe] == "existing", "covered_existing", "covered_new")
        if has_station
        else "",
        np.where(codes == "off_network", "off_network", "uncoverable"),
    )
    limit_text = limit.words()
    assignments = pd.DataFrame(
        {
            "community_id": communities.ids,
            "community_name": communities.names,
            "weight": communities.weight,
            "station_id": np.where(covered, station_ids[safe] if has_station else "", ""),
            "station_kind": np.where(covered, kinds[safe] if has_station else "", ""),
            "walk_min": value * limit.minutes_per_unit,
            "covered": covered,
            "coverable": coverable,
            "access_m": communities.access_m,
            "nearest_site_m": communities.nearest_site_m,
            "status": as_categorical(status, STATUSES),
            "reason": as_categorical(codes, REASONS),
            "reason_text": [
                reason_text(code, access_m=access, nearest_site_m=nearest, limit=limit_text)
                for code, access, nearest in zip(
                    codes, communities.access_m, communities.nearest_site_m, strict=True
                )
            ],
        }
    )
    served_count, served_weight = served_counts(position, communities.weight, station_cols.size)
    stations = pd.DataFrame(
        {
            "station_id": station_ids,
            "name": sites.names[station_cols],
            "kind": kinds,
            "rank": np.concatenate(
                [np.zeros(n_existing, int), np.arange(1, station_cols.size - n_existing + 1)]
            ),
            "lon": sites.lon[station_cols],
            "lat": sites.lat[station_cols],
            "new_communities": new_count,
            "new_weight": new_weight,
            "served_communities": served_count,
            "served_weight": served_weight,
        }
    )
    params = {
        "minutes": limit.minutes,
        "meters": limit.meters,
        "speed_kmh": limit.speed_kmh,
        "metric": limit.metric,
        "budget": budget,
        "n_candidates": int((~sites.existing).sum()),
    }
    return SitingResult(
        stations,
        assignments,
        objective,
        bound,
        gap,
        method,
        seconds,
        stats,
        params,
        attribution,
        warnings,
    )
