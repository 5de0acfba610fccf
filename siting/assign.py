"""Assignment of communities to their nearest station in a walk-time (or distance) matrix."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from quarterhour.routing.jit import FLOATS, FLOATS_READ, INT64S, INT64S_READ, kernel, tuple_of


@kernel(ahead_of_time=[tuple_of((INT64S, FLOATS))(INT64S_READ, INT64S_READ, FLOATS_READ)])
def nearest_in_rows(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each CSR row, the stored column of least value (ties: smaller column) and that value.

    Rows without a stored entry get column -1 and value NaN. Stored zeros count as entries.
    """
    n_rows = indptr.size - 1
    best_col = np.full(n_rows, -1, np.int64)
    best_value = np.full(n_rows, np.nan)
    for row in range(n_rows):
        for pos in range(indptr[row], indptr[row + 1]):
            col = indices[pos]
            value = data[pos]
            if (
                best_col[row] < 0
                or value < best_value[row]
                or (value == best_value[row] and col < best_col[row])
            ):
                best_col[row] = col
                best_value[row] = value
    return best_col, best_value


def nearest_station(cost: sp.csr_matrix, station_cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return, per row, the position in ``station_cols`` of the nearest station and its cost.

    Only stored pairs are within the limit, and a stored zero is a real pair. Ties go to the
    earlier position in ``station_cols``. Rows with no station in reach get -1 and NaN.
    """
    sub = sp.csr_matrix(cost[:, np.asarray(station_cols, np.int64)])
    sub.sort_indices()
    position, value = nearest_in_rows(
        sub.indptr.astype(np.int64), sub.indices.astype(np.int64), sub.data.astype(np.float64)
    )
    return position, value


def served_counts(
    position: np.ndarray, weight: np.ndarray, n_stations: int
) -> tuple[np.ndarray, np.ndarray]:
    """Communities and weight assigned to each station (by position)."""
    served = position >= 0
    count = np.bincount(position[served], minlength=n_stations)
    total = np.bincount(position[served], weights=weight[served], minlength=n_stations)
    return count.astype(np.int64), total
