"""Filled contours of a grid and their simplification, as flat ring arrays (numba kernels).

A contour set is four arrays, the layout every isochrone step passes on without building
Python objects:

* ``xy``: ``(m, 2)`` ring vertices, each ring closed (first vertex repeated last);
* ``ring_offsets``: ring ``r`` is ``xy[ring_offsets[r]:ring_offsets[r + 1]]``;
* ``poly_offsets``: polygon ``p`` is rings ``poly_offsets[p]:poly_offsets[p + 1]``, its exterior
  first (counter-clockwise), then its holes (clockwise), as RFC 7946 wants;
* ``level_offsets``: level ``k`` is polygons ``level_offsets[k]:level_offsets[k + 1]``, largest
  exterior first.

:func:`filled_contours` traces the region ``field < level`` with marching squares: every grid
edge the level crosses holds one vertex, each cell joins its vertices with the inside on the left,
and saddles are resolved by the cell's mean, so rings never cross and need no clean-up. Holes go
to the smallest exterior that contains them, as Valhalla groups its rings.
"""

from __future__ import annotations

import numpy as np

from quarterhour.routing.jit import (
    FLOAT,
    FLOATS_2D,
    FLOATS_2D_READ,
    FLOATS_READ,
    INT32S,
    INT64S,
    INT64S_READ,
    kernel,
    tuple_of,
)


@kernel(inline=True)
def _crossing_point(
    crossing: int, field: np.ndarray, level: float, x0: float, y0: float, cell: float
) -> tuple[float, float]:
    ny, nx = field.shape
    n_horizontal = ny * (nx - 1)
    if crossing < n_horizontal:
        j = crossing // (nx - 1)
        i = crossing - j * (nx - 1)
        a = field[j, i]
        fraction = (level - a) / (field[j, i + 1] - a)
        return x0 + (i + fraction) * cell, y0 + j * cell
    crossing -= n_horizontal
    j = crossing // nx
    i = crossing - j * nx
    a = field[j, i]
    fraction = (level - a) / (field[j + 1, i] - a)
    return x0 + i * cell, y0 + (j + fraction) * cell


@kernel
def _trace_rings(
    field: np.ndarray, level: float, x0: float, y0: float, cell: float, successor: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed rings around ``field < level`` (inside on the left) and their signed areas.

    The border of ``field`` must lie outside (``>= level``) so that every ring closes.
    ``successor`` (one entry per grid edge, see :func:`successor_buffer`) must be all -1; it is
    left so.
    """
    ny, nx = field.shape
    n_horizontal = ny * (nx - 1)
    edges = np.empty(4, dtype=np.int64)
    inside = np.empty(4, dtype=np.bool_)
    crossings = np.empty(1024, dtype=np.int64)
    n_crossings = 0
    for j in range(ny - 1):
        below = field[j]
        above = field[j + 1]
        for i in range(nx - 1):
            # Corners counter-clockwise: (i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1).
            a = below[i] < level
            b = below[i + 1] < level
            c = above[i + 1] < level
            d = above[i] < level
            if a == b and b == c and c == d:  # all inside or all outside
                continue
            inside[0] = a
            inside[1] = b
            inside[2] = c
            inside[3] = d
            # Edge k runs from corner k to corner k + 1.
            edges[0] = j * (nx - 1) + i
            edges[1] = n_horizontal + j * nx + i + 1
            edges[2] = (j + 1) * (nx - 1) + i
            edges[3] = n_horizontal + j * nx + i
            saddle = inside[0] == inside[2] and inside[1] == inside[3]
            centre_inside = False
            if saddle:
                mean = 0.25 * (
                    field[j, i] + field[j, i + 1] + field[j + 1, i + 1] + field[j + 1, i]
                )
                centre_inside = mean < level
            for k in range(4):
                if inside[k] and not inside[(k + 1) % 4]:
                    # Leaving the inside at edge k: the segment ends where it comes back in.
                    if not saddle:
                        back = (k + 1) % 4
                        while not (not inside[back] and inside[(back + 1) % 4]):
                            back = (back + 1) % 4
                    elif centre_inside:
                        back = (k + 1) % 4
                    else:
                        back = (k + 3) % 4
                    successor[edges[k]] = edges[back]
                    if n_crossings == len(crossings):
                        bigger = np.empty(2 * n_crossings, dtype=np.int64)
                        bigger[:n_crossings] = crossings
                        crossings = bigger
                    crossings[n_crossings] = edges[k]
                    n_crossings += 1
    # A ring has at least four vertices, so at most n / 4 rings and n + n / 4 closed vertices.
    xy = np.empty((n_crossings + n_crossings // 4 + 1, 2))
    ring_offsets = np.zeros(n_crossings // 4 + 2, dtype=np.int64)
    areas = np.empty(n_crossings // 4 + 1)
    n_points = 0
    n_rings = 0
    for q in range(n_crossings):
        start = crossings[q]
        if successor[start] < 0:  # already on a ring
            continue
        first = n_points
        current = start
        while True:
            x, y = _crossing_point(current, field, level, x0, y0, cell)
            xy[n_points, 0] = x
            xy[n_points, 1] = y
            n_points += 1
            following = successor[current]
            successor[current] = -1
            current = following
            if current == start:
                break
        xy[n_points, 0] = xy[first, 0]
        xy[n_points, 1] = xy[first, 1]
        n_points += 1
        area = 0.0
        for p in range(first, n_points - 1):
            area += xy[p, 0] * xy[p + 1, 1] - xy[p + 1, 0] * xy[p, 1]
        areas[n_rings] = 0.5 * area
        n_rings += 1
        ring_offsets[n_rings] = n_points
    return xy[:n_points], ring_offsets[: n_rings + 1], areas[:n_rings]


@kernel(inline=True)
def _point_in_ring(x: float, y: float, xy: np.ndarray, start: int, stop: int) -> bool:
    """Even-odd rule over the closed ring ``xy[start:stop]``."""
    inside = False
    for p in range(start, stop - 1):
        ax, ay = xy[p, 0], xy[p, 1]
        bx, by = xy[p + 1, 0], xy[p + 1, 1]
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            inside = not inside
    return inside


@kernel
def _group_rings(
    xy: np.ndarray, ring_offsets: np.ndarray, areas: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order rings into polygons: exteriors by area descending, each followed by its holes.

    Returns the ring order, the polygon offsets into it and each polygon's exterior area.
    """
    n_rings = len(areas)
    exteriors = np.flatnonzero(areas > 0)
    exteriors = exteriors[np.argsort(-areas[exteriors], kind="mergesort")]
    n_exteriors = len(exteriors)
    # Bounding boxes of the exteriors, to test few rings in full.
    box = np.empty((n_exteriors, 4))
    for e in range(n_exteriors):
        r = exteriors[e]
        ring = xy[ring_offsets[r] : ring_offsets[r + 1]]
        box[e, 0] = ring[:, 0].min()
        box[e, 1] = ring[:, 1].min()
        box[e, 2] = ring[:, 0].max()
        box[e, 3] = ring[:, 1].max()
    owner = np.full(n_rings, -1, dtype=np.int64)
    n_holes = np.zeros(n_exteriors, dtype=np.int64)
    for r in range(n_rings):
        if areas[r] > 0:
            continue
        x, y = xy[ring_offsets[r], 0], xy[ring_offsets[r], 1]
        # The smallest exterior around the hole owns it (exteriors are sorted largest first).
        for e in range(n_exteriors - 1, -1, -1):
            if not (box[e, 0] <= x <= box[e, 2] and box[e, 1] <= y <= box[e, 3]):
                continue
            q = exteriors[e]
            if _point_in_ring(x, y, xy, ring_offsets[q], ring_offsets[q + 1]):
                owner[r] = e
                n_holes[e] += 1
                break
    poly_offsets = np.zeros(n_exteriors + 1, dtype=np.int64)
    for e in range(n_exteriors):
        poly_offsets[e + 1] = poly_offsets[e] + 1 + n_holes[e]
    order = np.empty(poly_offsets[-1], dtype=np.int64)
    filled = poly_offsets[:-1].copy()
    for e in range(n_exteriors):
        order[filled[e]] = exteriors[e]
        filled[e] += 1
    for r in range(n_rings):
        if owner[r] >= 0:
            order[filled[owner[r]]] = r
            filled[owner[r]] += 1
    return order, poly_offsets, areas[exteriors]


def successor_buffer(ny: int, nx: int, buffer: np.ndarray | None = None) -> np.ndarray:
    """A buffer for :func:`filled_contours` on an ``ny`` x ``nx`` grid.

    ``buffer`` itself if it is large enough (the contours leave it as they found it), else a
    new one.
    """
    needed = ny * (nx - 1) + (ny - 1) * nx
    if buffer is not None and len(buffer) >= needed:
        return buffer
    return np.full(max(needed, 1), -1, dtype=np.int32)


@kernel(
    ahead_of_time=[
        tuple_of((FLOATS_2D, INT64S, INT64S, INT64S))(
            FLOATS_2D_READ, FLOAT, FLOAT, FLOAT, FLOATS_READ, INT32S
        )
    ]
)
def filled_contours(
    field: np.ndarray,
    x0: float,
    y0: float,
    cell: float,
    levels: np.ndarray,
    successor: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Polygons of ``field < level`` for each level, as a contour set (see the module docstring).

    Returns ``(xy, ring_offsets, poly_offsets, level_offsets)``. ``field[j, i]`` is the value at
    ``(x0 + i * cell, y0 + j * cell)``; its border must lie outside every level. ``successor``
    comes from :func:`successor_buffer` (reused, it saves an allocation a call).
    """
    n_levels = len(levels)
    pieces_xy = []
    pieces_rings = []
    pieces_polys = []
    level_offsets = np.zeros(n_levels + 1, dtype=np.int64)
    n_points = 0
    n_rings = 0
    n_polys = 0
    for k in range(n_levels):
        xy, ring_offsets, areas = _trace_rings(field, levels[k], x0, y0, cell, successor)
        order, poly_offsets, _ = _group_rings(xy, ring_offsets, areas)
        # Copy the rings in polygon order.
        lengths = np.empty(len(order), dtype=np.int64)
        for q in range(len(order)):
            lengths[q] = ring_offsets[order[q] + 1] - ring_offsets[order[q]]
        ordered = np.empty((lengths.sum(), 2))
        ring_ends = np.empty(len(order), dtype=np.int64)
        at = 0
        for q in range(len(order)):
            r = order[q]
            ordered[at : at + lengths[q]] = xy[ring_offsets[r] : ring_offsets[r + 1]]
            at += lengths[q]
            ring_ends[q] = n_points + at
        pieces_xy.append(ordered)
        pieces_rings.append(ring_ends)
        pieces_polys.append(poly_offsets[1:] + n_rings)
        n_points += at
        n_rings += len(order)
        n_polys += len(poly_offsets) - 1
        level_offsets[k + 1] = n_polys
    xy_all = np.empty((n_points, 2))
    ring_all = np.zeros(n_rings + 1, dtype=np.int64)
    poly_all = np.zeros(n_polys + 1, dtype=np.int64)
    at_point = 0
    at_ring = 0
    at_poly = 0
    for k in range(n_levels):
        piece = pieces_xy[k]
        xy_all[at_point : at_point + len(piece)] = piece
        at_point += len(piece)
        ring_all[at_ring + 1 : at_ring + 1 + len(pieces_rings[k])] = pieces_rings[k]
        at_ring += len(pieces_rings[k])
        poly_all[at_poly + 1 : at_poly + 1 + len(pieces_polys[k])] = pieces_polys[k]
        at_poly += len(pieces_polys[k])
    return xy_all, ring_all, poly_all, level_offsets


@kernel(inline=True)
def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx = bx - ax
    dy = by - ay
    squared = dx * dx + dy * dy
    if squared == 0.0:
        return np.hypot(px - ax, py - ay)
    r = ((px - ax) * dx + (py - ay) * dy) / squared
    if r <= 0.0:
        return np.hypot(px - ax, py - ay)
    if r >= 1.0:
        return np.hypot(px - bx, py - by)
    return abs((ay - py) * dx - (ax - px) * dy) / np.sqrt(squared)


@kernel
def _douglas_peucker(
    xy: np.ndarray, start: int, stop: int, tolerance: float, keep: np.ndarray, stack: np.ndarray
) -> int:
    """Mark the vertices of ``xy[start:stop]`` that Douglas-Peucker keeps; return their count."""
    for p in range(start, stop):
        keep[p] = False
    keep[start] = True
    keep[stop - 1] = True
    n_kept = 2
    top = 0
    stack[0, 0] = start
    stack[0, 1] = stop - 1
    top = 1
    while top > 0:
        top -= 1
        first = stack[top, 0]
        last = stack[top, 1]
        farthest = -1
        largest = tolerance
        for p in range(first + 1, last):
            distance = _segment_distance(
                xy[p, 0], xy[p, 1], xy[first, 0], xy[first, 1], xy[last, 0], xy[last, 1]
            )
            if distance > largest:
                largest = distance
                farthest = p
        if farthest >= 0:
            keep[farthest] = True
            n_kept += 1
            stack[top, 0] = first
            stack[top, 1] = farthest
            stack[top + 1, 0] = farthest
            stack[top + 1, 1] = last
            top += 2
    return n_kept


@kernel(
    ahead_of_time=[
        tuple_of((FLOATS_2D, INT64S, INT64S, INT64S))(
            FLOATS_2D_READ, INT64S_READ, INT64S_READ, INT64S_READ, FLOAT, FLOAT
        )
    ]
)
def simplify_contours(
    xy: np.ndarray,
    ring_offsets: np.ndarray,
    poly_offsets: np.ndarray,
    level_offsets: np.ndarray,
    tolerance: float,
    denoise: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Simplify every ring (Douglas-Peucker), drop what collapses, then denoise each level.

    A ring left with fewer than four vertices is dropped, and with an exterior its polygon.
    ``denoise`` (0 to 1) drops the polygons of a level whose exterior is smaller than that share
    of the level's largest (Valhalla's ``denoise``). Returns a contour set in the same layout,
    polygons still largest first.
    """
    n_points = len(xy)
    keep = np.ones(n_points, dtype=np.bool_)
    stack = np.empty((max(n_points, 2), 2), dtype=np.int64)
    n_rings = len(ring_offsets) - 1
    ring_kept = np.empty(n_rings, dtype=np.int64)
    for r in range(n_rings):
        start, stop = ring_offsets[r], ring_offsets[r + 1]
        if tolerance > 0 and stop - start > 4:
            ring_kept[r] = _douglas_peucker(xy, start, stop, tolerance, keep, stack)
        else:
            ring_kept[r] = stop - start
    n_polys = len(poly_offsets) - 1
    area = np.zeros(n_polys)
    alive = np.zeros(n_polys, dtype=np.bool_)
    for p in range(n_polys):
        exterior = poly_offsets[p]
        if ring_kept[exterior] < 4:
            continue
        alive[p] = True
        total = 0.0
        last_x = np.nan
        last_y = np.nan
        first = True
        for q in range(ring_offsets[exterior], ring_offsets[exterior + 1]):
            if not keep[q]:
                continue
            if not first:
                total += last_x * xy[q, 1] - xy[q, 0] * last_y
            last_x = xy[q, 0]
            last_y = xy[q, 1]
            first = False
        area[p] = 0.5 * total
    n_levels = len(level_offsets) - 1
    if denoise > 0:
        for k in range(n_levels):
            largest = 0.0
            for p in range(level_offsets[k], level_offsets[k + 1]):
                if alive[p]:
                    largest = max(largest, area[p])
            for p in range(level_offsets[k], level_offsets[k + 1]):
                if alive[p] and area[p] < denoise * largest:
                    alive[p] = False
    out_xy = np.empty((n_points, 2))
    out_rings = np.zeros(n_rings + 1, dtype=np.int64)
    out_polys = np.zeros(n_polys + 1, dtype=np.int64)
    out_levels = np.zeros(n_levels + 1, dtype=np.int64)
    at_point = 0
    at_ring = 0
    at_poly = 0
    for k in range(n_levels):
        # Simplification may reorder sizes slightly: keep the largest polygon first.
        polys = np.arange(level_offsets[k], level_offsets[k + 1])
        polys = polys[np.argsort(-area[polys], kind="mergesort")]
        for p in polys:
            if not alive[p]:
                continue
            for r in range(poly_offsets[p], poly_offsets[p + 1]):
                if ring_kept[r] < 4:
                    continue
                for q in range(ring_offsets[r], ring_offsets[r + 1]):
                    if keep[q]:
                        out_xy[at_point, 0] = xy[q, 0]
                        out_xy[at_point, 1] = xy[q, 1]
                        at_point += 1
                at_ring += 1
                out_rings[at_ring] = at_point
            at_poly += 1
            out_polys[at_poly] = at_ring
        out_levels[k + 1] = at_poly
    return (
        out_xy[:at_point],
        out_rings[: at_ring + 1],
        out_polys[: at_poly + 1],
        out_levels,
    )
