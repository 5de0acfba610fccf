"""Build, cache and load the walking network of an OpenStreetMap extract, or download one."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from quarterhour import settings
from quarterhour.geo.errors import NetworkError, import_extra
from quarterhour.geo.projection import LocalProjection
from quarterhour.routing import cache
from quarterhour.routing.graph import WalkNetwork, build_csr
from quarterhour.routing.osm import check_osm_path, read_walkable_ways
from quarterhour.routing.simplify import Topology, haversine_m, simplify_pieces

if TYPE_CHECKING:
    import networkx as nx

log = logging.getLogger("quarterhour")

EXTRACT_HINT = (
    "a district's extract comes from Geofabrik's China extract "
    "(https://download.geofabrik.de/asia/china.html) cut to the district with "
    "`osmium extract -p district.geojson china-latest.osm.pbf -o district.osm.pbf`, or, with a "
    'network connection, from --place "Qingpu District, Shanghai, China"'
)
"""Where a planner gets the street extract of a district."""


def _substantial_components(
    n_nodes: int, edge_u: np.ndarray, edge_v: np.ndarray, edge_length: np.ndarray, min_share: float
) -> np.ndarray:
    """Mark the nodes of components with at least ``min_share`` of the largest one's street length."""
    adjacency = coo_matrix((np.ones(len(edge_u)), (edge_u, edge_v)), shape=(n_nodes, n_nodes))
    n_components, labels = connected_components(adjacency, directed=False)
    length = np.bincount(labels[edge_u], weights=edge_length, minlength=n_components)
    kept: np.ndarray = (
        length >= min_share * length.max() if min_share < 1 else length == length.max()
    )
    with_streets = np.bincount(labels[edge_u], minlength=n_components) > 0
    log.info(
        "kept %s of %s connected components (%.1f of %.1f km of streets)",
        f"{kept.sum():,}",
        f"{with_streets.sum():,}",
        length[kept].sum() / 1000,
        length.sum() / 1000,
    )
    return kept[labels]


def network_from_topology(
    topology: Topology,
    *,
    source: str,
    boundary: shapely.Geometry | None = None,
    min_component_share: float | None = None,
) -> WalkNetwork:
    """Build a WalkNetwork from simplified edges.

    Parameters
    ----------
    topology
        Simplified edges from :func:`routing.simplify.simplify_pieces`.
    source
        Name of the data source, for messages and outputs.
    boundary
        Optional WGS84 polygon: keep only edges with both end nodes inside it.
    min_component_share
        Keep the connected components with at least this share of the largest component's
        street length (default ``settings.min_component_share``); 1 keeps only the largest
        (osmnx's default), 0 keeps all (osmnx's ``retain_all``).
    """
    edge_u, edge_v = topology.edge_u, topology.edge_v
    keep_edge = np.ones(len(edge_u), dtype=bool)
    if boundary is not None:
        inside = shapely.contains_xy(boundary, topology.node_lon, topology.node_lat)
        keep_edge &= inside[edge_u] & inside[edge_v]
    if not keep_edge.any():
        if boundary is None:
            msg = f"{source}: no walkable street in this OSM file joins two different points"
            raise NetworkError(msg)
        west, south, east, north = shapely.bounds(boundary)
        msg = (
            f"{source}: no walkable street lies inside the boundary: the streets cover lon "
            f"{topology.node_lon.min():.3f}..{topology.node_lon.max():.3f}, lat "
            f"{topology.node_lat.min():.3f}..{topology.node_lat.max():.3f}, the boundary lon "
            f"{west:.3f}..{east:.3f}, lat {south:.3f}..{north:.3f} (WGS84). Give a street "
            f"extract that covers the area with --osm; {EXTRACT_HINT}"
        )
        raise NetworkError(msg)
    n_all = len(topology.node_osmid)
    share = settings.min_component_share if min_component_share is None else min_component_share
    if share > 0:
        in_component = _substantial_components(
            n_all, edge_u[keep_edge], edge_v[keep_edge], topology.edge_length_m[keep_edge], share
        )
        keep_edge &= in_component[edge_u] & in_component[edge_v]
    used = np.zeros(n_all, dtype=bool)
    used[edge_u[keep_edge]] = True
    used[edge_v[keep_edge]] = True
    new_index = np.full(n_all, -1, dtype=np.int64)
    new_index[used] = np.arange(used.sum())

    kept = np.flatnonzero(keep_edge)
    starts, stops = topology.geom_offsets[kept], topology.geom_offsets[kept + 1]
    counts = stops - starts
    geom_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    take = np.repeat(starts - geom_offsets[:-1], counts) + np.arange(geom_offsets[-1])
    geom_nodes = topology.geom_nodes[take]

    projection = LocalProjection.for_lonlat(topology.node_lon[used], topology.node_lat[used])
    vertex_x, vertex_y = projection.forward(topology.node_lon, topology.node_lat)
    u = new_index[edge_u[kept]].astype(np.int32)
    v = new_index[edge_v[kept]].astype(np.int32)
    indptr, arc_head, arc_edge = build_csr(int(used.sum()), u, v)
    network = WalkNetwork(
        node_osmid=topology.node_osmid[used],
        node_x=vertex_x[used],
        node_y=vertex_y[used],
        edge_u=u,
        edge_v=v,
        edge_length_m=topology.edge_length_m[kept],
        geom_offsets=geom_offsets,
        geom_x=vertex_x[geom_nodes],
        geom_y=vertex_y[geom_nodes],
        indptr=indptr,
        arc_head=arc_head,
        arc_edge=arc_edge,
        projection=projection,
        source=source,
    )
    dropped = len(edge_u) - len(kept)
    log.info(
        "built %s%s", network.describe(), f" ({dropped:,} edges outside dropped)" if dropped else ""
    )
    return network


def build_network(
    path: str | Path,
    *,
    boundary: shapely.Geometry | None = None,
    min_component_share: float | None = None,
    quiet: bool = True,
) -> WalkNetwork:
    """Build the walking network of an OSM file, without the cache.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.xml``, ``.osm.bz2`` or ``.osm.pbf`` file.
    boundary
        Optional WGS84 polygon to clip the network to.
    min_component_share
        Keep components with at least this share of the largest one's street length.
    quiet
        Hide the progress bar.
    """
    started = time.perf_counter()
    pieces = read_walkable_ways(path, quiet=quiet)
    topology = simplify_pieces(pieces)
    network = network_from_topology(
        topology, source=Path(path).name, boundary=boundary, min_component_share=min_component_share
    )
    log.info("network build took %.2f s", time.perf_counter() - started)
    return network


def load_network(
    path: str | Path,
    *,
    boundary: shapely.Geometry | None = None,
    min_component_share: float | None = None,
    use_cache: bool | None = None,
    cache_folder: str | Path | None = None,
    quiet: bool = True,
) -> WalkNetwork:
    """Return the walking network of an OSM file, from the cache when it is fresh.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.xml``, ``.osm.bz2`` or ``.osm.pbf`` file.
    boundary
        Optional WGS84 polygon to clip the network to.
    min_component_share
        Keep components with at least this share of the largest one's street length.
    use_cache
        Read and write the on-disk cache (default ``settings.use_cache``).
    cache_folder
        Where the cache lives (default ``settings.cache_folder``).
    quiet
        Hide the progress bar of a build.
    """
    use_cache = settings.use_cache if use_cache is None else use_cache
    if not use_cache:
        return build_network(
            path, boundary=boundary, min_component_share=min_component_share, quiet=quiet
        )
    path = check_osm_path(path)
    cache_path = cache.cache_path(
        path, boundary=boundary, min_component_share=min_component_share, folder=cache_folder
    )
    network = cache.read(cache_path, source=path.name)
    if network is None:
        network = build_network(
            path, boundary=boundary, min_component_share=min_component_share, quiet=quiet
        )
        cache.write(network, cache_path)
    return network


def download_network(
    place: str | None = None, *, boundary: shapely.Geometry | None = None
) -> WalkNetwork:
    """Download a walking network with osmnx (needs a network connection).

    Parameters
    ----------
    place
        A place name osmnx can geocode (e.g. "Qingpu District, Shanghai, China").
    boundary
        A WGS84 polygon: the area to download when no place is named, else a clip.

    Raises
    ------
    NetworkError
        If there is no connection, or the place is unknown.
    """
    ox = import_extra("osmnx", "osmnx")
    import requests

    if place is None and boundary is None:
        msg = "name a place or give a boundary to download a network"
        raise NetworkError(msg)
    try:
        if place is not None:
            graph = ox.graph_from_place(place, network_type="walk", simplify=True)
        else:
            graph = ox.graph_from_polygon(boundary, network_type="walk", simplify=True)
    except requests.exceptions.ConnectionError as error:
        msg = (
            f"cannot download the walking network of {place or 'the boundary'}: no connection to "
            f"the OpenStreetMap servers. Work offline with a street extract (--osm); {EXTRACT_HINT}"
        )
        raise NetworkError(msg) from error
    except (
        requests.exceptions.RequestException,
        ox._errors.InsufficientResponseError,
        TypeError,
        ValueError,
    ) as error:
        reason = " ".join(str(error).split())[:200]
        msg = (
            f"cannot download the walking network of {place or 'the boundary'} with osmnx "
            f"({reason}); {EXTRACT_HINT}"
        )
        raise NetworkError(msg) from error
    return network_from_osmnx(graph, source=place or "osmnx download", boundary=boundary)


def network_from_osmnx(
    graph: nx.MultiDiGraph, *, source: str, boundary: shapely.Geometry | None = None
) -> WalkNetwork:
    """Build a WalkNetwork from an unprojected osmnx graph (both directions walkable).

    Parameters
    ----------
    graph
        An osmnx graph in WGS84 (as downloaded).
    source
        Name of the data source.
    boundary
        Optional WGS84 polygon to clip to.
    """
    import osmnx as ox

    undirected = ox.convert.to_undirected(graph)
    nodes = list(undirected.nodes)
    index = {node: i for i, node in enumerate(nodes)}
    node_lon = np.array([undirected.nodes[n]["x"] for n in nodes], dtype=float)
    node_lat = np.array([undirected.nodes[n]["y"] for n in nodes], dtype=float)
    coords: list[np.ndarray] = []
    edge_u: list[int] = []
    edge_v: list[int] = []
    for u, v, data in undirected.edges(data=True):
        start = np.array([[node_lon[index[u]], node_lat[index[u]]]])
        end = np.array([[node_lon[index[v]], node_lat[index[v]]]])
        line = (
            np.asarray(data["geometry"].coords) if "geometry" in data else np.vstack([start, end])
        )
        if not np.allclose(line[0], start[0]):
            line = line[::-1]
        coords.append(line)
        edge_u.append(index[u])
        edge_v.append(index[v])
    lengths = [float(haversine_m(c[:-1, 0], c[:-1, 1], c[1:, 0], c[1:, 1]).sum()) for c in coords]
    flat = np.concatenate(coords)
    # Vertices are kept per edge here (osmnx geometries are not node-indexed).
    vertex_index = np.arange(len(flat)) + len(nodes)
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in coords])]).astype(np.int64)
    topology = Topology(
        node_osmid=np.concatenate([np.asarray(nodes, dtype=np.int64), np.full(len(flat), -1)]),
        node_lon=np.concatenate([node_lon, flat[:, 0]]),
        node_lat=np.concatenate([node_lat, flat[:, 1]]),
        edge_u=np.asarray(edge_u, dtype=np.int64),
        edge_v=np.asarray(edge_v, dtype=np.int64),
        geom_offsets=offsets,
        geom_nodes=vertex_index,
        edge_length_m=np.asarray(lengths),
    )
    return network_from_topology(
        topology, source=source, boundary=boundary, min_component_share=0.0
    )
