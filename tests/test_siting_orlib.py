"""Minimum cover on OR-Library set-covering instances and on tiny hand-built patterns.

The references are independent of the solver: the best-known unicost values published for
Beasley's instances (data/orlib/bks_unicost.csv) and the exact MILP solved by HiGHS.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import scipy.sparse as sp

from quarterhour.geo.errors import InputError
from quarterhour.siting import CoverageModel
from quarterhour.siting.bounds import KILL_GRACE_S, cover_highs
from quarterhour.siting.kernels.min_cover import (
    BEST_SIZE,
    BEST_STEP,
    N_OPEN,
    SIZE,
    STEP,
    TABU,
    TABU_BEFORE,
    row_weighting_search,
    start_search,
)
from quarterhour.siting.kernels.pattern import CoverPattern
from quarterhour.siting.min_cover import (
    SearchBudget,
    check_effort,
    greedy_cover,
    heuristic_cover,
    local_search,
    search_scores,
    search_weights,
)

from instances import milp_min_cover, orlib_best_known, orlib_instance

KNOWN = orlib_best_known()


def covers_every_row(matrix: sp.csr_matrix, columns: np.ndarray) -> bool:
    return bool((matrix[:, columns].getnnz(axis=1) > 0).all())


def state_from_scratch(pattern: CoverPattern, chosen: np.ndarray, weight: np.ndarray) -> dict:
    """Counts, scores and uncovered rows of a selection and row weights, with sparse algebra."""
    matrix = sp.csr_matrix(pattern.to_matrix(), dtype=np.int64)
    counts = np.asarray(matrix[:, chosen].sum(axis=1)).ravel()
    only = matrix.T @ (weight * (counts == 1))
    gain = matrix.T @ (weight * (counts == 0))
    return {
        "counts": counts,
        "score": np.where(chosen, -only, gain),
        "open": set(np.flatnonzero(counts == 0)),
    }


@pytest.mark.parametrize("name", ["scp41", "scp42", "scpe1"])
def test_small_orlib_instances_reach_the_best_known(name: str) -> None:
    matrix = orlib_instance(name)
    result = CoverageModel.from_cost_matrix(matrix).solve().result
    columns = result.new_stations["station_id"].astype(int).to_numpy()
    best_known = KNOWN[name][1]
    assert covers_every_row(matrix, columns)
    assert columns.size == best_known
    assert result.bound <= best_known + 1e-9
    assert result.gap == pytest.approx(
        (columns.size - math.ceil(result.bound - 1e-6)) / columns.size
    )
    assert "upper limit on the true gap" in result.summary["gap_note"]


def test_orlib_reader_and_best_known_table() -> None:
    assert len(KNOWN) == 83
    assert KNOWN["scpc1"] == ("c", 43)  # table A's 40 is not in the literature
    assert KNOWN["scpnrh1"] == ("nrh", 33)
    matrix = orlib_instance("scpcyc06")
    assert matrix.shape == (240, 192)
    assert set(np.unique(matrix.getnnz(axis=1))) == {4}  # each row of CYC has four columns
    rail = orlib_instance("rail507")
    assert rail.shape == (507, 63009)
    assert rail.getnnz(axis=0).min() >= 1


@pytest.mark.parametrize("name", ["scpcyc06", "scpclr10", "scp61", "rail507"])
def test_every_cover_is_valid_and_the_bound_below_the_best_known(name: str) -> None:
    matrix = orlib_instance(name)
    result = CoverageModel.from_cost_matrix(matrix).solve(effort="fast").result
    columns = result.new_stations["station_id"].astype(int).to_numpy()
    assert covers_every_row(matrix, columns)
    assert len(set(columns)) == columns.size
    assert result.bound <= KNOWN[name][1] + 1e-9 <= columns.size + 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_random_instances_match_the_milp(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_rows, n_cols = 60, 40
    matrix = sp.random(n_rows, n_cols, density=0.08, random_state=rng, format="lil")
    for row in np.flatnonzero(matrix.getnnz(axis=1) == 0):  # every row needs a column
        matrix[row, rng.integers(n_cols)] = 1.0
    matrix = sp.csr_matrix(matrix)
    matrix.data[:] = 1.0
    result = CoverageModel.from_cost_matrix(matrix).solve().result
    columns = result.new_stations["station_id"].astype(int).to_numpy()
    optimum = milp_min_cover(matrix)
    assert covers_every_row(matrix, columns)
    assert columns.size == optimum
    assert result.bound <= optimum + 1e-9


def test_search_escapes_the_greedy_trap() -> None:
    """Greedy takes the big middle column and then needs both sides; two columns suffice."""
    # rows 0-5; column 0 covers 0-2, column 1 covers 3-5, column 2 covers 1-4 (the greedy pick)
    cols = [[0, 1, 2], [3, 4, 5], [1, 2, 3, 4]]
    rows = [r for col in cols for r in col]
    owners = [j for j, col in enumerate(cols) for _ in col]
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, owners)), shape=(6, 3))
    pattern = CoverPattern.from_matrix(matrix)
    start = np.zeros(3, bool)
    start[greedy_cover(pattern)] = True
    assert start.sum() == 3
    best, stats = local_search(pattern, start, 0, SearchBudget(10**6, 100, 10.0))
    assert best.sum() == 2 and covers_every_row(matrix, np.flatnonzero(best))
    assert stats["search_stop"] == "stall"


def test_kernel_state_stays_consistent() -> None:
    pattern = CoverPattern.from_matrix(orlib_instance("scpe1"))
    start = np.zeros(pattern.n_cols, bool)
    start[greedy_cover(pattern)] = True
    state = start_search(pattern, start, 3)
    previous = np.zeros(pattern.n_rows, np.int64)
    for until in (1, 7, 50, 400, 3_000):
        row_weighting_search(pattern, state, 0, until, 10**9)
        assert state.scalars[STEP] == until
        weight = search_weights(state)
        assert weight.min() >= 1 and weight.sum() > pattern.n_rows
        assert (weight >= previous).all()  # weights never fall
        previous = weight
        expected = state_from_scratch(pattern, state.chosen, weight)
        np.testing.assert_array_equal(state.counts, expected["counts"])
        np.testing.assert_array_equal(search_scores(state), expected["score"])
        n_open = state.scalars[N_OPEN]
        assert set(state.open_rows[:n_open]) == expected["open"]
        assert state.scalars[SIZE] == state.chosen.sum()
        members = set(state.members[: state.scalars[SIZE]])
        assert members == set(np.flatnonzero(state.chosen))
        assert state.scalars[BEST_SIZE] == state.best.sum()
        assert covers_every_row(pattern.to_matrix(), np.flatnonzero(state.best))


def test_a_swap_never_drops_either_of_the_two_columns_added_last() -> None:
    pattern = CoverPattern.from_matrix(orlib_instance("scp41"))
    start = np.zeros(pattern.n_cols, bool)
    start[greedy_cover(pattern)] = True
    state = start_search(pattern, start, 5)
    added_last: list[int] = []  # seen from the selections themselves, not the kernel's counters
    swaps = 0
    for until in range(1, 3_000):
        swap = state.scalars[N_OPEN] > 0  # else the step first drops a column of the cover
        before = state.chosen.copy()
        row_weighting_search(pattern, state, 0, until, 10**9)
        (added,) = np.flatnonzero(state.chosen & ~before)  # each step adds one column
        if swap:
            (dropped,) = np.flatnonzero(before & ~state.chosen)
            assert dropped not in added_last[-2:]
            swaps += 1
        added_last.append(int(added))
        before_last = added_last[-2] if len(added_last) > 1 else -1
        assert state.scalars[TABU] == added and state.scalars[TABU_BEFORE] == before_last
    assert swaps > 2_000


def test_chunks_give_the_same_search_as_one_run() -> None:
    pattern = CoverPattern.from_matrix(orlib_instance("scp41"))
    start = np.zeros(pattern.n_cols, bool)
    start[greedy_cover(pattern, prune=True)] = True
    whole = start_search(pattern, start, 5)
    assert row_weighting_search(pattern, whole, 0, 20_000, 10**9) == 0
    cut = start_search(pattern, start, 5)
    for until in (1, 2, 999, 5_000, 12_345, 20_000):
        row_weighting_search(pattern, cut, 0, until, 10**9)
    for name in ("chosen", "best", "weight", "since", "parts", "stamp", "scalars"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(cut, name))
    other = start_search(pattern, start, 6)
    row_weighting_search(pattern, other, 0, 20_000, 10**9)
    assert not np.array_equal(other.stamp, whole.stamp)  # the seed matters


def test_same_budget_same_answer() -> None:
    pattern = CoverPattern.from_matrix(orlib_instance("scp51"))
    budget = SearchBudget(max_steps=30_000, stall_steps=10**9, seconds=math.inf)
    first = heuristic_cover(pattern, budget=budget)
    second = heuristic_cover(pattern, budget=budget)
    np.testing.assert_array_equal(first.columns, second.columns)
    assert first.stats["search_stop"] == "steps" == second.stats["search_stop"]
    assert first.stats["search_steps"] == 30_000 * first.stats["search_runs"]


def test_time_limit_cuts_the_search_and_says_so() -> None:
    matrix = orlib_instance("scp61")
    result = CoverageModel.from_cost_matrix(matrix).solve(time_limit=0.5).result
    assert result.stats["search_stop"] == "time limit"
    assert result.summary["search_stop"] == "time limit"
    columns = result.new_stations["station_id"].astype(int).to_numpy()
    assert covers_every_row(matrix, columns)
    # with the LP bound asked for, the search leaves HiGHS half of the limit
    bounded = CoverageModel.from_cost_matrix(matrix).solve(time_limit=0.5, lp_bound=True).result
    assert bounded.stats["search_stop"] == "time limit"
    lp = bounded.stats["lp_bound"]
    assert lp in ("skipped: time limit", "stopped: time limit") or lp <= bounded.bound + 1e-9
    assert bounded.bound <= KNOWN["scp61"][1]


def test_lp_bound_within_the_effort_budget() -> None:
    matrix = orlib_instance("scpe1")
    result = CoverageModel.from_cost_matrix(matrix).solve(lp_bound=True, effort="fast").result
    assert isinstance(result.stats["lp_bound"], float)
    assert result.stats["lp_bound"] <= result.bound + 1e-9 <= KNOWN["scpe1"][1]


def test_effort_levels_and_bad_values() -> None:
    assert check_effort(None) == 0.5 == check_effort("default") == check_effort("0.5")
    assert check_effort("fast") == 0.0 and check_effort("thorough") == 1.0
    low, high = SearchBudget.for_effort(0.0), SearchBudget.for_effort(1.0)
    assert low.max_steps < SearchBudget.for_effort(None).max_steps < high.max_steps
    assert low.seconds < high.seconds
    model = CoverageModel.from_cost_matrix(orlib_instance("scpe1"))
    for bad in (1.5, -0.1, "hard"):
        with pytest.raises(InputError, match="effort"):
            model.solve(effort=bad)
    for bad in (0, -1, math.inf):
        with pytest.raises(InputError, match="time limit"):
            model.solve(time_limit=bad)


def test_default_ids_are_column_indices_in_index_order() -> None:
    # twelve columns; columns 2 and 10 are identical and each alone covers every row
    n_rows, n_cols = 4, 12
    matrix = sp.lil_matrix((n_rows, n_cols))
    for col in (2, 10):
        matrix[:, col] = 1.0
    for row in range(n_rows):
        matrix[row, row + 4] = 1.0
    result = CoverageModel.from_cost_matrix(sp.csr_matrix(matrix)).solve().result
    assert list(result.new_stations["station_id"]) == ["2"]  # not "10": index order breaks ties
    assert set(result.assignments["community_id"]) == {"0", "1", "2", "3"}


def test_a_long_search_shows_progress_unless_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    pattern = CoverPattern.from_matrix(orlib_instance("scp61"))
    budget = SearchBudget(max_steps=10**9, stall_steps=10**9, seconds=1.8)
    heuristic_cover(pattern, budget=budget, quiet=False)
    shown = capsys.readouterr().err
    assert "siting search" in shown
    assert "cover" in shown
    assert "bound" in shown
    heuristic_cover(pattern, budget=budget, quiet=True)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("integral", [True, False], ids=["milp", "lp"])
def test_highs_never_runs_past_its_time_limit(integral: bool) -> None:
    """HiGHS runs in a forked process killed shortly after the limit if it does not stop."""
    matrix = sp.csr_matrix(orlib_instance("scpnre1"))
    started = time.perf_counter()
    outcome = cover_highs(matrix, integral=integral, time_limit=0.2)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.2 + KILL_GRACE_S + 0.5, elapsed
    if not outcome.optimal:
        assert outcome.columns is None or covers_every_row(matrix, outcome.columns)


def test_runs_side_by_side_keep_the_best_of_their_seeds() -> None:
    pattern = CoverPattern.from_matrix(orlib_instance("scp41"))
    start = np.zeros(pattern.n_cols, bool)
    start[greedy_cover(pattern, prune=True)] = True
    budget = SearchBudget(max_steps=20_000, stall_steps=10**9, seconds=math.inf)
    alone = [local_search(pattern, start, 0, budget, seed=seed, runs=1)[0] for seed in (4, 5)]
    best, stats = local_search(pattern, start, 0, budget, seed=4, runs=2)
    sizes = [int(cover.sum()) for cover in alone]
    winner = alone[int(np.argmin(sizes))]  # ties to the smaller seed
    np.testing.assert_array_equal(best, winner)
    assert stats["search_runs"] == 2 and stats["search_steps"] == 40_000
    assert stats["search_stop"] == "steps"


def test_runs_reaching_the_bound_keep_the_one_there_first() -> None:
    """Where the chunks end (the clock's choice) must not pick the answer."""
    pattern = CoverPattern.from_matrix(orlib_instance("scp41"))
    start = np.zeros(pattern.n_cols, bool)
    start[greedy_cover(pattern, prune=True)] = True
    target = orlib_best_known()["scp41"][1]
    budget = SearchBudget(max_steps=2_000_000, stall_steps=10**9, seconds=math.inf)
    reached_at = {}
    for seed in range(12):
        state = start_search(pattern, start, seed)
        assert row_weighting_search(pattern, state, target, 2_000_000, 10**9) == 1
        reached_at[seed] = (int(state.scalars[BEST_STEP]), state.best.copy())
    # a pair whose first seed needs more steps than the second one
    seed = next(k for k in range(11) if reached_at[k][0] > reached_at[k + 1][0])
    for _ in range(3):
        best, stats = local_search(pattern, start, target, budget, seed=seed, runs=2)
        assert stats["search_stop"] == "bound"
        assert stats["search_best_step"] == reached_at[seed + 1][0]
        np.testing.assert_array_equal(best, reached_at[seed + 1][1])
