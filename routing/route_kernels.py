"""The numba kernels of a route: the search with predecessors, the walk back, the edge pieces.

See :mod:`quarterhour.routing.route`.

They live apart from the module that calls them so that they can be compiled ahead of time
(:mod:`quarterhour.routing.aot`), which imports only numpy, scipy and numba: the first route of
a fresh install compiles nothing.
"""

from __future__ import annotations

import numpy as np

from quarterhour.routing.jit import (
    FLOATS,
    FLOATS_READ,
    INT,
    INT8S,
    INT32S,
    INT32S_READ,
    INT64S,
    INT64S_READ,
    WALK_ARCS,
    kernel,
    tuple_of,
)


@kernel
def _sift_up(heap_cost: np.ndarray, heap_node: np.ndarray, i: int) -> None:
    while i > 0:
        parent = (i - 1) >> 1
        if heap_cost[parent] <= heap_cost[i]:
            break
        heap_cost[parent], heap_cost[i] = heap_cost[i], heap_cost[parent]
        heap_node[parent], heap_node[i] = heap_node[i], heap_node[parent]
        i = parent


@kernel
def _sift_down(heap_cost: np.ndarray, heap_node: np.ndarray, size: int) -> None:
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and heap_cost[child + 1] < heap_cost[child]:
            child += 1
        if heap_cost[i] <= heap_cost[child]:
            break
        heap_cost[child], heap_cost[i] = heap_cost[i], heap_cost[child]
        heap_node[child], heap_node[i] = heap_node[i], heap_node[child]
        i = child


@kernel
def _offer(top_cost: np.ndarray, top_target: np.ndarray, target: int, cost: float) -> None:
    """Keep the ``len(top_cost)`` cheapest targets sorted; ``target`` now costs ``cost``."""
    k = len(top_cost)
    position = -1
    for i in range(k):
        if top_target[i] == target:
            position = i
            break
    if position < 0:
        if cost >= top_cost[k - 1]:
            return
        position = k - 1
    top_cost[position] = cost
    top_target[position] = target
    while position > 0 and top_cost[position - 1] > top_cost[position]:
        top_cost[position - 1], top_cost[position] = top_cost[position], top_cost[position - 1]
        top_target[position - 1], top_target[position] = (
            top_target[position],
            top_target[position - 1],
        )
        position -= 1


@kernel(
    ahead_of_time=[
        tuple_of((INT32S, INT32S, INT64S, INT8S))(
            *WALK_ARCS,
            *(FLOATS_READ, INT32S_READ, FLOATS_READ, INT64S_READ, INT32S_READ, INT64S_READ),
            *(FLOATS_READ, FLOATS_READ, FLOATS, INT),
        )
    ]
)
def route_search(
    indptr: np.ndarray,
    arc_head: np.ndarray,
    arc_edge: np.ndarray,
    arc_cost: np.ndarray,
    edge_u: np.ndarray,
    edge_v: np.ndarray,
    edge_cost: np.ndarray,
    start_nodes: np.ndarray,
    start_costs: np.ndarray,
    node_target_indptr: np.ndarray,
    node_targets: np.ndarray,
    tgt_edge: np.ndarray,
    tgt_offset: np.ndarray,
    tgt_access: np.ndarray,
    best: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dijkstra with predecessors from start nodes until the ``k`` cheapest targets are final.

    Targets sit on edges (``tgt_edge``, ``tgt_offset`` cost from the edge's u end,
    ``tgt_access`` cost of the access leg) and are listed by end node in
    ``node_targets[node_target_indptr[n]:node_target_indptr[n + 1]]``. ``best`` holds the cost
    of reaching each target without the network (inf, or a walk along a shared edge) on entry
    and the cheapest cost on exit, exact for the ``k`` cheapest: the search stops when the
    next node costs at least the ``k``-th cheapest target, or when the component is exhausted.

    Returns
    -------
    pred_node, pred_edge
        Per node, the node and edge it was reached from (-1 for a start node); valid where a
        route passes.
    via_node, via_side
        Per target, the node its cheapest cost entered its edge from (-1 if ``best`` was not
        improved by the network) and the end of the edge that node is (0 for u, 1 for v).
    """
    n_nodes = len(indptr) - 1
    n_targets = len(tgt_edge)
    dist = np.full(n_nodes, np.inf)
    pred_node = np.empty(n_nodes, dtype=np.int32)
    pred_edge = np.empty(n_nodes, dtype=np.int32)
    via_node = np.full(n_targets, -1, dtype=np.int64)
    via_side = np.zeros(n_targets, dtype=np.int8)
    capacity = len(arc_head) + len(start_nodes)
    heap_cost = np.empty(capacity)
    heap_node = np.empty(capacity, dtype=np.int32)
    size = 0
    top_cost = np.full(k, np.inf)
    top_target = np.full(k, -1, dtype=np.int64)
    for t in range(n_targets):
        if best[t] < np.inf:
            _offer(top_cost, top_target, t, best[t])
    for s in range(len(start_nodes)):
        node = start_nodes[s]
        if start_costs[s] < dist[node]:
            dist[node] = start_costs[s]
            pred_node[node] = -1
            pred_edge[node] = -1
            heap_cost[size] = start_costs[s]
            heap_node[size] = node
            _sift_up(heap_cost, heap_node, size)
            size += 1
    while size > 0:
        cost = heap_cost[0]
        node = heap_node[0]
        size -= 1
        if size > 0:
            heap_cost[0] = heap_cost[size]
            heap_node[0] = heap_node[size]
            _sift_down(heap_cost, heap_node, size)
        if cost > dist[node]:
            continue  # a stale entry: the node was reached more cheaply since
        if cost >= top_cost[k - 1]:
            break
        for j in range(node_target_indptr[node], node_target_indptr[node + 1]):
            t = node_targets[j]
            e = tgt_edge[t]
            if edge_u[e] == node:
                candidate = cost + tgt_offset[t] + tgt_access[t]
                if candidate < best[t]:
                    best[t] = candidate
                    via_node[t] = node
                    via_side[t] = 0
                    _offer(top_cost, top_target, t, candidate)
            if edge_v[e] == node:
                candidate = cost + edge_cost[e] - tgt_offset[t] + tgt_access[t]
                if candidate < best[t]:
                    best[t] = candidate
                    via_node[t] = node
                    via_side[t] = 1
                    _offer(top_cost, top_target, t, candidate)
        for arc in range(indptr[node], indptr[node + 1]):
            head = arc_head[arc]
            new_cost = cost + arc_cost[arc]
            if new_cost < dist[head]:
                dist[head] = new_cost
                pred_node[head] = node
                pred_edge[head] = arc_edge[arc]
                heap_cost[size] = new_cost
                heap_node[size] = head
                _sift_up(heap_cost, heap_node, size)
                size += 1
    return pred_node, pred_edge, via_node, via_side


@kernel(ahead_of_time=[tuple_of((INT64S, INT64S))(INT32S_READ, INT32S_READ, INT)])
def trace_back(
    pred_node: np.ndarray, pred_edge: np.ndarray, node: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return the nodes (from a start node to ``node``) and the edges between them."""
    count = 0
    current = node
    while pred_node[current] >= 0:
        count += 1
        current = pred_node[current]
    nodes = np.empty(count + 1, dtype=np.int64)
    edges = np.empty(count, dtype=np.int64)
    current = node
    for i in range(count, 0, -1):
        nodes[i] = current
        edges[i - 1] = pred_edge[current]
        current = pred_node[current]
    nodes[0] = current
    return nodes, edges


@kernel
def _point_along(
    geom_x: np.ndarray, geom_y: np.ndarray, start: int, along: np.ndarray, position: float
) -> tuple[float, float]:
    """The point ``position`` metres (planar) along the edge whose vertices start at ``start``."""
    m = len(along)
    if m == 1:
        return geom_x[start], geom_y[start]
    i = 0
    while i < m - 2 and along[i + 1] < position:
        i += 1
    segment = along[i + 1] - along[i]
    fraction = (position - along[i]) / segment if segment > 0 else 0.0
    fraction = min(max(fraction, 0.0), 1.0)
    x = geom_x[start + i] + fraction * (geom_x[start + i + 1] - geom_x[start + i])
    y = geom_y[start + i] + fraction * (geom_y[start + i + 1] - geom_y[start + i])
    return x, y


@kernel(
    ahead_of_time=[
        tuple_of((FLOATS, FLOATS))(
            INT64S_READ, FLOATS_READ, FLOATS_READ, INT64S_READ, FLOATS_READ, FLOATS_READ
        )
    ]
)
def edge_pieces(
    geom_offsets: np.ndarray,
    geom_x: np.ndarray,
    geom_y: np.ndarray,
    piece_edge: np.ndarray,
    piece_from: np.ndarray,
    piece_to: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the vertices of edge pieces joined in order.

    Piece ``p`` runs along edge ``piece_edge[p]`` from ``piece_from[p]`` to ``piece_to[p]``,
    fractions of the edge's length from its u end (``from > to`` walks it backwards): the
    point at ``from``, the edge's vertices strictly between, and the point at ``to``.
    """
    total = 0
    for p in range(len(piece_edge)):
        e = piece_edge[p]
        total += geom_offsets[e + 1] - geom_offsets[e] + 2
    out_x = np.empty(total)
    out_y = np.empty(total)
    n = 0
    for p in range(len(piece_edge)):
        e = piece_edge[p]
        start = geom_offsets[e]
        m = geom_offsets[e + 1] - start
        along = np.zeros(m)
        for i in range(1, m):
            along[i] = along[i - 1] + np.hypot(
                geom_x[start + i] - geom_x[start + i - 1], geom_y[start + i] - geom_y[start + i - 1]
            )
        a = piece_from[p] * along[m - 1]
        b = piece_to[p] * along[m - 1]
        out_x[n], out_y[n] = _point_along(geom_x, geom_y, start, along, a)
        n += 1
        for step in range(m):
            i = step if a <= b else m - 1 - step
            if min(a, b) < along[i] < max(a, b):
                out_x[n] = geom_x[start + i]
                out_y[n] = geom_y[start + i]
                n += 1
        out_x[n], out_y[n] = _point_along(geom_x, geom_y, start, along, b)
        n += 1
    return out_x[:n], out_y[:n]
