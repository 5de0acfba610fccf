"""The walking network as arrays: CSR adjacency over simplified OSM edges, in a local metric CRS.

This module holds the data structure only; :mod:`quarterhour.routing.network` builds, caches and
loads it, and :mod:`quarterhour.routing.snapping` joins points to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import shapely

from quarterhour import settings

if TYPE_CHECKING:
    import networkx as nx

    from quarterhour.geo.projection import LocalProjection

COST_CACHE_SIZE = 16
"""Walking speeds whose edge and arc costs a network keeps."""


@dataclass(frozen=True, eq=False)
class WalkNetwork:
    """An undirected walking network, walkable both ways, with edge geometries.

    Nodes are where streets branch or end; the points between are vertices of the edges'
    geometries. Arcs in CSR order run both ways along every edge.

    Attributes
    ----------
    node_osmid
        OSM id of each node.
    node_x, node_y
        Node coordinates in metres (``projection``).
    edge_u, edge_v
        End nodes of each edge.
    edge_length_m
        Great-circle length of each edge along its geometry.
    geom_offsets, geom_x, geom_y
        Each edge's geometry from ``edge_u`` to ``edge_v``, flat, in metres.
    indptr, arc_head, arc_edge
        CSR adjacency: the arcs leaving node ``i`` are ``indptr[i]:indptr[i + 1]``, reaching
        ``arc_head`` along edge ``arc_edge``.
    projection
        The local metric CRS (the UTM zone of the network).
    source
        Name of the OSM file (or place) the network was built from.
    """

    node_osmid: np.ndarray
    node_x: np.ndarray
    node_y: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length_m: np.ndarray
    geom_offsets: np.ndarray
    geom_x: np.ndarray
    geom_y: np.ndarray
    indptr: np.ndarray
    arc_head: np.ndarray
    arc_edge: np.ndarray
    projection: LocalProjection
    source: str
    attribution: str = field(default_factory=lambda: settings.attribution)
    _costs: dict[float, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, init=False, repr=False
    )

    ARRAYS = (
        "node_osmid",
        "node_x",
        "node_y",
        "edge_u",
        "edge_v",
        "edge_length_m",
        "geom_offsets",
        "geom_x",
        "geom_y",
        "indptr",
        "arc_head",
        "arc_edge",
    )

    def __post_init__(self) -> None:
        # Read-only like the memory-mapped arrays of a cached network: the kernels see one
        # array type whichever way a network was made, and nothing writes to a shared network.
        for name in self.ARRAYS:
            getattr(self, name).flags.writeable = False

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_x)

    @property
    def n_edges(self) -> int:
        """Number of undirected edges."""
        return len(self.edge_u)

    @property
    def total_length_km(self) -> float:
        """Total street length in kilometres."""
        return float(self.edge_length_m.sum() / 1000.0)

    @cached_property
    def node_lonlat(self) -> tuple[np.ndarray, np.ndarray]:
        """Node coordinates in WGS84 degrees."""
        return self.projection.inverse(self.node_x, self.node_y)

    @cached_property
    def edge_lines(self) -> np.ndarray:
        """Edge geometries as shapely LineStrings in metres."""
        counts = np.diff(self.geom_offsets)
        owner = np.repeat(np.arange(self.n_edges), counts)
        coords = np.column_stack([self.geom_x, self.geom_y])
        return np.asarray(shapely.linestrings(coords, indices=owner))

    @cached_property
    def edge_tree(self) -> shapely.STRtree:
        """Spatial index over the edge geometries."""
        return shapely.STRtree(self.edge_lines)

    def costs(self, per_metre: float) -> tuple[np.ndarray, np.ndarray]:
        """Return the cost of every edge and of every CSR arc at ``per_metre`` a metre.

        Computed once per value and kept (read-only) for the next request at the same speed.
        """
        cached = self._costs.get(per_metre)
        if cached is None:
            edge_cost = self.edge_length_m * per_metre
            arc_cost = edge_cost[self.arc_edge]
            edge_cost.flags.writeable = arc_cost.flags.writeable = False
            cached = (edge_cost, arc_cost)
            if len(self._costs) >= COST_CACHE_SIZE:
                self._costs.pop(next(iter(self._costs)), None)
            self._costs[per_metre] = cached
        return cached

    def arc_cost(self, *, speed_kmh: float | None = None, meters: bool = False) -> np.ndarray:
        """Return the cost of every CSR arc: walk minutes at ``speed_kmh``, or metres."""
        return self.costs(cost_per_metre(speed_kmh=speed_kmh, meters=meters))[1]

    def to_networkx(self) -> nx.MultiGraph:
        """Return the network as a networkx MultiGraph with ``length`` (metres) on each edge."""
        import networkx as nx

        graph: nx.MultiGraph[int] = nx.MultiGraph()
        graph.add_nodes_from(
            (i, {"x": float(x), "y": float(y), "osmid": int(o)})
            for i, (x, y, o) in enumerate(
                zip(self.node_x, self.node_y, self.node_osmid, strict=True)
            )
        )
        graph.add_edges_from(
            (int(u), int(v), int(e), {"length": float(length)})  # type: ignore[misc]  # a multigraph's (u, v, key, data)
            for e, (u, v, length) in enumerate(
                zip(self.edge_u, self.edge_v, self.edge_length_m, strict=True)
            )
        )
        graph.graph["crs"] = f"EPSG:{self.projection.epsg}"
        return graph

    def __repr__(self) -> str:
        """A short summary (the arrays are millions of numbers)."""
        return f"<WalkNetwork {self.describe()}; UTM EPSG:{self.projection.epsg}>"

    def describe(self) -> str:
        """One line stating the network's size."""
        return (
            f"walking network from {self.source}: {self.n_nodes:,} nodes, {self.n_edges:,} edges, "
            f"{self.total_length_km:,.1f} km of streets"
        )


def cost_per_metre(*, speed_kmh: float | None = None, meters: bool = False) -> float:
    """Return the cost of one metre: minutes at ``speed_kmh`` (default settings), or 1."""
    if meters:
        return 1.0
    speed = settings.walk_speed_kmh if speed_kmh is None else speed_kmh
    return 60.0 / (speed * 1000.0)


def build_csr(
    n_nodes: int, edge_u: np.ndarray, edge_v: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return CSR arrays (indptr, head, edge id) with an arc each way along every edge."""
    n_edges = len(edge_u)
    tail = np.concatenate([edge_u, edge_v])
    head = np.concatenate([edge_v, edge_u])
    edge = np.concatenate([np.arange(n_edges), np.arange(n_edges)])
    order = np.lexsort((head, tail))
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(tail, minlength=n_nodes), out=indptr[1:])
    return indptr, head[order].astype(np.int32), edge[order].astype(np.int32)
