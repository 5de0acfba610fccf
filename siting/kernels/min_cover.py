"""Kernels of minimum cover (LSCP): reductions, 2-for-1 swaps, Lagrangian heuristic, RWLS.

The only randomness (the perturbations of the row-weighting local search) comes from a
fixed-seed xorshift generator, so every kernel is deterministic.
"""

from __future__ import annotations

import numpy as np

from quarterhour.routing.jit import kernel
from quarterhour.siting.kernels.pattern import (
    CoverPattern,
    add_column,
    cover_counts,
    drop_column,
    is_redundant,
    prune_redundant,
)


@kernel
def dominated_rows(pattern: CoverPattern) -> np.ndarray:
    """Mark rows whose column set contains another row's (covering that one covers them too).

    Row ``k`` is dominated by row ``i`` when ``N_i`` is a strict subset of ``N_k``, or equal with
    ``i < k``, so one row of every class of equal rows stays.
    """
    col_ptr, col_rows, row_ptr, row_cols = pattern
    n_rows = row_ptr.size - 1
    n_cols = col_ptr.size - 1
    dominated = np.zeros(n_rows, np.bool_)
    mark = np.zeros(n_cols, np.int64)  # mark[col] == i + 1 when col is in N_i
    for i in range(n_rows):
        size_i = row_ptr[i + 1] - row_ptr[i]
        if size_i == 0:
            continue
        pivot = row_cols[row_ptr[i]]
        for cpos in range(row_ptr[i], row_ptr[i + 1]):
            col = row_cols[cpos]
            mark[col] = i + 1
            if col_ptr[col + 1] - col_ptr[col] < col_ptr[pivot + 1] - col_ptr[pivot]:
                pivot = col
        for pos in range(col_ptr[pivot], col_ptr[pivot + 1]):
            k = col_rows[pos]
            if k == i or dominated[k]:
                continue
            size_k = row_ptr[k + 1] - row_ptr[k]
            if size_k < size_i or (size_k == size_i and k < i):
                continue
            shared = 0
            for kpos in range(row_ptr[k], row_ptr[k + 1]):
                if mark[row_cols[kpos]] == i + 1:
                    shared += 1
            if shared == size_i:
                dominated[k] = True
    return dominated


@kernel
def dominated_columns(pattern: CoverPattern, row_active: np.ndarray) -> np.ndarray:
    """Mark columns whose active rows another column also covers (unit costs: never needed).

    Column ``j`` is dominated by ``k`` when its active rows are a strict subset of ``k``'s, or
    equal with ``k < j``. Columns with no active row are dominated.
    """
    col_ptr, col_rows, row_ptr, row_cols = pattern
    n_rows = row_ptr.size - 1
    n_cols = col_ptr.size - 1
    dominated = np.zeros(n_cols, np.bool_)
    mark = np.zeros(n_rows, np.int64)
    active_size = np.zeros(n_cols, np.int64)
    for col in range(n_cols):
        for pos in range(col_ptr[col], col_ptr[col + 1]):
            if row_active[col_rows[pos]]:
                active_size[col] += 1
    for j in range(n_cols):
        if active_size[j] == 0:
            dominated[j] = True
            continue
        pivot = -1
        for pos in range(col_ptr[j], col_ptr[j + 1]):
            row = col_rows[pos]
            if row_active[row]:
                mark[row] = j + 1
                if (
                    pivot < 0
                    or row_ptr[row + 1] - row_ptr[row] < row_ptr[pivot + 1] - row_ptr[pivot]
                ):
                    pivot = row
        for cpos in range(row_ptr[pivot], row_ptr[pivot + 1]):
            k = row_cols[cpos]
            if k == j or dominated[k]:
                continue
            if active_size[k] < active_size[j] or (active_size[k] == active_size[j] and k > j):
                continue
            shared = 0
            for kpos in range(col_ptr[k], col_ptr[k + 1]):
                if mark[col_rows[kpos]] == j + 1:
                    shared += 1
            if shared == active_size[j]:
                dominated[j] = True
                break
    return dominated


@kernel
def two_for_one(pattern: CoverPattern, chosen: np.ndarray, counts: np.ndarray) -> int:
    """Local search: replace a chosen column by another when that makes a third one redundant.

    For each chosen column ``a`` and each unchosen ``c`` covering every row only ``a`` covers, swap
    ``a`` for ``c`` and drop any chosen column that has become redundant; undo the swap if none did.
    Repeats until no move helps. Returns the number of columns saved.
    """
    col_ptr, col_rows, row_ptr, row_cols = pattern
    n_cols = col_ptr.size - 1
    saved = 0
    improved = True
    while improved:
        improved = False
        for a in range(n_cols):
            if not chosen[a]:
                continue
            # the row only ``a`` covers with the fewest covering columns anchors the replacements
            anchor = -1
            anchor_len = 1 << 60
            for pos in range(col_ptr[a], col_ptr[a + 1]):
                row = col_rows[pos]
                if counts[row] == 1:
                    length = row_ptr[row + 1] - row_ptr[row]
                    if length < anchor_len:
                        anchor_len = length
                        anchor = row
            if anchor < 0:  # redundant already
                drop_column(pattern, counts, chosen, a)
                saved += 1
                improved = True
                continue
            for cpos in range(row_ptr[anchor], row_ptr[anchor + 1]):
                c = row_cols[cpos]
                if chosen[c]:
                    continue
                drop_column(pattern, counts, chosen, a)
                add_column(pattern, counts, chosen, c)
                feasible = True
                for pos in range(col_ptr[a], col_ptr[a + 1]):
                    if counts[col_rows[pos]] == 0:
                        feasible = False
                        break
                dropped = 0
                if feasible:
                    # only columns meeting a row of ``c`` may have become redundant
                    for pos in range(col_ptr[c], col_ptr[c + 1]):
                        row = col_rows[pos]
                        for bpos in range(row_ptr[row], row_ptr[row + 1]):
                            b = row_cols[bpos]
                            if b != c and chosen[b] and is_redundant(pattern, counts, b):
                                drop_column(pattern, counts, chosen, b)
                                dropped += 1
                if dropped > 0:
                    saved += dropped
                    improved = True
                    break
                drop_column(pattern, counts, chosen, c)
                add_column(pattern, counts, chosen, a)
    return saved


@kernel
def repair_by_weight(
    pattern: CoverPattern,
    chosen: np.ndarray,
    counts: np.ndarray,
    row_weight: np.ndarray,
) -> None:
    """Cover every uncovered row: for each, in row order, add the column of largest uncovered weight."""
    col_ptr, col_rows, row_ptr, row_cols = pattern
    n_rows = row_ptr.size - 1
    for row in range(n_rows):
        if counts[row] > 0:
            continue
        best = -1
        best_score = -1.0
        for cpos in range(row_ptr[row], row_ptr[row + 1]):
            col = row_cols[cpos]
            score = 0.0
            for pos in range(col_ptr[col], col_ptr[col + 1]):
                other = col_rows[pos]
                if counts[other] == 0:
                    score += row_weight[other]
            if score > best_score:
                best_score = score
                best = col
        add_column(pattern, counts, chosen, best)


@kernel
def _xorshift(state: np.ndarray) -> int:
    x = state[0]
    x ^= (x << np.uint64(13)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    x ^= x >> np.uint64(7)
    x ^= (x << np.uint64(17)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    state[0] = x
    return int(x >> np.uint64(11))


@kernel
def _reduced_costs(pattern: CoverPattern, mult: np.ndarray, out: np.ndarray) -> None:
    col_ptr, col_rows = pattern.col_ptr, pattern.col_rows
    for col in range(col_ptr.size - 1):
        total = 0.0
        for pos in range(col_ptr[col], col_ptr[col + 1]):
            total += mult[col_rows[pos]]
        out[col] = 1.0 - total


@kernel
def _primal_from_costs(
    pattern: CoverPattern,
    reduced: np.ndarray,
    mult: np.ndarray,
    chosen: np.ndarray,
    counts: np.ndarray,
    order: np.ndarray,
) -> int:
    """Beasley's Lagrangian heuristic: take negative reduced costs, cover the rest, prune.

    Uncovered rows are covered by the column covering the most uncovered multiplier weight;
    redundant columns are then dropped, the largest reduced cost first.
    """
    col_ptr = pattern.col_ptr
    n_cols = col_ptr.size - 1
    chosen[:] = False
    counts[:] = 0
    for col in range(n_cols):
        if reduced[col] < 0.0:
            add_column(pattern, counts, chosen, col)
    repair_by_weight(pattern, chosen, counts, mult)
    order[:] = np.argsort(-reduced, kind="mergesort")
    prune_redundant(pattern, chosen, counts, order)
    return int(chosen.sum())


@kernel
def lagrangian_cover(
    pattern: CoverPattern,
    incumbent: np.ndarray,
    max_iterations: int,
    primal_every: int,
) -> tuple[np.ndarray, float, int]:
    """Subgradient optimisation of the set-covering Lagrangian with a primal heuristic.

    ``L(u) = sum_i u_i + sum_j min(0, 1 - sum_{i in col j} u_i)`` is a lower bound on the number
    of columns for every ``u >= 0``. Steps are ``t = f (UB - L) / |g|^2`` with ``f`` halved after 20
    steps without a better bound (Beasley 1990). Every ``primal_every`` steps the reduced costs are
    turned into a cover (:func:`_primal_from_costs`); one better than ``incumbent`` is polished by
    :func:`two_for_one` and kept.

    Returns the best cover (bool per column), the best bound and the iterations run.
    """
    col_ptr, row_ptr, row_cols = pattern.col_ptr, pattern.row_ptr, pattern.row_cols
    n_rows = row_ptr.size - 1
    n_cols = col_ptr.size - 1
    best = incumbent.copy()
    best_size = int(best.sum())
    mult = np.empty(n_rows, np.float64)
    for row in range(n_rows):
        smallest = 1.0
        for cpos in range(row_ptr[row], row_ptr[row + 1]):
            col = row_cols[cpos]
            share = 1.0 / (col_ptr[col + 1] - col_ptr[col])
            smallest = min(smallest, share)
        mult[row] = smallest
    reduced = np.empty(n_cols, np.float64)
    chosen = np.zeros(n_cols, np.bool_)
    counts = np.zeros(n_rows, np.int64)
    order = np.empty(n_cols, np.int64)
    sub = np.empty(n_rows, np.float64)
    best_bound = 0.0
    factor = 2.0
    stale = 0
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        _reduced_costs(pattern, mult, reduced)
        bound = mult.sum()
        for col in range(n_cols):
            if reduced[col] < 0.0:
                bound += reduced[col]
        if bound > best_bound + 1e-6:
            best_bound = bound
            stale = 0
        else:
            stale += 1
            if stale >= 20:
                factor *= 0.5
                stale = 0
        if iteration % primal_every == 0 or iteration == 1:
            size = _primal_from_costs(pattern, reduced, mult, chosen, counts, order)
            if size < best_size:
                size -= two_for_one(pattern, chosen, counts)
                if size < best_size:
                    best_size = size
                    best[:] = chosen
        if best_size <= np.ceil(best_bound - 1e-6) or factor < 1e-5:
            break
        # subgradient of the relaxed constraints: 1 - (columns with negative reduced cost covering i)
        norm = 0.0
        for row in range(n_rows):
            cover = 0
            for cpos in range(row_ptr[row], row_ptr[row + 1]):
                if reduced[row_cols[cpos]] < 0.0:
                    cover += 1
            g = 1.0 - cover
            if g < 0.0 and mult[row] <= 0.0:
                g = 0.0
            sub[row] = g
            norm += g * g
        if norm == 0.0:  # the relaxed solution is feasible, hence optimal for this bound
            break
        step = factor * (best_size - bound) / norm
        for row in range(n_rows):
            value = mult[row] + step * sub[row]
            mult[row] = value if value > 0.0 else 0.0
    return best, best_bound, iteration


@kernel
def _move(
    pattern: CoverPattern,
    chosen: np.ndarray,
    counts: np.ndarray,
    weight: np.ndarray,
    score: np.ndarray,
    can_add: np.ndarray,
    open_rows: np.ndarray,
    open_at: np.ndarray,
    n_open: int,
    col: int,
    adding: bool,
) -> int:
    """Add or drop ``col``, keep the scores and the list of uncovered rows; returns its length.

    The columns of every row that gets covered or uncovered may be added again (``can_add``).

    ``score[j]`` is the weight of the uncovered rows ``j`` would cover (unchosen ``j``) or minus
    the weight of the rows only ``j`` covers (chosen ``j``).
    """
    col_ptr, col_rows, row_ptr, row_cols = pattern
    for pos in range(col_ptr[col], col_ptr[col + 1]):
        row = col_rows[pos]
        if adding:
            counts[row] += 1
            if counts[row] == 1:  # newly covered: no other column gains it any more
                for cpos in range(row_ptr[row], row_ptr[row + 1]):
                    other = row_cols[cpos]
                    can_add[other] = True
                    if other != col:
                        score[other] -= weight[row]
                n_open -= 1
                last = open_rows[n_open]
                open_rows[open_at[row]] = last
                open_at[last] = open_at[row]
                open_at[row] = -1
            elif counts[row] == 2:  # the column that covered it alone may now go for free
                for cpos in range(row_ptr[row], row_ptr[row + 1]):
                    other = row_cols[cpos]
                    if other != col and chosen[other]:
                        score[other] += weight[row]
                        break
        else:
            counts[row] -= 1
            if counts[row] == 0:  # uncovered: every other column would gain it
                for cpos in range(row_ptr[row], row_ptr[row + 1]):
                    other = row_cols[cpos]
                    can_add[other] = True
                    if other != col:
                        score[other] += weight[row]
                open_rows[n_open] = row
                open_at[row] = n_open
                n_open += 1
            elif counts[row] == 1:  # the one column left covering it may not go for free
                for cpos in range(row_ptr[row], row_ptr[row + 1]):
                    other = row_cols[cpos]
                    if other != col and chosen[other]:
                        score[other] -= weight[row]
                        break
    chosen[col] = adding
    score[col] = -score[col]
    return n_open


@kernel
def _preferred(score: np.ndarray, stamp: np.ndarray, a: int, b: int) -> bool:
    """Whether column ``a`` goes before ``b``: higher score, then unchanged longer, then smaller."""
    if score[a] != score[b]:
        return score[a] > score[b]
    if stamp[a] != stamp[b]:
        return stamp[a] < stamp[b]
    return a < b


@kernel
def row_weighting_search(
    pattern: CoverPattern,
    start: np.ndarray,
    lower_bound: int,
    max_steps: int,
    stall_steps: int,
    seed: int,
) -> tuple[np.ndarray, int]:
    """Row-weighting local search for unit-cost set covering (RWLS, Gao, Weise and Li 2015).

    From a cover of ``k`` columns, drop the column that loses the least and look for a cover of
    ``k - 1``: each step drops the chosen column of best score and adds, for a random uncovered
    row, its column of best score; rows left uncovered gain weight, so that the search moves on.
    A dropped column may come back only after one of its rows was covered or uncovered since
    (configuration checking), the column just added may not leave at once, and ties go to the column
    unchanged longest, then the smaller index.

    Stops after ``max_steps`` steps, ``stall_steps`` steps without a smaller cover, or on reaching
    ``lower_bound``. Deterministic for a seed. Returns the smallest cover found and the steps run.
    """
    col_ptr, col_rows, row_ptr, row_cols = pattern
    n_rows = row_ptr.size - 1
    n_cols = col_ptr.size - 1
    state = np.array([np.uint64(seed) * np.uint64(2654435761) + np.uint64(1)], np.uint64)
    chosen = start.copy()
    best = start.copy()
    best_size = int(start.sum())
    size = best_size
    counts = cover_counts(pattern, chosen, n_rows)
    weight = np.ones(n_rows, np.int64)
    score = np.zeros(n_cols, np.int64)
    for col in range(n_cols):
        for pos in range(col_ptr[col], col_ptr[col + 1]):
            row = col_rows[pos]
            if chosen[col] and counts[row] == 1:
                score[col] -= 1
            elif not chosen[col] and counts[row] == 0:
                score[col] += 1
    stamp = np.zeros(n_cols, np.int64)
    can_add = np.ones(n_cols, np.bool_)
    open_rows = np.empty(n_rows, np.int64)
    open_at = np.full(n_rows, -1, np.int64)
    n_open = 0
    members = np.flatnonzero(chosen)  # the chosen columns, in no particular order
    member_at = np.full(n_cols, -1, np.int64)
    member_at[members] = np.arange(members.size)
    members = np.concatenate((members, np.empty(n_cols - members.size, np.int64)))
    tabu = -1
    step = 0
    last_better = 0
    while step < max_steps and step - last_better < stall_steps:
        covered = n_open == 0
        if covered:
            if size < best_size:
                best[:] = chosen
                best_size = size
                last_better = step
            if best_size <= lower_bound or size == 0:
                break
        # drop the chosen column losing the least (while uncovered rows remain, not the one just added)
        drop = -1
        for k in range(size):
            col = members[k]
            if (covered or col != tabu) and (drop < 0 or _preferred(score, stamp, col, drop)):
                drop = col
        if drop < 0:
            break
        n_open = _move(
            pattern, chosen, counts, weight, score, can_add, open_rows, open_at, n_open, drop, False
        )
        size -= 1
        members[member_at[drop]] = members[size]
        member_at[members[size]] = member_at[drop]
        member_at[drop] = -1
        stamp[drop] = step
        can_add[drop] = False
        if covered or n_open == 0:  # look for a cover one column smaller first
            continue
        # cover a random uncovered row with its best column
        row = open_rows[_xorshift(state) % n_open]
        add = -1
        fallback = -1  # when every column of the row waits for one of its rows to change
        for cpos in range(row_ptr[row], row_ptr[row + 1]):
            col = row_cols[cpos]
            if fallback < 0 or _preferred(score, stamp, col, fallback):
                fallback = col
            if can_add[col] and (add < 0 or _preferred(score, stamp, col, add)):
                add = col
        if add < 0:
            add = fallback
        n_open = _move(
            pattern, chosen, counts, weight, score, can_add, open_rows, open_at, n_open, add, True
        )
        members[size] = add
        member_at[add] = size
        size += 1
        stamp[add] = step
        tabu = add
        # the rows still uncovered weigh more
        for k in range(n_open):
            row = open_rows[k]
            weight[row] += 1
            for cpos in range(row_ptr[row], row_ptr[row + 1]):
                score[row_cols[cpos]] += 1
        step += 1
    if n_open == 0 and size < best_size:
        best[:] = chosen
    return best, step
