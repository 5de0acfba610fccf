"""The siting kernels on small hand-built cases whose answers are worked out by hand.

The pattern (rows are communities, columns sites)::

    col 0 covers rows {0, 1}
    col 1 covers rows {1, 2, 3}
    col 2 covers rows {3, 4}
    col 3 covers rows {0, 4}

The only cover with two columns is {1, 3}; row 2 has col 1 alone, so col 1 is in every cover.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from quarterhour.siting.assign import nearest_in_rows
from quarterhour.siting.kernels.max_cover import coverage_swaps, max_cover_lagrangian_bound
from quarterhour.siting.kernels.min_cover import (
    STEP,
    UNLIMITED_WORK,
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

COLUMNS = [[0, 1], [1, 2, 3], [3, 4], [0, 4]]


@pytest.fixture(scope="module")
def pattern() -> CoverPattern:
    rows = [row for column in COLUMNS for row in column]
    cols = [col for col, column in enumerate(COLUMNS) for _ in column]
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(5, 4))
    return CoverPattern.from_matrix(matrix)


def chosen_of(columns: list[int], n: int = 4) -> np.ndarray:
    chosen = np.zeros(n, bool)
    chosen[columns] = True
    return chosen


def test_pattern_round_trip(pattern: CoverPattern) -> None:
    assert (pattern.n_rows, pattern.n_cols) == (5, 4)
    assert pattern.col_rows[pattern.col_ptr[1] : pattern.col_ptr[2]].tolist() == [1, 2, 3]
    assert pattern.row_cols[pattern.row_ptr[0] : pattern.row_ptr[1]].tolist() == [0, 3]
    dense = pattern.to_matrix().toarray()
    assert dense.sum() == 9 and dense[2].tolist() == [False, True, False, False]


def test_lazy_greedy_picks_the_largest_gain_and_breaks_ties_to_the_smaller_column(
    pattern: CoverPattern,
) -> None:
    covered = np.zeros(5, bool)
    picks = lazy_greedy(pattern, np.ones(5), covered, np.ones(4, bool), 4)
    # col 1 covers 3 rows; then col 3 covers 2 new rows (0 and 4): done
    assert picks.tolist() == [1, 3] and covered.all()
    weighted = np.zeros(5, bool)
    picks = lazy_greedy(pattern, np.array([5.0, 1, 1, 1, 5]), weighted, np.ones(4, bool), 1)
    assert picks.tolist() == [3]
    tied = np.zeros(5, bool)
    picks = lazy_greedy(pattern, np.ones(5), tied, np.array([True, False, True, False]), 4)
    assert picks.tolist() == [0, 2]  # equal gains: the smaller column first


def test_counts_and_redundancy(pattern: CoverPattern) -> None:
    chosen = chosen_of([0, 1, 2, 3])
    counts = cover_counts(pattern, chosen, 5)
    assert counts.tolist() == [2, 2, 1, 2, 2]
    dropped = prune_redundant(pattern, chosen, counts, np.array([0, 1, 2, 3]))
    # col 0 goes (rows 0, 1 are covered twice); then col 2 is the only cover of row 3? no: col 1
    # covers row 3, col 3 row 4, so col 2 goes too; col 1 (row 2) and col 3 (row 0) stay
    assert dropped == 2 and np.flatnonzero(chosen).tolist() == [1, 3]
    assert cover_counts(pattern, chosen, 5).min() == 1


def test_dominated_rows_and_columns(pattern: CoverPattern) -> None:
    # rows 1 {0, 1} and 3 {1, 2} contain row 2's sites {1}: covering row 2 covers them
    assert np.flatnonzero(dominated_rows(pattern)).tolist() == [1, 3]
    active = np.array([False, False, True, True, False])  # only rows 2 and 3 still matter
    # col 2's active rows {3} are within col 1's {2, 3}; cols 0 and 3 cover no active row
    assert np.flatnonzero(dominated_columns(pattern, active)).tolist() == [0, 2, 3]


def test_two_for_one_saves_a_station(pattern: CoverPattern) -> None:
    chosen = chosen_of([0, 1, 2])  # a cover of three, with no redundant column
    counts = cover_counts(pattern, chosen, 5)
    assert two_for_one(pattern, chosen, counts, UNLIMITED_WORK) == 1
    assert np.flatnonzero(chosen).tolist() == [1, 3]


def test_lagrangian_bound_is_valid_and_the_heuristic_finds_the_optimum(
    pattern: CoverPattern,
) -> None:
    best, bound, iterations = lagrangian_cover(pattern, chosen_of([0, 1, 2]), 200, 5)
    assert 0 < bound <= 2 + 1e-9 and iterations >= 1
    assert np.flatnonzero(best).tolist() == [1, 3]


def test_row_weighting_search_reaches_the_bound(pattern: CoverPattern) -> None:
    state = start_search(pattern, chosen_of([0, 1, 2]), 0)
    assert row_weighting_search(pattern, state, 2, 10_000, 5_000) == 1  # it stops at the bound
    assert np.flatnonzero(state.best).tolist() == [1, 3]
    assert state.scalars[STEP] < 10_000
    again = start_search(pattern, chosen_of([0, 1, 2]), 0)
    row_weighting_search(pattern, again, 2, 10_000, 5_000)
    assert again.best.tolist() == state.best.tolist()  # deterministic for a seed


def test_max_cover_swaps_and_bound(pattern: CoverPattern) -> None:
    weight = np.array([5.0, 1.0, 1.0, 1.0, 5.0])
    chosen = chosen_of([1])
    counts = cover_counts(pattern, chosen, 5)
    gained = coverage_swaps(pattern, weight, chosen, counts, 10)
    assert gained == pytest.approx(7.0)  # col 1 (weight 3) for col 3 (weight 10)
    assert np.flatnonzero(chosen).tolist() == [3]
    for budget, optimum in ((1, 10.0), (2, 13.0)):
        bound = max_cover_lagrangian_bound(pattern, weight, budget, optimum, 300)
        assert optimum - 1e-9 <= bound <= weight.sum() + 1e-9


def test_nearest_in_rows_keeps_zeros_and_breaks_ties_to_the_smaller_column() -> None:
    indptr = np.array([0, 3, 3, 5])
    indices = np.array([2, 0, 1, 1, 0])
    data = np.array([4.0, 4.0, 7.0, 0.0, 3.0])
    column, value = nearest_in_rows(indptr, indices, data)
    assert column.tolist() == [0, -1, 1]
    assert value[0] == 4.0 and np.isnan(value[1]) and value[2] == 0.0
