"""Isochrone polygons: the area within a walk limit of a point, as GeoJSON.

The polygon of limit ``c`` is the set of places within ``buffer_m`` (straight line) of a street
point reached within ``c``, partial ends of edges included. It is computed on a grid, as
Valhalla does. Every reached street point ``p``, with walk cost ``t(p)``, seeds the field
``F(x) = min t(p) + |x - p| * cost_per_metre`` over the points ``p`` within ``buffer_m`` (plus a
cell) of ``x``; the polygon of ``c`` is the contour ``F < c + buffer_m * cost_per_metre``: the
``buffer_m`` buffer of the street points reached within ``c`` (a point up to ``buffer_m`` past
the limit along a street lies within ``buffer_m`` of one reached in time). One field serves
every contour, so contours nest; holes are kept. Streets are sampled at most a cell apart along
their length (and at every node): with a 50 m buffer, a 20 m spacing moves the outline by at
most 1 m.

A request runs as arrays from end to end: the nearest edge from a grid index, the bounded
Dijkstra, the samples and the field in one numba kernel over a reused workspace, marching
squares and Douglas-Peucker in numba (:mod:`quarterhour.routing.contour`), and one projection
of the kept vertices to degrees.
"""

from __future__ import annotations

import queue
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely

from quarterhour import settings
from quarterhour.geo.errors import InputError, NetworkError
from quarterhour.routing.contour import filled_contours, simplify_contours, successor_buffer
from quarterhour.routing.dijkstra import workspace
from quarterhour.routing.edge_grid import grid_of
from quarterhour.routing.graph import WalkNetwork, cost_per_metre
from quarterhour.routing.isochrone_kernels import _bounds, _quadratic, _time_grid
from quarterhour.routing.snapping import Snap
from quarterhour.routing.walktimes import check_speed

if TYPE_CHECKING:
    from collections.abc import Sequence

    import geopandas as gpd

MAX_CONTOURS = 4
COLOURS = ("#2b83ba", "#abdda4", "#fdae61", "#d7191c")
FIT_TOLERANCE_DEG = 1e-8
"""Largest error (about 1 mm) of the local polynomial that maps metres to degrees."""


@dataclass(eq=False)
class _Workspace:
    """The arrays one isochrone search writes to, reused by later requests (see ``_pool``)."""

    dist: np.ndarray
    bucket_of: np.ndarray
    next_in_bucket: np.ndarray
    prev_in_bucket: np.ndarray
    bucket_head: np.ndarray
    touched: np.ndarray
    edge_seen: np.ndarray
    edge_list: np.ndarray
    samples: np.ndarray
    field: np.ndarray
    successor: np.ndarray


_POOLS: weakref.WeakKeyDictionary[WalkNetwork, queue.SimpleQueue[_Workspace]] = (
    weakref.WeakKeyDictionary()
)


def _pool(network: WalkNetwork) -> queue.SimpleQueue[_Workspace]:
    """Workspaces of ``network``: a request takes one (or makes one) and gives it back."""
    pool = _POOLS.get(network)
    if pool is None:
        pool = _POOLS.setdefault(network, queue.SimpleQueue())
    return pool


def _take_workspace(network: WalkNetwork) -> _Workspace:
    try:
        return _pool(network).get_nowait()
    except queue.Empty:
        return _Workspace(
            *workspace(network.n_nodes),
            edge_seen=np.zeros(network.n_edges, dtype=np.bool_),
            edge_list=np.empty(network.n_edges, dtype=np.int32),
            samples=np.empty((4096, 3)),
            field=np.empty(1 << 16),
            successor=successor_buffer(256, 256),
        )


@dataclass(frozen=True)
class Isochrone:
    """Isochrone polygons of one point, as flat arrays in metres (see :mod:`routing.contour`).

    Attributes
    ----------
    contours
        The limits, ascending (minutes, or metres in distance mode).
    xy, ring_offsets, poly_offsets, level_offsets
        The polygons of every contour: level ``k`` holds contour ``contours[k]``, its polygons
        largest first, each an exterior ring (counter-clockwise) and its holes (clockwise).
    metric
        ``"time"`` or ``"distance"``.
    speed_kmh
        Walking speed.
    buffer_m
        How far off reached streets the polygons reach.
    cell_m
        The grid cell of the time field.
    snap
        Where the point joined the network.
    snapped_xy
        The point on the street where the walk starts, in metres.
    """

    contours: tuple[float, ...]
    xy: np.ndarray
    ring_offsets: np.ndarray
    poly_offsets: np.ndarray
    level_offsets: np.ndarray
    metric: str
    speed_kmh: float
    buffer_m: float
    cell_m: float
    snap: Snap
    snapped_xy: tuple[float, float] = (np.nan, np.nan)

    @property
    def polygons(self) -> list[list[list[np.ndarray]]]:
        """Per contour, a list of polygons; each a list of closed ``(n, 2)`` rings, exterior first."""
        return _nested(self.xy, self.ring_offsets, self.poly_offsets, self.level_offsets)

    def shapely_polygons(self) -> list[shapely.Geometry]:
        """Per contour, a shapely (Multi)Polygon in metres."""
        return [
            shapely.MultiPolygon([shapely.Polygon(rings[0], rings[1:]) for rings in polygons])
            if polygons
            else shapely.MultiPolygon()
            for polygons in self.polygons
        ]


def _nested(
    xy: np.ndarray, ring_offsets: np.ndarray, poly_offsets: np.ndarray, level_offsets: np.ndarray
) -> list[list[list[np.ndarray]]]:
    rings = [xy[ring_offsets[r] : ring_offsets[r + 1]] for r in range(len(ring_offsets) - 1)]
    polygons = [rings[poly_offsets[p] : poly_offsets[p + 1]] for p in range(len(poly_offsets) - 1)]
    return [
        polygons[level_offsets[k] : level_offsets[k + 1]] for k in range(len(level_offsets) - 1)
    ]


def check_contours(contours: Sequence[float], *, metric: str) -> tuple[float, ...]:
    """Return the contours sorted ascending, raising InputError unless 1 to 4 positive values."""
    values = tuple(sorted(float(c) for c in contours))
    limit = 60.0 if metric == "time" else 5000.0
    unit = "minutes" if metric == "time" else "metres"
    if not 1 <= len(values) <= MAX_CONTOURS:
        msg = f"contours: give 1 to {MAX_CONTOURS} values, got {len(values)}"
        raise InputError(msg)
    if any(not np.isfinite(c) or c <= 0 or c > limit for c in values):
        msg = f"contours: each must be above 0 and at most {limit:g} {unit}, got {list(values)}"
        raise InputError(msg)
    return values


def _snap_one(
    network: WalkNetwork, lon: float, lat: float, max_m: float | None
) -> tuple[int, float, float, float, float, Snap]:
    """Snap one WGS84 point with the grid index: edge, access_m, offset_m, the snapped x, y."""
    max_m = settings.snap_max_m if max_m is None else float(max_m)
    x, y = network.projection.forward(np.array([lon]), np.array([lat]))
    edge, access_m, offset_m, at_x, at_y = grid_of(network).nearest(network, x[0], y[0], max_m)
    if edge < 0:
        # Off the network: how far, for the message (the grid searches on without a limit).
        far = grid_of(network).nearest(network, x[0], y[0], np.inf)[1]
        msg = (
            f"the point ({lon:.6f}, {lat:.6f}) is {far:,.0f} m from the nearest "
            f"walkable street, beyond the {max_m:g} m snapping limit"
        )
        raise NetworkError(msg)
    snap = Snap(
        edge=np.array([edge], dtype=np.int64),
        offset_m=np.array([offset_m]),
        access_m=np.array([access_m]),
        reachable=np.array([True]),
        max_m=max_m,
        x=x,
        y=y,
    )
    return edge, access_m, offset_m, at_x, at_y, snap


def isochrone(
    network: WalkNetwork,
    lon: float,
    lat: float,
    *,
    minutes: Sequence[float] | None = None,
    meters: Sequence[float] | None = None,
    speed_kmh: float | None = None,
    buffer_m: float | None = None,
    cell_m: float | None = None,
    snap_max_m: float | None = None,
) -> Isochrone:
    """Compute the isochrone polygons of one WGS84 point.

    Parameters
    ----------
    network
        The walking network.
    lon, lat
        WGS84 degrees of the point.
    minutes
        Time contours (default ``settings.isochrone_contours``).
    meters
        Distance contours in metres walked; replaces ``minutes``.
    speed_kmh
        Walking speed (default ``settings.walk_speed_kmh``).
    buffer_m
        How far off a reached street the polygon reaches (default ``settings.isochrone_buffer_m``).
    cell_m
        Grid cell in metres (default ``settings.isochrone_cell_m``, coarser for large areas).
    snap_max_m
        Snapping limit in metres.

    Raises
    ------
    NetworkError
        If the point is farther than the snapping limit from every walkable edge.
    """
    metric = "distance" if meters is not None else "time"
    contours = check_contours(
        meters if meters is not None else (minutes or settings.isochrone_contours), metric=metric
    )
    speed = check_speed(speed_kmh)
    buffer_m = settings.isochrone_buffer_m if buffer_m is None else float(buffer_m)
    if not 0 <= buffer_m <= 500:
        msg = f"buffer_m must be between 0 and 500 metres, got {buffer_m}"
        raise InputError(msg)
    per_metre = cost_per_metre(speed_kmh=speed, meters=metric == "distance")
    edge, access_m, offset_m, at_x, at_y, snap = _snap_one(network, lon, lat, snap_max_m)
    edge_cost, arc_cost = network.costs(per_metre)
    buffer_cost = buffer_m * per_metre
    level_max = contours[-1] + buffer_cost
    radius_m = level_max / per_metre
    cell = float(cell_m or max(settings.isochrone_cell_m, radius_m / 200.0))

    space = _take_workspace(network)
    field, x0, y0, space.samples, _ = _time_grid(
        network.indptr,
        network.arc_head,
        network.arc_edge,
        arc_cost,
        network.edge_u,
        network.edge_v,
        edge_cost,
        network.node_x,
        network.node_y,
        network.geom_offsets,
        network.geom_x,
        network.geom_y,
        space.dist,
        space.bucket_of,
        space.next_in_bucket,
        space.prev_in_bucket,
        space.bucket_head,
        space.touched,
        space.edge_seen,
        space.edge_list,
        space.samples,
        space.field,
        edge,
        offset_m * per_metre,
        access_m * per_metre,
        at_x,
        at_y,
        level_max,
        per_metre,
        cell,
        buffer_m,
    )
    levels = np.array(contours) + buffer_cost
    if field.size:
        if field.size > len(space.field):
            space.field = np.empty(field.size)  # the next request of this size reuses it
        rows, cols = field.shape
        space.successor = successor_buffer(rows, cols, space.successor)
        xy, ring_offsets, poly_offsets, level_offsets = filled_contours(
            field, x0, y0, cell, levels, space.successor
        )
    else:
        xy, ring_offsets = np.empty((0, 2)), np.zeros(1, dtype=np.int64)
        poly_offsets = np.zeros(1, dtype=np.int64)
        level_offsets = np.zeros(len(levels) + 1, dtype=np.int64)
    # Back to the pool only when all went well: a failed request may leave it dirty.
    _pool(network).put(space)
    return Isochrone(
        contours=contours,
        xy=xy,
        ring_offsets=ring_offsets,
        poly_offsets=poly_offsets,
        level_offsets=level_offsets,
        metric=metric,
        speed_kmh=speed,
        buffer_m=buffer_m,
        cell_m=cell,
        snap=snap,
        snapped_xy=(float(at_x), float(at_y)),
    )


# The quadratic in (u, v) on a 3 x 3 grid of control points, and 4 points to check it at.
_FIT_UV = np.array([(u, v) for v in (-1.0, 0.0, 1.0) for u in (-1.0, 0.0, 1.0)])
_CHECK_UV = np.array([(-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5)])


def _quadratic_terms(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v])


_FIT_SOLVE = np.linalg.pinv(_quadratic_terms(_FIT_UV[:, 0], _FIT_UV[:, 1]).T)
_CHECK_TERMS = _quadratic_terms(_CHECK_UV[:, 0], _CHECK_UV[:, 1]).T


def to_degrees(network: WalkNetwork, xy: np.ndarray) -> np.ndarray:
    """Project ``(m, 2)`` metres of ``network`` to WGS84 ``(m, 2)`` degrees.

    The points of one isochrone lie within a few kilometres: a quadratic through 9 exact
    projections maps them to within ``FIT_TOLERANCE_DEG`` (checked at 4 more points, else every
    point is projected exactly), for a fraction of the cost.
    """
    if len(xy) < 32:
        lon, lat = network.projection.inverse(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])
    x_lo, y_lo, x_hi, y_hi = _bounds(xy)
    cx, cy = 0.5 * (x_lo + x_hi), 0.5 * (y_lo + y_hi)
    hx, hy = max(0.5 * (x_hi - x_lo), 1.0), max(0.5 * (y_hi - y_lo), 1.0)
    lon, lat = network.projection.inverse(
        _FIT_CONTROL[:, 0] * hx + cx, _FIT_CONTROL[:, 1] * hy + cy
    )
    coefficients = _FIT_SOLVE @ np.column_stack([lon[:9], lat[:9]])
    check = _CHECK_TERMS @ coefficients
    if max(np.abs(check[:, 0] - lon[9:]).max(), np.abs(check[:, 1] - lat[9:]).max()) > (
        FIT_TOLERANCE_DEG
    ):
        lon, lat = network.projection.inverse(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])
    return _quadratic(xy, cx, cy, hx, hy, coefficients)


_FIT_CONTROL = np.concatenate([_FIT_UV, _CHECK_UV])


def to_geojson(
    result: Isochrone,
    network: WalkNetwork,
    *,
    crs: str = "wgs84",
    generalize_m: float | None = None,
    denoise: float = 0.0,
    precision: int = 6,
    polygons: bool = True,
    contour_values: Sequence[float] | None = None,
    colours: Sequence[str | None] | None = None,
    arrays: bool = False,
) -> dict:
    """Return the isochrone as a GeoJSON FeatureCollection (RFC 7946), largest contour first.

    Compatible with Valhalla's isochrone response: one feature per contour with properties
    ``contour`` and ``metric`` and a Polygon or MultiPolygon geometry (or Valhalla's LineString);
    plus the walking speed, the buffer and the OpenStreetMap attribution.

    Parameters
    ----------
    result
        The isochrone.
    network
        The network it was computed on (for its projection).
    crs
        Coordinates of the output: ``wgs84`` (RFC 7946), or ``gcj02``/``bd09`` for Chinese
        web maps (AMap, Baidu).
    generalize_m
        Douglas-Peucker tolerance in metres (default: a quarter grid cell; 0 keeps every vertex).
    denoise
        0 to 1: drop polygons smaller than this share of the contour's largest (Valhalla's
        ``denoise``; 1 keeps only the largest).
    precision
        Decimal places of the coordinates (6 is about 0.1 m).
    polygons
        False gives Valhalla's ``polygons: false`` answer: per contour, a LineString of the
        largest polygon's outline.
    contour_values
        The ``contour`` property of each contour (default ``result.contours``; Valhalla's
        distance contours are in kilometres).
    colours
        Colour of each contour (``#rrggbb``; None or missing: the default palette).
    arrays
        Leave the coordinates as numpy arrays (for ``orjson`` with ``OPT_SERIALIZE_NUMPY``)
        instead of lists.
    """
    from quarterhour.geo.crs import check_crs_name, convert

    crs = check_crs_name(crs)
    if not 0.0 <= denoise <= 1.0:
        msg = f"denoise must be between 0 and 1, got {denoise}"
        raise InputError(msg)
    tolerance = settings.isochrone_cell_m / 4 if generalize_m is None else float(generalize_m)
    xy, ring_offsets, poly_offsets, level_offsets = simplify_contours(
        result.xy,
        result.ring_offsets,
        result.poly_offsets,
        result.level_offsets,
        tolerance,
        float(denoise),
    )
    if not polygons:
        # Only the outline of each contour's largest polygon.
        keep = [k for k in range(len(level_offsets) - 1) if level_offsets[k + 1] > level_offsets[k]]
        first_polys = [level_offsets[k] for k in keep]
        lines = [
            xy[ring_offsets[poly_offsets[p]] : ring_offsets[poly_offsets[p] + 1]]
            for p in first_polys
        ]
        xy = np.concatenate(lines) if lines else np.empty((0, 2))
        ring_offsets = np.concatenate([[0], np.cumsum([len(line) for line in lines])]).astype(
            np.int64
        )
        poly_offsets = np.arange(len(lines) + 1)
        level_offsets = np.zeros(len(result.contours) + 1, dtype=np.int64)
        for k in keep:
            level_offsets[k + 1 :] += 1
    lonlat = to_degrees(network, xy) if len(xy) else np.empty((0, 2))
    if crs != "wgs84" and len(lonlat):
        lon, lat = convert(lonlat[:, 0], lonlat[:, 1], src="wgs84", dst=crs)
        lonlat = np.column_stack([lon, lat])
    lonlat = np.round(lonlat, precision)
    rings = [lonlat[ring_offsets[r] : ring_offsets[r + 1]] for r in range(len(ring_offsets) - 1)]
    if not arrays:
        rings = [ring.tolist() for ring in rings]
    values = result.contours if contour_values is None else tuple(contour_values)
    features = []
    for k in range(len(result.contours) - 1, -1, -1):
        polys = range(level_offsets[k], level_offsets[k + 1])
        if not polygons:
            geometry = (
                {"type": "LineString", "coordinates": rings[poly_offsets[polys[0]]]}
                if len(polys) > 0
                else {"type": "LineString", "coordinates": []}
            )
        else:
            coordinates = [rings[poly_offsets[p] : poly_offsets[p + 1]] for p in polys]
            if len(coordinates) == 1:
                geometry = {"type": "Polygon", "coordinates": coordinates[0]}
            else:
                geometry = {"type": "MultiPolygon", "coordinates": coordinates}
        colour = (colours[k] if colours is not None and k < len(colours) else None) or COLOURS[
            k % len(COLOURS)
        ]
        features.append(
            {
                "type": "Feature",
                "geometry": geometry,
                "properties": {
                    "contour": values[k],
                    "metric": result.metric,
                    "speed_kmh": result.speed_kmh,
                    "buffer_m": result.buffer_m,
                    "crs": crs,
                    "fill": colour,
                    "fillColor": colour,
                    "fillOpacity": 0.33,
                    "fill-opacity": 0.33,
                    "color": colour,
                    "opacity": 0.33,
                    "attribution": network.attribution,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features, "attribution": network.attribution}


def isochrones(
    network: WalkNetwork,
    point: tuple[float, float] | shapely.Point,
    *,
    minutes: Sequence[float] | None = None,
    meters: Sequence[float] | None = None,
    crs: str = "wgs84",
    out_crs: str = "wgs84",
    speed_kmh: float | None = None,
    buffer_m: float | None = None,
) -> gpd.GeoDataFrame:
    """The walking areas around one point, as a GeoDataFrame with a row per contour.

    Parameters
    ----------
    network
        The walking network.
    point
        ``(lon, lat)`` or a shapely Point, in ``crs``.
    minutes
        Time contours (default ``settings.isochrone_contours``).
    meters
        Distance contours in metres walked; replaces ``minutes``.
    crs
        Coordinate system of ``point``: ``"wgs84"``, ``"gcj02"`` (AMap) or ``"bd09"`` (Baidu).
    out_crs
        Coordinate system of the polygons. WGS84 gives a GeoDataFrame in EPSG:4326; GCJ-02 and
        BD-09 have no EPSG code, so their frame has no CRS and ``attrs["crs"]`` names it.
    speed_kmh
        Walking speed (default ``settings.walk_speed_kmh``).
    buffer_m
        How far off a reached street an area reaches (default ``settings.isochrone_buffer_m``).

    Returns
    -------
    geopandas.GeoDataFrame
        ``contour, metric, speed_kmh, area_km2, geometry``, the smallest contour first.
    """
    import geopandas as gpd

    from quarterhour.geo.crs import check_crs_name, convert

    lon, lat = (point.x, point.y) if isinstance(point, shapely.Point) else point
    wgs_lon, wgs_lat = convert(lon, lat, src=check_crs_name(crs), dst="wgs84")
    target = check_crs_name(out_crs)
    result = isochrone(
        network,
        float(wgs_lon),
        float(wgs_lat),
        minutes=minutes,
        meters=meters,
        speed_kmh=speed_kmh,
        buffer_m=buffer_m,
    )
    metric_polygons = result.shapely_polygons()

    def to_degrees(xy: np.ndarray) -> np.ndarray:
        lon_out, lat_out = network.projection.inverse(xy[:, 0], xy[:, 1])
        if target != "wgs84":
            lon_out, lat_out = convert(lon_out, lat_out, src="wgs84", dst=target)
        return np.column_stack([lon_out, lat_out])

    frame = gpd.GeoDataFrame(
        {
            "contour": list(result.contours),
            "metric": result.metric,
            "speed_kmh": result.speed_kmh,
            "area_km2": [float(area) / 1e6 for area in shapely.area(metric_polygons)],
        },
        geometry=[shapely.transform(polygon, to_degrees) for polygon in metric_polygons],
        crs="EPSG:4326" if target == "wgs84" else None,
    )
    frame.attrs = {"crs": target, "attribution": network.attribution}
    return frame
