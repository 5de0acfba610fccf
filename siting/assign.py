"""Assignment of communities to their nearest station in a walk-time (or distance) matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from siting import kernels


def nearest_station(cost: sp.csr_matrix, station_cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return, per row, the position in ``station_cols`` of the nearest station and its cost.

    Only stored pairs are within the limit, and a stored zero is a real pair. Ties go to the
    earlier position in ``station_cols``. Rows with no station in reach get -1 and NaN.
    """
    sub = sp.csr_matrix(cost[:, np.asarray(station_cols, np.int64)])
    sub.sort_indices()
    position, value = kernels.nearest_in_rows(
        sub.indptr.astype(np.int64), sub.indices.astype(np.int64), sub.data.astype(np.float64)
    )
    return position, value


def community_table(
    community_ids: np.ndarray,
    community_names: np.ndarray,
    community_weight: np.ndarray,
    station_ids: np.ndarray,
    station_kinds: np.ndarray,
    position: np.ndarray,
    value: np.ndarray,
    minutes_per_unit: float,
) -> pd.DataFrame:
    """One row per community: its nearest station, kind, walk minutes and whether it is covered."""
    covered = position >= 0
    safe = np.where(covered, position, 0)
    has_station = station_ids.size > 0
    return pd.DataFrame({
        "community_id": community_ids,
        "community_name": community_names,
        "weight": community_weight,
        "station_id": np.where(covered, station_ids[safe] if has_station else "", ""),
        "station_kind": np.where(covered, station_kinds[safe] if has_station else "", ""),
        "walk_min": value * minutes_per_unit,
        "covered": covered,
    })


def served_counts(position: np.ndarray, weight: np.ndarray, n_stations: int) -> tuple[np.ndarray, np.ndarray]:
    """Communities and weight assigned to each station (by position)."""
    served = position >= 0
    count = np.bincount(position[served], minlength=n_stations)
    total = np.bincount(position[served], weights=weight[served], minlength=n_stations)
    return count.astype(np.int64), total
