"""Set-covering and maximal-covering solvers on a boolean coverage pattern (pattern only).

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

from quarterhour.siting.kernels.min_cover import (
    dominated_columns,
    dominated_rows,
    lagrangian_cover,
    row_weighting_search,
    two_for_one,
)
from quarterhour.siting.kernels.pattern import (
    CoverPattern,
    cover_counts,
    lazy_greedy,
    prune_redundant,
)

log = logging.getLogger("quarterhour")


@dataclass
class CoverSolution:
    """Columns chosen by the heuristic, in pick order, and a lower bound on their number."""

    columns: np.ndarray
    lower_bound: float
    stats: dict[str, float | int | str] = field(default_factory=dict)


def greedy_cover(pattern: CoverPattern, *, prune: bool = False) -> np.ndarray:
    """Plain greedy (most uncovered rows first, ties to the smaller column), optionally pruned.

    Returns the columns in pick order.
    """
    covered = np.zeros(pattern.n_rows, bool)
    picks = lazy_greedy(
        pattern,
        np.ones(pattern.n_rows),
        covered,
        np.ones(pattern.n_cols, bool),
        pattern.n_cols,
    )
    if not prune:
        return picks
    chosen = np.zeros(pattern.n_cols, bool)
    chosen[picks] = True
    counts = cover_counts(pattern, chosen, pattern.n_rows)
    prune_redundant(pattern, chosen, counts, picks[::-1].copy())
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
    pattern
        The remaining problem, renumbered 0.. in the order of ``rows`` and ``cols``.
    """

    forced: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    pattern: CoverPattern


def reduce_cover(pattern: CoverPattern, *, max_rounds: int = 20) -> Reduction:
    """Fix essential columns and drop dominated rows and columns until nothing changes.

    A row with a single column forces that column; a row whose columns include all of another
    row's is covered whenever that one is; a column whose rows another column also covers is never
    needed with unit costs. Each rule keeps at least one optimal cover.
    """
    rows = np.arange(pattern.n_rows)
    cols = np.arange(pattern.n_cols)
    forced: list[np.ndarray] = []
    current = pattern
    for _ in range(max_rounds):
        row_len = np.diff(current.row_ptr)
        single = row_len == 1
        essential = np.unique(current.row_cols[current.row_ptr[:-1][single]])
        row_keep = np.ones(current.n_rows, bool)
        if essential.size:
            forced.append(cols[essential])
            chosen = np.zeros(current.n_cols, bool)
            chosen[essential] = True
            row_keep = cover_counts(current, chosen, current.n_rows) == 0
        row_keep &= ~dominated_rows(current)
        col_keep = ~dominated_columns(current, row_keep)
        if row_keep.all() and col_keep.all():
            break
        sub = current.to_matrix()[row_keep][:, col_keep]
        rows, cols = rows[row_keep], cols[col_keep]
        current = CoverPattern.from_matrix(sub)
        if current.n_rows == 0:
            break
    forced_cols = np.unique(np.concatenate(forced)) if forced else np.empty(0, np.int64)
    return Reduction(forced_cols, rows, cols, current)


def order_by_greedy(
    pattern: CoverPattern, columns: np.ndarray, row_weight: np.ndarray | None = None
) -> np.ndarray:
    """Return ``columns`` in greedy order: each next one adds the most still-uncovered weight."""
    allowed = np.zeros(pattern.n_cols, bool)
    allowed[columns] = True
    weight = np.ones(pattern.n_rows) if row_weight is None else np.asarray(row_weight, float)
    picks = lazy_greedy(pattern, weight, np.zeros(pattern.n_rows, bool), allowed, pattern.n_cols)
    rest = np.setdiff1d(
        columns, picks
    )  # columns adding nothing (e.g. zero weight) keep index order
    return np.concatenate([picks, rest]).astype(np.int64)


def heuristic_cover(
    pattern: CoverPattern,
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
    4. row-weighting local search
       (:func:`~quarterhour.siting.kernels.min_cover.row_weighting_search`) looks for smaller
       covers from the best one, for at most ``search_steps`` steps and ``stall_steps`` steps without a
       smaller cover, unless it reaches the bound first.

    Every step is deterministic (step counts, not time limits; ties to the smaller column; a seeded
    generator). Every row must have at least one column.
    """
    started = time.perf_counter()
    if pattern.n_rows and np.diff(pattern.row_ptr).min() == 0:
        msg = "every row of a covering problem needs at least one column"
        raise ValueError(msg)
    reduction = reduce_cover(pattern)
    sub = reduction.pattern
    log.debug(
        "cover reductions: %s forced, %s x %s left of %s x %s",
        f"{reduction.forced.size:,}",
        f"{sub.n_rows:,}",
        f"{sub.n_cols:,}",
        f"{pattern.n_rows:,}",
        f"{pattern.n_cols:,}",
    )
    stats: dict[str, float | int | str] = {
        "forced": int(reduction.forced.size),
        "reduced_rows": sub.n_rows,
        "reduced_cols": sub.n_cols,
    }
    bound = 0.0
    if sub.n_rows == 0:
        sub_columns = np.empty(0, np.int64)
    else:
        chosen = np.zeros(sub.n_cols, bool)
        chosen[greedy_cover(sub, prune=True)] = True
        counts = cover_counts(sub, chosen, sub.n_rows)
        two_for_one(sub, chosen, counts)
        stats["greedy_local"] = int(chosen.sum())
        chosen, bound, iterations = lagrangian_cover(sub, chosen, lagrangian_iterations, 10)
        stats["lagrangian_iterations"] = int(iterations)
        stats["lagrangian_cover"] = int(chosen.sum())
        target = math.ceil(bound - 1e-6)
        if chosen.sum() > target:
            chosen, steps = row_weighting_search(
                sub, chosen, target, search_steps, stall_steps, seed
            )
            stats["search_steps"] = int(steps)
        sub_columns = np.flatnonzero(chosen)
    columns = np.concatenate([reduction.forced, reduction.cols[sub_columns]]).astype(np.int64)
    ordered = order_by_greedy(pattern, columns)
    stats["seconds"] = time.perf_counter() - started
    return CoverSolution(ordered, float(bound) + reduction.forced.size, stats)
