"""A scenario's assignment kept in arrays, updated by one edit in time proportional to its reach.

:class:`Assignment` holds, for every community, its nearest station within twice the walk limit
(cost and station), and every station's reach as one list of pairs. Adding a station compares
only the communities it reaches; removing one re-chooses only the communities it served, among
the pairs of the other stations. The summary is then :class:`~quarterhour.siting.result.
SitingResult`'s own, computed on a table of just the columns it reads, so it equals the full
evaluation (``ProjectEngine.evaluate``) that a ``GET`` answers with.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

import numpy as np
import pandas as pd

from quarterhour import settings
from quarterhour.geo.points import PointSet
from quarterhour.geo.spreadsheets import CELL_CHARS, CONTROL_CHARACTERS, text_warnings
from quarterhour.siting import inputs
from quarterhour.siting.points import inactive_station_warnings
from quarterhour.siting.reasons import STATUSES, as_categorical, reason_codes, reason_text
from quarterhour.siting.result import (
    INPUT_SUFFIX,
    RESULT_COLUMNS,
    SitingResult,
    Tally,
    area_labels,
    area_table,
    json_scalar,
    uncoverable_warning,
)
from quarterhour.siting.tables import SiteTable

STATUS_INDEX = {code: k for k, code in enumerate(STATUSES)}
STATUS_ARRAY = np.asarray(STATUSES, dtype=object)


class Outcome(TypedDict, total=False):
    """How a scenario's stations were chosen, as stored with it (``objective`` audit for none).

    A plan's ``uncoverable`` lists the positions of the in-area communities no site reaches;
    ``edited`` marks a plan changed by hand since (its gap is then unknown, None).
    """

    objective: str
    bound: float | None
    gap: float | None
    method: str
    seconds: float
    stats: dict[str, object]
    budget: int | None
    n_candidates: int | None
    uncoverable: list[int]
    edited: bool


if TYPE_CHECKING:
    from quarterhour.geo.projection import LocalProjection
    from quarterhour.routing.graph import WalkNetwork
    from quarterhour.siting.tables import Communities, WalkLimit


class ProjectView(Protocol):
    """What the assignment reads of a project's engine."""

    limit: WalkLimit
    longer: WalkLimit
    network: WalkNetwork

    @property
    def communities(self) -> Communities:
        """The communities as the siting model takes them."""

    @property
    def homes(self) -> PointSet:
        """The communities as read."""

    @property
    def projection(self) -> LocalProjection:
        """The communities' UTM zone."""

    @property
    def summary_parts(self) -> SummaryParts:
        """What the project's summaries share."""


@dataclass
class Reach:
    """The communities one station reaches within twice the limit (row positions, costs)."""

    rows: np.ndarray
    cost: np.ndarray
    on_network: bool = True

    @property
    def nbytes(self) -> int:
        """Memory held."""
        return int(self.rows.nbytes + self.cost.nbytes)


@dataclass(frozen=True)
class Station:
    """What the assignment needs of one station."""

    id: str
    name: str
    kind: str
    status: str
    lon: float
    lat: float
    position: int
    district: str
    town: str
    reach: Reach
    clean: bool = True
    """Whether the outputs write every text of the station as it is (see ``_clean``)."""


@dataclass
class Assignment:
    """Every community's nearest station within twice the limit, and today's coverage.

    Stations are numbered as they come (``keys``); ties of cost go to the smaller id, as in the
    siting model (its columns are sorted by id). The pairs (community, station) live in the
    stations' reaches, shared by every version; a removal gathers them for the communities the
    station served.

    Attributes
    ----------
    stations
        By id.
    keys
        The number of each station id (``ids`` is the reverse).
    best_cost, best_key
        Per community: the cost to its nearest active station within twice the limit (inf where
        none) and that station's number (-1 where none).
    today
        Per community: how many active existing stations reach it within the limit.
    limit
        The walk limit's value (cost units; a pair within ``limit + 1e-9`` covers).
    """

    stations: dict[str, Station]
    keys: dict[str, int]
    ids: list[str]
    best_cost: np.ndarray
    best_key: np.ndarray
    today: np.ndarray
    limit: float

    @property
    def nbytes(self) -> int:
        """Memory held by the per-community arrays (the reaches are the engine's)."""
        return int(self.best_cost.nbytes + self.best_key.nbytes + self.today.nbytes)

    @classmethod
    def build(cls, stations: list[Station], n: int, limit: float) -> Assignment:
        """The assignment of a scenario's stations, from scratch."""
        ids = [s.id for s in stations]
        state = cls(
            {s.id: s for s in stations},
            {identifier: k for k, identifier in enumerate(ids)},
            ids,
            np.full(n, np.inf),
            np.full(n, -1, np.int32),
            np.zeros(n, np.int32),
            limit,
        )
        for station in stations:
            state._count_today(station, 1)
        state._choose(np.arange(n))
        return state

    def _count_today(self, station: Station, step: int) -> None:
        if station.status == "active" and station.kind == "existing":
            reach = station.reach
            np.add.at(self.today, reach.rows[reach.cost <= self.limit + 1e-9], step)

    def _pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every active station's reach: rows, costs and station numbers, one per pair."""
        active = [s for s in self.stations.values() if s.status == "active"]
        if not active:
            return np.empty(0, np.int32), np.empty(0), np.empty(0, np.int32)
        sizes = [s.reach.rows.size for s in active]
        keys = np.asarray([self.keys[s.id] for s in active], np.int32)
        return (
            np.concatenate([s.reach.rows for s in active]),
            np.concatenate([s.reach.cost for s in active]),
            np.repeat(keys, sizes),
        )

    def _choose(self, rows: np.ndarray) -> None:
        """Choose again the nearest station of ``rows`` among all pairs."""
        self.best_cost[rows] = np.inf
        self.best_key[rows] = -1
        if rows.size == 0:
            return
        mark = np.zeros(self.best_cost.size, bool)
        mark[rows] = True
        pair_rows, pair_cost, pair_key = self._pairs()
        picked = np.flatnonzero(mark[pair_rows])
        if picked.size == 0:
            return
        row = pair_rows[picked]
        cost = pair_cost[picked]
        key = pair_key[picked]
        order = np.lexsort((cost, row))
        row, cost, key = row[order], cost[order], key[order]
        first = np.unique(row, return_index=True)[1]
        self.best_cost[row[first]] = cost[first]
        self.best_key[row[first]] = key[first]
        after = first + 1
        tied = after < row.size
        tied[tied] &= (row[after[tied]] == row[first[tied]]) & (
            cost[after[tied]] == cost[first[tied]]
        )
        for start in first[tied]:  # equal costs (stations on one spot): the smaller id wins
            end = start
            while end < row.size and row[end] == row[start] and cost[end] == cost[start]:
                end += 1
            self.best_key[row[start]] = min(key[start:end], key=lambda k: self.ids[k])

    def copy(self) -> Assignment:
        """An independent copy (an edit makes a new version; the old one stays valid)."""
        return replace(
            self,
            stations=dict(self.stations),
            keys=dict(self.keys),
            ids=list(self.ids),
            best_cost=self.best_cost.copy(),
            best_key=self.best_key.copy(),
            today=self.today.copy(),
        )

    def add(self, station: Station) -> None:
        """Add a station: it wins the communities it reaches sooner (ties: the smaller id)."""
        key = len(self.ids)
        self.ids.append(station.id)
        self.keys[station.id] = key
        self.stations[station.id] = station
        if station.status != "active" or station.reach.rows.size == 0:
            return
        self._count_today(station, 1)
        rows, cost = station.reach.rows, station.reach.cost
        current = self.best_cost[rows]
        wins = cost < current
        for k in np.flatnonzero(cost == current):
            wins[k] = station.id < self.ids[self.best_key[rows[k]]]
        self.best_cost[rows[wins]] = cost[wins]
        self.best_key[rows[wins]] = key

    def remove(self, station_id: str) -> None:
        """Remove a station: the communities it served go to their next nearest station."""
        station = self.stations.pop(station_id)
        key = self.keys.pop(station_id)
        if station.status != "active" or station.reach.rows.size == 0:
            return
        self._count_today(station, -1)
        self._choose(np.flatnonzero(self.best_key == key))

    # ------------------------------------------------------------------ reading

    def result(
        self, engine: ProjectView, order: list[str], outcome: Outcome
    ) -> tuple[dict[str, object] | None, dict[str, np.ndarray]]:
        """The summary (summary.json's shape; None: see :func:`summary_of`), per-community arrays.

        Parameters
        ----------
        engine
            The project's engine.
        order
            The scenario's station ids in its order (existing, then new in pick order).
        outcome
            How the stations were chosen (see ``ProjectEngine.evaluate``).
        """
        limit = engine.limit
        communities = engine.communities
        in_area = communities.in_area
        stations = [self.stations[identifier] for identifier in order]
        within = self.best_cost <= limit.value + 1e-9
        covered = within & in_area
        objective = str(outcome.get("objective", "audit"))
        if objective == "audit":
            coverable = covered.copy()
        else:
            coverable = in_area.copy()
            coverable[np.asarray(outcome.get("uncoverable", []), np.int64)] = False
            coverable |= covered
        has = self.best_key >= 0
        # key -1 (no station) picks the last entry, ""
        by_key = [self.stations.get(identifier) for identifier in self.ids]
        kinds = np.asarray([s.kind if s else "" for s in by_key] + [""], dtype=object)
        station_ids = np.asarray([s.id if s else "" for s in by_key] + [""], dtype=object)
        from_existing = np.asarray(
            [s is not None and s.kind == "existing" for s in by_key] + [False]
        )
        kind = kinds[self.best_key]
        covered_today = self.today > 0
        # the statuses siting.result gives: the reasons map to uncoverable but for these
        far = np.nan_to_num(communities.access_m, nan=0.0) > settings.snap_max_m
        index = np.full(in_area.size, STATUS_INDEX["uncoverable"], np.int8)
        index[~covered & coverable] = STATUS_INDEX["over_budget"]
        index[~covered & ~coverable & far] = STATUS_INDEX["off_network"]
        index[~in_area] = STATUS_INDEX["outside_boundary"]
        index[covered] = np.where(
            from_existing[self.best_key[covered]],
            STATUS_INDEX["covered_existing"],
            STATUS_INDEX["covered_new"],
        )
        status = STATUS_ARRAY[index]
        n_existing = sum(s.kind == "existing" for s in stations)
        existing_first = sorted(
            (s for s in stations if s.kind == "existing"), key=lambda s: s.position
        ) + [s for s in stations if s.kind != "existing"]
        warnings = self._warnings(stations, coverable, in_area, engine, objective)
        any_active = any(s.status == "active" for s in stations)
        params: dict[str, object] = {
            "minutes": limit.minutes,
            "meters": limit.meters,
            "speed_kmh": limit.speed_kmh,
            "metric": limit.metric,
            "budget": outcome.get("budget", 0 if objective == "audit" else None),
            "n_candidates": outcome.get(
                "n_candidates", sum(s.kind != "existing" and s.status == "active" for s in stations)
            ),
            "nearest_beyond_limit": engine.longer.value if any_active else None,
        }
        summary = summary_of(
            engine,
            existing_first,
            status=index,
            covered_today=covered_today,
            objective=objective,
            outcome=outcome,
            params=params,
            warnings=warnings,
        )
        walk = np.where(has, self.best_cost * limit.minutes_per_unit, np.nan)
        arrays = {
            "status": status,
            "coverable": coverable,
            "no_station": np.asarray(objective == "audit" and n_existing == 0),
            "covered": covered,
            "kind": kind,
            "walk_min": walk,
            "station": station_ids[self.best_key],
        }
        return summary, arrays

    @staticmethod
    def _warnings(
        stations: list[Station],
        coverable: np.ndarray,
        in_area: np.ndarray,
        engine: ProjectView,
        objective: str,
    ) -> list[str]:
        inactive = sorted(
            (s for s in stations if s.kind == "existing" and s.status != "active"),
            key=lambda s: s.id,
        )
        warnings = []
        if inactive:
            ids = np.asarray([s.id for s in inactive], dtype=object)
            sites = SiteTable.plain(ids, ids, np.ones(ids.size, bool))
            sites = replace(sites, status=np.asarray([s.status for s in inactive], dtype=object))
            warnings = inactive_station_warnings(sites)
        if objective != "audit":
            warnings += uncoverable_warning(coverable, in_area, engine.limit)
        return warnings

    def community_rows(
        self,
        engine: ProjectView,
        arrays: dict[str, np.ndarray],
        rows: np.ndarray,
        site_lonlat: tuple[np.ndarray, np.ndarray],
    ) -> list[dict[str, object]]:
        """Communities ``rows`` as the API gives them (reasons with their distances)."""
        homes = engine.homes
        communities = engine.communities
        names = {s.id: s.name for s in self.stations.values()}
        nearest = inputs.nearest_site_metres(
            homes.lon[rows], homes.lat[rows], *site_lonlat, projection=engine.projection
        )
        codes = reason_codes(
            coverable=arrays["coverable"][rows],
            covered=arrays["covered"][rows],
            access_m=communities.access_m[rows],
            nearest_site_m=nearest,
            snap_max_m=settings.snap_max_m,
        )
        inside = communities.in_area[rows]
        codes[~inside] = "outside_boundary"
        if arrays["no_station"]:
            codes[~arrays["covered"][rows] & inside & (codes != "off_network")] = "no_station"
        limit_text = engine.limit.words()
        out = []
        for k, row in enumerate(rows):
            code = str(codes[k])
            station = str(arrays["station"][row])
            out.append(
                {
                    "community_id": str(communities.ids[row]),
                    "community_name": str(communities.names[row]),
                    "weight": float(communities.weight[row]),
                    "status": str(arrays["status"][row]),
                    "station_id": station,
                    "station_name": names.get(station, ""),
                    "station_kind": str(arrays["kind"][row]),
                    "walk_min": json_scalar(float(arrays["walk_min"][row])),
                    "covered": bool(arrays["covered"][row]),
                    "reason": code or None,
                    "reason_text": reason_text(
                        code,
                        access_m=float(communities.access_m[row]),
                        nearest_site_m=float(nearest[k]),
                        limit=limit_text,
                    ),
                    "district": str(communities.district[row]),
                    "town": str(communities.town[row]),
                    "lon": round(float(homes.lon[row]), 7),
                    "lat": round(float(homes.lat[row]), 7),
                }
            )
        return out


def stored_number(value: float | None) -> float:
    """A stored figure, NaN where there is none (a plan's gap after a hand edit)."""
    return float("nan") if value is None else float(value)


class SummaryParts:
    """What every summary of a project shares, worked out once per engine.

    The communities' table in input order with a placeholder status (the area groups, the
    static columns of the by-area table, the texts' warnings: none depends on the stations),
    each community's row in the by-area table, and the station texts already checked. A
    summary then counts the statuses and sums the weights by group (:meth:`tally`); with whole
    weights (residents) the sums are exact in any order, otherwise they are pandas' own group
    sums, so the figures equal :attr:`SitingResult.summary` on the full table.

    Parameters
    ----------
    communities
        The project's communities.
    table_of
        The planner's table of them, as read (its texts are carried into the assignments).
    """

    def __init__(self, communities: Communities, table_of: pd.DataFrame) -> None:
        order = np.argsort(communities.position, kind="stable")  # input order, as the full table
        in_area = communities.in_area[order]
        placeholder = np.where(
            in_area, STATUS_INDEX["uncoverable"], STATUS_INDEX["outside_boundary"]
        )
        table = pd.DataFrame(
            {
                "community_id": communities.ids[order],
                "community_name": communities.names[order],
                "weight": communities.weight[order],
                "status": as_categorical(STATUS_ARRAY[placeholder], STATUSES),
                "covered_today": np.zeros(order.size, bool),
                "district": communities.district[order],
                "town": communities.town[order],
            }
        )
        self.order = order
        self.in_area = in_area
        self.weight = table["weight"].to_numpy(float)
        self.total_weight = float(self.weight[in_area].sum())
        self.whole_weights = bool(
            np.all(self.weight == np.round(self.weight)) and self.weight.sum() < 2.0**52
        )
        planner = table_of.reset_index(drop=True).rename(
            columns=lambda name: f"{name}{INPUT_SUFFIX}" if name in RESULT_COLUMNS else name
        )
        static = [name for name in RESULT_COLUMNS if name in table.columns and name != "status"]
        # the full table's other columns hold the stations' texts (checked per station) or
        # the model's codes and numbers, which the outputs write as they are
        if len(planner.columns):
            texts = pd.concat([planner.iloc[order].reset_index(drop=True), table[static]], axis=1)
        else:
            texts = table[static]
        self.text_warnings = text_warnings(texts, what="communities", label="community_id")
        no_stations = pd.DataFrame({"kind": [], "district": [], "town": []}, dtype=object)
        areas = area_table(table, no_stations)
        self.kind: str | None = areas.attrs.get("kind")
        self.rows: list[dict[Any, Any]] = areas.to_dict(orient="records")
        self.group = np.zeros(order.size, np.int32)
        if self.kind is not None:
            level, labels = area_labels(table, self.kind)
            where = {
                key: k for k, key in enumerate(zip(areas["area"], areas["level"], strict=True))
            }
            self.group = np.fromiter(
                (where[key] for key in zip(labels, level, strict=True)), np.int32, order.size
            )

    def tally(
        self, stations: list[Station], *, status: np.ndarray, covered_today: np.ndarray
    ) -> Tally | None:
        """The summary's counts for these stations and per-community ``status`` positions.

        None when a station has a text the outputs change (a control character): its warnings
        name the communities it serves, which the full evaluation then counts.
        """
        if not all(s.clean for s in stations):
            return None
        index = status[self.order]
        today = covered_today[self.order] & self.in_area
        covered = (index == STATUS_INDEX["covered_existing"]) | (
            index == STATUS_INDEX["covered_new"]
        )
        counts = np.bincount(index, minlength=len(STATUSES))
        station_texts = {
            column: np.asarray([getattr(s, column) for s in stations], dtype=object)
            for column in STATION_TEXTS
        }
        return Tally(
            communities_read=int(index.size),
            counts={code: int(counts[k]) for k, code in enumerate(STATUSES)},
            covered_today=int(today.sum()),
            total_weight=self.total_weight,
            covered_weight=float(self.weight[covered].sum()),
            today_weight=float(self.weight[today].sum()),
            station_ids=station_texts["id"],
            station_kind=station_texts["kind"],
            station_status=station_texts["status"],
            by_area_kind=self.kind,
            by_area=self._by_area(index, covered, today, station_texts),
            text_warnings=list(self.text_warnings),
        )

    def _by_area(
        self,
        index: np.ndarray,
        covered: np.ndarray,
        today: np.ndarray,
        station_texts: dict[str, np.ndarray],
    ) -> list[dict[str, object]]:
        if self.kind is None:
            return []
        groups = len(self.rows)
        uncoverable = (index == STATUS_INDEX["uncoverable"]) | (
            index == STATUS_INDEX["off_network"]
        )
        n_covered, n_today, n_uncoverable = (
            np.bincount(self.group[mask], minlength=groups)
            for mask in (covered, today, uncoverable)
        )
        covered_weight = np.where(covered, self.weight, 0.0)
        by_group: np.ndarray
        if self.whole_weights:  # exact sums of whole numbers, in any order
            by_group = np.bincount(self.group, weights=covered_weight, minlength=groups)
        else:  # pandas' own (compensated) group sums, as the full table's
            by_group = pd.Series(covered_weight).groupby(self.group).sum().to_numpy(float)
        station_table = pd.DataFrame(
            {name: station_texts[name] for name in ("kind", "district", "town")}
        )
        _, labels = area_labels(station_table, self.kind)
        new = Counter(labels[station_texts["kind"] == "new"].tolist())
        return [
            row
            | {
                "covered_today": int(n_today[k]),
                "covered": int(n_covered[k]),
                "uncoverable": int(n_uncoverable[k]),
                "covered_weight": float(by_group[k]),
                "new_stations": new.get(row["area"], 0),
            }
            for k, row in enumerate(self.rows)
        ]


STATION_TEXTS = ("id", "kind", "status", "district", "town")
"""What the summary reads of each station."""

SITE_TEXTS = (
    *("ids", "names", "status", "input_lon", "input_lat", "input_crs", "address"),
    *("district", "town"),
)
"""A station site's texts that the plan's files write."""


def _clean(text: object) -> bool:
    """Whether :func:`~quarterhour.geo.spreadsheets.safe_text` leaves ``text`` as it is."""
    if not isinstance(text, str):
        return True
    return CONTROL_CHARACTERS.search(text) is None and len(text) <= CELL_CHARS


def summary_of(
    engine: ProjectView,
    stations: list[Station],
    *,
    status: np.ndarray,
    covered_today: np.ndarray,
    objective: str,
    outcome: Outcome,
    params: dict[str, object],
    warnings: list[str],
) -> dict[str, object] | None:
    """:attr:`SitingResult.summary` itself, from the project's kept parts and these counts.

    None where the parts cannot count it (see :meth:`SummaryParts.tally`).

    Parameters
    ----------
    engine
        The project's engine (its :class:`SummaryParts`).
    stations
        The stations, existing ones first (in their file's order), then new ones.
    status, covered_today
        Per community (``status`` as positions in ``STATUSES``).
    objective, outcome
        How the stations were chosen (objective; bound, gap, method, seconds, stats).
    params
        The walk limit and the plan's options, as the result's ``params``.
    warnings
        What the planner should read.
    """
    result = SitingResult(
        pd.DataFrame(),
        pd.DataFrame(),
        objective,
        stored_number(outcome.get("bound")),
        stored_number(outcome.get("gap")),
        str(outcome.get("method", objective)),
        stored_number(outcome.get("seconds", 0.0)),
        dict(outcome.get("stats") or {}),
        params,
        engine.network.attribution,
        list(warnings),
    )
    tally = engine.summary_parts.tally(stations, status=status, covered_today=covered_today)
    return None if tally is None else result.summary_of(tally)


@dataclass
class Version:
    """The assignment of one scenario version, its station order and per-community arrays."""

    state: Assignment
    order: list[str]
    arrays: dict[str, np.ndarray]


def changed(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> np.ndarray:
    """Communities whose status, station or walk time differ."""
    differs = before["status"] != after["status"]
    differs |= before["station"] != after["station"]
    old, new = before["walk_min"], after["walk_min"]
    differs |= ~((old == new) | (np.isnan(old) & np.isnan(new)))
    return np.flatnonzero(differs)


def stations_of(sites: SiteTable, reaches: list[Reach]) -> list[Station]:
    """The assignment's stations from a scenario's site table and their reaches."""
    return [
        Station(
            id=str(sites.ids[k]),
            name=str(sites.names[k]),
            kind="existing" if sites.existing[k] else "new",
            status=str(sites.status[k]),
            lon=float(sites.lon[k]),
            lat=float(sites.lat[k]),
            position=int(sites.position[k]),
            district=str(sites.district[k]),
            town=str(sites.town[k]),
            reach=reaches[k],
            clean=all(_clean(getattr(sites, column)[k]) for column in SITE_TEXTS),
        )
        for k in range(len(sites))
    ]
