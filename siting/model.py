"""Station siting model: minimum cover (LSCP) and budgeted maximal cover (MCLP) over walk times."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from geo.errors import InputError
from geo.points import PointSet
from routing import settings
from routing.walktimes import check_limit, check_speed
from siting import assign, bounds, cover, inputs
from siting.result import SitingResult

log = logging.getLogger("quarterhour")


def _sorted_order(ids: np.ndarray) -> np.ndarray:
    return np.argsort(ids.astype(str), kind="stable")


def _default_ids(n: int) -> np.ndarray:
    width = len(str(max(n - 1, 0)))
    return np.asarray([f"{index:0{width}d}" for index in range(n)], dtype=object)


def _texts(values: np.ndarray | None, default: np.ndarray) -> np.ndarray:
    return default if values is None else np.asarray([str(value) for value in values], dtype=object)


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

    Build with :meth:`from_cost_matrix` or :meth:`from_points`; :meth:`solve` fills ``result``.
    Rows and columns are kept sorted by id, so ties go to the smaller id and the same input gives
    the same plan in any input order.
    """

    def __init__(
        self,
        cost: sp.csr_matrix,
        *,
        community_ids: np.ndarray,
        community_names: np.ndarray,
        weight: np.ndarray,
        site_ids: np.ndarray,
        site_names: np.ndarray,
        existing: np.ndarray,
        site_lon: np.ndarray,
        site_lat: np.ndarray,
        access_m: np.ndarray,
        nearest_site_m: np.ndarray,
        limit: float,
        metric: str,
        speed_kmh: float,
        attribution: str,
    ) -> None:
        self.cost = cost
        self.community_ids = community_ids
        self.community_names = community_names
        self.weight = weight
        self.site_ids = site_ids
        self.site_names = site_names
        self.existing = existing
        self.site_lon = site_lon
        self.site_lat = site_lat
        self.access_m = access_m
        self.nearest_site_m = nearest_site_m
        self.limit = limit
        self.metric = metric
        self.speed_kmh = speed_kmh
        self.attribution = attribution
        self.result: SitingResult | None = None

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
        attribution: str = settings.attribution,
    ) -> CoverageModel:
        """Build the model from a sparse cost matrix (communities x sites) of pairs within the limit.

        Parameters
        ----------
        cost
            Walk minutes (or metres with ``meters``); a stored entry, zero included, is a pair
            within the limit. Entries above the limit are ignored.
        community_ids, community_names, weights
            Per row; ids default to ``"0", "1" ...`` (zero-padded), weights to 1.
        site_ids, site_names
            Per column; ids default like the communities'. Existing and candidate ids share one
            namespace and must be unique.
        existing
            Boolean mask of the columns that are existing stations (kept); default none.
        site_lon, site_lat
            WGS84 degrees of the sites, for the GeoJSON output.
        access_m, nearest_site_m
            Per community: metres to the walking network and straight-line metres to the nearest
            site, to explain uncoverable communities.
        minutes, speed_kmh, meters
            The limit the matrix was built with: minutes (default 15) or, with ``meters``, metres.
        attribution
            Data attribution carried by the outputs.
        """
        limit, metric = check_limit(minutes=minutes, meters=meters)
        speed = check_speed(speed_kmh)
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
            msg = f"cost matrix is {n_rows:,} x {n_cols:,} but {row_ids.size:,} community and {col_ids.size:,} site ids were given"
            raise InputError(msg)
        is_existing = np.zeros(n_cols, bool) if existing is None else np.asarray(existing, bool)
        if is_existing.shape != (n_cols,):
            msg = f"existing must be a boolean mask of the {n_cols:,} sites"
            raise InputError(msg)
        matrix.sum_duplicates()
        beyond = matrix.data > limit + 1e-9  # not within the limit: not a pair (zeros stay)
        if beyond.any():
            pairs = matrix.tocoo()
            keep = ~beyond
            matrix = sp.csr_matrix(
                (pairs.data[keep], (pairs.row[keep], pairs.col[keep])), shape=matrix.shape
            )
        rows = _sorted_order(row_ids)
        cols = _sorted_order(col_ids)
        matrix = sp.csr_matrix(matrix[rows][:, cols])
        matrix.sort_indices()
        log.info(
            "coverage matrix %s x %s with %s pairs (%s existing stations)",
            f"{n_rows:,}", f"{n_cols:,}", f"{matrix.nnz:,}", f"{int(is_existing.sum()):,}",
        )
        return cls(
            matrix,
            community_ids=row_ids[rows],
            community_names=_texts(community_names, row_ids)[rows],
            weight=inputs.check_weights(weights, n_rows, "communities")[rows],
            site_ids=col_ids[cols],
            site_names=_texts(site_names, col_ids)[cols],
            existing=is_existing[cols],
            site_lon=_floats(site_lon, n_cols, np.nan)[cols],
            site_lat=_floats(site_lat, n_cols, np.nan)[cols],
            access_m=_floats(access_m, n_rows, np.nan)[rows],
            nearest_site_m=_floats(nearest_site_m, n_rows, np.nan)[rows],
            limit=limit,
            metric=metric,
            speed_kmh=speed,
            attribution=attribution,
        )

    @classmethod
    def from_points(
        cls,
        network: object,
        communities: PointSet,
        *,
        existing: PointSet | None = None,
        candidates: PointSet | None = None,
        minutes: float = settings.walk_limit_minutes,
        speed_kmh: float = settings.walk_speed_kmh,
        meters: float | None = None,
        quiet: bool = False,
    ) -> CoverageModel:
        """Build the model from points: walk times on ``network`` from communities to sites.

        Parameters
        ----------
        network
            A ``routing.network.WalkNetwork``, or the path of an OSM file to load it from.
        communities
            Demand points; their ``weight`` (residents, registered unemployed ...) is what
            maximal cover maximises.
        existing
            Existing stations, kept as they are.
        candidates
            Candidate sites; by default the communities themselves (stations embedded in
            community spaces).
        minutes, speed_kmh, meters
            Walk limit in minutes at ``speed_kmh``, or in metres with ``meters``.
        quiet
            Hide progress bars (of the network build and of the walk times).
        """
        from routing.network import load_network
        from routing.walktimes import walk_time_matrix

        if isinstance(network, (str, Path)):
            network = load_network(network, quiet=quiet)
        check_limit(minutes=minutes, meters=meters)  # fail before the walk times are computed
        check_speed(speed_kmh)
        community_ids = inputs.check_ids(communities.ids, "communities")
        candidate_set = communities if candidates is None else candidates
        candidate_ids = inputs.check_ids(candidate_set.ids, "candidate sites")
        parts = [candidate_set]
        n_existing = 0
        if existing is not None and len(existing):
            existing_ids = inputs.check_ids(existing.ids, "existing stations")
            inputs.check_disjoint(existing_ids, candidate_ids, candidates_given=candidates is not None)
            parts.insert(0, existing)
            n_existing = len(existing)
        site_lon = np.concatenate([part.lon for part in parts])
        site_lat = np.concatenate([part.lat for part in parts])
        walk = walk_time_matrix(
            network, communities.lon, communities.lat, site_lon, site_lat,
            minutes=minutes, speed_kmh=speed_kmh, meters=meters, quiet=quiet,
        )
        if not walk.src_snap.reachable.any():
            msg = (
                f"none of the {len(communities):,} communities in {communities.source} lies within "
                f"{walk.src_snap.max_m:g} m of a walkable street of the network: is it the right area "
                "and coordinate system?"
            )
            raise InputError(msg)
        off_network = np.flatnonzero(~walk.dst_snap.reachable[:n_existing])
        if off_network.size:
            msg = (
                f"existing stations {inputs.list_some(existing.ids[off_network])} lie outside the network "
                f"area (more than {walk.dst_snap.max_m:g} m from a walkable street)"
            )
            raise InputError(msg)
        is_existing = np.zeros(site_lon.size, bool)
        is_existing[:n_existing] = True
        return cls.from_cost_matrix(
            walk.matrix,
            community_ids=community_ids,
            community_names=communities.names,
            weights=communities.weight,
            site_ids=np.concatenate([np.asarray(part.ids, dtype=object) for part in parts]),
            site_names=np.concatenate([np.asarray(part.names, dtype=object) for part in parts]),
            existing=is_existing,
            site_lon=site_lon,
            site_lat=site_lat,
            access_m=walk.src_snap.access_m,
            nearest_site_m=inputs.nearest_site_metres(communities, site_lon, site_lat),
            minutes=minutes,
            speed_kmh=speed_kmh,
            meters=meters,
        )

    # ------------------------------------------------------------------ solving

    @property
    def pattern(self) -> sp.csr_matrix:
        """Boolean coverage (communities x sites): the stored pairs, zeros included."""
        cost = self.cost
        return sp.csr_matrix((np.ones(cost.nnz, bool), cost.indices, cost.indptr), shape=cost.shape)

    @property
    def unit(self) -> str:
        """``"min"`` or ``"m"``: the unit of ``limit``."""
        return "min" if self.metric == "time" else "m"

    def solve(
        self,
        *,
        budget: int | None = None,
        exact: bool = False,
        time_limit: float = 60.0,
        lp_bound: bool = False,
    ) -> CoverageModel:
        """Choose new stations; fills and returns ``self`` with ``self.result``.

        Parameters
        ----------
        budget
            None: fewest new stations covering every coverable community (LSCP). A number:
            at most that many new stations covering the most weight (MCLP).
        exact
            Solve the integer programme with HiGHS within ``time_limit`` seconds; if it stops
            early, the better of its incumbent and the heuristic is kept, with HiGHS' bound.
        time_limit
            Seconds HiGHS may take (``exact`` and ``lp_bound``).
        lp_bound
            Also solve the LP relaxation with HiGHS for a bound at least as tight as the
            Lagrangian one.
        """
        budget = inputs.check_budget(budget)
        started = time.perf_counter()
        pattern = self.pattern
        existing_cols = np.flatnonzero(self.existing)
        candidate_cols = np.flatnonzero(~self.existing)
        by_existing = pattern[:, existing_cols].getnnz(axis=1) > 0
        coverable = pattern.getnnz(axis=1) > 0
        open_rows = np.flatnonzero(coverable & ~by_existing)
        sub = sp.csr_matrix(pattern[open_rows][:, candidate_cols])
        arrays = cover.CoverArrays.from_pattern(sub)
        warnings = self._warn_uncoverable(coverable)
        log.info(
            "siting: %s communities, %s covered by %s existing stations, %s to cover from %s candidate sites (%s pairs)",
            f"{len(self.community_ids):,}", f"{int(by_existing.sum()):,}", f"{existing_cols.size:,}",
            f"{open_rows.size:,}", f"{candidate_cols.size:,}", f"{sub.nnz:,}",
        )
        if budget is None:
            columns, bound, gap, method, stats = self._min_cover(arrays, sub, exact, time_limit, lp_bound)
            objective = "min_cover"
        else:
            weight = self.weight[open_rows]
            columns, bound, gap, method, stats = self._max_cover(
                arrays, sub, weight, budget, exact, time_limit, lp_bound
            )
            bound += float(self.weight[by_existing].sum())
            objective = "max_cover"
        seconds = time.perf_counter() - started
        new_cols = candidate_cols[columns]
        self.result = self._result(
            pattern, new_cols, objective=objective, bound=bound, gap=gap, method=method, seconds=seconds,
            stats=stats, budget=budget, coverable=coverable, warnings=warnings,
        )
        log.info(
            "siting: %s new stations (%s, bound %.2f, gap %.1f %%) in %.3f s",
            f"{new_cols.size:,}", method, bound, 100 * gap, seconds,
        )
        return self

    def _warn_uncoverable(self, coverable: np.ndarray) -> list[str]:
        n_uncoverable = int((~coverable).sum())
        if n_uncoverable == 0:
            return []
        if n_uncoverable == coverable.size:
            message = (
                f"none of the {coverable.size:,} communities has a station site within "
                f"{self.limit:g} {self.unit}: nothing can be covered"
            )
        else:
            message = (
                f"{n_uncoverable:,} of {coverable.size:,} communities have no station site within "
                f"{self.limit:g} {self.unit} and stay uncovered (see 'reason')"
            )
        log.warning(message)
        return [message]

    @staticmethod
    def _min_cover(
        arrays: cover.CoverArrays, sub: sp.csr_matrix, exact: bool, time_limit: float, lp_bound: bool
    ) -> tuple[np.ndarray, float, float, str, dict[str, object]]:
        solution = cover.heuristic_cover(arrays)
        columns, bound, method = solution.columns, solution.lower_bound, "heuristic"
        stats: dict[str, object] = dict(solution.stats)
        if lp_bound and arrays.n_rows:
            outcome = bounds.cover_highs(sub, integral=False, time_limit=time_limit)
            stats["lp_bound"] = outcome.bound
            bound = max(bound, outcome.bound)
        if exact and arrays.n_rows and columns.size > math.ceil(bound - 1e-6):
            outcome = bounds.cover_highs(sub, integral=True, time_limit=time_limit)
            stats.update({"highs_seconds": outcome.seconds, "highs_message": outcome.message})
            if np.isfinite(outcome.bound):
                bound = max(bound, outcome.bound)
            if outcome.columns is not None and outcome.columns.size < columns.size:
                columns = cover.order_by_greedy(arrays, outcome.columns)
            method = "exact" if outcome.optimal else "exact (time limit)"
        elif exact:
            method = "exact"  # the heuristic met the bound: proven optimal
        integer_bound = math.ceil(bound - 1e-6)
        gap = 0.0 if columns.size == 0 else (columns.size - integer_bound) / columns.size
        return columns, float(bound), float(gap), method, stats

    @staticmethod
    def _max_cover(
        arrays: cover.CoverArrays,
        sub: sp.csr_matrix,
        weight: np.ndarray,
        budget: int,
        exact: bool,
        time_limit: float,
        lp_bound: bool,
    ) -> tuple[np.ndarray, float, float, str, dict[str, object]]:
        solution = cover.heuristic_max_cover(arrays, weight, budget)
        columns, total, bound, method = solution.columns, solution.covered_weight, solution.upper_bound, "heuristic"
        stats: dict[str, object] = dict(solution.stats)
        if (lp_bound or exact) and arrays.n_rows and budget > 0:
            outcome = bounds.max_cover_highs(sub, weight, budget, integral=exact, time_limit=time_limit)
            stats["highs_seconds"] = outcome.seconds
            if np.isfinite(outcome.bound):
                bound = min(bound, outcome.bound)
            if exact:
                if outcome.columns is not None and outcome.objective > total + 1e-9:
                    columns = cover.order_by_greedy(arrays, outcome.columns, weight)
                    total = cover.covered_weight(arrays, columns, weight)
                method = "exact" if outcome.optimal else "exact (time limit)"
        bound = max(bound, total)
        gap = 0.0 if bound <= 0 else (bound - total) / bound
        return columns, float(bound), float(gap), method, stats

    # ------------------------------------------------------------------ result

    def _result(
        self,
        pattern: sp.csr_matrix,
        new_cols: np.ndarray,
        *,
        objective: str,
        bound: float,
        gap: float,
        method: str,
        seconds: float,
        stats: dict[str, object],
        budget: int | None,
        coverable: np.ndarray,
        warnings: list[str],
    ) -> SitingResult:
        by_col = pattern.tocsc()
        existing_cols = np.flatnonzero(self.existing)
        station_cols = np.concatenate([existing_cols, new_cols]).astype(np.int64)
        kinds = np.asarray(["existing"] * existing_cols.size + ["new"] * new_cols.size, dtype=object)
        # marginal coverage: existing stations together, then each new one in pick order
        covered = np.zeros(self.cost.shape[0], bool)
        new_count = np.zeros(station_cols.size, np.int64)
        new_weight = np.zeros(station_cols.size)
        for position, col in enumerate(station_cols):
            rows = by_col.indices[by_col.indptr[col]:by_col.indptr[col + 1]]
            fresh = rows[~covered[rows]]
            covered[fresh] = True
            new_count[position] = fresh.size
            new_weight[position] = self.weight[fresh].sum()
        # nearest station: ties go to the smaller site id, i.e. the smaller column
        by_id = np.argsort(station_cols, kind="stable")
        position, value = assign.nearest_station(self.cost, station_cols[by_id])
        if by_id.size:
            position = np.where(position >= 0, by_id[np.maximum(position, 0)], -1)
        per_unit = 1.0 if self.metric == "time" else 60.0 / (self.speed_kmh * 1000.0)
        assignments = assign.community_table(
            self.community_ids, self.community_names, self.weight, self.site_ids[station_cols], kinds,
            position, value, per_unit,
        )
        assignments["coverable"] = coverable
        assignments["access_m"] = self.access_m
        assignments["nearest_site_m"] = self.nearest_site_m
        assignments["reason"] = self._reasons(coverable, assignments["covered"].to_numpy(bool))
        served_count, served_weight = assign.served_counts(position, self.weight, station_cols.size)
        stations = pd.DataFrame({
            "station_id": self.site_ids[station_cols],
            "name": self.site_names[station_cols],
            "kind": kinds,
            "rank": np.concatenate([np.zeros(existing_cols.size, int), np.arange(1, new_cols.size + 1)]),
            "lon": self.site_lon[station_cols],
            "lat": self.site_lat[station_cols],
            "new_communities": new_count,
            "new_weight": new_weight,
            "served_communities": served_count,
            "served_weight": served_weight,
        })
        params = {
            "minutes": self.limit if self.metric == "time" else None,
            "meters": self.limit if self.metric == "distance" else None,
            "speed_kmh": self.speed_kmh,
            "metric": self.metric,
            "budget": budget,
            "n_candidates": int((~self.existing).sum()),
        }
        return SitingResult(
            stations, assignments, objective, bound, gap, method, seconds, stats, params,
            self.attribution, warnings,
        )

    def _reasons(self, coverable: np.ndarray, covered: np.ndarray) -> np.ndarray:
        reasons = np.full(coverable.size, "", dtype=object)
        for row in np.flatnonzero(~covered):
            access = self.access_m[row]
            nearest = self.nearest_site_m[row]
            if coverable[row]:
                reasons[row] = "not covered within the budget"
            elif np.isfinite(access) and access > settings.snap_max_m:
                reasons[row] = f"off the walking network: {access:,.0f} m from the nearest walkable street"
            elif np.isfinite(nearest):
                reasons[row] = (
                    f"no station site within {self.limit:g} {self.unit}; nearest site {nearest:,.0f} m away in a straight line"
                )
            else:
                reasons[row] = f"no station site within {self.limit:g} {self.unit}"
        return reasons
