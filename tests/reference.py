"""Independent references for the routing tests: networkx Dijkstra on the same graph."""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

if TYPE_CHECKING:
    from quarterhour.routing.graph import WalkNetwork
    from quarterhour.routing.snapping import Snap


def graph_with_points(
    network: WalkNetwork, snaps: dict[str, Snap], *, per_metre: float
) -> nx.MultiGraph:
    """Return the network as a networkx graph with every snapped point inserted as a node.

    Each edge carrying points is split at their positions, and each point hangs off its
    position by its access leg. Weights are costs (``length * per_metre``). Point nodes are
    named ``(label, index)``.
    """
    graph = nx.MultiGraph()
    graph.add_nodes_from(range(network.n_nodes))
    on_edge: dict[int, list[tuple[float, object]]] = {}
    for label, snap in snaps.items():
        for i in np.flatnonzero(snap.reachable):
            on_edge.setdefault(int(snap.edge[i]), []).append(
                (float(snap.offset_m[i]), (label, int(i)))
            )
            graph.add_edge(
                (label, int(i)), ("at", label, int(i)), weight=float(snap.access_m[i]) * per_metre
            )

    for e in range(network.n_edges):
        u, v, length = (
            int(network.edge_u[e]),
            int(network.edge_v[e]),
            float(network.edge_length_m[e]),
        )
        stops = sorted(on_edge.get(e, []), key=lambda item: item[0])
        previous, previous_offset = u, 0.0
        for offset, (label, i) in stops:
            position = ("at", label, i)
            graph.add_edge(previous, position, weight=(offset - previous_offset) * per_metre)
            previous, previous_offset = position, offset
        graph.add_edge(previous, v, weight=(length - previous_offset) * per_metre)
    return graph


def reference_times(graph: nx.MultiGraph, source: object, *, limit: float) -> dict[object, float]:
    """networkx's bounded Dijkstra from one node."""
    return nx.single_source_dijkstra_path_length(graph, source, cutoff=limit, weight="weight")


def with_straight_walks(
    times: dict[int, float], source: int, src_snap: Snap, dst_snap: Snap, *, per_metre: float
) -> dict[int, float]:
    """Add the rule that two points on the same edge may walk straight to each other."""
    result = dict(times)
    same_edge = np.flatnonzero(dst_snap.reachable & (dst_snap.edge == src_snap.edge[source]))
    for t in same_edge.tolist():
        straight = (
            float(np.hypot(src_snap.x[source] - dst_snap.x[t], src_snap.y[source] - dst_snap.y[t]))
            * per_metre
        )
        result[t] = min(result.get(t, np.inf), straight)
    return result
