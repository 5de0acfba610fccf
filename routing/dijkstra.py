"""Bounded Dijkstra over CSR arrays, compiled with numba.

The kernels release the GIL (``nogil=True``), so a thread pool runs batches of sources on
every core, and concurrent API requests do not wait for each other. Each kernel keeps its own
workspace and resets only the entries it touched, so a search costs what it reaches, not the
size of the network.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from scipy.sparse import csr_matrix

NOT_QUEUED = -1
SETTLED = -2


@numba.njit(cache=True, nogil=True, inline="always")
def _sift_up(heap_node, heap_key, position, i):  # noqa: ANN001, ANN202
    node = heap_node[i]
    key = heap_key[i]
    while i > 0:
        parent = (i - 1) >> 1
        if heap_key[parent] <= key:
            break
        heap_node[i] = heap_node[parent]
        heap_key[i] = heap_key[parent]
        position[heap_node[i]] = i
        i = parent
    heap_node[i] = node
    heap_key[i] = key
    position[node] = i


@numba.njit(cache=True, nogil=True, inline="always")
def _sift_down(heap_node, heap_key, position, size):  # noqa: ANN001, ANN202
    i = 0
    node = heap_node[0]
    key = heap_key[0]
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and heap_key[child + 1] < heap_key[child]:
            child += 1
        if heap_key[child] >= key:
            break
        heap_node[i] = heap_node[child]
        heap_key[i] = heap_key[child]
        position[heap_node[i]] = i
        i = child
    heap_node[i] = node
    heap_key[i] = key
    position[node] = i


@numba.njit(cache=True, nogil=True)
def bounded_dijkstra(
    indptr, arc_head, arc_cost, start_nodes, start_costs, limit, dist, position, heap_node, heap_key, touched
):  # noqa: ANN001, ANN201
    """Settle every node within ``limit`` of the start nodes; return how many were touched.

    ``dist`` must be all inf and ``position`` all NOT_QUEUED on entry; on exit ``dist`` holds
    the costs of ``touched[:n]`` (all within ``limit``). Call :func:`reset` afterwards.
    """
    size = 0
    n_touched = 0
    for k in range(len(start_nodes)):
        node = start_nodes[k]
        cost = start_costs[k]
        if cost > limit or cost >= dist[node]:
            continue
        if dist[node] == np.inf:
            touched[n_touched] = node
            n_touched += 1
        dist[node] = cost
        if position[node] == NOT_QUEUED:
            heap_node[size] = node
            heap_key[size] = cost
            size += 1
            _sift_up(heap_node, heap_key, position, size - 1)
        else:
            heap_key[position[node]] = cost
            _sift_up(heap_node, heap_key, position, position[node])
    while size > 0:
        node = heap_node[0]
        cost = heap_key[0]
        size -= 1
        position[node] = SETTLED
        if size > 0:
            heap_node[0] = heap_node[size]
            heap_key[0] = heap_key[size]
            _sift_down(heap_node, heap_key, position, size)
        for arc in range(indptr[node], indptr[node + 1]):
            head = arc_head[arc]
            if position[head] == SETTLED:
                continue
            new_cost = cost + arc_cost[arc]
            if new_cost > limit or new_cost >= dist[head]:
                continue
            if dist[head] == np.inf:
                touched[n_touched] = head
                n_touched += 1
            dist[head] = new_cost
            if position[head] == NOT_QUEUED:
                heap_node[size] = head
                heap_key[size] = new_cost
                size += 1
                _sift_up(heap_node, heap_key, position, size - 1)
            else:
                heap_key[position[head]] = new_cost
                _sift_up(heap_node, heap_key, position, position[head])
    return n_touched


@numba.njit(cache=True, nogil=True)
def reset(dist, position, touched, n_touched):  # noqa: ANN001, ANN201
    """Return the workspace of a search to its empty state."""
    for k in range(n_touched):
        dist[touched[k]] = np.inf
        position[touched[k]] = NOT_QUEUED


@numba.njit(cache=True, nogil=True)
def _workspace(n_nodes):  # noqa: ANN001, ANN202
    dist = np.full(n_nodes, np.inf)
    position = np.full(n_nodes, NOT_QUEUED, dtype=np.int32)
    heap_node = np.empty(n_nodes, dtype=np.int32)
    heap_key = np.empty(n_nodes)
    touched = np.empty(n_nodes, dtype=np.int32)
    return dist, position, heap_node, heap_key, touched


@numba.njit(cache=True, nogil=True)
def _grow(cols, vals, needed):  # noqa: ANN001, ANN202
    if needed <= len(cols):
        return cols, vals
    capacity = max(needed, 2 * len(cols))
    new_cols = np.empty(capacity, dtype=np.int32)
    new_vals = np.empty(capacity)
    new_cols[: len(cols)] = cols
    new_vals[: len(vals)] = vals
    return new_cols, new_vals


@numba.njit(cache=True, nogil=True)
def reach_chunk(indptr, arc_head, arc_cost, sources, limit, first, last):  # noqa: ANN001, ANN201
    """Nodes within ``limit`` of each source node ``sources[first:last]``, as CSR rows."""
    dist, position, heap_node, heap_key, touched = _workspace(len(indptr) - 1)
    row_counts = np.zeros(last - first, dtype=np.int64)
    cols = np.empty(1024, dtype=np.int32)
    vals = np.empty(1024)
    filled = 0
    start_nodes = np.empty(1, dtype=np.int32)
    start_costs = np.zeros(1)
    for s in range(first, last):
        start_nodes[0] = sources[s]
        n = bounded_dijkstra(
            indptr, arc_head, arc_cost, start_nodes, start_costs, limit, dist, position, heap_node, heap_key, touched
        )
        cols, vals = _grow(cols, vals, filled + n)
        for k in range(n):
            cols[filled + k] = touched[k]
            vals[filled + k] = dist[touched[k]]
        filled += n
        row_counts[s - first] = n
        reset(dist, position, touched, n)
    return row_counts, cols[:filled], vals[:filled]


@numba.njit(cache=True, nogil=True)
def walk_times_chunk(  # noqa: ANN201, PLR0913
    indptr, arc_head, arc_cost, edge_u, edge_v, edge_cost,
    src_edge, src_offset, src_access,
    node_target_indptr, node_targets, edge_target_indptr, edge_targets,
    tgt_edge, tgt_offset, tgt_access,
    limit, first, last,
):  # noqa: ANN001
    """Walk costs from sources ``first:last`` to every target within ``limit``, as CSR rows.

    Sources and targets sit on edges (``*_edge``, ``*_offset`` cost from the edge's u end,
    ``*_access`` cost of the off-network leg); an edge of -1 marks an unreachable point.
    """
    n_nodes = len(indptr) - 1
    n_targets = len(tgt_edge)
    dist, position, heap_node, heap_key, touched = _workspace(n_nodes)
    best = np.full(n_targets, np.inf)
    hit = np.empty(n_targets, dtype=np.int32)
    row_counts = np.zeros(last - first, dtype=np.int64)
    cols = np.empty(1024, dtype=np.int32)
    vals = np.empty(1024)
    filled = 0
    start_nodes = np.empty(2, dtype=np.int32)
    start_costs = np.empty(2)
    for s in range(first, last):
        edge = src_edge[s]
        if edge < 0:
            continue
        start_nodes[0] = edge_u[edge]
        start_nodes[1] = edge_v[edge]
        start_costs[0] = src_access[s] + src_offset[s]
        start_costs[1] = src_access[s] + edge_cost[edge] - src_offset[s]
        n = bounded_dijkstra(
            indptr, arc_head, arc_cost, start_nodes, start_costs, limit, dist, position, heap_node, heap_key, touched
        )
        n_hit = 0
        for k in range(n):
            node = touched[k]
            for j in range(node_target_indptr[node], node_target_indptr[node + 1]):
                t = node_targets[j]
                e = tgt_edge[t]
                cost = np.inf
                if edge_u[e] == node:
                    cost = dist[node] + tgt_offset[t]
                if edge_v[e] == node:
                    cost = min(cost, dist[node] + edge_cost[e] - tgt_offset[t])
                cost += tgt_access[t]
                if cost < best[t]:
                    if best[t] == np.inf:
                        hit[n_hit] = t
                        n_hit += 1
                    best[t] = cost
        for j in range(edge_target_indptr[edge], edge_target_indptr[edge + 1]):
            t = edge_targets[j]
            cost = src_access[s] + abs(src_offset[s] - tgt_offset[t]) + tgt_access[t]
            if cost < best[t]:
                if best[t] == np.inf:
                    hit[n_hit] = t
                    n_hit += 1
                best[t] = cost
        reset(dist, position, touched, n)
        cols, vals = _grow(cols, vals, filled + n_hit)
        row = 0
        for k in range(n_hit):
            t = hit[k]
            if best[t] <= limit:
                cols[filled + row] = t
                vals[filled + row] = best[t]
                row += 1
            best[t] = np.inf
        filled += row
        row_counts[s - first] = row
    return row_counts, cols[:filled], vals[:filled]


def worker_count() -> int:
    """Threads to run kernels on: one per core."""
    return max(1, os.cpu_count() or 1)


def run_in_chunks(
    kernel: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]],
    args: Sequence[object],
    *,
    n_rows: int,
    n_cols: int,
    chunk_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> csr_matrix:
    """Run a ``*_chunk`` kernel over all rows on a thread pool and assemble a CSR matrix.

    Parameters
    ----------
    kernel
        A chunk kernel taking ``(*args, first, last)`` and returning CSR row pieces.
    args
        The kernel's leading arguments.
    n_rows, n_cols
        Shape of the result.
    chunk_size
        Rows per task.
    progress
        Called with the number of rows each finished task covered.
    """
    bounds = [(first, min(first + chunk_size, n_rows)) for first in range(0, n_rows, chunk_size)]

    def task(bound: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        result = kernel(*args, *bound)
        if progress is not None:
            progress(bound[1] - bound[0])
        return result

    if len(bounds) <= 1:
        pieces = [task(bound) for bound in bounds]
    else:
        with ThreadPoolExecutor(max_workers=worker_count()) as pool:
            pieces = list(pool.map(task, bounds))
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    if pieces:
        np.cumsum(np.concatenate([piece[0] for piece in pieces]), out=indptr[1:])
        cols = np.concatenate([piece[1] for piece in pieces])
        vals = np.concatenate([piece[2] for piece in pieces])
    else:
        cols, vals = np.empty(0, dtype=np.int32), np.empty(0)
    matrix = csr_matrix((vals, cols, indptr), shape=(n_rows, n_cols))
    return matrix
