"""Walking routes between points, and the stations nearest a point with their routes.

A route is the walk that :func:`~quarterhour.routing.walktimes.walk_time_matrix` times, drawn:
each point joins the network at its nearest edge by a straight off-street access leg (see
:mod:`quarterhour.routing.snapping`), so the line is the access leg, the rest of the first edge
from the snapped position, whole edges, the part of the last edge up to the snapped position,
and the access leg to the end point. Two points that join the same edge may also walk straight
to each other (a station inside a compound), or along their edge without using a node; the
shortest of these walks is the route, so its cost equals the walk-time matrix's for the pair.

Access legs and streets are walked at one speed, so the shortest walk by time is the shortest by
distance: a route has both, ``meters`` and ``minutes``.

The search is a Dijkstra with predecessors over the CSR arrays (a numba kernel with a binary
heap) that stops as soon as the target, or the ``k`` nearest of several targets, cannot improve.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import shapely

from quarterhour import settings
from quarterhour.geo.crs import check_crs_name, convert
from quarterhour.geo.errors import InputError, NetworkError, NoRouteError
from quarterhour.geo.points import PointSet, as_point_set
from quarterhour.routing.graph import cost_per_metre
from quarterhour.routing.route_kernels import edge_pieces, route_search, trace_back
from quarterhour.routing.snapping import Snap, snap_points
from quarterhour.routing.walktimes import check_speed

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from quarterhour.routing.graph import WalkNetwork

DUPLICATE_M = 1e-6
"""Consecutive vertices closer than this (a point on its street, a node) are drawn once."""

KINDS = ("network", "along_street", "straight")
"""How a route walks: over network nodes, along the one edge both points join, or straight."""


@dataclass(frozen=True, eq=False)
class Route:
    """A walking route between two points.

    Attributes
    ----------
    x, y
        The line's vertices in metres (the network's projection), from the start point to the
        end point: access leg, streets, access leg.
    lon, lat
        The same vertices in WGS84 degrees.
    meters
        Metres walked: access legs plus street length (great-circle along edge geometries).
    minutes
        Minutes walked at ``speed_kmh``.
    speed_kmh
        Walking speed.
    kind
        ``"network"`` (over network nodes), ``"along_street"`` (along the one edge both points
        join) or ``"straight"`` (straight across, both points joining the same edge).
    nodes
        Network nodes passed, in order (empty unless ``kind`` is ``"network"``).
    edges
        Edges walked on, in order, the partial first and last included (the one shared edge
        for ``"along_street"``, none for ``"straight"``).
    access_m
        Lengths of the start and end access legs.
    crs
        Coordinates of :meth:`coordinates`, :meth:`line`, :meth:`to_geojson` and
        :meth:`to_frame` unless they are told otherwise.
    attribution
        The data's attribution (OpenStreetMap).
    """

    x: np.ndarray
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    meters: float
    minutes: float
    speed_kmh: float
    kind: str
    nodes: np.ndarray
    edges: np.ndarray
    access_m: tuple[float, float]
    crs: str = "wgs84"
    attribution: str = field(default_factory=lambda: settings.attribution)

    def __len__(self) -> int:
        """Return the number of vertices of the line."""
        return len(self.x)

    def coordinates(self, crs: str | None = None) -> np.ndarray:
        """The line's vertices as an (n, 2) array of ``[lon, lat]`` in ``crs`` (default ``self.crs``)."""
        target = check_crs_name(crs or self.crs)
        lon, lat = convert(self.lon, self.lat, src="wgs84", dst=target)
        return np.column_stack([lon, lat])

    def line(self, crs: str | None = None) -> shapely.LineString:
        """The route as a shapely LineString in ``crs`` degrees (default ``self.crs``)."""
        return shapely.LineString(self.coordinates(crs))

    def properties(self) -> dict[str, object]:
        """The route's figures: minutes, meters, speed, kind, access legs and attribution."""
        return {
            "minutes": round(self.minutes, 4),
            "meters": round(self.meters, 2),
            "speed_kmh": self.speed_kmh,
            "kind": self.kind,
            "access_m": [round(self.access_m[0], 2), round(self.access_m[1], 2)],
            "attribution": self.attribution,
        }

    def to_geojson(self, *, crs: str | None = None, precision: int = 6) -> dict:
        """Return the route as a GeoJSON Feature (LineString, RFC 7946 in WGS84).

        Parameters
        ----------
        crs
            Coordinates of the line (default ``self.crs``): ``wgs84``, or ``gcj02``/``bd09`` for
            Chinese web maps; ``properties.crs`` names it.
        precision
            Decimal places of the coordinates (6 is about 0.1 m).
        """
        target = check_crs_name(crs or self.crs)
        coordinates = np.round(self.coordinates(target), precision)
        return {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": coordinates.tolist()},
            "properties": {**self.properties(), "crs": target},
        }

    def to_frame(self, crs: str | None = None) -> gpd.GeoDataFrame:
        """Return the route as a one-row GeoDataFrame (EPSG:4326 in WGS84; ``attrs["crs"]`` names it)."""
        import geopandas as gpd

        target = check_crs_name(crs or self.crs)
        properties = self.properties()
        attribution = properties.pop("attribution")
        properties["access_m"] = [properties["access_m"]]
        frame = gpd.GeoDataFrame(
            properties,
            geometry=[self.line(target)],
            crs="EPSG:4326" if target == "wgs84" else None,
        )
        frame.attrs = {"crs": target, "attribution": attribution}
        return frame


def _off_network(snap: Snap, i: int, *, param: str) -> NetworkError:
    msg = (
        f"is {snap.access_m[i]:,.0f} m from the nearest walkable street, "
        f"beyond the {snap.max_m:g} m snapping limit"
    )
    return NetworkError(msg, param=param)


def _targets_by_node(network: WalkNetwork, snap: Snap) -> tuple[np.ndarray, np.ndarray]:
    """List the reachable targets of ``snap`` by the end nodes of their edges (CSR)."""
    on_network = np.flatnonzero(snap.reachable)
    edge = snap.edge[on_network]
    nodes = np.concatenate([network.edge_u[edge], network.edge_v[edge]])
    targets = np.concatenate([on_network, on_network])
    order = np.argsort(nodes, kind="stable")
    indptr = np.zeros(network.n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(nodes, minlength=network.n_nodes), out=indptr[1:])
    return indptr, targets[order].astype(np.int32)


def _fraction(network: WalkNetwork, edge: int, offset_m: float) -> float:
    length = float(network.edge_length_m[edge])
    return offset_m / length if length > 0 else 0.0


@dataclass(frozen=True, eq=False)
class _Search:
    """One search from a snapped point to snapped targets (costs in metres)."""

    best: np.ndarray
    direct: np.ndarray
    pred_node: np.ndarray
    pred_edge: np.ndarray
    via_node: np.ndarray
    via_side: np.ndarray
    start_costs: np.ndarray


def _search(network: WalkNetwork, src: Snap, i: int, dst: Snap, k: int) -> _Search:
    """Search from point ``i`` of ``src`` to the reachable points of ``dst``, in metres."""
    edge_cost, arc_cost = network.costs(1.0)
    edge = int(src.edge[i])
    access = float(src.access_m[i])
    offset = float(src.offset_m[i])
    start_nodes = np.array([network.edge_u[edge], network.edge_v[edge]], dtype=np.int32)
    start_costs = np.array([access + offset, access + edge_cost[edge] - offset])
    # Without the network: along the shared edge (0) or straight across (1).
    same = dst.reachable & (dst.edge == edge)
    along = np.where(same, access + np.abs(offset - dst.offset_m) + dst.access_m, np.inf)
    straight = np.where(same, np.hypot(src.x[i] - dst.x, src.y[i] - dst.y), np.inf)
    direct = np.where(straight < along, 1, 0).astype(np.int8)
    best = np.minimum(along, straight)
    node_target_indptr, node_targets = _targets_by_node(network, dst)
    pred_node, pred_edge, via_node, via_side = route_search(
        network.indptr,
        network.arc_head,
        network.arc_edge,
        arc_cost,
        network.edge_u,
        network.edge_v,
        edge_cost,
        start_nodes,
        start_costs,
        node_target_indptr,
        node_targets,
        dst.edge,
        dst.offset_m,
        np.where(dst.reachable, dst.access_m, 0.0),
        best,
        k,
    )
    return _Search(best, direct, pred_node, pred_edge, via_node, via_side, start_costs)


def _build_route(
    network: WalkNetwork,
    src: Snap,
    i: int,
    dst: Snap,
    t: int,
    search: _Search,
    *,
    speed_kmh: float,
) -> Route:
    """Draw the cheapest walk the search found from point ``i`` of ``src`` to point ``t`` of ``dst``."""
    src_edge, dst_edge = int(src.edge[i]), int(dst.edge[t])
    src_fraction = _fraction(network, src_edge, float(src.offset_m[i]))
    dst_fraction = _fraction(network, dst_edge, float(dst.offset_m[t]))
    via = int(search.via_node[t])
    nodes = edges = np.empty(0, dtype=np.int64)
    if via >= 0:
        kind = "network"
        nodes, edges = trace_back(search.pred_node, search.pred_edge, via)
        first = int(nodes[0])
        toward_u = first == network.edge_u[src_edge] and (
            first != network.edge_v[src_edge] or search.start_costs[0] <= search.start_costs[1]
        )
        tails = nodes[:-1]
        forward = network.edge_u[edges] == tails
        piece_edge = np.concatenate([[src_edge], edges, [dst_edge]])
        piece_from = np.concatenate(
            [[src_fraction], np.where(forward, 0.0, 1.0), [float(search.via_side[t])]]
        )
        piece_to = np.concatenate(
            [[0.0 if toward_u else 1.0], np.where(forward, 1.0, 0.0), [dst_fraction]]
        )
        edges = piece_edge.astype(np.int64)
    elif search.direct[t] == 0:
        kind = "along_street"
        piece_edge = np.array([src_edge])
        piece_from, piece_to = np.array([src_fraction]), np.array([dst_fraction])
        edges = piece_edge.astype(np.int64)
    else:
        kind = "straight"
        piece_edge = np.empty(0, dtype=np.int64)
        piece_from = piece_to = np.empty(0)
    street_x, street_y = edge_pieces(
        network.geom_offsets,
        network.geom_x,
        network.geom_y,
        piece_edge.astype(np.int64),
        piece_from.astype(np.float64),
        piece_to.astype(np.float64),
    )
    x = np.concatenate([[src.x[i]], street_x, [dst.x[t]]])
    y = np.concatenate([[src.y[i]], street_y, [dst.y[t]]])
    keep = np.concatenate([[True], np.hypot(np.diff(x), np.diff(y)) > DUPLICATE_M])
    x, y = x[keep], y[keep]
    if len(x) == 1:  # the same point: a line needs two vertices
        x, y = np.repeat(x, 2), np.repeat(y, 2)
    lon, lat = network.projection.inverse(x, y)
    meters = float(search.best[t])
    return Route(
        x=x,
        y=y,
        lon=np.asarray(lon, dtype=float),
        lat=np.asarray(lat, dtype=float),
        meters=meters,
        minutes=meters * cost_per_metre(speed_kmh=speed_kmh),
        speed_kmh=speed_kmh,
        kind=kind,
        nodes=nodes,
        edges=edges,
        access_m=(float(src.access_m[i]), float(dst.access_m[t])),
        attribution=network.attribution,
    )


def shortest_route(
    network: WalkNetwork,
    from_lon: float,
    from_lat: float,
    to_lon: float,
    to_lat: float,
    *,
    speed_kmh: float | None = None,
    snap_max_m: float | None = None,
) -> Route:
    """Return the shortest walk between two WGS84 points.

    The walk has the cost :func:`~quarterhour.routing.walktimes.walk_time_matrix` gives the
    pair: access legs to the nearest edges, streets, and on a shared edge the shorter of the
    walk along it and the straight walk across.

    Parameters
    ----------
    network
        The walking network.
    from_lon, from_lat, to_lon, to_lat
        WGS84 degrees of the start and end points.
    speed_kmh
        Walking speed (default ``settings.walk_speed_kmh``).
    snap_max_m
        Snapping limit in metres (default ``settings.snap_max_m``).

    Raises
    ------
    NetworkError
        If a point is farther than the snapping limit from every walkable street
        (``param`` ``"from_point"`` or ``"to_point"``).
    NoRouteError
        If no walk joins the two points (they are on separate parts of the network).
    """
    speed = check_speed(speed_kmh)
    snap = snap_points(
        network, np.array([from_lon, to_lon]), np.array([from_lat, to_lat]), max_m=snap_max_m
    )
    for i, param in enumerate(("from_point", "to_point")):
        if not snap.reachable[i]:
            raise _off_network(snap, i, param=param)
    src = _subset(snap, [0])
    dst = _subset(snap, [1])
    search = _search(network, src, 0, dst, 1)
    if not np.isfinite(search.best[0]):
        msg = (
            "no walk joins the two points: they lie on separate parts of the walking network "
            "(a river or a motorway without a walkable crossing in the extract)"
        )
        raise NoRouteError(msg)
    return _build_route(network, src, 0, dst, 0, search, speed_kmh=speed)


def _subset(snap: Snap, index: list[int] | np.ndarray) -> Snap:
    return Snap(
        edge=snap.edge[index],
        offset_m=snap.offset_m[index],
        access_m=snap.access_m[index],
        reachable=snap.reachable[index],
        max_m=snap.max_m,
        x=snap.x[index],
        y=snap.y[index],
    )


def check_k(k: int) -> int:
    """Return ``k`` as an int, raising InputError unless it is a positive whole number."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        msg = f"must be a whole number of at least 1, got {k!r}"
        raise InputError(msg, param="k")
    return int(k)


def nearest_routes(
    network: WalkNetwork,
    lon: float,
    lat: float,
    station_lon: np.ndarray,
    station_lat: np.ndarray,
    *,
    k: int = 3,
    speed_kmh: float | None = None,
    snap_max_m: float | None = None,
    stations_snap: Snap | None = None,
) -> list[tuple[int, Route]]:
    """Return the ``k`` stations nearest a WGS84 point by walking, with their routes.

    Stations farther than the snapping limit from every street, or on a part of the network
    the point cannot walk to, are left out, so fewer than ``k`` may come back.

    Parameters
    ----------
    network
        The walking network.
    lon, lat
        WGS84 degrees of the point (a resident's home).
    station_lon, station_lat
        WGS84 degrees of the stations.
    k
        How many stations.
    speed_kmh
        Walking speed (default ``settings.walk_speed_kmh``).
    snap_max_m
        Snapping limit in metres (default ``settings.snap_max_m``).
    stations_snap
        Where the stations join the network, if known already (a server snaps its stations
        once: snapping is most of the cost of a request).

    Returns
    -------
    list[tuple[int, Route]]
        ``(position of the station, route)``, nearest first (ties by position).

    Raises
    ------
    NetworkError
        If the point is farther than the snapping limit from every street (``param`` ``"point"``).
    NoRouteError
        If no station can be walked to.
    """
    k = check_k(k)
    speed = check_speed(speed_kmh)
    station_lon = np.atleast_1d(np.asarray(station_lon, dtype=float))
    station_lat = np.atleast_1d(np.asarray(station_lat, dtype=float))
    if len(station_lon) == 0:
        msg = "no stations to walk to"
        raise InputError(msg, param="stations")
    src = snap_points(network, np.array([lon]), np.array([lat]), max_m=snap_max_m)
    if not src.reachable[0]:
        raise _off_network(src, 0, param="point")
    dst = stations_snap or snap_points(network, station_lon, station_lat, max_m=snap_max_m)
    if len(dst) != len(station_lon):
        msg = f"stations_snap has {len(dst)} points for {len(station_lon)} stations"
        raise InputError(msg, param="stations_snap")
    n_on_network = int(dst.reachable.sum())
    chosen: list[int] = []
    if n_on_network:
        search = _search(network, src, 0, dst, min(k, n_on_network))
        order = np.lexsort((np.arange(len(search.best)), search.best))
        chosen = [int(t) for t in order[:k] if np.isfinite(search.best[t])]
    if not chosen:
        why = (
            "the stations lie on other parts of the walking network"
            if n_on_network
            else f"no station lies within {dst.max_m:g} m of a walkable street"
        )
        msg = f"no station can be walked to from the point: {why}"
        raise NoRouteError(msg)
    return [(t, _build_route(network, src, 0, dst, t, search, speed_kmh=speed)) for t in chosen]


def wgs84_point(
    point: tuple[float, float] | shapely.Point, *, crs: str, param: str
) -> tuple[float, float]:
    """Return a ``(lon, lat)`` pair or shapely Point in ``crs`` as WGS84 floats.

    Parameters
    ----------
    point
        ``(lon, lat)`` or a shapely Point.
    crs
        Its coordinate system (``wgs84``, ``gcj02`` or ``bd09``).
    param
        The parameter it was given as, for errors.
    """
    if isinstance(point, shapely.Point):
        lon, lat = point.x, point.y
    else:
        try:
            lon, lat = (float(value) for value in point)
        except (TypeError, ValueError):
            msg = f"give (lon, lat) or a shapely Point, not {point!r}"
            raise InputError(msg, param=param) from None
    if not (np.isfinite(lon) and np.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        msg = f"({lon}, {lat}) is not a longitude and latitude in degrees"
        raise InputError(msg, param=param)
    wgs_lon, wgs_lat = convert(lon, lat, src=check_crs_name(crs), dst="wgs84")
    return float(wgs_lon), float(wgs_lat)


def route(
    network: WalkNetwork,
    from_point: tuple[float, float] | shapely.Point,
    to_point: tuple[float, float] | shapely.Point,
    *,
    crs: str = "wgs84",
    out_crs: str | None = None,
    speed_kmh: float | None = None,
) -> Route:
    """The walking route between two points, e.g. from a home to its employment station.

    Parameters
    ----------
    network
        The walking network.
    from_point, to_point
        ``(lon, lat)`` or shapely Points, in ``crs``.
    crs
        Coordinate system of the points: ``"wgs84"``, ``"gcj02"`` (AMap) or ``"bd09"`` (Baidu).
    out_crs
        Coordinate system the route draws itself in (``to_geojson``, ``to_frame``; default
        ``crs``).
    speed_kmh
        Walking speed (default ``settings.walk_speed_kmh``).

    Returns
    -------
    Route
        The line, ``minutes``, ``meters``, the nodes and edges walked; ``to_geojson()`` and
        ``to_frame()`` give a GeoJSON Feature and a GeoDataFrame.

    Raises
    ------
    NetworkError
        If a point is farther than ``settings.snap_max_m`` from every walkable street.
    NoRouteError
        If no walk joins the points (separate parts of the network).
    """
    from_lon, from_lat = wgs84_point(from_point, crs=crs, param="from_point")
    to_lon, to_lat = wgs84_point(to_point, crs=crs, param="to_point")
    result = shortest_route(network, from_lon, from_lat, to_lon, to_lat, speed_kmh=speed_kmh)
    return _with_crs(result, check_crs_name(out_crs or crs))


def _with_crs(result: Route, crs: str) -> Route:
    return replace(result, crs=crs)


def nearest_stations(
    network: WalkNetwork,
    point: tuple[float, float] | shapely.Point,
    stations: PointSet | pd.DataFrame,
    *,
    k: int = 3,
    crs: str = "wgs84",
    out_crs: str | None = None,
    speed_kmh: float | None = None,
) -> gpd.GeoDataFrame:
    """The ``k`` stations nearest a point by walking, with their routes.

    Parameters
    ----------
    network
        The walking network.
    point
        ``(lon, lat)`` or a shapely Point in ``crs``: a resident's home.
    stations
        A PointSet, or a (Geo)DataFrame of points (see
        :func:`~quarterhour.geo.points.points_from_frame`).
    k
        How many stations (fewer come back if fewer can be walked to).
    crs
        Coordinate system of ``point`` (and of a ``stations`` frame without one).
    out_crs
        Coordinate system of the route lines (default ``crs``). WGS84 gives a frame in
        EPSG:4326; GCJ-02 and BD-09 have no EPSG code, so ``attrs["crs"]`` names them.
    speed_kmh
        Walking speed (default ``settings.walk_speed_kmh``).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per station, nearest first: ``rank, station_id, name, minutes, meters, kind,
        geometry`` (the route, ending at the station).
    """
    import geopandas as gpd

    lon, lat = wgs84_point(point, crs=crs, param="point")
    targets = as_point_set(stations, crs=crs, role="stations")
    target = check_crs_name(out_crs or crs)
    found = nearest_routes(network, lon, lat, targets.lon, targets.lat, k=k, speed_kmh=speed_kmh)
    frame = gpd.GeoDataFrame(
        {
            "rank": np.arange(1, len(found) + 1),
            "station_id": [targets.ids[t] for t, _ in found],
            "name": [targets.names[t] for t, _ in found],
            "minutes": [r.minutes for _, r in found],
            "meters": [r.meters for _, r in found],
            "kind": [r.kind for _, r in found],
        },
        geometry=[r.line(target) for _, r in found],
        crs="EPSG:4326" if target == "wgs84" else None,
    )
    frame.attrs = {
        "crs": target,
        "speed_kmh": found[0][1].speed_kmh,
        "attribution": network.attribution,
    }
    return frame
