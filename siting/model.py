"""Station siting model: minimum cover (LSCP) and budgeted maximal cover (MCLP) over walk times."""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from quarterhour import settings
from quarterhour.geo.errors import InputError
from quarterhour.geo.points import PointSet, as_point_set
from quarterhour.siting import bounds, inputs
from quarterhour.siting.kernels.pattern import CoverPattern
from quarterhour.siting.max_cover import covered_weight, heuristic_max_cover
from quarterhour.siting.min_cover import SearchBudget, heuristic_cover, order_by_greedy
from quarterhour.siting.result import (
    Communities,
    SiteTable,
    SitingResult,
    WalkLimit,
    build_result,
    uncoverable_warning,
)

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from quarterhour.routing.graph import WalkNetwork
    from quarterhour.siting.audit import CoverageAudit

    PointsLike = PointSet | gpd.GeoDataFrame | pd.DataFrame

log = logging.getLogger("quarterhour")


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
        """
        limit = WalkLimit.checked(minutes=minutes, meters=meters, speed_kmh=speed_kmh)
        matrix = sp.csr_matrix(cost, dtype=float, copy=True)
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
        rows = np.arange(n_rows) if community_ids is None else _sorted_order(row_ids)
        cols = np.arange(n_cols) if site_ids is None else _sorted_order(col_ids)
        matrix = sp.csr_matrix(matrix[rows][:, cols])
        matrix.sort_indices()
        log.info(
            "coverage matrix %s x %s with %s pairs (%s existing stations)",
            f"{n_rows:,}",
            f"{n_cols:,}",
            f"{matrix.nnz:,}",
            f"{int(is_existing.sum()):,}",
        )
        communities = Communities(
            ids=row_ids[rows],
            names=_texts(community_names, row_ids)[rows],
            weight=inputs.check_weights(weights, n_rows, "communities")[rows],
            access_m=_floats(access_m, n_rows, np.nan)[rows],
            nearest_site_m=_floats(nearest_site_m, n_rows, np.nan)[rows],
        )
        sites = SiteTable(
            ids=col_ids[cols],
            names=_texts(site_names, col_ids)[cols],
            existing=is_existing[cols],
            lon=_floats(site_lon, n_cols, np.nan)[cols],
            lat=_floats(site_lat, n_cols, np.nan)[cols],
        )
        return cls(
            matrix,
            communities,
            sites,
            limit,
            attribution=settings.attribution if attribution is None else attribution,
        )

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
        crs: str | None = None,
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
            Existing stations, kept as they are.
        candidates
            Candidate sites; by default the communities themselves (stations embedded in
            community spaces). An empty set means none (an audit of the existing stations).
        minutes, speed_kmh, meters
            Walk limit in minutes at ``speed_kmh``, or in metres with ``meters`` (defaults from
            :mod:`quarterhour.settings`).
        crs
            Coordinate system of frames given without one (see
            :func:`~quarterhour.geo.points.points_from_frame`).
        quiet
            Hide progress bars (of the network build and of the walk times).
        """
        from quarterhour.routing.network import load_network
        from quarterhour.routing.walktimes import walk_time_matrix

        limit = WalkLimit.checked(minutes=minutes, meters=meters, speed_kmh=speed_kmh)
        if not hasattr(network, "indptr"):
            network = load_network(network, quiet=quiet)
        homes = as_point_set(communities, crs=crs, role="communities")
        stations = None if existing is None else as_point_set(existing, crs=crs, role="existing")
        candidate_set = (
            homes if candidates is None else as_point_set(candidates, crs=crs, role="candidates")
        )
        community_ids = inputs.check_ids(homes.ids, "communities")
        candidate_ids = np.asarray(candidate_set.ids, dtype=object).astype(str)
        if len(candidate_set):
            candidate_ids = inputs.check_ids(candidate_set.ids, "candidate sites")
        parts = [candidate_set]
        n_existing = 0
        if stations is not None and len(stations):
            existing_ids = inputs.check_ids(stations.ids, "existing stations")
            inputs.check_disjoint(
                existing_ids, candidate_ids, candidates_given=candidates is not None
            )
            parts.insert(0, stations)
            n_existing = len(stations)
        site_lon = np.concatenate([part.lon for part in parts])
        site_lat = np.concatenate([part.lat for part in parts])
        walk = walk_time_matrix(
            network,
            homes.lon,
            homes.lat,
            site_lon,
            site_lat,
            minutes=limit.minutes,
            speed_kmh=limit.speed_kmh,
            meters=limit.meters,
            quiet=quiet,
        )
        if not walk.src_snap.reachable.any():
            msg = (
                f"none of the {len(homes):,} communities in {homes.source} lies within "
                f"{walk.src_snap.max_m:g} m of a walkable street of the network: is it the right "
                "area and coordinate system?"
            )
            raise InputError(msg)
        off_network = np.flatnonzero(~walk.dst_snap.reachable[:n_existing])
        if off_network.size:
            msg = (
                f"existing stations {inputs.list_some(stations.ids[off_network])} lie outside the "
                f"network area (more than {walk.dst_snap.max_m:g} m from a walkable street)"
            )
            raise InputError(msg)
        is_existing = np.zeros(site_lon.size, bool)
        is_existing[:n_existing] = True
        model = cls.from_cost_matrix(
            walk.matrix,
            community_ids=community_ids,
            community_names=homes.names,
            weights=homes.weight,
            site_ids=np.concatenate([np.asarray(part.ids, dtype=object) for part in parts]),
            site_names=np.concatenate([np.asarray(part.names, dtype=object) for part in parts]),
            existing=is_existing,
            site_lon=site_lon,
            site_lat=site_lat,
            access_m=walk.src_snap.access_m,
            nearest_site_m=inputs.nearest_site_metres(homes, site_lon, site_lat),
            minutes=limit.minutes,
            speed_kmh=limit.speed_kmh,
            meters=limit.meters,
            attribution=network.attribution,
        )
        model.network = network
        model.points = {"communities": homes, "existing": stations, "candidates": candidates}
        return model

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
    def summary(self) -> dict[str, object]:
        """The plan's headline figures, JSON-ready."""
        return self._solved().summary

    @property
    def pattern(self) -> sp.csr_matrix:
        """Boolean coverage (communities x sites): the stored pairs, zeros included."""
        cost = self.cost
        data = np.ones(cost.nnz, bool)
        return sp.csr_matrix((data, cost.indices, cost.indptr), shape=cost.shape)

    # ------------------------------------------------------------------ solving

    def solve(
        self,
        *,
        budget: int | None = None,
        exact: bool = False,
        time_limit: float | None = None,
        lp_bound: bool = False,
        effort: float | str | None = None,
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
        """
        budget = inputs.check_budget(budget)
        time_limit = inputs.check_time_limit(time_limit)
        effort = inputs.check_effort(effort)
        started = time.perf_counter()
        deadline = None if time_limit is None else started + time_limit
        pattern = self.pattern
        existing_cols = np.flatnonzero(self.sites.existing)
        candidate_cols = np.flatnonzero(~self.sites.existing)
        by_existing = pattern[:, existing_cols].getnnz(axis=1) > 0
        coverable = pattern.getnnz(axis=1) > 0
        open_rows = np.flatnonzero(coverable & ~by_existing)
        sub = sp.csr_matrix(pattern[open_rows][:, candidate_cols])
        arrays = CoverPattern.from_matrix(sub)
        warnings = uncoverable_warning(coverable, self.limit)
        log.info(
            "siting: %s communities, %s covered by %s existing stations, %s to cover from %s "
            "candidate sites (%s pairs)",
            f"{len(self.communities.ids):,}",
            f"{int(by_existing.sum()):,}",
            f"{existing_cols.size:,}",
            f"{open_rows.size:,}",
            f"{candidate_cols.size:,}",
            f"{sub.nnz:,}",
        )
        if budget is None:
            columns, bound, gap, method, stats = _min_cover(
                arrays, sub, exact=exact, deadline=deadline, lp_bound=lp_bound, effort=effort
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
                time_limit=max(_seconds_left(deadline), MIN_HIGHS_SECONDS),
                lp_bound=lp_bound,
            )
            bound += float(self.communities.weight[by_existing].sum())
            objective = "max_cover"
        seconds = time.perf_counter() - started
        new_cols = candidate_cols[columns]
        self.result = build_result(
            self.cost,
            self.communities,
            self.sites,
            self.limit,
            station_cols=np.concatenate([existing_cols, new_cols]).astype(np.int64),
            n_existing=existing_cols.size,
            coverable=coverable,
            objective=objective,
            bound=bound,
            gap=gap,
            method=method,
            seconds=seconds,
            stats=stats,
            budget=budget,
            attribution=self.attribution,
            warnings=warnings,
        )
        log.info(
            "siting: %s new stations (%s, bound %.2f, gap at most %.1f %%: the bound-based gap "
            "is an upper limit on the true gap) in %.3f s",
            f"{new_cols.size:,}",
            method,
            bound,
            100 * gap,
            seconds,
        )
        return self

    def audit(self) -> CoverageAudit:
        """Who the existing stations cover today, within the limit (the model is not changed).

        Returns
        -------
        CoverageAudit
            Every community's nearest existing station and walk time, and every station with
            the communities whose nearest station it is.
        """
        from quarterhour.siting.audit import audit_of_stations

        existing_cols = np.flatnonzero(self.sites.existing).astype(np.int64)
        coverable = self.pattern[:, existing_cols].getnnz(axis=1) > 0
        result = build_result(
            self.cost,
            self.communities,
            self.sites,
            self.limit,
            station_cols=existing_cols,
            n_existing=existing_cols.size,
            coverable=coverable,
            objective="audit",
            bound=math.nan,
            gap=math.nan,
            method="audit",
            seconds=0.0,
            stats={},
            budget=0,
            attribution=self.attribution,
            warnings=[],
        )
        return audit_of_stations(result)


EXACT_SECONDS = 60.0
"""Seconds HiGHS may take in ``exact`` mode when no time limit is given."""
MIN_HIGHS_SECONDS = 0.05
"""HiGHS is not started with less time than this left."""
HIGHS_SHARE = 0.5
"""Share of a time limit the search may use when ``exact`` or ``lp_bound`` asks for HiGHS too."""


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
) -> tuple[np.ndarray, float, float, str, dict[str, object]]:
    search_deadline = deadline
    if deadline is not None and (exact or lp_bound):  # leave HiGHS its share of the time
        search_deadline = time.perf_counter() + HIGHS_SHARE * _seconds_left(deadline)
    solution = heuristic_cover(arrays, effort=effort, deadline=search_deadline)
    columns, bound, method = solution.columns, solution.lower_bound, "heuristic"
    stats: dict[str, object] = dict(solution.stats)
    if lp_bound and arrays.n_rows:
        seconds = _seconds_left(deadline, SearchBudget.for_effort(effort).seconds)
        if seconds < MIN_HIGHS_SECONDS:
            stats["lp_bound"] = "skipped: time limit"
        else:
            outcome = bounds.cover_highs(sub, integral=False, time_limit=seconds)
            stats["lp_seconds"] = outcome.seconds
            if outcome.optimal:  # an LP stopped early bounds nothing
                stats["lp_bound"] = outcome.bound
                bound = max(bound, outcome.bound)
            else:
                stats["lp_bound"] = "stopped: time limit"
    seconds = _seconds_left(deadline)
    proven = columns.size <= math.ceil(bound - 1e-6)
    if exact and not proven and seconds < MIN_HIGHS_SECONDS:
        stats["highs_message"] = "skipped: time limit"
        method = "exact (time limit)"
    elif exact and not proven:
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
    time_limit: float,
    lp_bound: bool,
) -> tuple[np.ndarray, float, float, str, dict[str, object]]:
    solution = heuristic_max_cover(arrays, weight, budget)
    columns, total = solution.columns, solution.covered_weight
    bound, method = solution.upper_bound, "heuristic"
    stats: dict[str, object] = dict(solution.stats)
    if (lp_bound or exact) and arrays.n_rows and budget > 0:
        outcome = bounds.max_cover_highs(sub, weight, budget, integral=exact, time_limit=time_limit)
        stats["highs_seconds"] = outcome.seconds
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
