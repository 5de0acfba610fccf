"""Isochrone polygons: the area within a walk limit of a point, as GeoJSON.

The polygon of limit ``c`` is the set of places within ``buffer_m`` (straight line) of a street
point reached within ``c``, partial ends of edges included. It is computed on a grid, as
Valhalla does. Every reached street point ``p``, with walk cost ``t(p)``, seeds the field
``F(x) = min t(p) + |x - p| * cost_per_metre`` over the points ``p`` within ``buffer_m`` of
``x``; the polygon of ``c`` is the contour ``F <= c + buffer_m * cost_per_metre``. That is
exactly the ``buffer_m`` buffer of the street points reached within ``c``: a point up to
``buffer_m`` past the limit along a street lies within ``buffer_m`` of one reached in time.
One field serves every contour, so contours nest; contourpy keeps the holes. Streets are
sampled once a cell: with a 50 m buffer, a 20 m spacing moves the outline by at most 1 m.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import contourpy
import numpy as np
import shapely

from quarterhour import settings
from quarterhour.geo.errors import InputError, NetworkError
from quarterhour.routing.dijkstra import bounded_dijkstra, workspace
from quarterhour.routing.graph import WalkNetwork, cost_per_metre
from quarterhour.routing.jit import kernel
from quarterhour.routing.snapping import Snap, snap_points
from quarterhour.routing.walktimes import check_speed

if TYPE_CHECKING:
    from collections.abc import Sequence

    import geopandas as gpd

MAX_CONTOURS = 4
COLOURS = ("#2b83ba", "#abdda4", "#fdae61", "#d7191c")


@kernel
def _reached_samples(
    indptr: np.ndarray,
    arc_edge: np.ndarray,
    edge_u: np.ndarray,
    edge_v: np.ndarray,
    edge_cost: np.ndarray,
    geom_offsets: np.ndarray,
    geom_x: np.ndarray,
    geom_y: np.ndarray,
    dist: np.ndarray,
    touched: np.ndarray,
    n_touched: int,
    src_edge: int,
    src_offset: float,
    src_access: float,
    level_max: float,
    step_m: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_edges = len(edge_u)
    seen = np.zeros(n_edges, dtype=np.bool_)
    edges = np.empty(n_edges, dtype=np.int64)
    n_candidates = 0
    seen[src_edge] = True
    edges[0] = src_edge
    n_candidates = 1
    for k in range(n_touched):
        node = touched[k]
        for arc in range(indptr[node], indptr[node + 1]):
            e = arc_edge[arc]
            if not seen[e]:
                seen[e] = True
                edges[n_candidates] = e
                n_candidates += 1
    capacity = 4096
    sample_x = np.empty(capacity)
    sample_y = np.empty(capacity)
    sample_t = np.empty(capacity)
    n_samples = 0
    for k in range(n_candidates):
        e = edges[k]
        du = dist[edge_u[e]]
        dv = dist[edge_v[e]]
        start, stop = geom_offsets[e], geom_offsets[e + 1]
        planar = 0.0
        for i in range(start, stop - 1):
            planar += np.hypot(geom_x[i + 1] - geom_x[i], geom_y[i + 1] - geom_y[i])
        scale = edge_cost[e] / planar if planar > 0 else 0.0
        along = 0.0
        for i in range(start, stop - 1):
            length = np.hypot(geom_x[i + 1] - geom_x[i], geom_y[i + 1] - geom_y[i])
            n_steps = int(np.ceil(length / step_m)) if length > 0 else 0
            last = n_steps if i == stop - 2 else n_steps - 1
            for j in range(last + 1):
                fraction = j / n_steps if n_steps > 0 else 0.0
                position = (along + fraction * length) * scale
                t = min(du + position, dv + edge_cost[e] - position)
                if e == src_edge:
                    t = min(t, src_access + abs(position - src_offset))
                if t > level_max:
                    continue
                if n_samples == capacity:
                    capacity *= 2
                    sample_x = np.concatenate((sample_x, np.empty(capacity - n_samples)))
                    sample_y = np.concatenate((sample_y, np.empty(capacity - n_samples)))
                    sample_t = np.concatenate((sample_t, np.empty(capacity - n_samples)))
                sample_x[n_samples] = geom_x[i] + fraction * (geom_x[i + 1] - geom_x[i])
                sample_y[n_samples] = geom_y[i] + fraction * (geom_y[i + 1] - geom_y[i])
                sample_t[n_samples] = t
                n_samples += 1
            along += length
    return sample_x[:n_samples], sample_y[:n_samples], sample_t[:n_samples]


@kernel
def _time_field(
    sample_x: np.ndarray,
    sample_y: np.ndarray,
    sample_t: np.ndarray,
    x0: float,
    y0: float,
    nx: int,
    ny: int,
    cell: float,
    off_cost: float,
    radius: float,
    far: float,
) -> np.ndarray:
    field = np.full((ny, nx), far)
    radius_squared = radius * radius
    for k in range(len(sample_x)):
        i_lo = max(0, int(np.floor((sample_x[k] - radius - x0) / cell)))
        i_hi = min(nx - 1, int(np.ceil((sample_x[k] + radius - x0) / cell)))
        j_lo = max(0, int(np.floor((sample_y[k] - radius - y0) / cell)))
        j_hi = min(ny - 1, int(np.ceil((sample_y[k] + radius - y0) / cell)))
        for j in range(j_lo, j_hi + 1):
            dy = y0 + j * cell - sample_y[k]
            for i in range(i_lo, i_hi + 1):
                dx = x0 + i * cell - sample_x[k]
                squared = dx * dx + dy * dy
                if squared <= radius_squared:
                    value = sample_t[k] + np.sqrt(squared) * off_cost
                    field[j, i] = min(field[j, i], value)
    return field


@dataclass(frozen=True)
class Isochrone:
    """Isochrone polygons of one point.

    Attributes
    ----------
    contours
        The limits, ascending (minutes, or metres in distance mode).
    polygons
        Per contour, a list of polygons in metres; each polygon is a list of rings (the outer
        ring counter-clockwise, then its holes clockwise), each an (n, 2) closed array.
    metric
        ``"time"`` or ``"distance"``.
    speed_kmh
        Walking speed.
    buffer_m
        How far off reached streets the polygons reach.
    snap
        Where the point joined the network.
    """

    contours: tuple[float, ...]
    polygons: list[list[list[np.ndarray]]]
    metric: str
    speed_kmh: float
    buffer_m: float
    snap: Snap

    def shapely_polygons(self) -> list[shapely.Geometry]:
        """Per contour, a shapely (Multi)Polygon in metres."""
        return [
            shapely.MultiPolygon([shapely.Polygon(rings[0], rings[1:]) for rings in polygons])
            if polygons
            else shapely.MultiPolygon()
            for polygons in self.polygons
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
    snap = snap_points(network, np.array([lon]), np.array([lat]), max_m=snap_max_m)
    if not snap.reachable[0]:
        msg = (
            f"the point ({lon:.6f}, {lat:.6f}) is {snap.access_m[0]:,.0f} m from the nearest walkable "
            f"street, beyond the {snap.max_m:g} m snapping limit"
        )
        raise NetworkError(msg)
    edge = int(snap.edge[0])
    edge_cost, arc_cost = network.costs(per_metre)
    access = snap.access_m[0] * per_metre
    offset = snap.offset_m[0] * per_metre
    buffer_cost = buffer_m * per_metre
    level_max = contours[-1] + buffer_cost

    dist, bucket_of, next_in_bucket, prev_in_bucket, bucket_head, touched = workspace(
        network.n_nodes
    )
    start_nodes = np.array([network.edge_u[edge], network.edge_v[edge]], dtype=np.int32)
    start_costs = np.array([access + offset, access + edge_cost[edge] - offset])
    n_touched = bounded_dijkstra(
        network.indptr,
        network.arc_head,
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
    radius_m = level_max / per_metre
    cell = float(cell_m or max(settings.isochrone_cell_m, radius_m / 200.0))
    sample_x, sample_y, sample_t = _reached_samples(
        network.indptr,
        network.arc_edge,
        network.edge_u,
        network.edge_v,
        edge_cost,
        network.geom_offsets,
        network.geom_x,
        network.geom_y,
        dist,
        touched,
        n_touched,
        edge,
        offset,
        access,
        level_max,
        cell,
    )
    polygons: list[list[list[np.ndarray]]] = [[] for _ in contours]
    if len(sample_x):
        pad = buffer_m + 3 * cell
        x0 = sample_x.min() - pad
        y0 = sample_y.min() - pad
        nx = int(np.ceil((sample_x.max() + pad - x0) / cell)) + 1
        ny = int(np.ceil((sample_y.max() + pad - y0) / cell)) + 1
        far = 2.0 * level_max + 1.0
        field = _time_field(
            sample_x, sample_y, sample_t, x0, y0, nx, ny, cell, per_metre, buffer_m + cell, far
        )
        generator = contourpy.contour_generator(
            x0 + cell * np.arange(nx), y0 + cell * np.arange(ny), field, fill_type="OuterOffset"
        )
        for k, contour in enumerate(contours):
            points, offsets = generator.filled(-1.0, contour + buffer_cost)
            polygons[k] = [
                [pts[ring[i] : ring[i + 1]] for i in range(len(ring) - 1)]
                for pts, ring in zip(points, offsets, strict=True)
            ]
    return Isochrone(
        contours=contours,
        polygons=polygons,
        metric=metric,
        speed_kmh=speed,
        buffer_m=buffer_m,
        snap=snap,
    )


def _ring_area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))


def _generalized(polygons: list[list[np.ndarray]], tolerance_m: float) -> list[list[np.ndarray]]:
    """Simplify every ring in one call (Douglas-Peucker); drop rings that collapse."""
    if tolerance_m <= 0 or not polygons:
        return polygons
    flat = [ring for rings in polygons for ring in rings]
    owner = np.repeat(np.arange(len(flat)), [len(ring) for ring in flat])
    rings = shapely.linearrings(np.concatenate(flat), indices=owner)
    simplified = shapely.simplify(rings, tolerance_m, preserve_topology=False)
    coords, index = shapely.get_coordinates(simplified, return_index=True)
    ring_bounds = np.searchsorted(index, np.arange(len(flat) + 1))
    rings_out = [coords[ring_bounds[i] : ring_bounds[i + 1]] for i in range(len(flat))]
    result, start = [], 0
    for rings in polygons:
        kept = [ring for ring in rings_out[start : start + len(rings)] if len(ring) >= 4]
        if len(rings_out[start]) >= 4:
            result.append(kept)
        start += len(rings)
    return result


def to_geojson(
    result: Isochrone,
    network: WalkNetwork,
    *,
    crs: str = "wgs84",
    generalize_m: float | None = None,
    denoise: float = 0.0,
    precision: int = 6,
) -> dict:
    """Return the isochrone as a GeoJSON FeatureCollection (RFC 7946), largest contour first.

    Compatible with Valhalla's isochrone response: one feature per contour with properties
    ``contour`` and ``metric`` and a Polygon or MultiPolygon geometry; plus the walking
    speed, the buffer and the OpenStreetMap attribution.

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
    """
    from quarterhour.geo.crs import check_crs_name, convert

    crs = check_crs_name(crs)
    if not 0.0 <= denoise <= 1.0:
        msg = f"denoise must be between 0 and 1, got {denoise}"
        raise InputError(msg)
    tolerance = settings.isochrone_cell_m / 4 if generalize_m is None else float(generalize_m)
    features = []
    for k in range(len(result.contours) - 1, -1, -1):
        polygons = _generalized(result.polygons[k], tolerance)
        if polygons and denoise > 0:
            areas = np.array([_ring_area(rings[0]) for rings in polygons])
            polygons = [
                rings
                for rings, area in zip(polygons, areas, strict=True)
                if area >= denoise * areas.max()
            ]
        rings_flat = [ring for rings in polygons for ring in rings]
        if rings_flat:
            stacked = np.concatenate(rings_flat)
            lon, lat = network.projection.inverse(stacked[:, 0], stacked[:, 1])
            if crs != "wgs84":
                lon, lat = convert(lon, lat, src="wgs84", dst=crs)
            lonlat = np.round(np.column_stack([lon, lat]), precision)
            bounds = np.cumsum([0] + [len(r) for r in rings_flat])
            rings_lonlat = [
                lonlat[bounds[i] : bounds[i + 1]].tolist() for i in range(len(rings_flat))
            ]
        iterator = iter(rings_lonlat if rings_flat else [])
        coordinates = [[next(iterator) for _ in rings] for rings in polygons]
        if len(coordinates) == 1:
            geometry = {"type": "Polygon", "coordinates": coordinates[0]}
        else:
            geometry = {"type": "MultiPolygon", "coordinates": coordinates}
        colour = COLOURS[k % len(COLOURS)]
        features.append(
            {
                "type": "Feature",
                "geometry": geometry,
                "properties": {
                    "contour": result.contours[k],
                    "metric": result.metric,
                    "speed_kmh": result.speed_kmh,
                    "buffer_m": result.buffer_m,
                    "crs": crs,
                    "fill": colour,
                    "fillColor": colour,
                    "fillOpacity": 0.33,
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
            "area_km2": [polygon.area / 1e6 for polygon in metric_polygons],
        },
        geometry=[shapely.transform(polygon, to_degrees) for polygon in metric_polygons],
        crs="EPSG:4326" if target == "wgs84" else None,
    )
    frame.attrs = {"crs": target, "attribution": network.attribution}
    return frame
