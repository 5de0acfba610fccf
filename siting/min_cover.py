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

from quarterhour import settings
from quarterhour.routing.dijkstra import kernel_pool, worker_count
from quarterhour.routing.jit import work_clock
from quarterhour.routing.progress import progress_bar
from quarterhour.siting.kernels.min_cover import (
    BEST_SIZE,
    BEST_STEP,
    STEP,
    UNLIMITED_WORK,
    SearchState,
    dominated_columns,
    dominated_rows,
    lagrangian_cover,
    row_weighting_search,
    start_search,
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
    kept: np.ndarray = picks[chosen[picks]]
    return kept


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


SECONDS_PER_REDUCED_NONZERO = 1.2e-7
"""Estimated seconds of a reduction round per nonzero (dominance checks of rows and columns)."""


def reduce_cover(
    pattern: CoverPattern, *, max_rounds: int = 20, deadline: float = math.inf
) -> Reduction:
    """Fix essential columns and drop dominated rows and columns until nothing changes.

    A row with a single column forces that column; a row whose columns include all of another
    row's is covered whenever that one is; a column whose rows another column also covers is never
    needed with unit costs. Each rule keeps at least one optimal cover, so the rounds may stop
    at any point: no round starts that would end past ``deadline`` (``time.perf_counter()``
    seconds; estimated from the nonzeros).
    """
    rows = np.arange(pattern.n_rows)
    cols = np.arange(pattern.n_cols)
    forced: list[np.ndarray] = []
    current = pattern
    for _ in range(max_rounds):
        if time.perf_counter() + SECONDS_PER_REDUCED_NONZERO * current.row_cols.size > deadline:
            break
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


DEFAULT_EFFORT = 0.5
"""The default ``effort``: at most about 8 seconds on a hard instance, far less on street ones."""

EFFORT_LEVELS = {"fast": 0.0, "default": DEFAULT_EFFORT, "thorough": 1.0}
"""Named levels accepted wherever an effort is (CLI, HTTP API)."""


def check_effort(effort: float | str | None) -> float:
    """The effort as a number in [0, 1]: a number, a numeric string or a named level."""
    if effort is None:
        return DEFAULT_EFFORT
    if isinstance(effort, str):
        name = effort.strip().lower()
        if name in EFFORT_LEVELS:
            return EFFORT_LEVELS[name]
        try:
            effort = float(name)
        except ValueError:
            levels = ", ".join(EFFORT_LEVELS)
            msg = f"effort must be a number from 0 to 1 or one of {levels}, not {effort!r}"
            raise ValueError(msg) from None
    value = float(effort)
    if not 0.0 <= value <= 1.0:
        msg = f"effort must be between 0 and 1, not {value:g}"
        raise ValueError(msg)
    return value


MIN_STALL_STEPS = 20_000
"""The fewest steps without a smaller cover before a search stops: on a street instance of 200
columns (a step takes microseconds) the search needed up to 22,000 steps to the optimum over 40
seeds, 6,000 on average."""


@dataclass(frozen=True)
class SearchBudget:
    """How long the local search may run.

    Attributes
    ----------
    max_steps
        Steps at most.
    stall_steps
        Steps without a smaller cover at most, per 1,000 columns (more columns, more moves to
        try), where the bound leaves little room (a first cover within 5 % of the bound, as on
        street instances). Where it leaves more, the stall grows with the square of the room:
        100 times for a 50 % gap, as on random unicost instances. At most 200 times in all, at
        least :data:`MIN_STALL_STEPS`.
    seconds
        Wall-clock seconds for the whole heuristic (reductions, bound and search).
    """

    max_steps: int
    stall_steps: int
    seconds: float

    @classmethod
    def for_effort(cls, effort: float | str | None = None) -> SearchBudget:
        """The budget of an effort in [0, 1] (0.5 by default; see :data:`EFFORT_LEVELS`).

        Steps, stall and seconds grow tenfold, a hundredfold and a hundredfold from effort 0 to
        1: 0.5 gives 3.2 million steps, a stall of 30,000 steps (see ``stall_steps``) and 8
        seconds (which leaves room for the reductions and a busy machine under 10 s).
        """
        value = check_effort(effort)
        return cls(
            max_steps=round(10 ** (5.0 + 3.0 * value)),
            stall_steps=round(3e4 * 10 ** (2.0 * (value - 0.5))),
            seconds=0.8 * 10 ** (2.0 * value),
        )

    def stall_for(self, size: int, bound: float, n_cols: int) -> int:
        """The stall limit of a search from a cover of ``size`` of ``n_cols`` columns."""
        room = max((size - bound) / max(size, 1) / 0.05, 1.0)
        scale = room * room * max(n_cols / 1000, 0.1)
        return max(round(self.stall_steps * min(scale, 200.0)), MIN_STALL_STEPS)


LAGRANGIAN_SHARE = 0.3
"""Share of the remaining seconds the Lagrangian bound may take (estimated from the nonzeros)."""
SECONDS_PER_NONZERO = 12e-9
"""Estimated seconds of one subgradient iteration per nonzero of the pattern."""
TWO_FOR_ONE_SHARE = 0.3
"""Share of the time left to the caller's deadline that 2-for-1 swaps may take."""
WORK_PER_SECOND = 5e8
"""Pattern entries :func:`~quarterhour.siting.kernels.min_cover.two_for_one` visits a second
(about 7e8 measured on an unreduced 6,000-point street instance; a slower machine overruns its
share, not the whole time left)."""


def _work_until(deadline: float, share: float) -> int:
    """The ``max_work`` of a :func:`two_for_one` given ``share`` of the time left to ``deadline``."""
    if math.isinf(deadline):
        return UNLIMITED_WORK
    left = max(deadline - time.perf_counter(), 0.0)
    return int(min(share * left * WORK_PER_SECOND, UNLIMITED_WORK))


def search_weights(state: SearchState) -> np.ndarray:
    """The row weights of a search state now (an uncovered row gains one a step)."""
    now = int(state.scalars[STEP])
    return np.where(state.counts == 0, state.weight + now - state.since, state.weight)


def search_scores(state: SearchState) -> np.ndarray:
    """The column scores of a search state now (see :class:`SearchState`)."""
    scores: np.ndarray = state.parts[:, 0] + int(state.scalars[STEP]) * state.parts[:, 1]
    return scores


def local_search(
    pattern: CoverPattern,
    start: np.ndarray,
    target: int,
    budget: SearchBudget,
    *,
    budget_end: float = math.inf,
    deadline: float = math.inf,
    seed: int = 0,
    fixed: int = 0,
    runs: int | None = None,
    quiet: bool = True,
) -> tuple[np.ndarray, dict[str, int | str | bool]]:
    """Run :func:`~quarterhour.siting.kernels.min_cover.row_weighting_search` within a budget.

    ``runs`` searches (default ``settings.search_runs``, else one per kernel thread,
    :func:`~quarterhour.routing.dijkstra.worker_count`) start from the same cover with seeds
    ``seed``, ``seed + 1`` ... and run side by side on the kernel threads, each within the step
    and stall limits of ``budget``; the smallest best cover wins (ties to the smaller seed), and
    one reaching ``target`` stops all: then the run that reached it in the fewest steps wins
    (ties to the smaller seed), the others first catching up to that step.
    The kernel runs in chunks of steps and the clock is read between chunks (numba has no
    clock); a chunk stops and resumes a search exactly, so the answer depends on the seed, the
    runs and the step limits only, unless the clock cuts it, which the stats say:
    ``search_stop`` is ``"effort"`` past ``budget_end`` (:func:`~quarterhour.routing.jit.
    work_clock` seconds: the budget's own time, compiling excluded) and ``"time limit"`` past
    ``deadline`` (``time.perf_counter()`` seconds: the caller's limit). ``fixed`` columns outside
    ``pattern`` (forced by the reductions) count in the cover's size and bound for the stall.
    Unless ``quiet``, a bar counts the steps and shows the best cover so far.

    Returns the best cover (bool per column) and the search's stats (``search_steps`` summed
    over the runs).
    """
    runs = runs or settings.search_runs or worker_count()
    stall = budget.stall_for(int(start.sum()) + fixed, float(target + fixed), pattern.n_cols)
    states = [start_search(pattern, start, seed + run) for run in range(runs)]
    active = list(range(runs))
    chunk = 100  # grown below to about 20 chunks a second (a dense instance's step is slow)
    stop = "steps"

    def advance(run: int, steps: int) -> int:
        until = min(int(states[run].scalars[STEP]) + steps, budget.max_steps)
        status = row_weighting_search(pattern, states[run], target, until, stall)
        return 3 if status == 0 and until >= budget.max_steps else status

    with progress_bar(total=None, desc="siting search", unit="step", quiet=quiet) as bar:
        while active:
            began = time.perf_counter()
            if began >= deadline:
                stop = "time limit"
                break
            left = min(deadline - began, budget_end - work_clock())
            if left <= 0:
                stop = "effort"
                break
            running = len(active)
            steps_before = sum(int(states[run].scalars[STEP]) for run in active)
            statuses = list(kernel_pool().map(advance, active, [chunk] * running))
            elapsed = time.perf_counter() - began
            advanced = sum(int(states[run].scalars[STEP]) for run in active) - steps_before
            steps = sum(int(state.scalars[STEP]) for state in states)
            best_size = min(int(state.scalars[BEST_SIZE]) for state in states)
            bar.update(steps - bar.n)
            bar.set_postfix_str(
                f"cover {best_size + fixed:,} (bound {target + fixed:,})", refresh=False
            )
            if 1 in statuses:
                # The run reaching the bound in the fewest steps wins (ties to the smaller seed),
                # whatever step the others' chunks ended at: those behind catch up to that step.
                ended = dict(zip(active, statuses, strict=True))
                first = min(int(states[run].scalars[BEST_STEP]) for run in ended if ended[run] == 1)
                gaps = {
                    run: first - int(states[run].scalars[STEP]) for run in ended if ended[run] == 0
                }
                behind = [run for run, gap in gaps.items() if gap > 0]
                list(kernel_pool().map(advance, behind, [gaps[run] for run in behind]))
                stop = "bound"
                break
            for run, status in zip(list(active), statuses, strict=True):
                if status:  # 2: stalled, 3: at the step limit; the last one to end names the stop
                    active.remove(run)
                    stop = "stall" if status == 2 else "steps"
            per_step = max(elapsed, 1e-6) * running / max(advanced, 1)  # one run's step
            left -= elapsed
            chunk = int(min(max(0.05 / per_step, 10), max(left / per_step, 10), 1e7))

    def rank(run: int) -> tuple[int, int, int]:
        size, step = int(states[run].scalars[BEST_SIZE]), int(states[run].scalars[BEST_STEP])
        return (size, step if size <= target else 0, run)

    winner = min(range(runs), key=rank)
    stats: dict[str, int | str | bool] = {
        "search_runs": runs,
        "search_steps": sum(int(state.scalars[STEP]) for state in states),
        "search_best_step": int(states[winner].scalars[BEST_STEP]),
        "search_stall_steps": stall,
        "search_stop": stop,
    }
    return states[winner].best, stats


def heuristic_cover(
    pattern: CoverPattern,
    *,
    effort: float | str | None = None,
    budget: SearchBudget | None = None,
    deadline: float | None = None,
    lagrangian_iterations: int = 600,
    seed: int = 0,
    quiet: bool = True,
) -> CoverSolution:
    """Fewest columns covering every row: reductions, greedy, Lagrangian heuristic, local search.

    1. :func:`reduce_cover` fixes essential columns and drops dominated rows and columns;
    2. greedy with redundancy pruning and 2-for-1 swaps gives a first cover;
    3. Beasley's subgradient method on the Lagrangian relaxation yields a lower bound and, each
       step, a cover built from the reduced costs;
    4. row-weighting local search (:func:`local_search`) looks for smaller covers from the best
       one until it reaches the bound or its budget runs out.

    ``effort`` (0 to 1, or a name of :data:`EFFORT_LEVELS`) sets the budget
    (:meth:`SearchBudget.for_effort`) unless ``budget`` is given; ``deadline``
    (``time.perf_counter()`` seconds) cuts the whole heuristic earlier. The answer is
    deterministic for a seed and budget (step counts; ties to the smaller column; a seeded
    generator) unless the clock cuts the search, which ``stats["search_stop"]`` then says.
    Every row must have at least one column.
    """
    started = time.perf_counter()
    budget = SearchBudget.for_effort(effort) if budget is None else budget
    budget_end = work_clock() + budget.seconds
    deadline = math.inf if deadline is None else deadline
    if pattern.n_rows and np.diff(pattern.row_ptr).min() == 0:
        msg = "every row of a covering problem needs at least one column"
        raise ValueError(msg)
    reduction = reduce_cover(pattern, deadline=deadline)
    sub = reduction.pattern
    log.debug(
        "cover reductions: %s forced, %s x %s left of %s x %s",
        f"{reduction.forced.size:,}",
        f"{sub.n_rows:,}",
        f"{sub.n_cols:,}",
        f"{pattern.n_rows:,}",
        f"{pattern.n_cols:,}",
    )
    stats: dict[str, float | int | str | bool] = {
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
        two_for_one(sub, chosen, counts, _work_until(deadline, TWO_FOR_ONE_SHARE))
        stats["greedy_local"] = int(chosen.sum())
        # As many subgradient steps as a share of the time left affords (at least 20 within
        # the effort's budget), none past the caller's deadline: the trivial bound then stands.
        per_iteration = SECONDS_PER_NONZERO * sub.row_cols.size
        by_effort = max(LAGRANGIAN_SHARE * (budget_end - work_clock()) / per_iteration, 20)
        by_deadline = LAGRANGIAN_SHARE * (deadline - time.perf_counter()) / per_iteration
        iterations = max(int(min(lagrangian_iterations, by_effort, by_deadline)), 0)
        if iterations > 0:
            chosen, bound, iterations = lagrangian_cover(sub, chosen, iterations, 10)
        else:
            bound = float(math.ceil(sub.n_rows / np.diff(sub.col_ptr).max()))
        stats["lagrangian_iterations"] = int(iterations)
        stats["lagrangian_cover"] = int(chosen.sum())
        target = math.ceil(bound - 1e-6)
        if chosen.sum() > target:
            chosen, search_stats = local_search(
                sub,
                chosen,
                target,
                budget,
                budget_end=budget_end,
                deadline=deadline,
                seed=seed,
                fixed=reduction.forced.size,
                quiet=quiet,
            )
            stats.update(search_stats)
        sub_columns = np.flatnonzero(chosen)
    columns = np.concatenate([reduction.forced, reduction.cols[sub_columns]]).astype(np.int64)
    ordered = order_by_greedy(pattern, columns)
    stats["seconds"] = time.perf_counter() - started
    return CoverSolution(ordered, float(bound) + reduction.forced.size, stats)
