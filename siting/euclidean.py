"""Straight-line coverage matrices: a stand-in for walk times when no network is at hand.

Used by the tests and the benchmark to build instances from real point data, and by planners for a
quick first look. Distances are scaled by ``detour`` (streets are longer than straight lines).
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from geo.projection import LocalProjection
from routing import settings

log = logging.getLogger("quarterhour")


def straight_line_minutes(
    src_lon: np.ndarray,
    src_lat: np.ndarray,
    dst_lon: np.ndarray,
    dst_lat: np.ndarray,
    *,
    minutes: float = settings.walk_limit_minutes,
    speed_kmh: float = settings.walk_speed_kmh,
    detour: float = 1.25,
) -> sp.csr_matrix:
    """Walk minutes along straight lines times ``detour``, for the pairs within ``minutes``.

    Returns a CSR matrix (sources x targets); a point on top of another is a stored zero.
    """
    projection = LocalProjection.for_lonlat(np.r_[src_lon, dst_lon], np.r_[src_lat, dst_lat])
    src = np.column_stack(projection.forward(src_lon, src_lat))
    dst = np.column_stack(projection.forward(dst_lon, dst_lat))
    radius_m = settings.minutes_to_metres(minutes, speed_kmh) / detour
    pairs = cKDTree(src).sparse_distance_matrix(cKDTree(dst), radius_m, output_type="ndarray")
    metres_per_minute = settings.minutes_to_metres(1.0, speed_kmh)
    cost = pairs["v"] * detour / metres_per_minute
    matrix = sp.csr_matrix((cost, (pairs["i"], pairs["j"])), shape=(src.shape[0], dst.shape[0]))
    log.info("straight-line matrix %s x %s with %s pairs", f"{matrix.shape[0]:,}", f"{matrix.shape[1]:,}", f"{matrix.nnz:,}")
    return matrix
