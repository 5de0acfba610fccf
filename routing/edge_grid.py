"""A uniform grid over the edges' geometry segments: the nearest edge of one point in microseconds.

:func:`quarterhour.routing.snapping.snap_points` snaps many points at once through shapely's
STRtree; one point (an isochrone request) pays more for the calls than for the search. This
index answers one point inside a numba kernel with the same rules: the distance to an edge is
the distance to its nearest segment (computed as GEOS does), the lowest edge id wins a tie, and
the offset along the edge is the planar position of the nearest point, scaled to the edge's
length.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from quarterhour.routing.jit import (
    FLOAT,
    FLOATS_READ,
    INT,
    INT32S,
    INT32S_READ,
    INT64S,
    INT64S_READ,
    kernel,
    tuple_of,
)

if TYPE_CHECKING:
    from quarterhour.routing.graph import WalkNetwork

CELL_M = 100.0
"""Side of a grid cell in metres: a point's nearest street is usually within one cell."""


@kernel(
    ahead_of_time=[
        tuple_of((INT64S, INT32S, INT32S))(
            INT64S_READ, FLOATS_READ, FLOATS_READ, FLOAT, FLOAT, FLOAT, INT, INT
        )
    ]
)
def _build(
    geom_offsets: np.ndarray,
    geom_x: np.ndarray,
    geom_y: np.ndarray,
    x0: float,
    y0: float,
    cell: float,
    nx: int,
    ny: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR lists of the segments (by first vertex) whose bounding box meets each cell."""
    n_edges = len(geom_offsets) - 1
    counts = np.zeros(nx * ny + 1, dtype=np.int64)
    for pass_ in range(2):
        if pass_ == 1:
            indptr = np.zeros(nx * ny + 1, dtype=np.int64)
            for c in range(nx * ny):
                indptr[c + 1] = indptr[c] + counts[c]
            segments = np.empty(indptr[-1], dtype=np.int32)
            filled = indptr[:-1].copy()
        for e in range(n_edges):
            for v in range(geom_offsets[e], geom_offsets[e + 1] - 1):
                i_lo = int((min(geom_x[v], geom_x[v + 1]) - x0) / cell)
                i_hi = int((max(geom_x[v], geom_x[v + 1]) - x0) / cell)
                j_lo = int((min(geom_y[v], geom_y[v + 1]) - y0) / cell)
                j_hi = int((max(geom_y[v], geom_y[v + 1]) - y0) / cell)
                for j in range(j_lo, j_hi + 1):
                    for i in range(i_lo, i_hi + 1):
                        if pass_ == 0:
                            counts[j * nx + i] += 1
                        else:
                            segments[filled[j * nx + i]] = v
                            filled[j * nx + i] += 1
    vertex_edge = np.empty(len(geom_x), dtype=np.int32)
    for e in range(n_edges):
        for v in range(geom_offsets[e], geom_offsets[e + 1]):
            vertex_edge[v] = e
    return indptr, segments, vertex_edge


@kernel(inline=True)
def _point_segment_distance(
    px: float, py: float, ax: float, ay: float, bx: float, by: float
) -> tuple[float, float]:
    """Distance from p to segment ab and the fraction along ab of the nearest point (GEOS)."""
    dx = bx - ax
    dy = by - ay
    squared = dx * dx + dy * dy
    if squared == 0.0:
        return np.sqrt((px - ax) ** 2 + (py - ay) ** 2), 0.0
    r = ((px - ax) * dx + (py - ay) * dy) / squared
    if r <= 0.0:
        return np.sqrt((px - ax) ** 2 + (py - ay) ** 2), 0.0
    if r >= 1.0:
        return np.sqrt((px - bx) ** 2 + (py - by) ** 2), 1.0
    s = ((ay - py) * dx - (ax - px) * dy) / squared
    return abs(s) * np.sqrt(squared), r


@kernel(
    ahead_of_time=[
        tuple_of((INT, FLOAT, FLOAT, FLOAT, FLOAT))(
            *(INT64S_READ, INT32S_READ, INT32S_READ, INT64S_READ, FLOATS_READ, FLOATS_READ),
            *(FLOATS_READ, FLOAT, FLOAT, FLOAT, INT, INT, FLOAT, FLOAT, FLOAT),
        )
    ]
)
def nearest_edge(
    indptr: np.ndarray,
    segments: np.ndarray,
    vertex_edge: np.ndarray,
    geom_offsets: np.ndarray,
    geom_x: np.ndarray,
    geom_y: np.ndarray,
    edge_length_m: np.ndarray,
    x0: float,
    y0: float,
    cell: float,
    nx: int,
    ny: int,
    px: float,
    py: float,
    max_m: float,
) -> tuple[int, float, float, float, float]:
    """The nearest edge of ``(px, py)`` within ``max_m``: ``(edge, distance, offset_m, x, y)``.

    ``x, y`` is the nearest point on the edge. The edge is -1 when none lies within ``max_m``
    (``distance`` is then inf, or the distance to the nearest edge when ``max_m`` is inf).
    """
    if not (np.isfinite(px) and np.isfinite(py)):  # outside the projection's domain
        return -1, np.inf, 0.0, np.nan, np.nan
    ci = int(np.floor((px - x0) / cell))
    cj = int(np.floor((py - y0) / cell))
    best_edge = -1
    best = np.inf
    # Rings wholly outside the grid hold nothing: start at the first that meets it.
    ring = max(0, ci - (nx - 1), -ci, cj - (ny - 1), -cj)
    while True:
        # The cells of the grid at Chebyshev distance `ring` from the point's cell.
        for j in range(max(cj - ring, 0), min(cj + ring, ny - 1) + 1):
            whole_row = j == cj - ring or j == cj + ring  # not `in (a, b)`: slow in numba
            i = max(ci - ring, 0) if whole_row else ci - ring
            last = min(ci + ring, nx - 1)
            while i <= last:
                if i >= 0:
                    c = j * nx + i
                    for k in range(indptr[c], indptr[c + 1]):
                        v = segments[k]
                        distance, _ = _point_segment_distance(
                            px, py, geom_x[v], geom_y[v], geom_x[v + 1], geom_y[v + 1]
                        )
                        e = vertex_edge[v]
                        if distance < best or (distance == best and e < best_edge):
                            best = distance
                            best_edge = e
                # Inside rows: only the ring's two columns.
                i += 1 if whole_row or ring == 0 else 2 * ring
        # Every segment not yet seen lies outside the searched square of cells.
        reach = min(
            px - (x0 + (ci - ring) * cell),
            x0 + (ci + ring + 1) * cell - px,
            py - (y0 + (cj - ring) * cell),
            y0 + (cj + ring + 1) * cell - py,
        )
        if best <= reach or reach > max_m:
            break
        if ci - ring < 0 and cj - ring < 0 and ci + ring >= nx and cj + ring >= ny:
            break
        ring += 1
    if best_edge < 0 or best > max_m:
        return -1, best, 0.0, np.nan, np.nan
    # Where along the edge: the first segment at the smallest distance, as GEOS locates.
    start, stop = geom_offsets[best_edge], geom_offsets[best_edge + 1]
    along = 0.0
    planar = 0.0
    nearest = np.inf
    at_x = np.nan
    at_y = np.nan
    for v in range(start, stop - 1):
        ax, ay, bx, by = geom_x[v], geom_y[v], geom_x[v + 1], geom_y[v + 1]
        length = np.sqrt((bx - ax) ** 2 + (by - ay) ** 2)
        distance, fraction = _point_segment_distance(px, py, ax, ay, bx, by)
        if distance < nearest:
            nearest = distance
            along = planar + fraction * length
            at_x = ax + fraction * (bx - ax)
            at_y = ay + fraction * (by - ay)
        planar += length
    offset = along * edge_length_m[best_edge] / planar if planar > 0 else 0.0
    offset = min(max(offset, 0.0), edge_length_m[best_edge])
    return best_edge, best, offset, at_x, at_y


@dataclass(frozen=True, eq=False)
class EdgeGrid:
    """The grid index of a network's edge segments (see :func:`edge_grid`).

    Attributes
    ----------
    indptr, segments
        CSR lists: the segments (by their first vertex in ``geom_x``/``geom_y``) whose bounding
        box meets cell ``j * nx + i``.
    vertex_edge
        The edge of every geometry vertex.
    x0, y0, cell, nx, ny
        The grid: cell ``(i, j)`` covers ``x0 + i * cell`` to ``x0 + (i + 1) * cell``.
    """

    indptr: np.ndarray
    segments: np.ndarray
    vertex_edge: np.ndarray
    x0: float
    y0: float
    cell: float
    nx: int
    ny: int

    def nearest(
        self, network: WalkNetwork, x: float, y: float, max_m: float
    ) -> tuple[int, float, float, float, float]:
        """The nearest edge of one point in metres: ``(edge, distance, offset_m, x, y)``."""
        return nearest_edge(
            self.indptr,
            self.segments,
            self.vertex_edge,
            network.geom_offsets,
            network.geom_x,
            network.geom_y,
            network.edge_length_m,
            self.x0,
            self.y0,
            self.cell,
            self.nx,
            self.ny,
            float(x),
            float(y),
            float(max_m),
        )


_GRIDS: weakref.WeakKeyDictionary[WalkNetwork, EdgeGrid] = weakref.WeakKeyDictionary()


def grid_of(network: WalkNetwork) -> EdgeGrid:
    """The grid index of ``network``, built once per network and kept while it lives."""
    grid = _GRIDS.get(network)
    if grid is None:
        grid = _GRIDS[network] = edge_grid(network)
    return grid


def edge_grid(network: WalkNetwork, *, cell_m: float = CELL_M) -> EdgeGrid:
    """Build the grid index of ``network``'s edge segments.

    Parameters
    ----------
    network
        The walking network.
    cell_m
        Side of a cell in metres.
    """
    x0 = float(network.geom_x.min()) if len(network.geom_x) else 0.0
    y0 = float(network.geom_y.min()) if len(network.geom_y) else 0.0
    width = float(network.geom_x.max()) - x0 if len(network.geom_x) else 0.0
    height = float(network.geom_y.max()) - y0 if len(network.geom_y) else 0.0
    nx = int(width // cell_m) + 1
    ny = int(height // cell_m) + 1
    indptr, segments, vertex_edge = _build(
        network.geom_offsets, network.geom_x, network.geom_y, x0, y0, float(cell_m), nx, ny
    )
    return EdgeGrid(indptr, segments, vertex_edge, x0, y0, float(cell_m), nx, ny)
