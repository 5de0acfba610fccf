"""A scenario on the walking network: every community's nearest station, status and walk time.

A project's communities are snapped to the network once (:class:`ProjectEngine`); each station's
*reach* (the communities within twice the walk limit and their walk costs: one bounded Dijkstra
from the station, the network being walkable both ways) is computed once and cached by
location. A scenario is evaluated from the reach of its stations with the siting model's own
:func:`~quarterhour.siting.result.build_result`, so its statuses, reasons and summary are those of
``quarterhour plan`` and ``quarterhour coverage`` on the same files. An edit (add, move or remove
one station) updates every community's nearest station incrementally
(:meth:`ProjectEngine.apply`): an added station competes only for the communities it reaches, a
removed one sends only the communities it served to their other stations.

Engines are kept per worker in :data:`ENGINES`, a least-recently-used cache bounded by count
and by the memory its engines hold: a quarter of the service's memory budget
(:meth:`EngineCache.bound_by`, set by the application). An engine holds its project's files
packed (:class:`PackedFiles`, about a tenth of the tables as read) and its per-community arrays;
what is rebuilt from those (the files as read, the communities' texts, the site tables, the
targets' index for edits) is kept only for the few engines used last (:data:`MAX_UNPACKED`),
so an open project adds a few MB to the worker whatever its state.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import pickle
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import scipy.sparse as sp

from quarterhour import settings
from quarterhour.api.workspace.incremental import (
    Assignment,
    Outcome,
    Reach,
    SummaryParts,
    Version,
    stations_of,
    stored_number,
)
from quarterhour.api.workspace.reaches import ReachStore
from quarterhour.geo.crs import convert
from quarterhour.geo.projection import LocalProjection
from quarterhour.routing.snapping import snap_points
from quarterhour.routing.walktimes import TargetIndex, bounded_walk_times, snapped_walk_times
from quarterhour.siting import inputs
from quarterhour.siting.capacity import Capacity
from quarterhour.siting.points import areas_of, inactive_station_warnings, inside, site_table
from quarterhour.siting.result import NearestBeyond, SitingResult, build_result, uncoverable_warning
from quarterhour.siting.staffing import staffed
from quarterhour.siting.tables import Communities, SiteTable, WalkLimit

if TYPE_CHECKING:
    from pathlib import Path

    import shapely

    from quarterhour.geo.points import PointSet
    from quarterhour.routing.graph import WalkNetwork
    from quarterhour.routing.snapping import Snap

log = logging.getLogger("quarterhour")

REACH_FACTOR = 2.0
"""Each station's reach is searched to twice the limit: an uncovered community is told its
nearest station within twice the limit, as in ``quarterhour plan``."""

MAX_EVALUATIONS = 4
"""Full evaluations (every column of every community) a worker keeps: the last ones read."""

_EVALUATIONS: OrderedDict[tuple[str, int], SitingResult] = OrderedDict()
_EVALUATIONS_LOCK = threading.Lock()

MAX_VERSIONS = 4
"""Incremental assignments of scenario versions one engine keeps (an edit starts from one)."""

MAX_CACHED_REACHES = 50_000
"""Station reaches one engine keeps (an LRU: moves leave old locations behind)."""

MAX_UNPACKED = 3
"""Engines whose files, texts and indexes a worker keeps unpacked (the ones used last)."""


@dataclass(frozen=True)
class ProjectFiles:
    """A project's parsed files (WGS84 points; the boundary as a WGS84 geometry)."""

    communities: PointSet
    existing: PointSet | None = None
    candidates: PointSet | None = None
    boundary: shapely.Geometry | None = None


@dataclass(frozen=True, eq=False)
class PackedFiles:
    """A project's files, pickled and compressed.

    About 0.9 MB for 20,000 communities read from an xlsx, against 10 MB of cells as read;
    unpacked in some 30 ms into the same values, types and columns.
    """

    data: bytes

    @classmethod
    def of(cls, files: ProjectFiles) -> PackedFiles:
        """Pack ``files``."""
        return cls(zlib.compress(pickle.dumps(files, protocol=pickle.HIGHEST_PROTOCOL), 3))

    def unpack(self) -> ProjectFiles:
        """The files as they were packed (our own bytes, never a client's)."""
        files: ProjectFiles = pickle.loads(zlib.decompress(self.data))  # noqa: S301
        return files

    @property
    def nbytes(self) -> int:
        """Memory held."""
        return len(self.data)


class _WalkLimitArgs(TypedDict):
    """The walk limit as the walk-time functions take it."""

    minutes: float | None
    speed_kmh: float | None
    meters: float | None


ScenarioSettings = Mapping[str, float | None]
"""A scenario's walk limit: ``minutes`` or ``meters``, and ``speed_kmh`` (None: the default);
its capacity: ``residents_per_aide`` (None: stations serve without limit), ``aides_new`` and
``max_aides``."""

CAPACITY_KEYS: tuple[str, ...] = ("residents_per_aide", "aides_new", "max_aides")
"""The settings that make a scenario capacitated (:func:`capacity_of`)."""

OFF_NETWORK = Reach(np.empty(0, np.int32), np.empty(0), on_network=False)


def limit_of(scenario_settings: ScenarioSettings) -> WalkLimit:
    """The walk limit of a scenario's settings (``minutes`` or ``meters``, ``speed_kmh``)."""
    return WalkLimit.checked(
        minutes=scenario_settings.get("minutes"),
        meters=scenario_settings.get("meters"),
        speed_kmh=scenario_settings.get("speed_kmh"),
    )


def capacity_of(scenario_settings: ScenarioSettings) -> Capacity | None:
    """The capacity of a scenario's settings, None when ``residents_per_aide`` is not set.

    Raises
    ------
    InputError
        Naming the setting that is not a valid capacity parameter.
    """
    rate = scenario_settings.get("residents_per_aide")
    if rate is None:
        return None
    aides_new = scenario_settings.get("aides_new")
    most = scenario_settings.get("max_aides")
    return Capacity(
        float(rate),
        aides_new=1 if aides_new is None else int(aides_new),
        max_aides=None if most is None else int(most),
    )


def station_aides_of(stations: list[dict[str, object]], capacity: Capacity) -> np.ndarray:
    """Each station's aides: its own (from a file, an edit, a plan), else a new station's."""
    own = np.asarray([station.get("aides") for station in stations], dtype=float)  # None: NaN
    return np.where(np.isnan(own), float(capacity.aides_new), own)


def _text(value: float) -> str:
    return f"{value:.7f}"


class SiteUniverse:
    """Every site a station may stand on, by ``role:id``: existing, candidates, communities.

    A role's site table (addresses, areas, coordinates as given) is built when a station first
    stands on one of its sites; ids are found by binary search in a sorted copy.

    Parameters
    ----------
    files
        The project's files.
    serving
        Where existing stations serve (:func:`~quarterhour.siting.inputs.station_area`: the
        boundary grown by the walk limit); candidates and new stations serve inside the
        boundary only.
    """

    def __init__(self, files: ProjectFiles, serving: shapely.Geometry | None) -> None:
        self.files = files
        self.serving = serving
        self._tables: dict[str, SiteTable] = {}
        self._sorted: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def points(self, role: str) -> PointSet | None:
        """The points of a role (``existing``, ``candidates``, ``communities``)."""
        return {
            "existing": self.files.existing,
            "candidates": self.files.candidates,
            "communities": self.files.communities,
        }.get(role)

    def position(self, key: str) -> int | None:
        """Where the site ``role:id`` stands in its role's points, or None."""
        role, _, identifier = key.partition(":")
        points = self.points(role)
        if points is None:
            return None
        if role not in self._sorted:
            ids = np.asarray(points.ids, dtype=object).astype(str)
            order = np.argsort(ids, kind="stable")
            self._sorted[role] = (ids[order], order)
        ids, order = self._sorted[role]
        k = int(np.searchsorted(ids, identifier))
        return int(order[k]) if k < ids.size and ids[k] == identifier else None

    def find(self, key: str) -> tuple[SiteTable, int] | None:
        """The site table of ``role:id`` and the site's row in it, or None."""
        position = self.position(key)
        if position is None:
            return None
        role = key.partition(":")[0]
        points = self.points(role)
        if points is None:
            return None
        if role not in self._tables:
            existing = role == "existing"
            area = self.serving if existing else self.files.boundary
            self._tables[role] = site_table(points, existing=existing, boundary=area)
        return self._tables[role], position


class ProjectEngine:
    """A project's communities on the network, and the reach of stations, for one walk limit.

    Parameters
    ----------
    network
        The server's walking network.
    files
        The project's parsed files.
    limit
        The walk limit (minutes at a speed, or metres).
    network_path
        The extract the network was built from (named in downloaded plans).
    packed
        ``files`` packed already (kept by the worker beside its engines), packed here if None.
    """

    def __init__(
        self,
        network: WalkNetwork,
        files: ProjectFiles,
        limit: WalkLimit,
        *,
        network_path: str | Path | None = None,
        packed: PackedFiles | None = None,
    ) -> None:
        self.network = network
        self.network_path = network_path if network_path is not None else network.source
        self.packed = packed if packed is not None else PackedFiles.of(files)
        self.boundary = files.boundary
        self.limit = limit
        self.longer = limit.scaled(REACH_FACTOR)
        homes = files.communities
        self.n = len(homes)
        in_area = inside(homes, files.boundary)
        self.snap = snap_points(network, homes.lon, homes.lat)
        self.targets = np.flatnonzero(self.snap.reachable & in_area).astype(np.int32)
        district, town = areas_of(homes)
        self.weight = inputs.check_weights(homes.weight, len(homes), "communities")
        self.in_area = in_area
        self.district = _Coded.of(district)
        self.town = _Coded.of(town)
        self.serving = inputs.station_area(
            files.boundary, limit_m=limit.metres_walked, inside_only=False
        )
        self._reaches = ReachStore(max_reaches=MAX_CACHED_REACHES)
        self._lock = threading.Lock()
        self.versions: OrderedDict[tuple[str, int], Version] = OrderedDict()
        _UNPACKED.put(self, _Unpacked(self, files))

    @property
    def files(self) -> ProjectFiles:
        """The project's parsed files (unpacked for the engines used last)."""
        return self._unpacked.files

    @property
    def homes(self) -> PointSet:
        """The communities as read."""
        return self._unpacked.files.communities

    @property
    def communities(self) -> Communities:
        """The communities as the siting model takes them (no nearest site yet)."""
        return self._unpacked.communities

    @property
    def sites(self) -> SiteUniverse:
        """Every site a station may stand on."""
        return self._unpacked.sites

    @property
    def target_index(self) -> TargetIndex:
        """The communities on the network, indexed for walks from one station to them."""
        return self._unpacked.target_index

    @property
    def summary_parts(self) -> SummaryParts:
        """What the project's summaries share (area groups, static columns, texts checked)."""
        return self._unpacked.summary_parts

    @property
    def target_snap(self) -> Snap:
        """The snaps of the communities on the network in the area (``targets``)."""
        return self.snap.subset(self.targets)

    @property
    def _unpacked(self) -> _Unpacked:
        unpacked = _UNPACKED.get(self)
        if unpacked is None:
            unpacked = _UNPACKED.put(self, _Unpacked(self, self.packed.unpack()))
        return unpacked

    # ------------------------------------------------------------------ sites

    @functools.cached_property
    def _candidates_usable(self) -> np.ndarray:
        """Which candidate sites lie in the area and on the network.

        Without a candidates' file the candidate sites are the communities, as in a plan.
        """
        usable: np.ndarray
        candidates = self.files.candidates
        if candidates is None:
            usable = self.snap.reachable & self.in_area
            return usable
        keep = inside(candidates, self.boundary)
        usable = keep & snap_points(self.network, candidates.lon, candidates.lat).reachable
        return usable

    def candidate_lonlat(self, excluded: set[str]) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 of the candidate sites in the area and on the network, less ``excluded``."""
        points = self.files.candidates if self.files.candidates is not None else self.homes
        keep = self._candidates_usable
        if excluded:
            keep = keep & ~np.isin(np.asarray(points.ids, dtype=object).astype(str), list(excluded))
        return points.lon[keep], points.lat[keep]

    def site_rows(self, stations: list[dict[str, Any]]) -> SiteTable:
        """The site table of a scenario's stations (in the given order; stored JSON records)."""
        columns: dict[str, list[object]] = {
            name: []
            for name in (
                "ids",
                "names",
                "existing",
                "lon",
                "lat",
                "status",
                "input_lon",
                "input_lat",
                "input_crs",
                "address",
                "district",
                "town",
                "position",
            )
        }
        for k, station in enumerate(stations):
            found = self.sites.find(str(station.get("site") or ""))
            if found is not None:
                table, row = found
                for name, values in columns.items():
                    values.append(getattr(table, name)[row])
                columns["ids"][-1] = str(station["id"])
                columns["names"][-1] = str(station.get("name") or station["id"])
                columns["existing"][-1] = station["kind"] == "existing"
                if station["kind"] != "existing":
                    columns["position"][-1] = 10**9 + k
                continue
            lon, lat = float(station["lon"]), float(station["lat"])
            given = station.get("input") or [_text(lon), _text(lat), "wgs84"]
            columns["ids"].append(str(station["id"]))
            columns["names"].append(str(station.get("name") or station["id"]))
            columns["existing"].append(station["kind"] == "existing")
            columns["lon"].append(lon)
            columns["lat"].append(lat)
            columns["status"].append("active")
            columns["input_lon"].append(str(given[0]))
            columns["input_lat"].append(str(given[1]))
            columns["input_crs"].append(str(given[2]))
            columns["address"].append(str(station.get("address") or ""))
            columns["district"].append("")
            columns["town"].append("")
            columns["position"].append(int(station.get("position", 10**9 + k)))
        kinds = {"existing": bool, "lon": float, "lat": float, "position": np.int64}
        arrays = {
            name: np.asarray(values, dtype=kinds.get(name, object))
            for name, values in columns.items()
        }
        if not stations:
            arrays["existing"] = np.zeros(0, bool)
        sites = SiteTable(**arrays)
        outside = np.where(
            sites.existing,
            ~inside_lonlat(self.serving, sites.lon, sites.lat),
            ~inside_lonlat(self.boundary, sites.lon, sites.lat),
        )
        status = sites.status.copy()
        status[outside & (status == "active")] = "outside_boundary"
        return replace(sites, status=status)

    # ------------------------------------------------------------------ reach

    def reaches(self, lon: np.ndarray, lat: np.ndarray) -> list[Reach]:
        """The reach of stations at these WGS84 points (cached by location)."""
        keys = [(round(float(x), 7), round(float(y), 7)) for x, y in zip(lon, lat, strict=True)]
        with self._lock:
            found = self._reaches.get(keys)
        missing = sorted({key for key, reach in zip(keys, found, strict=True) if reach is None})
        if not missing:
            return [reach for reach in found if reach is not None]
        computed = self._compute([key[0] for key in missing], [key[1] for key in missing])
        with self._lock:
            self._reaches.add(missing, computed)
            kept = self._reaches.get(missing)  # views of the packed block, not the walk's copies
        new = {
            key: reach if reach is not None else walked
            for key, reach, walked in zip(missing, kept, computed, strict=True)
        }
        return [
            reach if reach is not None else new[key] for key, reach in zip(keys, found, strict=True)
        ]

    def _compute(self, lon: list[float], lat: list[float]) -> list[Reach]:
        snap: Snap = snap_points(self.network, np.asarray(lon), np.asarray(lat))
        out = [OFF_NETWORK] * len(lon)
        sources = np.flatnonzero(snap.reachable)
        if sources.size == 0:
            return out
        if self.targets.size == 0:
            return [
                Reach(np.empty(0, np.int32), np.empty(0)) if ok else OFF_NETWORK
                for ok in snap.reachable
            ]
        longer = self.longer
        limit: _WalkLimitArgs = {
            "minutes": longer.minutes,
            "speed_kmh": longer.speed_kmh,
            "meters": longer.meters,
        }
        if sources.size == 1:  # an edit: the targets' index is kept
            walk = snapped_walk_times(
                self.network,
                snap.subset(sources),
                self.target_snap,
                **limit,
                sorted_targets=False,
                targets=self.target_index,
                quiet=True,
            )
        else:
            walk = bounded_walk_times(
                self.network, snap.subset(sources), self.target_snap, **limit, quiet=True
            )
        matrix = sp.csr_matrix(walk.matrix)
        for k, source in enumerate(sources):
            part = slice(matrix.indptr[k], matrix.indptr[k + 1])
            rows = self.targets[matrix.indices[part]]
            order = np.argsort(rows, kind="stable")
            out[source] = Reach(rows[order].astype(np.int32), matrix.data[part][order].copy())
        return out

    @property
    def nbytes(self) -> int:
        """Memory this engine holds (reaches, versions, packed files, per-community arrays)."""
        with self._lock:
            reach = self._reaches.nbytes
            reach += sum(item.state.nbytes for item in self.versions.values())
        held = [self.snap, self.targets, self.weight, self.in_area, self.district, self.town]
        return reach + self.packed.nbytes + sum(_array_bytes(item) for item in held)

    @functools.cached_property
    def projection(self) -> LocalProjection:
        """The communities' UTM zone, for metres to the nearest site (full and incremental)."""
        homes = self.homes
        return LocalProjection.for_lonlat(homes.lon, homes.lat)

    def scenario_sites(self, stations: list[dict[str, object]]) -> tuple[SiteTable, list[Reach]]:
        """The site table of stations and their reaches, in the given order.

        A station farther than the snapping limit from every street gets status off_network.
        """
        sites = self.site_rows(stations)
        active = sites.status == "active"
        found = self.reaches(sites.lon[active], sites.lat[active])
        reach = [OFF_NETWORK] * len(sites)
        status = sites.status.copy()
        for col, item in zip(np.flatnonzero(active), found, strict=True):
            reach[col] = item
            if not item.on_network:
                status[col] = "off_network"
        return replace(sites, status=status), reach

    def version(
        self, key: tuple[str, int], stations: list[dict[str, object]], outcome: Outcome
    ) -> Version:
        """The incremental assignment of a scenario version (kept), built if missing."""
        with self._lock:
            kept = self.versions.get(key)
        if kept is not None:
            return kept
        sites, reach = self.scenario_sites(stations)
        state = Assignment.build(stations_of(sites, reach), self.n, self.limit.value)
        order = [str(station["id"]) for station in stations]
        _, arrays = state.result(self, order, outcome)
        kept = Version(state, order, arrays)
        self.keep(key, kept)
        return kept

    def keep(self, key: tuple[str, int], kept: Version) -> None:
        """Keep the assignment of a scenario version (a few per engine)."""
        with self._lock:
            self.versions[key] = kept
            self.versions.move_to_end(key)
            while len(self.versions) > MAX_VERSIONS:
                self.versions.popitem(last=False)

    def edited(
        self,
        kept: Version,
        stations: list[dict[str, object]],
        touched: list[str],
        outcome: Outcome,
    ) -> tuple[Version, dict[str, object]]:
        """The assignment after an edit of the ``touched`` stations, and its summary."""
        state = kept.state.copy()
        present = {str(station["id"]): station for station in stations}
        for identifier in touched:
            if identifier in state.stations:
                state.remove(identifier)
            if identifier in present:
                sites, reach = self.scenario_sites([present[identifier]])
                state.add(stations_of(sites, reach)[0])
        order = [str(station["id"]) for station in stations]
        summary, arrays = state.result(self, order, outcome)
        if summary is None:  # a station's text the outputs change: the full evaluation counts
            summary = self.evaluate(stations, outcome).summary
        return Version(state, order, arrays), summary

    def site_lonlat(
        self, state: Assignment, outcome: Outcome, excluded: set[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where the sites are that explain an uncovered community's reason (WGS84)."""
        active = [s for s in state.stations.values() if s.status == "active"]
        lon = np.asarray([s.lon for s in active], float)
        lat = np.asarray([s.lat for s in active], float)
        if outcome.get("objective", "audit") != "audit":
            cand_lon, cand_lat = self.candidate_lonlat(excluded)
            lon, lat = np.concatenate([lon, cand_lon]), np.concatenate([lat, cand_lat])
        return lon, lat

    # ------------------------------------------------------------------ evaluation

    @staticmethod
    def remember(key: tuple[str, int], result: SitingResult) -> None:
        """Keep the full evaluation of a scenario version (a few in the whole worker)."""
        with _EVALUATIONS_LOCK:
            _EVALUATIONS[key] = result
            _EVALUATIONS.move_to_end(key)
            while len(_EVALUATIONS) > MAX_EVALUATIONS:
                _EVALUATIONS.popitem(last=False)

    @staticmethod
    def evaluation(key: tuple[str, int]) -> SitingResult | None:
        """The kept full evaluation of a scenario version (its settings never change), if any."""
        with _EVALUATIONS_LOCK:
            return _EVALUATIONS.get(key)

    def evaluate(
        self,
        stations: list[dict[str, object]],
        outcome: Outcome,
        *,
        excluded: set[str] | None = None,
        capacity: Capacity | None = None,
    ) -> SitingResult:
        """Every community's nearest station, status and walk time, and the summary.

        Parameters
        ----------
        stations
            The scenario's stations: existing ones, then new ones in pick order.
        outcome
            How they were chosen: ``objective`` (``audit``, ``min_cover``, ``max_cover``) and,
            for plans, ``bound, gap, method, seconds, stats, budget, n_candidates`` and
            ``uncoverable`` (positions of the in-area communities no site reaches).
        excluded
            Candidate sites left out (plans only).
        capacity
            Assign the coverable communities within the stations' capacities (their ``aides``
            x residents per aide) as ``quarterhour coverage --residents-per-aide`` does: the
            least total weighted walk, ``over_capacity`` where every station in reach is full,
            and each station's aides needed and shortfall.
        """
        n = self.n
        order = sorted(range(len(stations)), key=lambda k: str(stations[k]["id"]))
        rank = np.empty(len(stations), np.int64)
        rank[order] = np.arange(len(stations))
        sites, reach = self.scenario_sites([stations[k] for k in order])
        active = sites.status == "active"
        cost, beyond_cost, beyond_col = self._matrices(reach, n)

        kinds = [stations[k]["kind"] for k in range(len(stations))]
        existing_cols = np.asarray(
            sorted(rank[k] for k in range(len(stations)) if kinds[k] == "existing"), np.int64
        )
        new_cols = np.asarray([rank[k] for k in range(len(stations)) if kinds[k] != "existing"])
        station_cols = np.concatenate([existing_cols, new_cols]).astype(np.int64)

        objective = str(outcome.get("objective", "audit"))
        in_area = self.in_area
        homes = self.homes
        reached = np.diff(cost.indptr) > 0
        if objective == "audit":
            coverable = reached & in_area
            site_lon, site_lat = sites.lon[active], sites.lat[active]
        else:
            coverable = in_area.copy()
            coverable[np.asarray(outcome.get("uncoverable", []), np.int64)] = False
            coverable |= reached & in_area
            cand_lon, cand_lat = self.candidate_lonlat(excluded or set())
            site_lon = np.concatenate([sites.lon[active], cand_lon])
            site_lat = np.concatenate([sites.lat[active], cand_lat])
        communities = replace(
            self.communities,
            nearest_site_m=inputs.nearest_site_metres(
                homes.lon, homes.lat, site_lon, site_lat, projection=self.projection
            ),
        )
        warnings = inactive_station_warnings(sites)
        if objective != "audit":
            warnings += uncoverable_warning(coverable, in_area, self.limit)
        beyond = self._beyond(reached, beyond_cost, beyond_col, active)
        result = build_result(
            cost,
            communities,
            sites,
            self.limit,
            station_cols=station_cols,
            n_existing=existing_cols.size,
            coverable=coverable,
            objective=objective,
            bound=stored_number(outcome.get("bound")),
            gap=stored_number(outcome.get("gap")),
            method=str(outcome.get("method", objective)),
            seconds=outcome.get("seconds", 0.0),
            stats=dict(outcome.get("stats") or {}),
            budget=outcome.get("budget", 0 if objective == "audit" else None),
            attribution=self.network.attribution,
            warnings=warnings,
            community_table=homes.table,
            beyond=beyond,
        )
        if "n_candidates" in outcome:
            result.params["n_candidates"] = outcome["n_candidates"]
        if capacity is None:
            return result
        ordered = [stations[k] for k in order]
        return staffed(
            result,
            cost,
            self.communities,
            sites,
            self.limit,
            coverable=coverable,
            station_cols=station_cols,
            aides=station_aides_of(ordered, capacity)[station_cols],
            capacity=capacity,
        )

    def _matrices(self, reach: list[Reach], n: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """The cost matrix within the limit (communities x stations), and the nearest station.

        The nearest station of each community within twice the limit: its cost and column (inf
        and -1 where none).
        """
        limit = self.limit.value + 1e-9
        counts = np.asarray([item.rows.size for item in reach], np.int64)
        rows = np.concatenate([item.rows for item in reach]) if reach else np.empty(0, np.int32)
        costs = np.concatenate([item.cost for item in reach]) if reach else np.empty(0)
        cols = np.repeat(np.arange(len(reach)), counts)
        within = costs <= limit
        cost = sp.csr_matrix((costs[within], (rows[within], cols[within])), shape=(n, len(reach)))
        cost.sort_indices()
        beyond_cost = np.full(n, np.inf)
        beyond_col = np.full(n, -1, np.int64)
        if costs.size:
            order = np.lexsort((cols, costs))  # cheapest first, ties to the smaller column
            first = np.unique(rows[order], return_index=True)
            beyond_cost[first[0]] = costs[order][first[1]]
            beyond_col[first[0]] = cols[order][first[1]]
        return cost, beyond_cost, beyond_col

    def _beyond(
        self,
        reached: np.ndarray,
        beyond_cost: np.ndarray,
        beyond_col: np.ndarray,
        active: np.ndarray,
    ) -> NearestBeyond | None:
        """The nearest station of uncovered communities within twice the limit."""
        if not active.any():
            return None
        on_network = np.nan_to_num(self.snap.access_m, nan=np.inf) <= settings.snap_max_m
        rows = ~reached & self.in_area & on_network & (beyond_col >= 0)
        station = np.where(rows, beyond_col, -1)
        cost = np.where(rows, beyond_cost, np.nan)
        return NearestBeyond(station, cost, self.longer)


@dataclass(frozen=True)
class _Coded:
    """Texts repeated across communities (districts, towns) as codes into their distinct values."""

    values: np.ndarray
    codes: np.ndarray

    @classmethod
    def of(cls, texts: np.ndarray) -> _Coded:
        import pandas as pd

        codes, values = pd.factorize(texts, use_na_sentinel=False)
        return cls(np.asarray(values, dtype=object), codes.astype(np.int32))

    def texts(self) -> np.ndarray:
        """The texts, one per community (object dtype)."""
        texts: np.ndarray = self.values[self.codes]
        return texts


class _Unpacked:
    """What an engine rebuilds from its packed files: kept for the engines used last."""

    def __init__(self, engine: ProjectEngine, files: ProjectFiles) -> None:
        homes = files.communities
        self.files = files
        self.engine = engine
        self.communities = Communities(
            ids=np.asarray(homes.ids, dtype=object),
            names=np.asarray(homes.names, dtype=object),
            weight=engine.weight,
            access_m=engine.snap.access_m,
            nearest_site_m=np.full(len(homes), np.inf),
            position=np.arange(len(homes)),
            in_area=engine.in_area,
            district=engine.district.texts(),
            town=engine.town.texts(),
        )
        self.sites = SiteUniverse(files, engine.serving)

    @functools.cached_property
    def target_index(self) -> TargetIndex:
        return TargetIndex.of(self.engine.network, self.engine.target_snap)

    @functools.cached_property
    def summary_parts(self) -> SummaryParts:
        return SummaryParts(self.communities, self.files.communities.table)


class _Recent:
    """The unpacked parts of the engines used last (:data:`MAX_UNPACKED`), by engine."""

    def __init__(self) -> None:
        self._items: OrderedDict[int, tuple[ProjectEngine, _Unpacked]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, engine: ProjectEngine) -> _Unpacked | None:
        with self._lock:
            item = self._items.get(id(engine))
            if item is None or item[0] is not engine:
                return None
            self._items.move_to_end(id(engine))
            return item[1]

    def put(self, engine: ProjectEngine, unpacked: _Unpacked) -> _Unpacked:
        with self._lock:
            self._items[id(engine)] = (engine, unpacked)
            self._items.move_to_end(id(engine))
            while len(self._items) > MAX_UNPACKED:
                self._items.popitem(last=False)
        return unpacked

    def drop(self, keep: Callable[[ProjectEngine], bool]) -> None:
        """Forget the engines ``keep`` refuses."""
        with self._lock:
            for key in [key for key, (engine, _) in self._items.items() if not keep(engine)]:
                del self._items[key]


_UNPACKED = _Recent()


def inside_lonlat(
    boundary: shapely.Geometry | None, lon: np.ndarray, lat: np.ndarray
) -> np.ndarray:
    """Whether each WGS84 point lies in the planning area (all without a boundary)."""
    import shapely

    if boundary is None or lon.size == 0:
        return np.ones(lon.size, bool)
    return shapely.intersects_xy(boundary, lon, lat)


def _array_bytes(held: object) -> int:
    """Bytes of an array, or of the arrays among an object's fields."""
    if isinstance(held, np.ndarray):
        return int(held.nbytes)
    fields = getattr(held, "__dict__", {})
    return sum(int(value.nbytes) for value in fields.values() if isinstance(value, np.ndarray))


def release_freed_memory() -> None:
    """Hand freed heap pages back to the system (glibc keeps them in its arenas otherwise)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.malloc_trim(0)


def to_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """One point from ``crs`` to WGS84."""
    x, y = convert(np.asarray([lon]), np.asarray([lat]), src=crs, dst="wgs84")
    return float(x[0]), float(y[0])


class EngineCache:
    """Engines by project and walk limit, least recently used first out.

    Parameters
    ----------
    max_engines
        Engines kept at most.
    max_bytes
        Memory the engines may hold together, by their own count (:attr:`ProjectEngine.nbytes`:
        reaches, versions, packed files, per-community arrays; the parts unpacked for the
        :data:`MAX_UNPACKED` engines used last come on top).
    """

    def __init__(self, *, max_engines: int = 64, max_bytes: int = 512 * 1024**2) -> None:
        self.max_engines = max_engines
        self.max_bytes = max_bytes
        self._engines: OrderedDict[tuple[object, ...], ProjectEngine] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> ProjectEngine | None:
        """The engine of ``key``, if kept."""
        with self._lock:
            engine = self._engines.get(key)
            if engine is not None:
                self._engines.move_to_end(key)
            return engine

    def put(self, key: tuple[object, ...], engine: ProjectEngine) -> ProjectEngine:
        """Keep ``engine`` (or the one another thread kept first); drop the oldest over bounds."""
        with self._lock:
            kept = self._engines.setdefault(key, engine)
            self._engines.move_to_end(key)
            released = False
            while len(self._engines) > 1 and (
                len(self._engines) > self.max_engines
                or sum(item.nbytes for item in self._engines.values()) > self.max_bytes
            ):
                (project_id, *_), evicted = self._engines.popitem(last=False)
                # a warning: it costs the next request a rebuild, and says the budget is tight
                log.warning(
                    "workspace: evicted project %s's engine (%.1f MiB; %d kept, %.1f MiB, "
                    "bound %.0f MiB); rebuilt from the store on next use",
                    project_id,
                    evicted.nbytes / 1024**2,
                    len(self._engines),
                    sum(item.nbytes for item in self._engines.values()) / 1024**2,
                    self.max_bytes / 1024**2,
                )
                released = True
        if released:
            kept_engines = set(map(id, self._engines.values()))
            _UNPACKED.drop(lambda engine: id(engine) in kept_engines)
            release_freed_memory()
        return kept

    def bound_by(self, memory_budget_bytes: int, *, share: float = 0.25) -> None:
        """Bound the engines to ``share`` of the service's memory budget (the rest is for plans)."""
        self.max_bytes = int(memory_budget_bytes * share)

    def project_ids(self) -> set[object]:
        """The projects with an engine kept."""
        with self._lock:
            return {key[0] for key in self._engines}

    def drop_project(self, project_id: str) -> None:
        """Forget every engine of a project (deleted)."""
        with self._lock:
            for key in [key for key in self._engines if key[0] == project_id]:
                del self._engines[key]
            kept_engines = set(map(id, self._engines.values()))
        _UNPACKED.drop(lambda engine: id(engine) in kept_engines)

    @property
    def nbytes(self) -> int:
        """Memory the kept engines hold."""
        with self._lock:
            return sum(item.nbytes for item in self._engines.values())


ENGINES = EngineCache()
"""This worker's engines."""
