"""The outcome of a siting run: stations, one row per community, the summary and its areas.

The plan folder that holds a result is written and read by :mod:`quarterhour.siting.files`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from quarterhour import settings
from quarterhour.geo.crs import convert
from quarterhour.geo.spreadsheets import safe_text, text_warnings
from quarterhour.siting.assign import nearest_station, served_counts
from quarterhour.siting.reasons import REASONS, STATUSES, as_categorical, reason_codes, reason_text
from quarterhour.siting.tables import SITE_STATUSES, Communities, SiteTable, WalkLimit

log = logging.getLogger("quarterhour")

RESULT_COLUMNS = [
    "community_id",
    "community_name",
    "weight",
    "status",
    "station_id",
    "station_name",
    "station_kind",
    "walk_min",
    "covered",
    "covered_today",
    "coverable",
    "reason",
    "reason_text",
    "access_m",
    "nearest_site_m",
    "district",
    "town",
]
"""The columns every community gets, after the planner's own columns."""

INPUT_SUFFIX = " (input)"
"""Added to a planner's column whose header is one of ``RESULT_COLUMNS``."""


def json_scalar(value: object) -> object:
    """JSON-safe scalar: numpy scalars to Python, NaN and inf to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


COVERED_STATUSES: tuple[str, ...] = ("covered_existing", "covered_new")
"""The statuses counted as ``covered``."""

UNCOVERABLE_STATUSES: tuple[str, ...] = ("uncoverable", "off_network")
"""The statuses counted as ``uncoverable`` in a summary: no station site within the limit."""

COUNT_DEFINITIONS: dict[str, str] = {
    "n_communities": "communities_read - status_counts.outside_boundary",
    "covered": "status_counts.covered_existing + status_counts.covered_new",
    "uncoverable": (
        "status_counts.uncoverable + status_counts.off_network (no station site within the "
        "limit: none reachable, or the community is off the streets)"
    ),
    "covered_today": "communities in the plan an existing station reaches within the limit",
    "covered_share": "covered / n_communities (communities)",
    "covered_weight_share": "covered_weight / total_weight (residents, the weight)",
}
"""How a summary's counts derive from ``status_counts`` (written into summary.json)."""

BOUND_KINDS = {"min_cover": "lower", "max_cover": "upper"}
"""Whether a plan's bound is a lower bound (new stations) or an upper one (covered weight)."""

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
class NearestBeyond:
    """The nearest station of uncovered communities within a longer limit (twice the limit).

    Attributes
    ----------
    station
        Per community (model order), the column of its nearest station, -1 where none.
    cost
        Its walk cost (limit units), NaN where none.
    limit
        The longer limit searched.
    """

    station: np.ndarray
    cost: np.ndarray
    limit: WalkLimit


@dataclass(frozen=True)
class Tally:
    """What a plan's summary counts, counted (:meth:`SitingResult.summary_of` shapes it).

    Attributes
    ----------
    communities_read
        Rows of the communities' list.
    counts
        Communities by status, every code of ``STATUSES``.
    covered_today
        In-area communities an existing station reaches within the limit.
    total_weight, covered_weight, today_weight
        Residents in the area, covered, covered by existing stations.
    station_ids, station_kind, station_status
        The stations' columns (existing first), object arrays.
    by_area_kind, by_area
        :func:`area_table`'s kind and its rows as records.
    text_warnings
        What the outputs change in texts (:meth:`SitingResult.text_warnings`).
    """

    communities_read: int
    counts: dict[str, int]
    covered_today: int
    total_weight: float
    covered_weight: float
    today_weight: float
    station_ids: np.ndarray
    station_kind: np.ndarray
    station_status: np.ndarray
    by_area_kind: str | None
    by_area: list[dict[Any, Any]]
    text_warnings: list[str]


@dataclass
class SitingResult:
    """Stations chosen, every community's nearest station, the bound and how they were found.

    Attributes
    ----------
    stations
        One row per station, existing ones first (``rank`` 0) then new ones in pick order
        (``rank`` 1, 2 ...): ``station_id, name, kind, status, rank, lon, lat`` (WGS84),
        ``input_lon, input_lat, input_crs`` (as the site's file gave them), ``address, district,
        town, new_communities, new_weight`` (what the pick newly covered after the stations
        before it; existing stations count what they cover), ``served_communities,
        served_weight`` (communities whose nearest station it is). An existing station off the
        network or outside the area has that ``status`` and covers nothing.
    assignments
        One row per input community, in input order: the planner's own columns as given, then
        ``RESULT_COLUMNS``: ``status`` (a code of :data:`~quarterhour.siting.reasons.STATUSES`),
        the nearest station (within the limit, or for an uncovered community the nearest within
        twice the limit) and its walk minutes, ``reason`` (a code of
        :data:`~quarterhour.siting.reasons.REASONS`) and ``reason_text`` for every uncovered one.
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
        Solver time, the coverage matrix and compiling (``stats["compile_seconds"]``) excluded.
    stats
        Solver details (reductions, iterations, greedy figures ...).
    params
        Walk limit, speed, metric, budget and other options of the run.
    attribution
        Data attribution carried by every output.
    warnings
        Messages about the input a planner should read (uncoverable communities, stations off
        the network ...).
    """

    stations: pd.DataFrame
    assignments: pd.DataFrame
    objective: str
    bound: float
    gap: float
    method: str
    seconds: float
    stats: dict[str, object] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    attribution: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def stopped(self) -> str | None:
        """``"time limit"`` when the caller's time limit cut the search or HiGHS, else None.

        The answer is then the best found by that time: a valid plan, perhaps not the one a
        longer run would give.
        """
        keys = ("search_stop", "lp_bound", "highs_message")
        values = [self.method, *(self.stats.get(key) for key in keys)]
        cut = any(isinstance(value, str) and "time limit" in value.lower() for value in values)
        return "time limit" if cut else None

    @property
    def new_stations(self) -> pd.DataFrame:
        """The new stations in pick order."""
        return self.stations[self.stations["kind"] == "new"].reset_index(drop=True)

    @property
    def uncoverable(self) -> pd.DataFrame:
        """Communities in the area no site can reach within the limit, with reasons."""
        table = self.assignments
        mask = table["status"].isin(UNCOVERABLE_STATUSES).to_numpy()
        return table[mask].reset_index(drop=True)

    @property
    def by_area(self) -> pd.DataFrame:
        """Communities, coverage and new stations by town/street (or district), with a total."""
        return area_table(self.assignments, self.stations)

    @property
    def summary(self) -> dict[str, Any]:
        """Headline figures of the plan, JSON-ready.

        Every count derives from ``status_counts`` (one count per community status; see
        ``count_definitions``), and every share says what it counts: ``*_share`` counts
        communities, ``*_weight_share`` residents (the weight).
        """
        table = self.assignments
        status = table["status"].astype(str).to_numpy()
        in_area = status != "outside_boundary"
        weight = table["weight"].to_numpy(float)
        covered = np.isin(status, COVERED_STATUSES)
        today = table["covered_today"].to_numpy(bool) & in_area
        stations = self.stations
        areas = self.by_area
        tally = Tally(
            communities_read=len(table),
            counts={code: int((status == code).sum()) for code in STATUSES},
            covered_today=int(today.sum()),
            total_weight=float(weight[in_area].sum()),
            covered_weight=float(weight[covered].sum()),
            today_weight=float(weight[today].sum()),
            station_ids=stations["station_id"].to_numpy(object),
            station_kind=stations["kind"].to_numpy(object),
            station_status=stations["status"].to_numpy(object),
            by_area_kind=areas.attrs.get("kind"),
            by_area=areas.to_dict(orient="records"),
            text_warnings=self.text_warnings(),
        )
        return self.summary_of(tally)

    def summary_of(self, tally: Tally) -> dict[str, Any]:
        """:attr:`summary` from its counts (a caller that keeps them counted, the workspace)."""
        counts = tally.counts
        n = sum(counts.values()) - counts["outside_boundary"]
        n_covered = sum(counts[code] for code in COVERED_STATUSES)
        total_weight, covered_weight = tally.total_weight, tally.covered_weight
        today_weight, n_today = tally.today_weight, tally.covered_today
        bound = float(self.bound)
        existing = tally.station_kind == "existing"
        summary = {
            "objective": self.objective,
            "communities_read": tally.communities_read,
            "status_counts": counts,
            "count_definitions": COUNT_DEFINITIONS,
            "n_communities": n,
            "n_existing": int(existing.sum()),
            "n_new": int((tally.station_kind == "new").sum()),
            "existing_inactive": {
                station_status: tally.station_ids[
                    existing & (tally.station_status == station_status)
                ].tolist()
                for station_status in SITE_STATUSES[1:]
            },
            "covered": n_covered,
            "covered_today": n_today,
            "covered_share": n_covered / n if n else 0.0,
            "covered_today_share": n_today / n if n else 0.0,
            "covered_weight": covered_weight,
            "covered_weight_share": covered_weight / total_weight if total_weight > 0 else 0.0,
            "covered_today_weight": today_weight,
            "covered_today_weight_share": (
                today_weight / total_weight if total_weight > 0 else 0.0
            ),
            "total_weight": total_weight,
            "uncoverable": sum(counts[code] for code in UNCOVERABLE_STATUSES),
            "lower_bound": bound if self.objective == "min_cover" else None,
            "upper_bound": bound if self.objective == "max_cover" else None,
            "bound_kind": BOUND_KINDS.get(self.objective),
            "gap": self.gap,
            "gap_note": GAP_NOTE.get(self.objective),
            "method": self.method,
            "search_stop": self.stats.get("search_stop"),
            "stopped": self.stopped,
            "seconds": self.seconds,
            **self.params,
            "by_area_kind": tally.by_area_kind,
            "by_area": [
                {key: json_scalar(value) for key, value in row.items()} for row in tally.by_area
            ],
            "attribution": self.attribution,
            "warnings": [*self.warnings, *tally.text_warnings],
        }
        return {
            key: json_scalar(value) if not isinstance(value, (dict, list)) else value
            for key, value in summary.items()
        }

    def text_warnings(self) -> list[str]:
        """What the outputs change in the names and other texts (control characters, length)."""
        return [
            *text_warnings(self.assignments, what="communities", label="community_id"),
            *text_warnings(self.stations, what="stations", label="station_id"),
        ]

    def to_geojson(self, *, crs: str = "wgs84") -> dict[str, object]:
        """The stations as a GeoJSON FeatureCollection (``kind`` existing/new, ``status``).

        Parameters
        ----------
        crs
            ``"wgs84"`` (RFC 7946, the default), or ``"gcj02"``/``"bd09"`` to draw on AMap or
            Baidu maps (the collection then says so in its ``crs`` member). A station whose
            file is in ``crs`` keeps its coordinates exactly as given; others are converted
            (full precision). ``input_lon``, ``input_lat``, ``input_crs`` keep the given text.
        """
        table = self.stations
        lon, lat = convert(
            table["lon"].to_numpy(float), table["lat"].to_numpy(float), src="wgs84", dst=crs
        )
        given_lon, given_lat = (
            _as_numbers(table[name].to_numpy()) for name in ("input_lon", "input_lat")
        )
        as_given = (table["input_crs"].astype(str).to_numpy() == crs) & np.isfinite(given_lon)
        lon = np.where(as_given, given_lon, lon)
        lat = np.where(as_given, given_lat, lat)
        keys = [key for key in table.columns if key not in ("lon", "lat")]
        features = []
        for position, row in enumerate(table.itertuples(index=False)):
            has_point = np.isfinite(lon[position]) and np.isfinite(lat[position])
            geometry = (
                {"type": "Point", "coordinates": [float(lon[position]), float(lat[position])]}
                if has_point
                else None
            )
            properties = {key: safe_text(json_scalar(getattr(row, key))) for key in keys}
            properties["existing"] = row.kind == "existing"
            features.append({"type": "Feature", "geometry": geometry, "properties": properties})
        collection: dict[str, object] = {"type": "FeatureCollection", "features": features}
        if crs != "wgs84":
            collection["crs"] = crs
        collection["attribution"] = self.attribution
        return collection


def _as_numbers(values: np.ndarray) -> np.ndarray:
    """Texts as floats, NaN where a text is not a number."""
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(float)


def area_table(assignments: pd.DataFrame, stations: pd.DataFrame) -> pd.DataFrame:
    """Communities and stations by town/street, else by district, with a total row.

    Where the communities' town column is given for any row, the groups are towns, and a row
    without a town falls back to its district (``level`` says which a group is); else the groups
    are districts. ``attrs["kind"]`` says which (``"town"``, ``"district"``, or None when neither
    is known). Stations are grouped the same way.
    """
    towns = assignments["town"].astype(str).to_numpy()
    if not (towns != "").any() and not (assignments["district"].astype(str) != "").any():
        return pd.DataFrame().assign(area=[])
    kind = "town" if (towns != "").any() else "district"
    level, labels = area_labels(assignments, kind)
    _, station_labels = area_labels(stations, kind)
    status = assignments["status"].astype(str).to_numpy()
    covered = np.isin(status, COVERED_STATUSES)
    in_area = status != "outside_boundary"
    weight = assignments["weight"].to_numpy(float)
    frame = pd.DataFrame(
        {
            "area": labels,
            "level": level,
            "communities": 1,
            "in_area": in_area,
            "covered_today": assignments["covered_today"].to_numpy(bool) & in_area,
            "covered": covered,
            "uncoverable": np.isin(status, UNCOVERABLE_STATUSES),
            "outside_boundary": ~in_area,
            "weight": weight,
            "covered_weight": np.where(covered, weight, 0.0),
        }
    )
    table = frame.groupby(["area", "level"], sort=False).sum()
    new = stations["kind"].to_numpy() == "new"
    new_by_area = pd.Series(station_labels[new]).value_counts()
    table["new_stations"] = (
        new_by_area.reindex(table.index.get_level_values("area")).fillna(0).astype(int).to_numpy()
    )
    table = table.sort_values(["communities"], ascending=False, kind="stable")
    table = table.astype(
        {name: int for name in table.columns if name not in ("weight", "covered_weight")}
    )
    table = table.reset_index()
    table.attrs["kind"] = kind
    return table


def area_labels(table: pd.DataFrame, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Each row's group and its level: its town, else (or by district) its district."""
    districts = table["district"].astype(str).to_numpy()
    if kind == "district":
        return np.where(districts != "", "district", ""), districts
    towns = table["town"].astype(str).to_numpy()
    has_town = towns != ""
    level = np.where(has_town, "town", np.where(districts != "", "district", ""))
    return level.astype(object), np.where(has_town, towns, districts).astype(object)


def uncoverable_warning(coverable: np.ndarray, in_area: np.ndarray, limit: WalkLimit) -> list[str]:
    """The warning about communities no site can cover, or none (not logged: the caller does)."""
    n_area = int(in_area.sum())
    n_uncoverable = int((~coverable & in_area).sum())
    if n_uncoverable == 0:
        return []
    if n_uncoverable == n_area:
        message = (
            f"none of the {n_area:,} communities has a station site within "
            f"{limit.value:g} {limit.unit}: nothing can be covered"
        )
    else:
        message = (
            f"{n_uncoverable:,} of {n_area:,} communities have no station site within "
            f"{limit.value:g} {limit.unit} and stay uncovered (see 'reason')"
        )
    return [message]


def _statuses(
    communities: Communities,
    *,
    coverable: np.ndarray,
    covered: np.ndarray,
    by_existing: np.ndarray,
    audit_without_stations: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """The reason code and the status of every community."""
    codes = reason_codes(
        coverable=coverable,
        covered=covered,
        access_m=communities.access_m,
        nearest_site_m=communities.nearest_site_m,
        snap_max_m=settings.snap_max_m,
    )
    codes[~communities.in_area] = "outside_boundary"
    if audit_without_stations:
        codes[~covered & communities.in_area & (codes != "off_network")] = "no_station"
    status = np.where(codes == "over_budget", "over_budget", "uncoverable").astype(object)
    status[codes == "off_network"] = "off_network"
    status[codes == "outside_boundary"] = "outside_boundary"
    status[covered] = np.where(by_existing[covered], "covered_existing", "covered_new")
    return codes, status


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
    community_table: pd.DataFrame | None = None,
    beyond: NearestBeyond | None = None,
    params: dict[str, object] | None = None,
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
    community_table
        The planner's table of the communities, in input order, carried into the assignments.
    beyond
        The nearest station of uncovered communities within a longer limit, if searched.
    params
        More options of the run to state in the summary (the model's).
    """
    pattern = sp.csr_matrix((np.ones(cost.nnz, bool), cost.indices, cost.indptr), shape=cost.shape)
    by_col = pattern.tocsc()
    n_new = station_cols.size - n_existing
    kinds = np.asarray(["existing"] * n_existing + ["new"] * n_new, dtype=object)
    # marginal coverage: existing stations together, then each new one in pick order
    covered_so_far = np.zeros(cost.shape[0], bool)
    new_count = np.zeros(station_cols.size, np.int64)
    new_weight = np.zeros(station_cols.size)
    for pick, col in enumerate(station_cols):
        rows = by_col.indices[by_col.indptr[col] : by_col.indptr[col + 1]]
        fresh = rows[~covered_so_far[rows]]
        covered_so_far[fresh] = True
        new_count[pick] = fresh.size
        new_weight[pick] = communities.weight[fresh].sum()
    # nearest station: ties go to the smaller site id, i.e. the smaller column
    by_id = np.argsort(station_cols, kind="stable")
    position, value = nearest_station(cost, station_cols[by_id])
    if by_id.size:
        position = np.where(position >= 0, by_id[np.maximum(position, 0)], -1)
    covered = position >= 0
    existing_cols = station_cols[:n_existing]
    covered_today = pattern[:, existing_cols].getnnz(axis=1) > 0

    # the nearest station of an uncovered community, beyond the limit
    station_col = np.full(len(covered), -1, np.int64)
    station_col[covered] = station_cols[position[covered]]
    walk = value * limit.minutes_per_unit
    if beyond is not None:
        found = ~covered & (beyond.station >= 0)
        station_col = np.where(found, beyond.station, station_col)
        walk = np.where(found, beyond.cost * limit.minutes_per_unit, walk)
    has = station_col >= 0
    kind_of_col = np.full(len(sites), "", dtype=object)
    kind_of_col[station_cols] = kinds
    station_id, station_name, station_kind = (
        np.full(len(covered), "", dtype=object) for _ in range(3)
    )
    station_id[has] = sites.ids[station_col[has]]
    station_name[has] = sites.names[station_col[has]]
    station_kind[has] = kind_of_col[station_col[has]]

    codes, status = _statuses(
        communities,
        coverable=coverable,
        covered=covered,
        by_existing=station_kind == "existing",
        audit_without_stations=objective == "audit" and n_existing == 0,
    )
    limit_text = limit.words()
    assignments = pd.DataFrame(
        {
            "community_id": communities.ids,
            "community_name": communities.names,
            "weight": communities.weight,
            "status": as_categorical(status, STATUSES),
            "station_id": station_id,
            "station_name": station_name,
            "station_kind": station_kind,
            "walk_min": np.where(has, walk, np.nan),
            "covered": covered,
            "covered_today": covered_today,
            "coverable": coverable,
            "reason": as_categorical(codes, REASONS),
            "reason_text": [
                reason_text(code, access_m=access, nearest_site_m=nearest, limit=limit_text)
                for code, access, nearest in zip(
                    codes, communities.access_m, communities.nearest_site_m, strict=True
                )
            ],
            "access_m": communities.access_m,
            "nearest_site_m": communities.nearest_site_m,
            "district": communities.district,
            "town": communities.town,
        }
    )
    assignments = assignments.iloc[np.argsort(communities.position, kind="stable")]
    assignments = assignments.reset_index(drop=True)
    if community_table is not None and len(community_table.columns):
        planner = community_table.reset_index(drop=True).rename(
            columns=lambda name: f"{name}{INPUT_SUFFIX}" if name in RESULT_COLUMNS else name
        )
        assignments = pd.concat([planner, assignments], axis=1)

    served_count, served_weight = served_counts(position, communities.weight, station_cols.size)
    stations = pd.DataFrame(
        {
            "station_id": sites.ids[station_cols],
            "name": sites.names[station_cols],
            "kind": kinds,
            "status": sites.status[station_cols],
            "rank": np.concatenate([np.zeros(n_existing, int), np.arange(1, n_new + 1)]),
            "lon": sites.lon[station_cols],
            "lat": sites.lat[station_cols],
            "input_lon": sites.input_lon[station_cols],
            "input_lat": sites.input_lat[station_cols],
            "input_crs": sites.input_crs[station_cols],
            "address": sites.address[station_cols],
            "district": sites.district[station_cols],
            "town": sites.town[station_cols],
            "new_communities": new_count,
            "new_weight": new_weight,
            "served_communities": served_count,
            "served_weight": served_weight,
        }
    )
    existing_order = np.argsort(sites.position[existing_cols], kind="stable")
    stations = pd.concat([stations.iloc[existing_order], stations.iloc[n_existing:]])
    stations = stations.reset_index(drop=True)
    run_params: dict[str, object] = {
        "minutes": limit.minutes,
        "meters": limit.meters,
        "speed_kmh": limit.speed_kmh,
        "metric": limit.metric,
        "budget": budget,
        "n_candidates": int((~sites.existing & (sites.status == "active")).sum()),
        "nearest_beyond_limit": None if beyond is None else beyond.limit.value,
        **(params or {}),
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
        run_params,
        attribution,
        warnings,
    )
