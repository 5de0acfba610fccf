"""Station siting model: minimum cover (LSCP) and budgeted maximal cover (MCLP) over walk times."""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from quarterhour import settings
from quarterhour.geo.errors import InputError
from quarterhour.geo.points import PointSet, as_point_set
from quarterhour.routing import stopping
from quarterhour.routing.jit import seconds_compiling
from quarterhour.siting import bounds, inputs
from quarterhour.siting.assign import nearest_station
from quarterhour.siting.capacity import (
    SERVED_TOLERANCE,
    SIMPLEX_MAX_PAIRS,
    Assignment,
    CapacitatedPlan,
    Capacity,
    CapacityProblem,
    aggregate_bound,
    aides_of,
    assign_within,
    capacitated_highs,
    capacitated_plan,
    compile_greedy_flow,
    most_served,
    rounded_plan,
    station_aides,
)
from quarterhour.siting.capacity_swaps import (
    SWAPS_MAX_PAIRS,
    compile_swaps,
    fewer_by_swaps,
    shorter_walks_within,
    swap_work,
)
from quarterhour.siting.kernels.pattern import CoverPattern
from quarterhour.siting.max_cover import covered_weight, heuristic_max_cover
from quarterhour.siting.min_cover import SearchBudget, heuristic_cover, order_by_greedy
from quarterhour.siting.points import (
    areas_of,
    inactive_station_warnings,
    inside,
    missed_network_message,
    permuted,
    scatter,
    site_table,
    with_station_ids,
)
from quarterhour.siting.result import NearestBeyond, SitingResult, build_result, uncoverable_warning
from quarterhour.siting.staffing import staffed, walk_figures
from quarterhour.siting.tables import Communities, SiteTable, WalkLimit
from quarterhour.siting.walks import shorter_walks

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import geopandas as gpd
    import pandas as pd
    import shapely

    from quarterhour.routing.graph import WalkNetwork
    from quarterhour.siting.audit import CoverageAudit

    PointsLike = PointSet | gpd.GeoDataFrame | pd.DataFrame

log = logging.getLogger("quarterhour")


ASSEMBLY_SECONDS_PER_PAIR = 1.5e-7
"""Seconds per pair within the limit that building a model from walk times and solving it at
least greedily take (placing and sorting the matrix, reductions, tables: about 0.6 s for 4.2
million pairs on the development machine); a ``deadline`` keeps that much for them."""


def _sorted_order(ids: np.ndarray) -> np.ndarray:
    return np.argsort(ids.astype(str), kind="stable")


def _default_ids(n: int) -> np.ndarray:
    """Row or column indices as ids: ``"0", "1" ... "10"`` (kept in index order, not text order)."""
    return np.arange(n).astype(str).astype(object)


def _texts(values: np.ndarray | None, default: np.ndarray) -> np.ndarray:
    if values is None:
        return default
    return np.asarray([str(value) for value in values], dtype=object)


def _floats(values: np.ndarray | None, n: int, fill: float) -> np.ndarray:
    return np.full(n, fill) if values is None else np.asarray(values, float)


class CoverageModel:
    """Where to put community stations so that everyone walks to one within the limit.

    Rows are communities ``i`` (weight ``w_i``), columns are station sites ``j``: existing
    stations (kept) and candidate sites. ``N_i`` is the set of sites within the walk limit of
    ``i``; communities with an empty ``N_i`` are *uncoverable* and reported, never solved for.

    Minimum cover (LSCP, ``solve()``)::

        min  sum_j x_j
        s.t. sum_{j in N_i} x_j >= 1   for every coverable community i
             x_j = 1 for existing stations,  x_j in {0, 1}

    (existing stations are fixed, so the communities they cover drop out and only new stations are
    counted). Budgeted maximal cover (MCLP, ``solve(budget=N)``)::

        max  sum_i w_i y_i
        s.t. y_i <= sum_{j in N_i} x_j,   sum_{j new} x_j <= N,
             x_j = 1 for existing stations,  x_j, y_i in {0, 1}

    Build with :meth:`from_cost_matrix` or :meth:`from_points`; :meth:`solve` fills ``result``
    and returns the model, whose ``stations``, ``assignments`` and ``summary`` then give the plan.
    :meth:`audit` says who the existing stations cover today. Rows and columns are kept sorted by
    id, so ties go to the smaller id and the same input gives the same plan in any input order.

    Parameters
    ----------
    cost
        Walk minutes (or metres) of the pairs within the limit, communities x sites, rows and
        columns in the order of ``communities`` and ``sites``.
    communities
        The rows.
    sites
        The columns.
    limit
        The walk limit the matrix was built with.
    attribution
        Data attribution carried by the outputs.

    Attributes
    ----------
    result
        The plan, once :meth:`solve` ran.
    network
        The walking network the model was built on (:meth:`from_points`), else None.
    points
        The point sets it was built from (``communities``, ``existing``, ``candidates``).
    """

    def __init__(
        self,
        cost: sp.csr_matrix,
        communities: Communities,
        sites: SiteTable,
        limit: WalkLimit,
        *,
        attribution: str,
    ) -> None:
        self.cost = cost
        self.communities = communities
        self.sites = sites
        self.limit = limit
        self.attribution = attribution
        self.result: SitingResult | None = None
        self.network: WalkNetwork | None = None
        self.points: dict[str, PointSet | None] = {}
        self.warnings: list[str] = []
        self.boundary: shapely.Geometry | None = None
        self.params: dict[str, object] = {}
        self.osm_path: str | None = None
        self.site_aides = np.full(cost.shape[1], np.nan)
        """Aides of each site: an existing station's (1 where not given), a candidate's most."""

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_cost_matrix(
        cls,
        cost: sp.spmatrix | sp.sparray,
        *,
        community_ids: np.ndarray | None = None,
        community_names: np.ndarray | None = None,
        weights: np.ndarray | None = None,
        site_ids: np.ndarray | None = None,
        site_names: np.ndarray | None = None,
        existing: np.ndarray | None = None,
        site_lon: np.ndarray | None = None,
        site_lat: np.ndarray | None = None,
        access_m: np.ndarray | None = None,
        nearest_site_m: np.ndarray | None = None,
        minutes: float | None = None,
        speed_kmh: float | None = None,
        meters: float | None = None,
        attribution: str | None = None,
        aides: np.ndarray | None = None,
    ) -> CoverageModel:
        """Build the model from a sparse cost matrix (communities x sites) of pairs within the limit.

        Parameters
        ----------
        cost
            Walk minutes (or metres with ``meters``); a stored entry, zero included, is a pair
            within the limit. Entries above the limit are ignored.
        community_ids, community_names, weights
            Per row; ids default to the row index (``"0", "1" ...``), weights to 1.
        site_ids, site_names
            Per column; ids default to the column index (a new station's ``station_id`` is then
            its column), like the communities'; default ids keep index order for ties. Existing and
            candidate ids share one namespace and must be unique.
        existing
            Boolean mask of the columns that are existing stations (kept); default none.
        site_lon, site_lat
            WGS84 degrees of the sites, for the GeoJSON output.
        access_m, nearest_site_m
            Per community: metres to the walking network and straight-line metres to the nearest
            site, to explain uncoverable communities.
        minutes, speed_kmh, meters
            The limit the matrix was built with: minutes (default ``settings.walk_limit_minutes``)
            or, with ``meters``, metres.
        attribution
            Data attribution carried by the outputs (default ``settings.attribution``).
        aides
            Per column, the aides of an existing station (default 1) or the most a candidate
            site may have (default ``capacity.max_aides``); read by a ``capacity``.
        """
        limit = WalkLimit.checked(minutes=minutes, meters=meters, speed_kmh=speed_kmh)
        matrix = sp.csr_matrix(cost, dtype=float, copy=True)  # type: ignore[call-overload]  # scipy-stubs: no overload for spmatrix | sparray
        n_rows, n_cols = matrix.shape
        if n_rows == 0:
            msg = "the communities are empty: give at least one"
            raise InputError(msg)
        if n_cols == 0:
            msg = "no station sites: give existing stations or candidate sites"
            raise InputError(msg)
        row_ids = inputs.check_ids(_texts(community_ids, _default_ids(n_rows)), "communities")
        col_ids = inputs.check_ids(_texts(site_ids, _default_ids(n_cols)), "station sites")
        if row_ids.size != n_rows or col_ids.size != n_cols:
            msg = (
                f"cost matrix is {n_rows:,} x {n_cols:,} but {row_ids.size:,} community and "
                f"{col_ids.size:,} site ids were given"
            )
            raise InputError(msg)
        is_existing = np.zeros(n_cols, bool) if existing is None else np.asarray(existing, bool)
        if is_existing.shape != (n_cols,):
            msg = f"must be a boolean mask of the {n_cols:,} sites"
            raise InputError(msg, param="existing")
        matrix.sum_duplicates()
        beyond = matrix.data > limit.value + 1e-9  # not within the limit: not a pair (zeros stay)
        if beyond.any():
            pairs = matrix.tocoo()
            keep = ~beyond
            matrix = sp.csr_matrix(
                (pairs.data[keep], (pairs.row[keep], pairs.col[keep])), shape=matrix.shape
            )
        communities = Communities.plain(
            row_ids,
            _texts(community_names, row_ids),
            inputs.check_weights(weights, n_rows, "communities"),
            access_m=access_m,
            nearest_site_m=nearest_site_m,
        )
        sites = SiteTable.plain(
            col_ids,
            _texts(site_names, col_ids),
            is_existing,
            lon=site_lon,
            lat=site_lat,
        )
        model = cls._assemble(
            matrix,
            communities,
            sites,
            limit,
            attribution=settings.attribution if attribution is None else attribution,
            sort_rows=community_ids is not None,
            sort_cols=site_ids is not None,
        )
        if aides is not None:
            model.set_aides(
                dict(zip(col_ids, aides_of(aides, n_cols, source="sites"), strict=True))
            )
        return model

    @classmethod
    def _assemble(
        cls,
        matrix: sp.csr_matrix,
        communities: Communities,
        sites: SiteTable,
        limit: WalkLimit,
        *,
        attribution: str,
        sort_rows: bool = True,
        sort_cols: bool = True,
    ) -> CoverageModel:
        """Sort rows and columns by id (so ties go to the smaller id) and build the model.

        Default ids (indices) keep index order: "10" comes after "9".
        """
        rows = _sorted_order(communities.ids) if sort_rows else np.arange(len(communities.ids))
        cols = _sorted_order(sites.ids) if sort_cols else np.arange(len(sites.ids))
        matrix = permuted(sp.csr_matrix(matrix), rows, cols)
        log.info(
            "coverage matrix %s x %s with %s pairs (%s existing stations)",
            f"{matrix.shape[0]:,}",
            f"{matrix.shape[1]:,}",
            f"{matrix.nnz:,}",
            f"{int(sites.existing.sum()):,}",
        )
        return cls(matrix, communities.take(rows), sites.take(cols), limit, attribution=attribution)

    @classmethod
    def from_points(
        cls,
        network: WalkNetwork | str,
        communities: PointsLike,
        *,
        existing: PointsLike | None = None,
        candidates: PointsLike | None = None,
        minutes: float | None = None,
        speed_kmh: float | None = None,
        meters: float | None = None,
        boundary: shapely.Geometry | None = None,
        stations_inside_boundary: bool = False,
        crs: str | None = None,
        max_pairs: int | None = None,
        deadline: float | None = None,
        quiet: bool = True,
    ) -> CoverageModel:
        """Build the model from points: walk times on ``network`` from communities to sites.

        Parameters
        ----------
        network
            A walking network, or the path of an OSM file to load it from.
        communities
            Demand points: a :class:`~quarterhour.geo.points.PointSet` or a (Geo)DataFrame (its
            geometry, or its lon/lat columns). Their ``weight`` (residents, registered
            unemployed ...) is what maximal cover maximises.
        existing
            Existing stations, kept as they are. One farther than the snapping limit from every
            street, or outside ``boundary``, is kept in the outputs with that status and covers
            nothing.
        candidates
            Candidate sites; by default the communities themselves (stations embedded in
            community spaces). An empty set means none (an audit of the existing stations).
        minutes, speed_kmh, meters
            Walk limit in minutes at ``speed_kmh``, or in metres with ``meters`` (defaults from
            :mod:`quarterhour.settings`).
        boundary
            The planning area (WGS84 polygon): communities, stations and candidates outside it
            are counted and kept in the outputs, not planned; existing stations outside it still
            serve within the walk limit (see :func:`~quarterhour.siting.inputs.station_area`).
        stations_inside_boundary
            Only existing stations inside ``boundary`` serve.
        crs
            Coordinate system of frames given without one (see
            :func:`~quarterhour.geo.points.points_from_frame`).
        max_pairs
            Refuse (``TooLargeError``), before computing them, walk times expected to hold more
            pairs within the limit than this: a bound on memory.
        deadline
            A ``time.monotonic()`` time the model should be built by: the walk times stop
            (``TimeLimitError``) early enough to leave ``ASSEMBLY_SECONDS_PER_PAIR`` for each
            pair expected.
        quiet
            Hide progress bars (of the network build and of the walk times).
        """
        from quarterhour.routing.network import load_network
        from quarterhour.routing.snapping import snap_points
        from quarterhour.routing.walktimes import bounded_walk_times

        limit = WalkLimit.checked(minutes=minutes, meters=meters, speed_kmh=speed_kmh)
        osm_path = None
        if isinstance(network, (str, os.PathLike)):
            osm_path = str(network)
            network = load_network(network, quiet=quiet)
        homes, stations, candidate_set = _point_sets(communities, existing, candidates, crs=crs)
        home_areas = areas_of(homes)
        in_area = inside(homes, boundary)
        homes_snap = snap_points(network, homes.lon, homes.lat)
        reachable = homes_snap.reachable & in_area
        if not reachable.any():
            raise InputError(missed_network_message(network, homes, in_area))

        parts = []
        if stations is not None and (len(stations) or stations.unlocated):
            serving = inputs.station_area(
                boundary, limit_m=limit.metres_walked, inside_only=stations_inside_boundary
            )
            parts.append(site_table(stations, existing=True, boundary=serving))
        candidate_in_area = inside(candidate_set, boundary)
        if candidate_in_area.any():
            parts.append(
                site_table(
                    candidate_set.subset(candidate_in_area), existing=False, boundary=boundary
                )
            )
        nothing = np.empty(0, dtype=object)
        sites = SiteTable.concat(parts or [SiteTable.plain(nothing, nothing, nothing.astype(bool))])
        sites_snap = snap_points(network, sites.lon, sites.lat)
        active = sites_snap.reachable & (sites.status == "active")
        status = sites.status.copy()
        status[~sites_snap.reachable & (status == "active")] = "off_network"
        sites = replace(sites, status=status)
        walk = bounded_walk_times(
            network,
            homes_snap.subset(reachable),
            sites_snap.subset(active),
            minutes=limit.minutes,
            speed_kmh=limit.speed_kmh,
            meters=limit.meters,
            max_pairs=max_pairs,
            deadline=deadline,
            reserve_per_pair=ASSEMBLY_SECONDS_PER_PAIR,
            quiet=quiet,
        )
        matrix = scatter(
            walk.matrix,
            np.flatnonzero(reachable),
            np.flatnonzero(active),
            shape=(len(homes), len(sites)),
        )
        warnings = inactive_station_warnings(sites)
        rows = Communities(
            ids=np.asarray(homes.ids, dtype=object),
            names=np.asarray(homes.names, dtype=object),
            weight=inputs.check_weights(homes.weight, len(homes), "communities"),
            access_m=homes_snap.access_m,
            nearest_site_m=inputs.nearest_site_metres(
                homes.lon, homes.lat, sites.lon[active], sites.lat[active]
            ),
            position=np.arange(len(homes)),
            in_area=in_area,
            district=home_areas[0],
            town=home_areas[1],
        )
        model = cls._assemble(matrix, rows, sites, limit, attribution=network.attribution)
        model.network = network
        model.osm_path = osm_path
        model.points = {
            "communities": homes,
            "existing": stations,
            "candidates": None if candidates is None else candidate_set,
        }
        model.warnings = warnings
        model.boundary = boundary
        if boundary is not None:
            model.params["stations_outside_boundary_serve"] = not stations_inside_boundary
        if stations is not None and len(stations):
            model.set_aides(dict(zip(stations.ids, station_aides(stations), strict=True)))
        return model

    def set_aides(self, aides: dict[str, float]) -> None:
        """Set sites' aides by id (others keep theirs)."""
        self.site_aides = np.asarray(
            [aides.get(site, self.site_aides[col]) for col, site in enumerate(self.sites.ids)],
            float,
        )

    # ------------------------------------------------------------------ results

    def _solved(self) -> SitingResult:
        if self.result is None:
            msg = "the model is not solved yet: call solve() first"
            raise InputError(msg)
        return self.result

    @property
    def stations(self) -> pd.DataFrame:
        """The plan's stations: existing ones first, then new ones in pick order."""
        return self._solved().stations

    @property
    def new_stations(self) -> pd.DataFrame:
        """The plan's new stations in pick order."""
        return self._solved().new_stations

    @property
    def assignments(self) -> pd.DataFrame:
        """One row per community: its nearest station, walk time, status and reason."""
        return self._solved().assignments

    @property
    def summary(self) -> dict[str, Any]:
        """The plan's headline figures, JSON-ready."""
        return self._solved().summary

    @property
    def pattern(self) -> sp.csr_matrix:
        """Boolean coverage (communities x sites): the stored pairs, zeros included."""
        cost = self.cost
        data = np.ones(cost.nnz, bool)
        return sp.csr_matrix((data, cost.indices, cost.indptr), shape=cost.shape)

    def write(
        self,
        folder: str | Path,
        *,
        osm: str | Path | None = None,
        out_crs: str = "wgs84",
        quiet: bool = True,
    ) -> dict[str, Path]:
        """Write the plan folder ``quarterhour plan`` writes, for ``quarterhour report``.

        The point sets and the boundary go into the folder with it (see
        :func:`~quarterhour.siting.files.write_model_plan`).

        Parameters
        ----------
        folder
            The output folder (a previous plan in it is replaced).
        osm
            The OSM extract of the network (default: the path it was loaded from, or the
            bundled extract).
        out_crs
            Coordinates of ``stations.geojson``.
        quiet
            Hide the progress bar.
        """
        from quarterhour.siting.files import osm_of_network, write_model_plan

        result = self._solved()
        if self.network is None:
            msg = "write() needs a model built with from_points (it names the points and network)"
            raise InputError(msg)
        return write_model_plan(
            result,
            folder,
            points=self.points,
            boundary=self.boundary,
            osm=str(osm or osm_of_network(self.network.source, self.osm_path)),
            out_crs=out_crs,
            quiet=quiet,
        )

    # ------------------------------------------------------------------ solving

    def solve(
        self,
        *,
        budget: int | None = None,
        exact: bool = False,
        time_limit: float | None = None,
        lp_bound: bool = False,
        effort: float | str | None = None,
        capacity: Capacity | None = None,
        quiet: bool = True,
    ) -> CoverageModel:
        """Choose new stations; fills ``result`` and returns the model.

        Parameters
        ----------
        budget
            None: fewest new stations covering every coverable community (LSCP). A number:
            at most that many new stations covering the most weight (MCLP).
        exact
            Solve the integer programme with HiGHS after the heuristic, within the time left; if
            it stops early, the better of its incumbent and the heuristic is kept, with HiGHS'
            bound.
        time_limit
            Seconds the whole solve may take: heuristic, ``lp_bound`` and ``exact`` (default:
            none beyond ``effort``'s own, and 60 s for HiGHS in ``exact``); with ``exact`` or
            ``lp_bound`` the search takes at most half of it. A search the clock cut says so in
            ``result.stats["search_stop"]``.
        lp_bound
            Also solve the LP relaxation with HiGHS (within the time left) for a bound at least
            as tight as the Lagrangian one.
        effort
            How long the minimum-cover search may run, 0 to 1 or ``"fast"`` (0), ``"default"``
            (0.5), ``"thorough"`` (1): at 0.5 at most about 8 s; street instances stop far
            sooner (see :class:`~quarterhour.siting.min_cover.SearchBudget`).
        capacity
            Stations serve at most their aides x ``residents_per_aide`` residents: the
            capacitated models of :mod:`quarterhour.siting.capacity` (existing stations keep
            their ``site_aides``), with the LP-relaxation bound; closings repaired by swaps
            look for fewer stations (:mod:`~quarterhour.siting.capacity_swaps`). Either way,
            among equal plans the one with the least total weighted walk is kept (1-for-1
            swaps; with capacity, each checked by the maximum flow and kept when the least-walk
            assignment walks less; not above 100,000 pairs).
        quiet
            Hide the progress bar of the search.
        """
        budget = inputs.check_budget(budget)
        time_limit = inputs.check_time_limit(time_limit)
        effort = inputs.check_effort(effort)
        started = time.perf_counter()
        compiling_before = seconds_compiling()
        deadline = None if time_limit is None else started + time_limit
        pattern = self.pattern
        existing_cols = np.flatnonzero(self.sites.existing)
        candidate_cols = np.flatnonzero(~self.sites.existing & (self.sites.status == "active"))
        by_existing = pattern[:, existing_cols].getnnz(axis=1) > 0
        coverable = (pattern.getnnz(axis=1) > 0) & self.communities.in_area
        open_rows = np.flatnonzero(coverable & ~by_existing)
        sub = sp.csr_matrix(pattern[open_rows][:, candidate_cols])
        arrays = CoverPattern.from_matrix(sub)
        warnings = self.warnings + uncoverable_warning(
            coverable, self.communities.in_area, self.limit
        )
        log.info(
            "siting: %s communities, %s covered by %s existing stations, %s to cover from %s "
            "candidate sites (%s pairs)",
            f"{int(self.communities.in_area.sum()):,}",
            f"{int(by_existing.sum()):,}",
            f"{existing_cols.size:,}",
            f"{open_rows.size:,}",
            f"{candidate_cols.size:,}",
            f"{sub.nnz:,}",
        )
        if capacity is not None:
            return self._solve_capacitated(
                capacity,
                budget=budget,
                exact=exact,
                lp_bound=lp_bound,
                started=started,
                deadline=deadline,
                effort=effort,
                quiet=quiet,
                arrays=arrays,
                sub=sub,
                coverable=coverable,
                by_existing=by_existing,
                warnings=warnings,
            )
        if budget is None:
            columns, bound, gap, method, stats = _min_cover(
                arrays,
                sub,
                exact=exact,
                deadline=deadline,
                lp_bound=lp_bound,
                effort=effort,
                quiet=quiet,
            )
            objective = "min_cover"
        else:
            weight = self.communities.weight[open_rows]
            columns, bound, gap, method, stats = _max_cover(
                arrays,
                sub,
                weight,
                budget,
                exact=exact,
                deadline=deadline,
                lp_bound=lp_bound,
            )
            bound += float(self.communities.weight[by_existing].sum())
            objective = "max_cover"
        stopping.check()
        covered_rows = np.flatnonzero(
            self.pattern[:, np.concatenate([existing_cols, candidate_cols[columns]])].getnnz(axis=1)
            > 0
        )
        walk_started = time.perf_counter()
        new_cols, walk_stats = shorter_walks(
            self.cost[covered_rows],
            self.communities.weight[covered_rows],
            fixed=existing_cols,
            chosen=candidate_cols[columns],
            candidates=candidate_cols,
            work=WALK_WORK_PER_PAIR * self.cost.nnz,
            deadline=deadline,
        )
        stats.update(walk_stats, walk_seconds=time.perf_counter() - walk_started)
        compiling = seconds_compiling() - compiling_before
        seconds = time.perf_counter() - started - compiling
        if compiling:
            stats["compile_seconds"] = compiling
        self.result = self._result(
            np.concatenate([existing_cols, new_cols]).astype(np.int64),
            n_existing=existing_cols.size,
            coverable=coverable,
            objective=objective,
            bound=bound,
            gap=gap,
            method=method,
            seconds=seconds,
            stats=stats,
            budget=budget,
            warnings=warnings,
        )
        bound_kind = "lower bound" if objective == "min_cover" else "upper bound"
        log.info(
            "siting: %s new stations (%s, %s %.2f, gap at most %.1f %%: the bound-based gap is "
            "an upper limit on the true gap) in %.3f s%s",
            f"{new_cols.size:,}",
            method,
            bound_kind,
            bound,
            100 * gap,
            seconds,
            f" (and {compiling:.1f} s compiling kernels, once)" if compiling > 0.05 else "",
        )
        return self

    def capacity_problem(
        self,
        capacity: Capacity,
        *,
        coverable: np.ndarray | None = None,
        by_existing: np.ndarray | None = None,
    ) -> CapacityProblem:
        """The capacitated programme's data: coverable communities x (existing, candidates).

        Parameters
        ----------
        capacity
            The capacity parameters.
        coverable, by_existing
            Communities within the limit of any site (and in the area), and of an existing
            station (computed when not given).
        """
        existing_cols = np.flatnonzero(self.sites.existing)
        candidate_cols = np.flatnonzero(~self.sites.existing & (self.sites.status == "active"))
        if coverable is None:
            coverable = (self.pattern.getnnz(axis=1) > 0) & self.communities.in_area
        if by_existing is None:
            by_existing = self.pattern[:, existing_cols].getnnz(axis=1) > 0
        rows = np.flatnonzero(coverable)
        return CapacityProblem(
            sp.csr_matrix(self.pattern[rows][:, np.concatenate([existing_cols, candidate_cols])]),
            self.communities.weight[rows],
            np.nan_to_num(self.site_aides[existing_cols], nan=1.0),
            ~by_existing[rows],
            capacity,
            np.nan_to_num(self.site_aides[candidate_cols], nan=capacity.most_aides),
        )

    def _solve_capacitated(
        self,
        capacity: Capacity,
        *,
        budget: int | None,
        exact: bool,
        lp_bound: bool,
        started: float,
        deadline: float | None,
        effort: float,
        quiet: bool,
        arrays: CoverPattern,
        sub: sp.csr_matrix,
        coverable: np.ndarray,
        by_existing: np.ndarray,
        warnings: list[str],
    ) -> CoverageModel:
        """The capacitated plan (see :mod:`quarterhour.siting.capacity`).

        With a time limit the search, the LP and HiGHS stop by ``deadline`` less what the
        assignment and the tables need (:func:`finish_reserve`), and the greedy assignment's
        kernel (and the swaps', where they run) is compiled first, inside the limit.
        """
        if deadline is not None:
            compile_greedy_flow()
            assign_by = deadline - finish_reserve(self.cost.nnz, deadline - started)
            deadline = assign_by - finish_reserve(self.cost.nnz, assign_by - started)
        else:
            assign_by = None
        existing_cols = np.flatnonzero(self.sites.existing)
        candidate_cols = np.flatnonzero(~self.sites.existing & (self.sites.status == "active"))
        problem = self.capacity_problem(capacity, coverable=coverable, by_existing=by_existing)
        if deadline is not None and problem.pattern.nnz <= SWAPS_MAX_PAIRS:
            compile_swaps()
        stats: dict[str, object] = {}

        def greedy() -> tuple[CapacitatedPlan, float]:
            """Greedy additions from the uncapacitated cover (none with a budget); its bound."""
            start = np.zeros(0, np.int64)
            cover_bound = 0.0
            if budget is None:
                start, cover_bound, _, _, _ = _min_cover(
                    arrays,
                    sub,
                    exact=False,
                    deadline=deadline,
                    lp_bound=False,
                    effort=effort,
                    quiet=quiet,
                )
                stats["cover_stations"] = int(start.size)
                stats["cover_bound"] = cover_bound
            plan = capacitated_plan(problem, start, budget=budget, deadline=deadline)
            stats.update(plan.stats)
            return plan, cover_bound if budget is None else plan.stats["served_best"]

        columns, aides, bound, method = _capacitated_highs(
            problem,
            greedy,
            budget=budget,
            exact=exact,
            lp_bound=lp_bound,
            deadline=deadline,
            stats=stats,
        )
        walk_started = time.perf_counter()
        columns, assignment, walk_stats = self._walk_swaps_within(
            problem, coverable, existing_cols, candidate_cols, columns, aides, deadline=deadline
        )
        stats.update(walk_stats, walk_seconds=time.perf_counter() - walk_started)
        station_cols = np.concatenate([existing_cols, candidate_cols[columns]]).astype(np.int64)
        aides_of_station = np.concatenate([problem.existing_aides, aides]).astype(float)
        integer_bound = math.ceil(bound - 1e-6)
        gap = 0.0 if columns.size == 0 else max(columns.size - integer_bound, 0) / columns.size
        result = self._result(
            station_cols,
            n_existing=existing_cols.size,
            coverable=coverable,
            objective="min_cover" if budget is None else "max_cover",
            bound=float(bound),
            gap=float(gap),
            method=method,
            seconds=0.0,
            stats=stats,
            budget=budget,
            warnings=warnings,
        )
        result = self._staffed(
            result,
            coverable,
            station_cols,
            aides_of_station,
            capacity,
            deadline=assign_by,
            assignment=assignment,
        )
        if budget is None and result.params["staffing"]["over_capacity"]:
            short = _short_of_capacity(problem, result.params["staffing"])
            result = replace(result, warnings=[*result.warnings, short])
        if budget is not None:  # the bound and gap on the residents served
            served = float(result.params["staffing"]["served_weight"])
            bound = max(bound, served)
            gap = 0.0 if bound <= 0 else (bound - served) / bound
        seconds = time.perf_counter() - started
        self.result = replace(result, bound=float(bound), gap=float(gap), seconds=seconds)
        log.info(
            "capacitated siting: %s new stations with %s aides (%s, bound %.2f, gap at most %.1f "
            "%%) in %.3f s",
            f"{columns.size:,}",
            f"{int(aides.sum()):,}",
            method,
            bound,
            100 * gap,
            seconds,
        )
        return self

    def audit(self, *, capacity: Capacity | None = None) -> CoverageAudit:
        """Who the existing stations cover today, within the limit (the model is not changed).

        Parameters
        ----------
        capacity
            Assign communities within the stations' capacities (aides x residents per aide,
            the least weighted walk): communities in reach of full stations only are
            ``over_capacity``, and every station gets its aides needed and shortfall.

        Returns
        -------
        CoverageAudit
            Every community's nearest existing station and walk time, and every station with
            the communities whose nearest station it is.
        """
        from quarterhour.siting.audit import audit_of_stations

        existing_cols = np.flatnonzero(self.sites.existing).astype(np.int64)
        coverable = (self.pattern[:, existing_cols].getnnz(axis=1) > 0) & self.communities.in_area
        result = self._result(
            existing_cols,
            n_existing=existing_cols.size,
            coverable=coverable,
            objective="audit",
            bound=math.nan,
            gap=math.nan,
            method="audit",
            seconds=0.0,
            stats={},
            budget=0,
            warnings=list(self.warnings),
        )
        if capacity is not None:
            aides = np.nan_to_num(self.site_aides[existing_cols], nan=1.0)
            result = self._staffed(result, coverable, existing_cols, aides, capacity)
        return audit_of_stations(result)

    def _staffed(
        self,
        result: SitingResult,
        coverable: np.ndarray,
        station_cols: np.ndarray,
        aides: np.ndarray,
        capacity: Capacity,
        *,
        deadline: float | None = None,
        assignment: Assignment | None = None,
    ) -> SitingResult:
        """The result with the coverable communities assigned within the stations' capacities.

        ``assignment``: the least-walk assignment to ``station_cols`` when already made.
        """
        return staffed(
            result,
            self.cost,
            self.communities,
            self.sites,
            self.limit,
            coverable=coverable,
            station_cols=station_cols,
            aides=aides,
            capacity=capacity,
            deadline=deadline,
            assignment=assignment,
        )

    def _walk_swaps_within(
        self,
        problem: CapacityProblem,
        coverable: np.ndarray,
        existing_cols: np.ndarray,
        candidate_cols: np.ndarray,
        columns: np.ndarray,
        aides: np.ndarray,
        *,
        deadline: float | None,
    ) -> tuple[np.ndarray, Assignment | None, dict[str, object]]:
        """The new stations after walk swaps within capacity, and the least-walk assignment.

        The swaps (:func:`~quarterhour.siting.capacity_swaps.shorter_walks_within`) steer by a
        greedy assignment; they are kept only when the least-walk assignment (a min-cost flow) to the
        stations after them walks less than to the stations before and serves as much. Without
        swaps the assignment is left to the tables (None).
        """
        rows = np.flatnonzero(coverable)
        if problem.pattern.nnz > SWAPS_MAX_PAIRS:
            return columns, None, {"walk_swaps": f"skipped: over {SWAPS_MAX_PAIRS:,} pairs"}
        sites = np.concatenate([existing_cols, candidate_cols])
        shifted = sp.csr_matrix(  # walks of 0 kept as stored pairs through the slicing
            (self.cost.data + 1.0, self.cost.indices, self.cost.indptr), shape=self.cost.shape
        )
        cost = sp.csr_matrix(shifted[rows][:, sites])
        cost.sort_indices()
        swapped, stats = shorter_walks_within(
            problem,
            cost.data - 1.0,
            columns,
            aides,
            work=WALK_WORK_PER_PAIR_CAPACITY * max(cost.nnz, 1),
            deadline=deadline,
        )
        if not stats["walk_swaps"]:
            return columns, None, stats
        weight = self.communities.weight[rows]
        room = np.concatenate([problem.existing_aides, aides]) * problem.capacity.residents_per_aide

        def assigned(new: np.ndarray) -> Assignment:
            station_cols = np.concatenate([existing_cols, candidate_cols[new]])
            return assign_within(self.cost[rows][:, station_cols], weight, room, deadline=deadline)

        before, after = assigned(columns), assigned(swapped)
        stats.update(walk_before=before.walk, walk_after=after.walk)
        served_as_much = after.served.sum() >= before.served.sum() - before.tolerance
        if served_as_much and after.optimal and after.walk < before.walk:
            return swapped, after, stats
        stats["walk_swaps"] = 0
        return columns, before, stats

    def _result(self, station_cols: np.ndarray, **outcome: object) -> SitingResult:
        homes = self.points.get("communities")
        result = build_result(
            self.cost,
            self.communities,
            self.sites,
            self.limit,
            station_cols=station_cols,
            attribution=self.attribution,
            community_table=None if homes is None else homes.table,
            beyond=self._nearest_beyond(station_cols),
            params=self.params,
            **outcome,  # type: ignore[arg-type]  # the solver's outcome: build_result's keywords
        )
        result.params.update(walk_figures(result.assignments))
        return result

    def _nearest_beyond(self, station_cols: np.ndarray) -> NearestBeyond | None:
        """The nearest station of every uncovered community within twice the limit."""
        homes = self.points.get("communities")
        if self.network is None or homes is None or station_cols.size == 0:
            return None
        from quarterhour.routing.walktimes import walk_time_matrix

        covered = self.pattern[:, station_cols].getnnz(axis=1) > 0
        on_network = np.nan_to_num(self.communities.access_m, nan=np.inf) <= settings.snap_max_m
        rows = np.flatnonzero(~covered & self.communities.in_area & on_network)
        active = station_cols[self.sites.status[station_cols] == "active"]
        station = np.full(len(self.communities), -1, np.int64)
        cost = np.full(len(self.communities), np.nan)
        longer = self.limit.scaled(2.0)
        if rows.size and active.size:
            where = self.communities.position[rows]
            walk = walk_time_matrix(
                self.network,
                homes.lon[where],
                homes.lat[where],
                self.sites.lon[active],
                self.sites.lat[active],
                minutes=longer.minutes,
                speed_kmh=longer.speed_kmh,
                meters=longer.meters,
                quiet=True,
            )
            found, value = nearest_station(walk.matrix, np.arange(active.size))
            hit = found >= 0
            station[rows[hit]] = active[found[hit]]
            cost[rows[hit]] = value[hit]
        return NearestBeyond(station, cost, longer)


def _point_sets(
    communities: PointsLike,
    existing: PointsLike | None,
    candidates: PointsLike | None,
    *,
    crs: str | None,
) -> tuple[PointSet, PointSet | None, PointSet]:
    """The communities, existing stations and candidate sites as checked point sets."""
    homes = as_point_set(communities, crs=crs, role="communities")
    stations = None if existing is None else as_point_set(existing, crs=crs, role="existing")
    if stations is not None:
        stations = with_station_ids(stations)
    candidate_set = (
        homes if candidates is None else as_point_set(candidates, crs=crs, role="candidates")
    )
    if len(homes) == 0:
        msg = "the communities are empty: give at least one"
        raise InputError(msg)
    inputs.check_ids(homes.ids, "communities")
    candidate_ids = np.asarray(candidate_set.ids, dtype=object).astype(str)
    if len(candidate_set):
        candidate_ids = inputs.check_ids(candidate_set.ids, "candidate sites")
    if stations is not None and len(stations):
        existing_ids = inputs.check_ids(stations.ids, "existing stations")
        inputs.check_disjoint(existing_ids, candidate_ids, candidates_given=candidates is not None)
    return homes, stations, candidate_set


EXACT_SECONDS = 60.0
"""Seconds HiGHS may take in ``exact`` mode when no time limit is given."""
MIN_HIGHS_SECONDS = 0.05
"""HiGHS is not started with less time than this left."""
FINISH_RESERVE_S = 0.25
"""Seconds of a time limit kept back from HiGHS for what follows it (the plan's tables)."""
WALK_WORK_PER_PAIR = 8
"""Matrix entries the walk tie-break (1-for-1 swaps) may visit per pair within the limit: about
two swaps' worth, at most a fifth of the search's time on the street instances, the same on any
machine (a clock would make the plan depend on the machine's load)."""
WALK_WORK_PER_PAIR_CAPACITY = 1_000
"""Flow elements the walk swaps of a capacitated plan may visit per pair (as
:data:`WALK_WORK_PER_PAIR`, the same answer on any machine): about 0.04 s on 3,560 pairs, a
sixth of the plan's time, with the least-walk assignment made twice to compare."""
CAPACITY_LP_SECONDS = 5.0
"""Seconds the LP relaxation of a capacitated plan may take unless ``lp_bound`` asks for more
(the bound is then the larger of the uncapacitated cover's and the capacities' sum's)."""
FINISH_SECONDS_PER_PAIR = 3e-6
"""Seconds per pair within the limit that a capacitated plan keeps back, twice over, from a time
limit: for the assignment, then for the plan's tables (each 0.57 s on the 4,000 Heidelberg
street points, 1.6 s on the 20,000 city communities, where the two took 0.6 s and 1.6 s under
load)."""
CAPACITY_LP_MAX_PAIRS = SIMPLEX_MAX_PAIRS
"""Pairs within the limit above which the LP relaxation of a capacitated plan is skipped unless
``lp_bound`` asks for it: up to here HiGHS' simplex solves it within a second (0.7 s on 13,078
pairs); above, its interior point took 4 s on 49,378 pairs and stopped at its 5 s limit without a
bound on the 117,870 of central Shanghai."""
HIGHS_SHARE = 0.5
"""Share of a time limit the search may use when ``exact`` or ``lp_bound`` asks for HiGHS too."""


def finish_reserve(pairs: int, seconds: float) -> float:
    """Seconds to keep back, of ``seconds`` left, for a step after the search on ``pairs``."""
    return min(FINISH_RESERVE_S + FINISH_SECONDS_PER_PAIR * pairs, max(seconds, 0.0) / 4)


def _seconds_left(deadline: float | None, default: float = EXACT_SECONDS) -> float:
    if deadline is None:
        return default
    return max(deadline - time.perf_counter(), 0.0)


def _min_cover(
    arrays: CoverPattern,
    sub: sp.csr_matrix,
    *,
    exact: bool,
    deadline: float | None,
    lp_bound: bool,
    effort: float,
    quiet: bool,
) -> tuple[np.ndarray, float, float, str, dict[str, object]]:
    search_deadline = deadline
    if deadline is not None and (exact or lp_bound):  # leave HiGHS its share of the time
        search_deadline = time.perf_counter() + HIGHS_SHARE * _seconds_left(deadline)
    solution = heuristic_cover(arrays, effort=effort, deadline=search_deadline, quiet=quiet)
    columns, bound, method = solution.columns, solution.lower_bound, "heuristic"
    stats: dict[str, object] = dict(solution.stats)
    if lp_bound and arrays.n_rows:
        seconds = _seconds_left(deadline, SearchBudget.for_effort(effort).seconds)
        seconds -= FINISH_RESERVE_S if deadline is not None else 0.0
        if seconds < MIN_HIGHS_SECONDS:
            stats["lp_bound"] = "skipped: time limit"
        else:
            log.info("LP bound: HiGHS on %s x %s within %.0f s", *map(str, sub.shape), seconds)
            outcome = bounds.cover_highs(sub, integral=False, time_limit=seconds)
            stats["lp_seconds"] = outcome.seconds
            if outcome.optimal:  # an LP stopped early bounds nothing
                stats["lp_bound"] = outcome.bound
                bound = max(bound, outcome.bound)
            else:
                stats["lp_bound"] = "stopped: time limit"
    seconds = _seconds_left(deadline) - (FINISH_RESERVE_S if deadline is not None else 0.0)
    proven = columns.size <= math.ceil(bound - 1e-6)
    if exact and not proven and seconds < MIN_HIGHS_SECONDS:
        stats["highs_message"] = "skipped: time limit"
        method = "exact (time limit)"
    elif exact and not proven:
        log.info("exact: HiGHS on %s x %s within %.0f s", *map(str, sub.shape), seconds)
        outcome = bounds.cover_highs(sub, integral=True, time_limit=seconds)
        stats.update({"highs_seconds": outcome.seconds, "highs_message": outcome.message})
        if np.isfinite(outcome.bound):
            bound = max(bound, outcome.bound)
        if outcome.columns is not None and outcome.columns.size < columns.size:
            columns = order_by_greedy(arrays, outcome.columns)
        method = "exact" if outcome.optimal else "exact (time limit)"
    elif exact:
        method = "exact"  # the heuristic met the bound: proven optimal
    integer_bound = math.ceil(bound - 1e-6)
    gap = 0.0 if columns.size == 0 else (columns.size - integer_bound) / columns.size
    return columns, float(bound), float(gap), method, stats


def _max_cover(
    arrays: CoverPattern,
    sub: sp.csr_matrix,
    weight: np.ndarray,
    budget: int,
    *,
    exact: bool,
    deadline: float | None,
    lp_bound: bool,
) -> tuple[np.ndarray, float, float, str, dict[str, object]]:
    solution = heuristic_max_cover(arrays, weight, budget)
    columns, total = solution.columns, solution.covered_weight
    bound, method = solution.upper_bound, "heuristic"
    stats: dict[str, object] = dict(solution.stats)
    everything = total >= float(np.sum(weight)) - 1e-9  # no plan covers more: optimal
    seconds = _seconds_left(deadline) - (FINISH_RESERVE_S if deadline is not None else 0.0)
    if (lp_bound or exact) and arrays.n_rows and budget > 0 and everything:
        method = "exact" if exact else method
    elif (lp_bound or exact) and arrays.n_rows and budget > 0 and seconds < MIN_HIGHS_SECONDS:
        stats["highs_message"] = "skipped: time limit"
        method = "exact (time limit)" if exact else method
    elif (lp_bound or exact) and arrays.n_rows and budget > 0:
        log.info(
            "%s: HiGHS on %s x %s within %.1f s",
            "exact" if exact else "LP bound",
            *map(str, sub.shape),
            seconds,
        )
        outcome = bounds.max_cover_highs(sub, weight, budget, integral=exact, time_limit=seconds)
        stats.update({"highs_seconds": outcome.seconds, "highs_message": outcome.message})
        if np.isfinite(outcome.bound):
            bound = min(bound, outcome.bound)
        if exact:
            if outcome.columns is not None and outcome.objective > total + 1e-9:
                columns = order_by_greedy(arrays, outcome.columns, weight)
                total = covered_weight(arrays, columns, weight)
            method = "exact" if outcome.optimal else "exact (time limit)"
    bound = max(bound, total)
    gap = 0.0 if bound <= 0 else (bound - total) / bound
    return columns, float(bound), float(gap), method, stats


def _fewer_stations(
    problem: CapacityProblem,
    plans: list[CapacitatedPlan],
    bound: float,
    *,
    deadline: float | None,
    stats: dict[str, object],
) -> CapacitatedPlan:
    """The best of ``plans`` after closings repaired by swaps, unless one meets the bound."""
    least = math.ceil(bound - 1e-6)
    best = min(plans, key=lambda p: (p.columns.size, int(p.aides.sum())))
    if problem.pattern.nnz > SWAPS_MAX_PAIRS:
        stats["swap_closed"] = f"skipped: over {SWAPS_MAX_PAIRS:,} pairs"
    elif best.columns.size > least:
        # one budget and one count for the rounding's swaps and then the greedy plan's
        before = {key: stats.get(key, 0) for key in ("swap_work", "swap_closed", "swap_repairs")}
        done = {key: value if isinstance(value, int) else 0 for key, value in before.items()}
        work = max(swap_work(problem) - done["swap_work"], 0)
        best = fewer_by_swaps(problem, plans, least=least, work=work, deadline=deadline)
        stats.update({key: best.stats[key] + done[key] for key in done})
    return best


def _short_of_capacity(problem: CapacityProblem, staffing: dict[str, object]) -> str:
    """Why a capacitated minimum cover leaves communities over capacity, in numbers.

    Every site in reach open at its most aides (SciPy's maximum flow) either cannot serve
    every resident, so residents per aide or the most aides a site may have is too small, or
    it can and the search or its time limit fell short.
    """
    rate = problem.capacity.residents_per_aide
    reachable = most_served(problem)
    total = float(problem.demand.sum())
    count = f"{staffing['over_capacity']:,} communities stay over capacity"
    if reachable < total - SERVED_TOLERANCE * max(total, 1.0):
        return (
            f"{count}: with every site in reach open at its most aides "
            f"({problem.capacity.most_aides} x {rate:,.6g} residents), at most "
            f"{reachable:,.0f} of their {total:,.0f} residents can be served; raise "
            "residents_per_aide or max_aides"
        )
    return (
        f"{count}: every site in reach at its most aides could serve them; the search "
        "stopped short (give more time or effort)"
    )


def _capacitated_highs(
    problem: CapacityProblem,
    greedy: Callable[[], tuple[CapacitatedPlan, float]],
    *,
    budget: int | None,
    exact: bool,
    lp_bound: bool,
    deadline: float | None,
    stats: dict[str, object],
) -> tuple[np.ndarray, np.ndarray, float, str]:
    """The LP relaxation's bound and rounding, the ``greedy`` plan, swaps; with ``exact`` HiGHS.

    A minimum cover rounds the LP first: when the rounding (after swaps) meets the bound, no
    other plan can have fewer stations and the greedy plan is not made. Returns the new
    stations (candidate positions), their aides, the bound and the method.
    """
    method = "heuristic"
    plans: list[CapacitatedPlan] = []
    served = most_served(problem)
    bound = aggregate_bound(problem, served) if budget is None else served
    seconds_left = _seconds_left(deadline) - (FINISH_RESERVE_S if deadline is not None else 0.0)
    if not lp_bound:
        seconds_left = min(seconds_left, CAPACITY_LP_SECONDS)
    too_big = not lp_bound and problem.pattern.nnz > CAPACITY_LP_MAX_PAIRS
    if not too_big and seconds_left >= MIN_HIGHS_SECONDS and problem.demand.size:
        relaxed = capacitated_highs(
            problem, target=served, budget=budget, integral=False, time_limit=seconds_left
        )
        stats["lp_seconds"] = relaxed.seconds
        if relaxed.optimal and budget is None:
            bound = max(bound, relaxed.bound)
        elif relaxed.optimal:
            bound = min(float(bound), relaxed.bound)
        stats["lp_bound"] = relaxed.bound if relaxed.optimal else "stopped: time limit"
        if budget is None and relaxed.open_share is not None:  # round the LP, then swaps
            order = np.argsort(-relaxed.open_share, kind="stable")
            rounded = rounded_plan(
                problem,
                order,
                shortest=math.ceil(bound - 1e-6) if relaxed.optimal else 0,
                longest=int(np.count_nonzero(relaxed.open_share > 1e-9)),
                deadline=deadline,
            )
            stats["lp_rounding"] = int(rounded.columns.size)
            plans = [_fewer_stations(problem, [rounded], bound, deadline=deadline, stats=stats)]
    else:
        stats["lp_bound"] = (
            f"skipped: over {CAPACITY_LP_MAX_PAIRS:,} pairs" if too_big else "skipped: time limit"
        )
    if not plans or plans[0].columns.size > math.ceil(bound - 1e-6):
        plan, plan_bound = greedy()
        bound = max(bound, plan_bound) if budget is None else min(bound, plan_bound)
        plans.append(plan)
        if budget is None:
            plans.append(_fewer_stations(problem, [plan], bound, deadline=deadline, stats=stats))
    best = min(plans, key=lambda p: (p.columns.size, int(p.aides.sum())))
    columns, aides = best.columns, best.aides
    seconds_left = _seconds_left(deadline) - (FINISH_RESERVE_S if deadline is not None else 0.0)
    proven = budget is None and columns.size <= math.ceil(bound - 1e-6)
    if exact and seconds_left >= MIN_HIGHS_SECONDS:  # also for the fewest aides
        outcome = capacitated_highs(
            problem, target=served, budget=budget, integral=True, time_limit=seconds_left
        )
        stats.update({"highs_seconds": outcome.seconds, "highs_message": outcome.message})
        if (
            outcome.columns is not None
            and outcome.aides is not None
            and (
                (outcome.columns.size, int(outcome.aides.sum())) < (columns.size, int(aides.sum()))
                if budget is None
                else outcome.objective > served * (1 + 1e-9)
            )
        ):
            columns, aides = outcome.columns, outcome.aides
        if np.isfinite(outcome.bound):
            bound = max(bound, outcome.bound) if budget is None else min(bound, outcome.bound)
        method = "exact" if outcome.optimal else "exact (time limit)"
    elif exact:
        method = "exact" if proven else "exact (time limit)"
    return columns, aides, float(bound), method
