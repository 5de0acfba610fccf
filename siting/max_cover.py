"""Budgeted maximal cover (MCLP) on a coverage pattern: ``budget`` columns covering the most weight."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from quarterhour.siting.kernels.max_cover import coverage_swaps, max_cover_lagrangian_bound
from quarterhour.siting.kernels.pattern import CoverPattern, cover_counts, lazy_greedy
from quarterhour.siting.min_cover import order_by_greedy


@dataclass
class MaxCoverSolution:
    """Columns chosen for maximal covering, in pick order, with the covered weight and a bound."""

    columns: np.ndarray
    covered_weight: float
    upper_bound: float
    stats: dict[str, float | int | str] = field(default_factory=dict)


def covered_weight(pattern: CoverPattern, columns: np.ndarray, row_weight: np.ndarray) -> float:
    """Total weight of the rows at least one of ``columns`` covers."""
    chosen = np.zeros(pattern.n_cols, bool)
    chosen[columns] = True
    counts = cover_counts(pattern, chosen, pattern.n_rows)
    return float(row_weight[counts > 0].sum())


def heuristic_max_cover(
    pattern: CoverPattern, row_weight: np.ndarray, budget: int, *, bound_iterations: int = 300
) -> MaxCoverSolution:
    """At most ``budget`` columns covering the most row weight: lazy greedy, then 1-for-1 swaps.

    Swaps are only taken when they add weight, so the answer is never worse than greedy's. The
    upper bound is the Lagrangian bound of
    :func:`~quarterhour.siting.kernels.max_cover.max_cover_lagrangian_bound`.
    """
    started = time.perf_counter()
    weight = np.asarray(row_weight, float)
    picks = lazy_greedy(
        pattern,
        weight,
        np.zeros(pattern.n_rows, bool),
        np.ones(pattern.n_cols, bool),
        int(budget),
    )
    chosen = np.zeros(pattern.n_cols, bool)
    chosen[picks] = True
    counts = cover_counts(pattern, chosen, pattern.n_rows)
    greedy_weight = float(weight[counts > 0].sum())
    if picks.size:
        coverage_swaps(pattern, weight, chosen, counts, 10 * budget)
    columns = order_by_greedy(pattern, np.flatnonzero(chosen), weight)
    total = float(weight[counts > 0].sum())  # the swaps keep ``counts`` up to date
    bound = max_cover_lagrangian_bound(pattern, weight, int(budget), total, bound_iterations)
    bound = max(float(bound), total)
    stats: dict[str, float | int | str] = {
        "greedy_weight": greedy_weight,
        "seconds": time.perf_counter() - started,
    }
    return MaxCoverSolution(columns, total, bound, stats)
