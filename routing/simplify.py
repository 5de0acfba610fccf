"""Topology of the walking network: way pieces -> simplified undirected edges.

As osmnx's ``simplify_graph``, a node stays a graph node only where the network branches or
ends (its degree is not 2); the nodes in between become the vertices of an edge's geometry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from quarterhour.routing.jit import INT, INT64S, INT64S_READ, kernel, tuple_of

if TYPE_CHECKING:
    from quarterhour.routing.osm import WayPieces

EARTH_RADIUS_M = 6_371_009.0


@dataclass(frozen=True)
class Topology:
    """Simplified edges over the unique OSM nodes of the way pieces.

    Attributes
    ----------
    node_osmid, node_lon, node_lat
        One entry per unique OSM node of the pieces.
    edge_u, edge_v
        End nodes of each edge (indices into the node arrays).
    geom_offsets, geom_nodes
        Each edge's vertex sequence, from ``edge_u`` to ``edge_v``, as indices into the nodes.
    edge_length_m
        Great-circle length of each edge's geometry.
    """

    node_osmid: np.ndarray
    node_lon: np.ndarray
    node_lat: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    geom_offsets: np.ndarray
    geom_nodes: np.ndarray
    edge_length_m: np.ndarray


def haversine_m(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    """Return great-circle distances in metres, as osmnx measures edge lengths."""
    lon1, lat1, lon2, lat2 = (np.radians(a) for a in (lon1, lat1, lon2, lat2))
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def _segments(
    pieces: WayPieces,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    osmid, position_node = np.unique(pieces.node_ids, return_inverse=True)
    n_positions = len(pieces.node_ids)
    node_lon = np.empty(len(osmid))
    node_lat = np.empty(len(osmid))
    node_lon[position_node] = pieces.lon
    node_lat[position_node] = pieces.lat
    is_last = np.zeros(n_positions, dtype=bool)
    is_last[pieces.piece_offsets[1:] - 1] = True
    starts = np.flatnonzero(~is_last[:-1])
    seg_a = position_node[starts]
    seg_b = position_node[starts + 1]
    keep = seg_a != seg_b
    seg_a, seg_b = seg_a[keep], seg_b[keep]
    # A segment drawn by two ways (shared or duplicated) is one piece of street.
    pair = np.sort(np.stack([seg_a, seg_b], axis=1), axis=1)
    _, first = np.unique(pair, axis=0, return_index=True)
    first.sort()
    return osmid, node_lon, node_lat, seg_a[first].astype(np.int64), seg_b[first].astype(np.int64)


@kernel(ahead_of_time=[tuple_of((INT64S,) * 4)(INT, INT64S_READ, INT64S_READ)])
def _chain_edges(
    n_nodes: int, seg_a: np.ndarray, seg_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_seg = len(seg_a)
    degree = np.zeros(n_nodes, dtype=np.int64)
    for s in range(n_seg):
        degree[seg_a[s]] += 1
        degree[seg_b[s]] += 1
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    for i in range(n_nodes):
        indptr[i + 1] = indptr[i] + degree[i]
    fill = indptr[:-1].copy()
    incident = np.empty(2 * n_seg, dtype=np.int64)
    for s in range(n_seg):
        incident[fill[seg_a[s]]] = s
        fill[seg_a[s]] += 1
        incident[fill[seg_b[s]]] = s
        fill[seg_b[s]] += 1
    is_graph_node = degree != 2
    used = np.zeros(n_seg, dtype=np.bool_)
    edge_u = np.empty(n_seg, dtype=np.int64)
    edge_v = np.empty(n_seg, dtype=np.int64)
    geom_offsets = np.zeros(n_seg + 1, dtype=np.int64)
    geom_nodes = np.empty(2 * n_seg + n_seg, dtype=np.int64)
    n_edges = 0
    n_geom = 0
    for sweep in range(2):
        for start in range(n_nodes):
            if sweep == 1 and not is_graph_node[start]:
                # Pure rings (every node of degree 2) get one node of their own.
                has_unused = False
                for k in range(indptr[start], indptr[start + 1]):
                    if not used[incident[k]]:
                        has_unused = True
                if not has_unused:
                    continue
                is_graph_node[start] = True
            if not is_graph_node[start]:
                continue
            for k in range(indptr[start], indptr[start + 1]):
                seg = incident[k]
                if used[seg]:
                    continue
                edge_u[n_edges] = start
                geom_nodes[n_geom] = start
                n_geom += 1
                current = start
                while True:
                    used[seg] = True
                    nxt = seg_b[seg] if seg_a[seg] == current else seg_a[seg]
                    geom_nodes[n_geom] = nxt
                    n_geom += 1
                    current = nxt
                    if is_graph_node[current]:
                        break
                    first, second = incident[indptr[current]], incident[indptr[current] + 1]
                    seg = second if first == seg else first
                    if used[seg]:
                        is_graph_node[current] = True
                        break
                edge_v[n_edges] = current
                n_edges += 1
                geom_offsets[n_edges] = n_geom
    return edge_u[:n_edges], edge_v[:n_edges], geom_offsets[: n_edges + 1], geom_nodes[:n_geom]


def simplify_pieces(pieces: WayPieces) -> Topology:
    """Turn way pieces into simplified edges with geometries and lengths.

    Parameters
    ----------
    pieces
        Walkable way pieces from :func:`routing.osm.read_walkable_ways`.
    """
    osmid, node_lon, node_lat, seg_a, seg_b = _segments(pieces)
    edge_u, edge_v, geom_offsets, geom_nodes = _chain_edges(len(osmid), seg_a, seg_b)
    vertex_length = haversine_m(
        node_lon[geom_nodes[:-1]],
        node_lat[geom_nodes[:-1]],
        node_lon[geom_nodes[1:]],
        node_lat[geom_nodes[1:]],
    )
    cumulative = np.concatenate([[0.0], np.cumsum(vertex_length)])
    edge_length = cumulative[geom_offsets[1:] - 1] - cumulative[geom_offsets[:-1]]
    return Topology(
        node_osmid=osmid,
        node_lon=node_lon,
        node_lat=node_lat,
        edge_u=edge_u,
        edge_v=edge_v,
        geom_offsets=geom_offsets,
        geom_nodes=geom_nodes,
        edge_length_m=edge_length,
    )
