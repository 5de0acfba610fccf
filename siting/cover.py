"""Set-covering and maximal-covering solvers on a boolean coverage pattern (arrays only).

A pattern is a ``scipy.sparse`` matrix, rows = communities still to cover, columns = candidate
sites, a stored entry = the site is within the walk limit. Values are ignored (a stored zero
covers: a site on top of a community). The model (:mod:`siting.model`) builds the pattern,
removes what existing stations cover, and maps the columns back to site ids.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from siting import kernels

log = logging.getLogger("quarterhour")


@dataclass(frozen=True)
class CoverArrays:
    """CSC and CSR index arrays of one coverage pattern."""

    col_ptr: np.ndarray
    col_rows: np.ndarray
    row_ptr: np.ndarray
    row_cols: np.ndarray

    @classmethod
    def from_pattern(cls, pattern: sp.spmatrix | sp.sparray) -> CoverArrays:
        """Index arrays of ``pattern``, duplicates summed and indices sorted (values ignored)."""
        csr = sp.csr_matrix(pattern, copy=True)
        csr.sum_duplicates()
        csr.sort_indices()
        csc = csr.tocsc()
        csc.sort_indices()
        as_int = np.int64
        return cls(
            csc.indptr.astype(as_int), csc.indices.astype(as_int),
            csr.indptr.astype(as_int), csr.indices.astype(as_int),
        )

    @property
    def n_rows(self) -> int:
        return self.row_ptr.size - 1

    @property
    def n_cols(self) -> int:
        return self.col_ptr.size - 1

    def pattern(self) -> sp.csr_matrix:
        """The boolean pattern back as CSR."""
        data = np.ones(self.row_cols.size, bool)
        return sp.csr_matrix((data, self.row_cols, self.row_ptr), shape=(self.n_rows, self.n_cols))


@dataclass
class CoverSolution:
    """Columns chosen by the heuristic, in pick order, and a lower bound on their number."""

    columns: np.ndarray
    lower_bound: float
    stats: dict[str, float | int | str] = field(default_factory=dict)


def greedy_cover(arrays: CoverArrays, *, prune: bool = False) -> np.ndarray:
    """Plain greedy (most uncovered rows first, ties to the smaller column), optionally pruned.

    Returns the columns in pick order.
    """
    covered = np.zeros(arrays.n_rows, bool)
    picks = kernels.lazy_greedy(
        arrays.col_ptr, arrays.col_rows, np.ones(arrays.n_rows), covered,
        np.ones(arrays.n_cols, bool), arrays.n_cols,
    )
    if not prune:
        return picks
    chosen = np.zeros(arrays.n_cols, bool)
    chosen[picks] = True
    counts = kernels.cover_counts(arrays.col_ptr, arrays.col_rows, chosen, arrays.n_rows)
    kernels.prune_redundant(arrays.col_ptr, arrays.col_rows, chosen, counts, picks[::-1].copy())
    return picks[chosen[picks]]


@dataclass(frozen=True)
class Reduction:
    """A set-covering problem after the classic reductions.

    Attributes
    ----------
    forced
        Columns every cover needs (the only column of some row), in the original numbering.
    rows, cols
        Original indices of the rows and columns that remain.
    arrays
        The remaining problem, renumbered 0.. in the order of ``rows`` and ``cols``.
    """

    forced: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    arrays: CoverArrays


def reduce_cover(arrays: CoverArrays, *, max_rounds: int = 20) -> Reduction:
    """Fix essential columns and drop dominated rows and columns until nothing changes.

    A row with a single column forces that column; a row whose columns include all of another
    row's is covered whenever that one is; a column whose rows another column also covers is never
    needed with unit costs. Each rule keeps at least one optimal cover.
    """
    rows = np.arange(arrays.n_rows)
    cols = np.arange(arrays.n_cols)
    forced: list[np.ndarray] = []
    current = arrays
    for _ in range(max_rounds):
        row_len = np.diff(current.row_ptr)
        single = row_len == 1
        essential = np.unique(current.row_cols[current.row_ptr[:-1][single]])
        row_keep = np.ones(current.n_rows, bool)
        if essential.size:
            forced.append(cols[essential])
            chosen = np.zeros(current.n_cols, bool)
            chosen[essential] = True
            row_keep = kernels.cover_counts(current.col_ptr, current.col_rows, chosen, current.n_rows) == 0
        row_keep &= ~kernels.dominated_rows(current.col_ptr, current.col_rows, current.row_ptr, current.row_cols)
        col_keep = ~kernels.dominated_columns(
            current.col_ptr, current.col_rows, current.row_ptr, current.row_cols, row_keep
        )
        if row_keep.all() and col_keep.all():
            break
        sub = current.pattern()[row_keep][:, col_keep]
        rows, cols = rows[row_keep], cols[col_keep]
        current = CoverArrays.from_pattern(sub)
        if current.n_rows == 0:
            break
    forced_cols = np.unique(np.concatenate(forced)) if forced else np.empty(0, np.int64)
    return Reduction(forced_cols, rows, cols, current)


def order_by_greedy(arrays: CoverArrays, columns: np.ndarray, row_weight: np.ndarray | None = None) -> np.ndarray:
    """Return ``columns`` in greedy order: each next one adds the most still-uncovered weight."""
    allowed = np.zeros(arrays.n_cols, bool)
    allowed[columns] = True
    weight = np.ones(arrays.n_rows) if row_weight is None else np.asarray(row_weight, float)
    picks = kernels.lazy_greedy(
        arrays.col_ptr, arrays.col_rows, weight, np.zeros(arrays.n_rows, bool), allowed, arrays.n_cols
    )
    rest = np.setdiff1d(columns, picks)  # columns adding nothing (e.g. zero weight) keep index order
    return np.concatenate([picks, rest]).astype(np.int64)


def heuristic_cover(
    arrays: CoverArrays,
    *,
    lagrangian_iterations: int = 600,
    search_steps: int = 200_000,
    stall_steps: int = 50_000,
    seed: int = 0,
) -> CoverSolution:
    """Fewest columns covering every row: reductions, greedy, Lagrangian heuristic, local search.

    1. :func:`reduce_cover` fixes essential columns and drops dominated rows and columns;
    2. greedy with redundancy pruning and 2-for-1 swaps gives a first cover;
    3. Beasley's subgradient method on the Lagrangian relaxation yields a lower bound and, each
       step, a cover built from the reduced costs;
    4. row-weighting local search (:func:`kernels.row_weighting_search`) looks for smaller covers
       from the best one, for at most ``search_steps`` steps and ``stall_steps`` steps without a
       smaller cover, unless it reaches the bound first.

    Every step is deterministic (step counts, not time limits; ties to the smaller column; a seeded
    generator). Every row must have at least one column.
    """
    started = time.perf_counter()
    if arrays.n_rows and np.diff(arrays.row_ptr).min() == 0:
        msg = "every row of a covering problem needs at least one column"
        raise ValueError(msg)
    reduction = reduce_cover(arrays)
    sub = reduction.arrays
    log.debug(
        "cover reductions: %s forced, %s x %s left of %s x %s",
        f"{reduction.forced.size:,}", f"{sub.n_rows:,}", f"{sub.n_cols:,}",
        f"{arrays.n_rows:,}", f"{arrays.n_cols:,}",
    )
    stats: dict[str, float | int | str] = {
        "forced": int(reduction.forced.size), "reduced_rows": sub.n_rows, "reduced_cols": sub.n_cols,
    }
    bound = 0.0
    if sub.n_rows == 0:
        sub_columns = np.empty(0, np.int64)
    else:
        chosen = np.zeros(sub.n_cols, bool)
        chosen[greedy_cover(sub, prune=True)] = True
        counts = kernels.cover_counts(sub.col_ptr, sub.col_rows, chosen, sub.n_rows)
        kernels.two_for_one(sub.col_ptr, sub.col_rows, sub.row_ptr, sub.row_cols, chosen, counts)
        stats["greedy_local"] = int(chosen.sum())
        chosen, bound, iterations = kernels.lagrangian_cover(
            sub.col_ptr, sub.col_rows, sub.row_ptr, sub.row_cols, chosen, lagrangian_iterations, 10
        )
        stats["lagrangian_iterations"] = int(iterations)
        stats["lagrangian_cover"] = int(chosen.sum())
        target = int(math.ceil(bound - 1e-6))
        if chosen.sum() > target:
            chosen, steps = kernels.row_weighting_search(
                sub.col_ptr, sub.col_rows, sub.row_ptr, sub.row_cols, chosen, target, search_steps, stall_steps, seed
            )
            stats["search_steps"] = int(steps)
        sub_columns = np.flatnonzero(chosen)
    columns = np.concatenate([reduction.forced, reduction.cols[sub_columns]]).astype(np.int64)
    ordered = order_by_greedy(arrays, columns)
    stats["seconds"] = time.perf_counter() - started
    return CoverSolution(ordered, float(bound) + reduction.forced.size, stats)


@dataclass
class MaxCoverSolution:
    """Columns chosen for maximal covering, in pick order, with the covered weight and a bound."""

    columns: np.ndarray
    covered_weight: float
    upper_bound: float
    stats: dict[str, float | int | str] = field(default_factory=dict)


def covered_weight(arrays: CoverArrays, columns: np.ndarray, row_weight: np.ndarray) -> float:
    """Total weight of the rows at least one of ``columns`` covers."""
    chosen = np.zeros(arrays.n_cols, bool)
    chosen[columns] = True
    counts = kernels.cover_counts(arrays.col_ptr, arrays.col_rows, chosen, arrays.n_rows)
    return float(row_weight[counts > 0].sum())


def heuristic_max_cover(
    arrays: CoverArrays, row_weight: np.ndarray, budget: int, *, bound_iterations: int = 300
) -> MaxCoverSolution:
    """At most ``budget`` columns covering the most row weight: lazy greedy, then 1-for-1 swaps.

    Swaps are only taken when they add weight, so the answer is never worse than greedy's. The
    upper bound is the Lagrangian bound of :func:`kernels.max_cover_lagrangian_bound`.
    """
    started = time.perf_counter()
    weight = np.asarray(row_weight, float)
    picks = kernels.lazy_greedy(
        arrays.col_ptr, arrays.col_rows, weight, np.zeros(arrays.n_rows, bool),
        np.ones(arrays.n_cols, bool), int(budget),
    )
    chosen = np.zeros(arrays.n_cols, bool)
    chosen[picks] = True
    counts = kernels.cover_counts(arrays.col_ptr, arrays.col_rows, chosen, arrays.n_rows)
    greedy_weight = float(weight[counts > 0].sum())
    if picks.size:
        kernels.coverage_swaps(arrays.col_ptr, arrays.col_rows, weight, chosen, counts, 10 * budget)
    columns = order_by_greedy(arrays, np.flatnonzero(chosen), weight)
    total = float(weight[counts > 0].sum())  # the swaps keep ``counts`` up to date
    bound = kernels.max_cover_lagrangian_bound(
        arrays.col_ptr, arrays.col_rows, weight, int(budget), total, bound_iterations
    )
    bound = max(float(bound), total)
    stats = {"greedy_weight": greedy_weight, "seconds": time.perf_counter() - started}
    return MaxCoverSolution(columns, total, bound, stats)
