"""The coverage pattern every siting kernel works on, and the kernels both models share.

A pattern is one coverage problem as index arrays, never frames: its CSC half lists the rows
(communities) each column (site) covers, its CSR half the columns that cover each row. Rows and
columns are numbered in id order and every tie is broken towards the smaller index, so a kernel
returns the same answer for the same input.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from numba.core import types

from quarterhour.routing.jit import BOOLS, FLOATS, INT, INT64S, INT64S_READ, kernel


class CoverPattern(NamedTuple):
    """CSC and CSR index arrays of one boolean coverage pattern (numba takes it as one argument).

    Attributes
    ----------
    col_ptr, col_rows
        CSC: the rows column ``j`` covers are ``col_rows[col_ptr[j]:col_ptr[j + 1]]``.
    row_ptr, row_cols
        CSR: the columns covering row ``i`` are ``row_cols[row_ptr[i]:row_ptr[i + 1]]``.
    """

    col_ptr: np.ndarray
    col_rows: np.ndarray
    row_ptr: np.ndarray
    row_cols: np.ndarray

    @classmethod
    def from_matrix(cls, matrix: sp.spmatrix | sp.sparray) -> CoverPattern:
        """Index arrays of the stored entries of ``matrix`` (values ignored: a stored 0 covers)."""
        csr = sp.csr_matrix(matrix, copy=True)  # type: ignore[call-overload]  # scipy-stubs: no overload for spmatrix | sparray
        csr.sum_duplicates()
        csr.sort_indices()
        csc = csr.tocsc()
        csc.sort_indices()
        return cls(
            csc.indptr.astype(np.int64),
            csc.indices.astype(np.int64),
            csr.indptr.astype(np.int64),
            csr.indices.astype(np.int64),
        )

    @property
    def n_rows(self) -> int:
        """Number of rows (communities)."""
        return self.row_ptr.size - 1

    @property
    def n_cols(self) -> int:
        """Number of columns (sites)."""
        return self.col_ptr.size - 1

    def to_matrix(self) -> sp.csr_matrix:
        """The boolean pattern back as a CSR matrix."""
        data = np.ones(self.row_cols.size, bool)
        return sp.csr_matrix((data, self.row_cols, self.row_ptr), shape=(self.n_rows, self.n_cols))


PATTERN = types.NamedUniTuple(INT64S_READ, 4, CoverPattern)
"""The numba type of a pattern, as compiled ahead of time (its arrays are never written)."""


@kernel
def _before(key: np.ndarray, item: np.ndarray, a: int, b: int) -> bool:
    """Whether heap slot ``a`` outranks slot ``b``: larger key, then smaller index."""
    if key[a] != key[b]:
        return key[a] > key[b]
    return item[a] < item[b]


@kernel
def _swap_slots(key: np.ndarray, item: np.ndarray, a: int, b: int) -> None:
    key[a], key[b] = key[b], key[a]
    item[a], item[b] = item[b], item[a]


@kernel
def _sift_down(key: np.ndarray, item: np.ndarray, size: int, slot: int) -> None:
    while True:
        left = 2 * slot + 1
        if left >= size:
            return
        best = left
        right = left + 1
        if right < size and _before(key, item, right, left):
            best = right
        if _before(key, item, best, slot):
            _swap_slots(key, item, best, slot)
            slot = best
        else:
            return


@kernel
def _heapify(key: np.ndarray, item: np.ndarray, size: int) -> None:
    for slot in range(size // 2 - 1, -1, -1):
        _sift_down(key, item, size, slot)


@kernel(ahead_of_time=[INT64S(PATTERN, FLOATS, BOOLS, BOOLS, INT)])
def lazy_greedy(
    pattern: CoverPattern,
    row_weight: np.ndarray,
    row_covered: np.ndarray,
    col_allowed: np.ndarray,
    max_picks: int,
) -> np.ndarray:
    """Pick columns by largest newly covered weight until nothing more is gained (CELF).

    Gains only shrink as rows get covered (the objective is submodular), so a stale heap key is
    an upper bound and a column whose refreshed gain still tops the heap is the true greedy pick.

    Returns the picked columns in order; ``row_covered`` is updated in place.
    """
    col_ptr, col_rows = pattern.col_ptr, pattern.col_rows
    n_cols = col_ptr.size - 1
    key = np.empty(n_cols, np.float64)
    item = np.empty(n_cols, np.int64)
    size = 0
    for col in range(n_cols):
        if not col_allowed[col]:
            continue
        gain = 0.0
        for pos in range(col_ptr[col], col_ptr[col + 1]):
            row = col_rows[pos]
            if not row_covered[row]:
                gain += row_weight[row]
        if gain > 0.0:
            key[size] = gain
            item[size] = col
            size += 1
    _heapify(key, item, size)
    picks = np.empty(min(max_picks, n_cols), np.int64)
    n_picks = 0
    while size > 0 and n_picks < max_picks:
        col = item[0]
        gain = 0.0
        for pos in range(col_ptr[col], col_ptr[col + 1]):
            row = col_rows[pos]
            if not row_covered[row]:
                gain += row_weight[row]
        if gain <= 0.0:
            size -= 1
            _swap_slots(key, item, 0, size)
            _sift_down(key, item, size, 0)
            continue
        key[0] = gain
        _sift_down(key, item, size, 0)
        if item[0] != col:  # another column now outranks the refreshed one
            continue
        for pos in range(col_ptr[col], col_ptr[col + 1]):
            row_covered[col_rows[pos]] = True
        picks[n_picks] = col
        n_picks += 1
        size -= 1
        _swap_slots(key, item, 0, size)
        _sift_down(key, item, size, 0)
    return picks[:n_picks]


@kernel(ahead_of_time=[INT64S(PATTERN, BOOLS, INT)])
def cover_counts(pattern: CoverPattern, chosen: np.ndarray, n_rows: int) -> np.ndarray:
    """Return how many chosen columns cover each row."""
    col_ptr, col_rows = pattern.col_ptr, pattern.col_rows
    counts = np.zeros(n_rows, np.int64)
    for col in range(chosen.size):
        if chosen[col]:
            for pos in range(col_ptr[col], col_ptr[col + 1]):
                counts[col_rows[pos]] += 1
    return counts


@kernel
def is_redundant(pattern: CoverPattern, counts: np.ndarray, col: int) -> bool:
    """Whether every row of ``col`` is covered at least twice (dropping it uncovers none)."""
    col_ptr, col_rows = pattern.col_ptr, pattern.col_rows
    for pos in range(col_ptr[col], col_ptr[col + 1]):  # noqa: SIM110 (numba has no generators)
        if counts[col_rows[pos]] < 2:
            return False
    return True


@kernel
def drop_column(pattern: CoverPattern, counts: np.ndarray, chosen: np.ndarray, col: int) -> None:
    """Take ``col`` out of the cover, updating how often each row is covered."""
    col_ptr, col_rows = pattern.col_ptr, pattern.col_rows
    chosen[col] = False
    for pos in range(col_ptr[col], col_ptr[col + 1]):
        counts[col_rows[pos]] -= 1


@kernel
def add_column(pattern: CoverPattern, counts: np.ndarray, chosen: np.ndarray, col: int) -> None:
    """Put ``col`` into the cover, updating how often each row is covered."""
    col_ptr, col_rows = pattern.col_ptr, pattern.col_rows
    chosen[col] = True
    for pos in range(col_ptr[col], col_ptr[col + 1]):
        counts[col_rows[pos]] += 1


@kernel(ahead_of_time=[INT(PATTERN, BOOLS, INT64S, INT64S)])
def prune_redundant(
    pattern: CoverPattern,
    chosen: np.ndarray,
    counts: np.ndarray,
    order: np.ndarray,
) -> int:
    """Drop chosen columns whose every row is covered twice, trying them in ``order``.

    Returns the number dropped; ``chosen`` and ``counts`` are updated in place.
    """
    dropped = 0
    for col in order:
        if chosen[col] and is_redundant(pattern, counts, col):
            drop_column(pattern, counts, chosen, col)
            dropped += 1
    return dropped
