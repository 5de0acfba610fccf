"""Kernels of budgeted maximal cover (MCLP): 1-for-1 swaps and the Lagrangian upper bound."""

from __future__ import annotations

import numpy as np

from quarterhour.routing.jit import BOOLS, FLOAT, FLOATS, INT, INT64S, kernel
from quarterhour.siting.kernels.pattern import PATTERN, CoverPattern, add_column, drop_column


@kernel(ahead_of_time=[FLOAT(PATTERN, FLOATS, BOOLS, INT64S, INT)])
def coverage_swaps(
    pattern: CoverPattern,
    row_weight: np.ndarray,
    chosen: np.ndarray,
    counts: np.ndarray,
    max_passes: int,
) -> float:
    """Best-improvement 1-for-1 swaps for maximal covering; returns the weight gained.

    For each chosen column ``a`` the loss of dropping it is the weight only it covers; an unchosen
    column ``c`` then gains the uncovered weight plus ``a``'s unique weight among its rows.
    """
    col_ptr, col_rows = pattern.col_ptr, pattern.col_rows
    n_cols = col_ptr.size - 1
    n_rows = counts.size
    only_a = np.zeros(n_rows, np.bool_)
    gained = 0.0
    for _ in range(max_passes):
        best_delta = 1e-9
        best_a = -1
        best_c = -1
        for a in range(n_cols):
            if not chosen[a]:
                continue
            loss = 0.0
            for pos in range(col_ptr[a], col_ptr[a + 1]):
                row = col_rows[pos]
                if counts[row] == 1:
                    only_a[row] = True
                    loss += row_weight[row]
            for c in range(n_cols):
                if chosen[c]:
                    continue
                gain = 0.0
                for pos in range(col_ptr[c], col_ptr[c + 1]):
                    row = col_rows[pos]
                    if counts[row] == 0 or only_a[row]:
                        gain += row_weight[row]
                if gain - loss > best_delta:
                    best_delta = gain - loss
                    best_a = a
                    best_c = c
            for pos in range(col_ptr[a], col_ptr[a + 1]):
                only_a[col_rows[pos]] = False
        if best_a < 0:
            break
        drop_column(pattern, counts, chosen, best_a)
        add_column(pattern, counts, chosen, best_c)
        gained += best_delta
    return gained


@kernel(ahead_of_time=[FLOAT(PATTERN, FLOATS, INT, FLOAT, INT)])
def max_cover_lagrangian_bound(
    pattern: CoverPattern,
    row_weight: np.ndarray,
    budget: int,
    incumbent: float,
    max_iterations: int,
) -> float:
    """Upper bound on the weight ``budget`` columns can cover, by subgradient on the Lagrangian.

    Relaxing ``y_i <= sum_{j in N_i} x_j`` with ``0 <= l_i <= w_i`` gives
    ``L(l) = sum_i (w_i - l_i) + (sum of the budget largest column sums of l)``, an upper bound for
    every ``l``; ``incumbent`` (a covered weight) steers the step length.
    """
    col_ptr, col_rows = pattern.col_ptr, pattern.col_rows
    n_cols = col_ptr.size - 1
    n_rows = row_weight.size
    mult = row_weight.copy()
    column_sum = np.empty(n_cols, np.float64)
    sub = np.empty(n_rows, np.float64)
    best = np.inf
    factor = 2.0
    stale = 0
    budget = min(budget, n_cols)
    for _ in range(max_iterations):
        for col in range(n_cols):
            total = 0.0
            for pos in range(col_ptr[col], col_ptr[col + 1]):
                total += mult[col_rows[pos]]
            column_sum[col] = total
        top = np.argsort(-column_sum, kind="mergesort")[:budget]
        value = (row_weight - mult).sum() + column_sum[top].sum()
        if value < best - 1e-9:
            best = value
            stale = 0
        else:
            stale += 1
            if stale >= 20:
                factor *= 0.5
                stale = 0
        if factor < 1e-4 or best <= incumbent + 1e-9:
            break
        # dL/dl_i = (picked columns covering i) - 1
        for row in range(n_rows):
            sub[row] = -1.0
        for col in top:
            for pos in range(col_ptr[col], col_ptr[col + 1]):
                sub[col_rows[pos]] += 1.0
        norm = 0.0
        for row in range(n_rows):
            g = sub[row]
            if (g > 0.0 and mult[row] <= 0.0) or (g < 0.0 and mult[row] >= row_weight[row]):
                g = 0.0
            sub[row] = g
            norm += g * g
        if norm == 0.0:
            break
        step = factor * (value - incumbent) / norm
        for row in range(n_rows):
            updated = mult[row] - step * sub[row]
            mult[row] = min(max(updated, 0.0), row_weight[row])
    return best
