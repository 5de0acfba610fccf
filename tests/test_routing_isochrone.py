"""Isochrones: contain what is reachable, reach no farther than the buffer, nest, stay valid."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import shapely
from shapely.ops import substring

from quarterhour.geo.crs import convert
from quarterhour.geo.errors import InputError, NetworkError
from quarterhour.routing.graph import cost_per_metre
from quarterhour.routing.isochrone import isochrone, to_geojson
from quarterhour.routing.snapping import snap_points

from reference import graph_with_points, reference_times

CASES = [
    ("heidelberg", 2000),
    ("heidelberg", 15000),
    ("shanghai_center", 1000),
    ("helsinki_clipped", 700),
]


def reached_streets(network, graph, source, limit: float, per_metre: float) -> shapely.Geometry:
    """The street points within ``limit`` of the source, built from networkx times."""
    times = reference_times(graph, source, limit=limit)
    node_time = np.full(network.n_nodes, np.inf)
    reached = [n for n in times if isinstance(n, int)]
    node_time[reached] = [times[n] for n in reached]
    pieces = []
    for e in np.flatnonzero(
        np.minimum(node_time[network.edge_u], node_time[network.edge_v]) <= limit
    ):
        du, dv = node_time[network.edge_u[e]], node_time[network.edge_v[e]]
        length = float(network.edge_length_m[e])
        line = network.edge_lines[e]
        scale = line.length / length if length > 0 else 1.0
        from_u = (limit - du) / per_metre
        from_v = (limit - dv) / per_metre
        if from_u >= length or from_v >= length or from_u + from_v >= length:
            pieces.append(line)
            continue
        if from_u > 0:
            pieces.append(substring(line, 0, from_u * scale))
        if from_v > 0:
            pieces.append(substring(line, line.length - from_v * scale, line.length))
    return shapely.MultiLineString(pieces)


def farthest_from_streets(
    polygon: shapely.Geometry, streets: shapely.MultiLineString, spacing: float = 10.0
) -> float:
    """Largest distance from a point of ``polygon`` (on a grid) to the nearest street piece."""
    minx, miny, maxx, maxy = polygon.bounds
    gx, gy = np.meshgrid(np.arange(minx, maxx, spacing), np.arange(miny, maxy, spacing))
    points = shapely.points(gx.ravel(), gy.ravel())
    points = points[shapely.contains(polygon, points)]
    tree = shapely.STRtree(list(streets.geoms))
    _, distance = tree.query_nearest(points, return_distance=True)
    return float(distance.max())


@pytest.mark.parametrize(("name", "node"), CASES)
def test_isochrone_contains_reachable_points_and_nothing_far(
    network_of, name: str, node: int
) -> None:
    network = network_of(name)
    lon, lat = network.node_lonlat
    node = node % network.n_nodes
    origin_lon, origin_lat = lon[node] + 1e-4, lat[node]
    result = isochrone(network, origin_lon, origin_lat, minutes=[5, 10, 15])
    polygons = result.shapely_polygons()
    assert all(p.is_valid and not p.is_empty for p in polygons)
    for inner, outer in itertools.pairwise(polygons):
        assert inner.difference(outer).area < 1.0  # contours nest

    per_metre = cost_per_metre(speed_kmh=4.5)
    node_snap = snap_points(network, lon, lat)
    graph = graph_with_points(network, {"o": result.snap}, per_metre=per_metre)
    times = reference_times(graph, ("o", 0), limit=30.0)
    node_time = np.array([times.get(n, np.inf) for n in range(network.n_nodes)])
    tolerance = 2 * 20.0  # two grid cells
    for contour, polygon in zip(result.contours, polygons, strict=True):
        reachable = node_time <= contour
        inside = shapely.contains_xy(polygon, network.node_x, network.node_y)
        assert inside[reachable].mean() >= 0.99
        streets = reached_streets(network, graph, ("o", 0), contour, per_metre)
        assert farthest_from_streets(polygon, streets) <= result.buffer_m + tolerance
    assert node_snap.reachable.all()


def test_some_isochrone_keeps_holes(network_of) -> None:
    network = network_of("heidelberg")
    lon, lat = network.node_lonlat
    holes = 0
    for node in range(0, network.n_nodes, network.n_nodes // 15):
        for polygon in (
            isochrone(network, lon[node], lat[node], minutes=[15]).shapely_polygons()[0].geoms
        ):
            holes += len(polygon.interiors)
    assert holes > 0


def test_partial_edges_are_included(network_of) -> None:
    """A street leaving the area is covered up to the point where time runs out, mid-edge."""
    network = network_of("shanghai_center")
    lon, lat = network.node_lonlat
    limit = 10.0
    result = isochrone(network, lon[500], lat[500], minutes=[limit], buffer_m=20.0)
    polygon = result.shapely_polygons()[0]
    per_metre = cost_per_metre(speed_kmh=4.5)
    graph = graph_with_points(network, {"o": result.snap}, per_metre=per_metre)
    times = reference_times(graph, ("o", 0), limit=3 * limit)
    node_time = np.array([times.get(n, np.inf) for n in range(network.n_nodes)])
    # Where time runs out inside an edge walked from its u end: 2 m before that point.
    reach_m = (limit - node_time[network.edge_u]) / per_metre - 2.0
    cut = (reach_m > 0) & (
        reach_m < network.edge_length_m - (limit - node_time[network.edge_v]) / per_metre - 4.0
    )
    cut &= reach_m < network.edge_length_m - 4.0
    assert cut.sum() > 10
    scale = shapely.length(network.edge_lines[cut]) / network.edge_length_m[cut]
    ends = shapely.line_interpolate_point(network.edge_lines[cut], reach_m[cut] * scale)
    assert shapely.contains(polygon, ends).mean() > 0.99
    streets = shapely.line_merge(reached_streets(network, graph, ("o", 0), limit, per_metre))
    sample = shapely.line_interpolate_point(streets, np.linspace(0, streets.length, 2000))
    assert shapely.contains(polygon.buffer(1.0), sample).mean() > 0.99


def test_geojson_is_rfc7946_valhalla_compatible(network_of) -> None:
    network = network_of("shanghai_center")
    lon, lat = network.node_lonlat
    result = isochrone(network, lon[100], lat[100], minutes=[5, 10, 15])
    collection = to_geojson(result, network)
    assert collection["type"] == "FeatureCollection"
    assert [f["properties"]["contour"] for f in collection["features"]] == [15.0, 10.0, 5.0]
    for feature in collection["features"]:
        assert feature["properties"]["metric"] == "time"
        assert feature["properties"]["speed_kmh"] == 4.5
        assert "OpenStreetMap contributors" in feature["properties"]["attribution"]
        geometry = shapely.geometry.shape(feature["geometry"])
        assert geometry.is_valid
        for polygon in getattr(geometry, "geoms", [geometry]):
            assert polygon.exterior.is_ccw  # RFC 7946: exterior counter-clockwise
            assert all(not ring.is_ccw for ring in polygon.interiors)
        minx, miny, maxx, maxy = geometry.bounds
        assert 121.3 < minx < maxx < 121.7 and 31.1 < miny < maxy < 31.4


def test_geojson_in_gcj02_is_shifted_by_the_gcj_offset(network_of) -> None:
    network = network_of("shanghai_center")
    lon, lat = network.node_lonlat
    result = isochrone(network, lon[100], lat[100], minutes=[15])
    wgs = shapely.geometry.shape(to_geojson(result, network)["features"][0]["geometry"])
    gcj = shapely.geometry.shape(
        to_geojson(result, network, crs="gcj02")["features"][0]["geometry"]
    )
    expected_lon, expected_lat = convert(wgs.centroid.x, wgs.centroid.y, src="wgs84", dst="gcj02")
    assert gcj.centroid.x == pytest.approx(float(expected_lon), abs=2e-5)
    assert gcj.centroid.y == pytest.approx(float(expected_lat), abs=2e-5)


def test_distance_mode_and_bad_options(network_of) -> None:
    network = network_of("shanghai_center")
    lon, lat = network.node_lonlat
    result = isochrone(network, lon[100], lat[100], meters=[800, 1000])
    assert result.metric == "distance" and result.contours == (800.0, 1000.0)
    with pytest.raises(InputError, match="1 to 4 values"):
        isochrone(network, lon[100], lat[100], minutes=[1, 2, 3, 4, 5])
    with pytest.raises(InputError, match="at most 60"):
        isochrone(network, lon[100], lat[100], minutes=[90])
    with pytest.raises(NetworkError, match="snapping limit"):
        isochrone(network, lon.max() + 0.1, lat.mean())
