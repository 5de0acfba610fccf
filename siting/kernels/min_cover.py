"""Kernels of minimum cover (LSCP): reductions, 2-for-1 swaps, Lagrangian heuristic, RWLS.

The only randomness (the perturbations of the row-weighting local search) comes from a
fixed-seed xorshift generator, so every kernel is deterministic.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba.core import types

from quarterhour.routing.jit import (
    BOOLS,
    FLOAT,
    INT,
    INT64S,
    INT64S_2D,
    UINT64S,
    kernel,
    tuple_of,
)
from quarterhour.siting.kernels.pattern import (
    PATTERN,
    CoverPattern,
    add_column,
    cover_counts,
    drop_column,
    is_redundant,
    prune_redundant,
)


@kernel(ahead_of_time=[BOOLS(PATTERN)])
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


@kernel(ahead_of_time=[BOOLS(PATTERN, BOOLS)])
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


UNLIMITED_WORK = 1 << 62
"""``max_work`` of a :func:`two_for_one` that runs until no move helps."""


@kernel(ahead_of_time=[INT(PATTERN, BOOLS, INT64S, INT)])
def two_for_one(
    pattern: CoverPattern, chosen: np.ndarray, counts: np.ndarray, max_work: int
) -> int:
    """Local search: replace a chosen column by another when that makes a third one redundant.

    For each chosen column ``a`` and each unchosen ``c`` covering every row only ``a`` covers, swap
    ``a`` for ``c`` and drop any chosen column that has become redundant; undo the swap if none did.
    Repeats until no move helps, or stops between two tries once about ``max_work`` pattern
    entries have been visited (a bound on its time; the cover stays valid). Returns the number of
    columns saved.
    """
    col_ptr, col_rows, row_ptr, row_cols = pattern
    n_cols = col_ptr.size - 1
    saved = 0
    work = 0
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
                if work > max_work:
                    return saved
                work += 2 * (col_ptr[a + 1] - col_ptr[a]) + col_ptr[c + 1] - col_ptr[c]
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
                        work += row_ptr[row + 1] - row_ptr[row]
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


@kernel(ahead_of_time=[tuple_of((BOOLS, FLOAT, INT))(PATTERN, BOOLS, INT, INT)])
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
                size -= two_for_one(pattern, chosen, counts, UNLIMITED_WORK)
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


class SearchState(NamedTuple):
    """Everything the row-weighting local search needs to stop and resume (one argument for numba).

    Weights grow lazily: an uncovered row's weight is ``weight + step - since`` (one more each
    step it stays uncovered) and a column's score is ``base + step * uncovered``, so a step costs
    nothing for the rows left uncovered; both are settled when a row's state changes.

    Attributes
    ----------
    chosen
        The current selection (bool per column); it may leave rows uncovered.
    best
        The smallest cover found so far (bool per column).
    counts
        How many chosen columns cover each row.
    sole
        Per row, the XOR of the chosen columns covering it: the column itself where only one does.
    weight
        Row weights (int64), settled up to the step the row was last uncovered.
    since
        The step at which each uncovered row was uncovered.
    parts
        Per column, ``[base, uncovered]`` side by side (the two numbers a change of coverage
        updates, in one cache line: 2-17 % more steps a second than two arrays, most on dense
        instances): its score is ``base + step * uncovered``, the weight of the uncovered rows
        it would cover (unchosen columns) or minus the weight of the rows only it covers
        (chosen).
    stamp
        The step at which each column last entered or left the selection.
    frozen, touched
        Configuration checking: a column that left (at move ``frozen``, else -1) may come back
        only after one of its rows changed between uncovered, covered once and covered more
        (``touched``: each row's last such move).
    open_rows, open_at
        The uncovered rows (first ``N_OPEN`` entries) and each row's place in that list (-1 if
        covered).
    members, member_at
        The chosen columns (first ``SIZE`` entries) and each column's place there (-1 if not
        chosen).
    rng
        The xorshift generator's state (one uint64).
    scalars
        int64 counters, indexed by ``STEP``, ``SIZE``, ``BEST_SIZE``, ``N_OPEN``, ``LAST_BETTER``,
        ``TABU`` (the column added last), ``BEST_STEP``, ``MOVES``, ``TABU_BEFORE`` (the one
        added before it).
    """

    chosen: np.ndarray
    best: np.ndarray
    counts: np.ndarray
    sole: np.ndarray
    weight: np.ndarray
    since: np.ndarray
    parts: np.ndarray
    stamp: np.ndarray
    frozen: np.ndarray
    touched: np.ndarray
    open_rows: np.ndarray
    open_at: np.ndarray
    members: np.ndarray
    member_at: np.ndarray
    rng: np.ndarray
    scalars: np.ndarray


STATE = types.NamedTuple(
    (BOOLS, BOOLS, *(INT64S,) * 4, INT64S_2D, *(INT64S,) * 7, UINT64S, INT64S), SearchState
)
"""The numba type of a search state, as compiled ahead of time."""

STEP, SIZE, BEST_SIZE, N_OPEN, LAST_BETTER, TABU, BEST_STEP, MOVES, TABU_BEFORE = range(9)


@kernel(ahead_of_time=[STATE(PATTERN, BOOLS, INT)])
def start_search(pattern: CoverPattern, start: np.ndarray, seed: int) -> SearchState:
    """The search state at step 0 from the selection ``start`` (bool per column), for a seed."""
    col_ptr, col_rows, row_ptr, _ = pattern
    n_rows = row_ptr.size - 1
    n_cols = col_ptr.size - 1
    chosen = start.copy()
    counts = cover_counts(pattern, chosen, n_rows)
    sole = np.zeros(n_rows, np.int64)
    parts = np.zeros((n_cols, 2), np.int64)
    for col in range(n_cols):
        for pos in range(col_ptr[col], col_ptr[col + 1]):
            row = col_rows[pos]
            if chosen[col]:
                sole[row] ^= col
                if counts[row] == 1:
                    parts[col, 0] -= 1
            elif counts[row] == 0:
                parts[col, 0] += 1
                parts[col, 1] += 1
    open_rows = np.empty(n_rows, np.int64)
    open_at = np.full(n_rows, -1, np.int64)
    n_open = 0
    for row in range(n_rows):
        if counts[row] == 0:
            open_rows[n_open] = row
            open_at[row] = n_open
            n_open += 1
    members = np.empty(n_cols, np.int64)
    member_at = np.full(n_cols, -1, np.int64)
    size = 0
    for col in range(n_cols):
        if chosen[col]:
            members[size] = col
            member_at[col] = size
            size += 1
    rng = np.empty(1, np.uint64)
    rng[0] = np.uint64(seed) * np.uint64(2654435761) + np.uint64(1)
    scalars = np.zeros(9, np.int64)
    scalars[SIZE] = size
    scalars[BEST_SIZE] = size if n_open == 0 else n_cols + 1
    scalars[N_OPEN] = n_open
    scalars[TABU] = -1
    scalars[TABU_BEFORE] = -1
    return SearchState(
        chosen,
        chosen.copy(),
        counts,
        sole,
        np.ones(n_rows, np.int64),
        np.zeros(n_rows, np.int64),
        parts,
        np.zeros(n_cols, np.int64),
        np.full(n_cols, -1, np.int64),
        np.zeros(n_rows, np.int64),
        open_rows,
        open_at,
        members,
        member_at,
        rng,
        scalars,
    )


@kernel
def _flip(pattern: CoverPattern, state: SearchState, col: int, adding: bool) -> None:
    """Add or drop ``col``: update counts, weights, scores, uncovered rows and the chosen list."""
    col_ptr, col_rows, row_ptr, row_cols = pattern
    counts, sole, weight, since = state.counts, state.sole, state.weight, state.since
    parts, touched = state.parts, state.touched
    open_rows, open_at, scalars = state.open_rows, state.open_at, state.scalars
    now = scalars[STEP]
    move = scalars[MOVES] + 1
    scalars[MOVES] = move
    n_open = scalars[N_OPEN]
    own = 0  # the score of an added column: minus the weight of the rows only it covers
    if not adding:
        parts[col, 0] = 0  # its rows counted below as they get uncovered (only it covered them)
    for pos in range(col_ptr[col], col_ptr[col + 1]):
        row = col_rows[pos]
        sole[row] ^= col
        if (counts[row] <= 1) if adding else (counts[row] <= 2):
            touched[row] = move
        if adding:
            counts[row] += 1
            if counts[row] == 1:  # newly covered: settle its weight, no column gains it now
                share = weight[row] - since[row]
                weight[row] += now - since[row]
                for cpos in range(row_ptr[row], row_ptr[row + 1]):
                    other = row_cols[cpos]
                    parts[other, 0] -= share
                    parts[other, 1] -= 1
                own -= weight[row]
                n_open -= 1
                last = open_rows[n_open]
                open_rows[open_at[row]] = last
                open_at[last] = open_at[row]
                open_at[row] = -1
            elif counts[row] == 2:  # the column that covered it alone may now go for free
                parts[sole[row] ^ col, 0] += weight[row]
        else:
            counts[row] -= 1
            if counts[row] == 0:  # uncovered: every column would gain it, weighing more each step
                since[row] = now
                share = weight[row] - now
                for cpos in range(row_ptr[row], row_ptr[row + 1]):
                    other = row_cols[cpos]
                    parts[other, 0] += share
                    parts[other, 1] += 1
                open_rows[n_open] = row
                open_at[row] = n_open
                n_open += 1
            elif counts[row] == 1:  # the one column left covering it may not go for free
                parts[sole[row], 0] -= weight[row]
    scalars[N_OPEN] = n_open
    state.chosen[col] = adding
    members, member_at = state.members, state.member_at
    size = scalars[SIZE]
    if adding:
        parts[col, 0] = own
        parts[col, 1] = 0
        members[size] = col
        member_at[col] = size
        scalars[SIZE] = size + 1
    else:
        size -= 1
        members[member_at[col]] = members[size]
        member_at[members[size]] = member_at[col]
        member_at[col] = -1
        scalars[SIZE] = size
        state.frozen[col] = move


@kernel(inline=True)
def _score(state: SearchState, col: int, now: int) -> int:
    return state.parts[col, 0] + now * state.parts[col, 1]


@kernel(inline=True)
def _preferred(state: SearchState, now: int, a: int, b: int) -> bool:
    """Whether column ``a`` goes before ``b``: higher score, then unchanged longer, then smaller."""
    score_a = _score(state, a, now)
    score_b = _score(state, b, now)
    if score_a != score_b:
        return score_a > score_b
    stamp = state.stamp
    if stamp[a] != stamp[b]:
        return stamp[a] < stamp[b]
    return a < b


@kernel(inline=True)
def _may_add(pattern: CoverPattern, state: SearchState, col: int) -> bool:
    """Configuration checking: whether ``col`` may enter (it did not leave, or a neighbour moved)."""
    frozen = state.frozen[col]
    if frozen < 0:
        return True
    col_ptr, col_rows = pattern.col_ptr, pattern.col_rows
    touched = state.touched
    for pos in range(col_ptr[col], col_ptr[col + 1]):
        if touched[col_rows[pos]] > frozen:
            state.frozen[col] = -1
            return True
    return False


@kernel(inline=True)
def _best_member(state: SearchState, skip: int, skip_too: int, now: int) -> int:
    """The chosen column losing the least when dropped (but the two skipped); -1 if none."""
    members = state.members
    best = -1
    for k in range(state.scalars[SIZE]):
        col = members[k]
        if col not in (skip, skip_too) and (best < 0 or _preferred(state, now, col, best)):
            best = col
    return best


@kernel(ahead_of_time=[INT(PATTERN, STATE, INT, INT, INT)])
def row_weighting_search(
    pattern: CoverPattern,
    state: SearchState,
    lower_bound: int,
    until_step: int,
    stall_steps: int,
) -> int:
    """Row-weighting local search for unit-cost set covering (RWLS, Gao, Weise and Li 2015).

    From a cover of ``k`` columns, drop the column that loses the least and look for a cover of
    ``k - 1``: each step drops the chosen column of best score and adds, for a random uncovered
    row, its column of best score; rows left uncovered gain weight, so that the search moves on.
    A dropped column may come back only after one of its rows changed between uncovered,
    covered once and covered more (configuration checking), the two columns added last may not
    leave (a tabu list of two, as in Pinard's published implementation; with one, the search
    needs about twice the steps on the 4-6 and A-D series and fails more often), and ties go to
    the column unchanged longest, then the smaller index.

    Runs from the step ``state`` is at until step ``until_step``, until ``stall_steps`` steps
    passed without a smaller cover, or until a cover of ``lower_bound`` columns is found. The
    state is updated in place, so a later call resumes exactly where this one stopped: a search
    cut into chunks gives the same answer as one run. Deterministic for a seed.

    Returns 0 when it stopped at ``until_step``, 1 at the lower bound, 2 after the stall.
    """
    row_ptr, row_cols = pattern.row_ptr, pattern.row_cols
    chosen, best, stamp = state.chosen, state.best, state.stamp
    open_rows, scalars = state.open_rows, state.scalars
    while True:
        step = scalars[STEP]
        if scalars[N_OPEN] == 0:
            if scalars[SIZE] < scalars[BEST_SIZE]:
                best[:] = chosen
                scalars[BEST_SIZE] = scalars[SIZE]
                scalars[LAST_BETTER] = step
                scalars[BEST_STEP] = step
            if scalars[BEST_SIZE] <= lower_bound or scalars[SIZE] == 0:
                return 1
        if step - scalars[LAST_BETTER] >= stall_steps:
            return 2
        if step >= until_step:
            return 0
        if scalars[N_OPEN] == 0:
            # a cover: drop the column losing the least and look for one a column smaller
            drop = _best_member(state, -1, -1, step)
            _flip(pattern, state, drop, False)
            stamp[drop] = step
            continue
        # swap: drop the chosen column losing the least (not the one just added) ...
        drop = _best_member(state, scalars[TABU], scalars[TABU_BEFORE], step)
        if drop >= 0:
            _flip(pattern, state, drop, False)
            stamp[drop] = step
        # ... and cover a random uncovered row with its best column
        row = open_rows[_xorshift(state.rng) % scalars[N_OPEN]]
        add = -1
        fallback = -1  # when every column of the row waits for one of its rows to change
        for cpos in range(row_ptr[row], row_ptr[row + 1]):
            col = row_cols[cpos]
            if chosen[col]:
                continue
            if fallback < 0 or _preferred(state, step, col, fallback):
                fallback = col
            if (add < 0 or _preferred(state, step, col, add)) and _may_add(pattern, state, col):
                add = col
        if add < 0:
            add = fallback
        _flip(pattern, state, add, True)
        stamp[add] = step
        scalars[TABU_BEFORE] = scalars[TABU]
        scalars[TABU] = add
        # the rows still uncovered weigh one more from the next step on (lazily: see SearchState)
        scalars[STEP] = step + 1
