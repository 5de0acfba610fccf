"""Shortest walks among equal plans: 1-for-1 swaps that keep every covered community covered.

Among covers with the fewest new stations (or the same covered weight under a budget), prefer
the least total weighted walk to the nearest station, as ArcGIS Location-Allocation breaks ties.
A swap closes a new station ``j`` and opens a closed candidate ``k`` that reaches every
community only ``j`` covered; it is made when it lowers ``sum_i w_i min_{s open} c_is``.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp

from quarterhour.siting.assign import nearest_in_rows

log = logging.getLogger("quarterhour")

IMPROVEMENT = 1e-9
"""Relative decrease of the total weighted walk a swap must bring."""


def _two_nearest(
    cost: sp.csr_matrix, open_cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the nearest open column, its cost, and the cost of the second nearest (inf)."""
    masked = cost.copy()
    masked.data = np.where(open_cols[masked.indices], masked.data, np.inf)
    first, best = nearest_in_rows(
        masked.indptr.astype(np.int64), masked.indices.astype(np.int64), masked.data
    )
    second_data = masked.data.copy()
    row_of = np.repeat(np.arange(cost.shape[0]), np.diff(cost.indptr))
    second_data[masked.indices == first[row_of]] = np.inf
    _, second = nearest_in_rows(
        masked.indptr.astype(np.int64), masked.indices.astype(np.int64), second_data
    )
    best = np.where(np.isfinite(best), best, np.inf)
    second = np.where(np.isfinite(second), second, np.inf)
    first = np.where(np.isfinite(best), first, -1)
    return first, best, second


def _swap_deltas(
    cost: sp.csr_matrix,
    weight: np.ndarray,
    *,
    rows: np.ndarray,
    best: np.ndarray,
    second: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the walk change of closing the nearest station of ``rows`` for it; covering.

    Every column's gain on the other rows (``sum w max(best - c, 0)``) is left for the caller
    to subtract; the second array says whether the column reaches every row only that station
    covered.
    """
    n_cols = cost.shape[1]
    critical = ~np.isfinite(second[rows])
    steady = rows[~critical]
    loss = float(weight[steady] @ (second[steady] - best[steady]))
    starts, ends = cost.indptr[rows], cost.indptr[rows + 1]
    entries = (
        np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])
        if rows.size
        else np.zeros(0, np.int64)
    )
    local = np.repeat(np.arange(rows.size), ends - starts)
    k, c = cost.indices[entries], cost.data[entries]
    w, b1, b2 = weight[rows[local]], best[rows[local]], second[rows[local]]
    crit = critical[local]
    regained = w * np.maximum(b1 - c, 0)  # counted in every column's gain: given back here
    with np.errstate(invalid="ignore"):  # 0 x inf where a row has no second: not selected
        term = np.where(crit, regained + w * (c - b1), regained + w * (np.minimum(b2, c) - b2))
    delta = loss + np.bincount(k, weights=term, minlength=n_cols)
    covers = np.bincount(k[crit], minlength=n_cols)
    return delta, covers == int(critical.sum())


def shorter_walks(
    cost: sp.csr_matrix,
    weight: np.ndarray,
    *,
    fixed: np.ndarray,
    chosen: np.ndarray,
    candidates: np.ndarray,
    work: float | None = None,
    deadline: float | None = None,
) -> tuple[np.ndarray, dict[str, object]]:
    """Swap chosen columns for candidates while the total weighted walk falls.

    Parameters
    ----------
    cost
        Walk cost of the pairs within the limit, covered communities x sites (CSR, sorted).
    weight
        Per row.
    fixed
        Columns always open (existing stations).
    chosen
        New stations (columns), in pick order; a swap keeps the position.
    candidates
        Columns that may open.
    work
        Matrix entries (and columns) to visit at most: a bound on time that gives the same
        answer on any machine (default: no bound).
    deadline
        ``time.perf_counter()`` time to stop by (a caller's time limit).

    Returns
    -------
    columns, stats
        The new stations after the swaps, and ``walk_swaps``, ``walk_before``, ``walk_after``
        (total weighted walk in the matrix's unit).
    """
    cost = sp.csr_matrix(cost)
    cost.sort_indices()
    n_rows, n_cols = cost.shape
    weight = np.asarray(weight, float)
    chosen = np.asarray(chosen, np.int64).copy()
    is_open = np.zeros(n_cols, bool)
    is_open[fixed] = True
    is_open[chosen] = True
    may_open = np.zeros(n_cols, bool)
    may_open[candidates] = True
    first, best, second = _two_nearest(cost, is_open)
    reached = first >= 0
    before = float(weight[reached] @ best[reached])
    row_of = np.repeat(np.arange(n_rows), np.diff(cost.indptr))
    swaps = 0
    visited = 3 * cost.nnz
    budget = np.inf if work is None else work
    improved = True
    while improved:
        improved = False
        gain = np.bincount(
            cost.indices,
            weights=weight[row_of]
            * np.maximum(np.where(reached[row_of], best[row_of], 0) - cost.data, 0),
            minlength=n_cols,
        )
        total = float(weight[reached] @ best[reached])
        for position, col in enumerate(chosen):
            out_of_time = deadline is not None and time.perf_counter() > deadline
            if out_of_time or visited > budget:
                improved = False
                break
            delta, feasible = _swap_deltas(
                cost, weight, rows=np.flatnonzero(first == col), best=best, second=second
            )
            visited += n_cols + int(np.diff(cost.indptr)[first == col].sum())
            delta -= gain
            feasible &= may_open & ~is_open
            if not feasible.any():
                continue
            delta = np.where(feasible, delta, np.inf)
            pick = int(np.argmin(delta))
            if delta[pick] < -IMPROVEMENT * max(total, 1.0):
                is_open[col], is_open[pick] = False, True
                chosen[position] = pick
                swaps += 1
                first, best, second = _two_nearest(cost, is_open)
                reached = first >= 0
                visited += 3 * cost.nnz
                improved = True
                break  # gains changed: recompute them
    after = float(weight[reached] @ best[reached])
    log.info(
        "shorter walks: %s swaps, total weighted walk %.1f -> %.1f", f"{swaps:,}", before, after
    )
    return chosen, {"walk_swaps": swaps, "walk_before": before, "walk_after": after}
