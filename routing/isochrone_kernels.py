"""The numba kernels of an isochrone: the time field, and the fit that projects to degrees.

The time field is walked, sampled and filled in one kernel; the polygons are projected to
degrees by a local quadratic (:func:`quarterhour.routing.isochrone.to_degrees`).

They live apart from the module that calls them so that they can be compiled ahead of time
(:mod:`quarterhour.routing.aot`), which imports only numpy, scipy and numba: the first
isochrone of a fresh install compiles nothing.
"""

from __future__ import annotations

import numpy as np

from quarterhour.routing.dijkstra import bounded_dijkstra
from quarterhour.routing.jit import (
    BOOLS,
    FLOAT,
    FLOATS,
    FLOATS_2D,
    FLOATS_2D_READ,
    FLOATS_READ,
    INT,
    INT32S,
    INT64S_READ,
    WALK_ARCS,
    kernel,
    tuple_of,
)


@kernel(
    ahead_of_time=[
        tuple_of((FLOATS_2D, FLOAT, FLOAT, FLOATS_2D, INT))(
            *WALK_ARCS,
            *(FLOATS_READ, FLOATS_READ, FLOATS_READ, INT64S_READ, FLOATS_READ, FLOATS_READ),
            *(FLOATS, INT32S, INT32S, INT32S, INT32S, INT32S, BOOLS, INT32S, FLOATS_2D, FLOATS),
            *(INT, FLOAT, FLOAT, FLOAT, FLOAT, FLOAT, FLOAT, FLOAT, FLOAT),
        )
    ]
)
def _time_grid(
    indptr: np.ndarray,
    arc_head: np.ndarray,
    arc_edge: np.ndarray,
    arc_cost: np.ndarray,
    edge_u: np.ndarray,
    edge_v: np.ndarray,
    edge_cost: np.ndarray,
    node_x: np.ndarray,
    node_y: np.ndarray,
    geom_offsets: np.ndarray,
    geom_x: np.ndarray,
    geom_y: np.ndarray,
    dist: np.ndarray,
    bucket_of: np.ndarray,
    next_in_bucket: np.ndarray,
    prev_in_bucket: np.ndarray,
    bucket_head: np.ndarray,
    touched: np.ndarray,
    edge_seen: np.ndarray,
    edge_list: np.ndarray,
    samples: np.ndarray,
    field_buffer: np.ndarray,
    src_edge: int,
    src_offset: float,
    src_access: float,
    src_x: float,
    src_y: float,
    level_max: float,
    per_metre: float,
    cell: float,
    buffer_m: float,
) -> tuple[np.ndarray, float, float, np.ndarray, int]:
    """Walk from the snapped point, sample the reached streets and fill the time field.

    Returns the field (``far`` where no street is near; a view of ``field_buffer`` when that is
    large enough), its origin, the sample buffer (grown if it had to) and the number of samples.
    The other workspace arrays are left as they came.
    """
    start_nodes = np.empty(2, dtype=np.int32)
    start_costs = np.empty(2)
    start_nodes[0] = edge_u[src_edge]
    start_nodes[1] = edge_v[src_edge]
    start_costs[0] = src_access + src_offset
    start_costs[1] = src_access + edge_cost[src_edge] - src_offset
    n_touched = bounded_dijkstra(
        indptr,
        arc_head,
        arc_cost,
        start_nodes,
        start_costs,
        level_max,
        dist,
        bucket_of,
        next_in_bucket,
        prev_in_bucket,
        bucket_head,
        touched,
    )
    # Samples: the snapped point, every reached node, and points at most a cell apart inside
    # every edge that leaves a reached node.
    n_samples = 0
    if src_access <= level_max:
        samples[0, 0] = src_x
        samples[0, 1] = src_y
        samples[0, 2] = src_access
        n_samples = 1
    edge_seen[src_edge] = True
    edge_list[0] = src_edge
    n_edges = 1
    for k in range(n_touched):
        node = touched[k]
        if n_samples == len(samples):
            samples = _grown(samples, n_samples)
        samples[n_samples, 0] = node_x[node]
        samples[n_samples, 1] = node_y[node]
        samples[n_samples, 2] = dist[node]
        n_samples += 1
        for arc in range(indptr[node], indptr[node + 1]):
            e = arc_edge[arc]
            if not edge_seen[e]:
                edge_seen[e] = True
                edge_list[n_edges] = e
                n_edges += 1
    for k in range(n_edges):
        e = edge_list[k]
        edge_seen[e] = False
        du = dist[edge_u[e]]
        dv = dist[edge_v[e]]
        cost = edge_cost[e]
        start, stop = geom_offsets[e], geom_offsets[e + 1]
        planar = 0.0
        for v in range(start, stop - 1):
            planar += np.sqrt((geom_x[v + 1] - geom_x[v]) ** 2 + (geom_y[v + 1] - geom_y[v]) ** 2)
        if planar <= 0.0:
            continue
        n_steps = int(np.ceil(planar / cell))
        scale = cost / planar
        v = start
        segment = np.sqrt((geom_x[v + 1] - geom_x[v]) ** 2 + (geom_y[v + 1] - geom_y[v]) ** 2)
        walked = 0.0
        for step in range(1, n_steps):
            along = planar * step / n_steps
            position = along * scale
            t = min(du + position, dv + cost - position)
            if e == src_edge:
                t = min(t, src_access + abs(position - src_offset))
            if t > level_max:
                continue
            while walked + segment < along and v < stop - 2:
                walked += segment
                v += 1
                segment = np.sqrt(
                    (geom_x[v + 1] - geom_x[v]) ** 2 + (geom_y[v + 1] - geom_y[v]) ** 2
                )
            fraction = (along - walked) / segment if segment > 0 else 0.0
            fraction = min(max(fraction, 0.0), 1.0)
            if n_samples == len(samples):
                samples = _grown(samples, n_samples)
            samples[n_samples, 0] = geom_x[v] + fraction * (geom_x[v + 1] - geom_x[v])
            samples[n_samples, 1] = geom_y[v] + fraction * (geom_y[v + 1] - geom_y[v])
            samples[n_samples, 2] = t
            n_samples += 1
    for k in range(n_touched):
        dist[touched[k]] = np.inf
    if n_samples == 0:
        return np.empty((0, 0)), 0.0, 0.0, samples, 0

    # The field: the border lies a cell beyond the reach of every sample, so contours close.
    pad = buffer_m + 3.0 * cell
    radius = buffer_m + cell
    x_lo = samples[0, 0]
    x_hi = samples[0, 0]
    y_lo = samples[0, 1]
    y_hi = samples[0, 1]
    for k in range(1, n_samples):
        x_lo = min(x_lo, samples[k, 0])
        x_hi = max(x_hi, samples[k, 0])
        y_lo = min(y_lo, samples[k, 1])
        y_hi = max(y_hi, samples[k, 1])
    x0 = x_lo - pad
    y0 = y_lo - pad
    nx = int(np.ceil((x_hi + pad - x0) / cell)) + 1
    ny = int(np.ceil((y_hi + pad - y0) / cell)) + 1
    far = 2.0 * level_max + 1.0
    if ny * nx <= len(field_buffer):
        field = field_buffer[: ny * nx].reshape((ny, nx))
        field[:] = far
    else:
        field = np.full((ny, nx), far)
    radius_squared = radius * radius
    for k in range(n_samples):
        sx = samples[k, 0]
        sy = samples[k, 1]
        st = samples[k, 2]
        j_lo = max(0, int(np.ceil((sy - radius - y0) / cell)))
        j_hi = min(ny - 1, int(np.floor((sy + radius - y0) / cell)))
        for j in range(j_lo, j_hi + 1):
            dy = y0 + j * cell - sy
            dy_squared = dy * dy
            if dy_squared > radius_squared:
                continue
            # The cells of this row inside the disk, bounded exactly: the loop has no branch.
            half = np.sqrt(radius_squared - dy_squared)
            i_lo = max(0, int(np.ceil((sx - half - x0) / cell)))
            i_hi = min(nx - 1, int(np.floor((sx + half - x0) / cell)))
            row = field[j]
            base = x0 - sx
            for i in range(i_lo, i_hi + 1):
                dx = base + i * cell
                row[i] = min(row[i], st + np.sqrt(dx * dx + dy_squared) * per_metre)
    return field, x0, y0, samples, n_samples


@kernel
def _grown(samples: np.ndarray, n: int) -> np.ndarray:
    bigger = np.empty((2 * len(samples), samples.shape[1]))
    bigger[:n] = samples[:n]
    return bigger


@kernel(ahead_of_time=[tuple_of((FLOAT,) * 4)(FLOATS_2D_READ)])
def _bounds(xy: np.ndarray) -> tuple[float, float, float, float]:
    x_lo, y_lo, x_hi, y_hi = xy[0, 0], xy[0, 1], xy[0, 0], xy[0, 1]
    for k in range(1, len(xy)):
        x_lo = min(x_lo, xy[k, 0])
        x_hi = max(x_hi, xy[k, 0])
        y_lo = min(y_lo, xy[k, 1])
        y_hi = max(y_hi, xy[k, 1])
    return x_lo, y_lo, x_hi, y_hi


@kernel(ahead_of_time=[FLOATS_2D(FLOATS_2D_READ, FLOAT, FLOAT, FLOAT, FLOAT, FLOATS_2D_READ)])
def _quadratic(
    xy: np.ndarray, cx: float, cy: float, hx: float, hy: float, coefficients: np.ndarray
) -> np.ndarray:
    out = np.empty_like(xy)
    for k in range(len(xy)):
        u = (xy[k, 0] - cx) / hx
        v = (xy[k, 1] - cy) / hy
        for d in range(2):
            c = coefficients[:, d]
            out[k, d] = c[0] + u * (c[1] + c[3] * u + c[4] * v) + v * (c[2] + c[5] * v)
    return out
