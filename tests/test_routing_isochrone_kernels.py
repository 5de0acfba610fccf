"""The pieces of a fast isochrone, each against an independent reference.

The grid index against shapely's STRtree snapping, marching squares against an analytic shape,
Douglas-Peucker against its tolerance, the metres-to-degrees quadratic against pyproj, and the
reused workspaces against fresh ones (threads included).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import shapely

from quarterhour.routing.contour import filled_contours, simplify_contours, successor_buffer
from quarterhour.routing.edge_grid import grid_of
from quarterhour.routing.isochrone import isochrone, to_degrees
from quarterhour.routing.snapping import snap_points


def test_grid_index_snaps_like_the_strtree(network_of) -> None:
    network = network_of("heidelberg")
    rng = np.random.default_rng(7)
    nodes = rng.integers(0, network.n_nodes, 1500)
    x = network.node_x[nodes] + rng.normal(0, 120, len(nodes))
    y = network.node_y[nodes] + rng.normal(0, 120, len(nodes))
    x[:20] += 3000  # some far off the streets
    lon, lat = network.projection.inverse(x, y)
    reference = snap_points(network, lon, lat)
    assert 0 < reference.n_unreachable < len(nodes)
    for k in range(len(nodes)):
        edge, distance, offset, at_x, at_y = grid_of(network).nearest(
            network, reference.x[k], reference.y[k], reference.max_m
        )
        if not reference.reachable[k]:
            assert edge == -1
            # Without a limit the grid finds the nearest edge however far (the 404 message).
            far = grid_of(network).nearest(network, reference.x[k], reference.y[k], np.inf)
            assert far[1] == pytest.approx(reference.access_m[k], rel=1e-9)
            continue
        assert edge == reference.edge[k]
        assert distance == pytest.approx(reference.access_m[k], abs=1e-6)
        assert offset == pytest.approx(reference.offset_m[k], abs=1e-6)
        line = network.edge_lines[edge]
        assert shapely.distance(line, shapely.Point(at_x, at_y)) < 1e-6


def test_grid_index_measures_points_far_away(network_of) -> None:
    network = network_of("singapore_bayfront")
    lon, lat = np.array([103.86, 104.5, -70.0]), np.array([1.28, 1.9, -30.0])
    reference = snap_points(network, lon, lat)
    for k in range(len(lon)):
        found = grid_of(network).nearest(network, reference.x[k], reference.y[k], np.inf)
        assert found[0] == reference.edge[k] if reference.reachable[k] else found[0] >= 0
        assert found[1] == pytest.approx(reference.access_m[k], rel=1e-9)


def _disk_field(nx: int, ny: int, cell: float) -> tuple[np.ndarray, float, float]:
    """Distance to the ring of radius 300 around (500, 500), and to a point at (1300, 500)."""
    x = np.arange(nx) * cell
    y = np.arange(ny) * cell
    gx, gy = np.meshgrid(x, y)
    ring = np.abs(np.hypot(gx - 500, gy - 500) - 300)
    island = np.hypot(gx - 1300, gy - 500)
    field = np.minimum(ring, island)
    field[[0, -1], :] = field[:, [0, -1]] = 1e9
    return field, 0.0, 0.0


def test_marching_squares_keep_holes_and_orientation() -> None:
    cell = 10.0
    field, x0, y0 = _disk_field(180, 110, cell)
    level = 100.0
    xy, rings, polys, levels = filled_contours(
        field, x0, y0, cell, np.array([level, 150.0]), successor_buffer(*field.shape)
    )
    assert list(levels) == [0, 2, 4]  # two polygons a level: the annulus and the island
    shapes = []
    for p in range(levels[0], levels[1]):
        ring_list = [xy[rings[r] : rings[r + 1]] for r in range(polys[p], polys[p + 1])]
        for ring in ring_list:
            np.testing.assert_array_equal(ring[0], ring[-1])
        polygon = shapely.Polygon(ring_list[0], ring_list[1:])
        assert polygon.is_valid
        assert polygon.exterior.is_ccw
        assert all(not hole.is_ccw for hole in polygon.interiors)
        shapes.append(polygon)
    annulus, island = shapes  # largest first
    assert len(annulus.interiors) == 1 and len(island.interiors) == 0
    # The exact shapes: an annulus 200-400 m around (500, 500), a disk of 100 m.
    exact = (
        shapely.Point(500, 500)
        .buffer(400, 256)
        .difference(shapely.Point(500, 500).buffer(200, 256))
    )
    assert annulus.symmetric_difference(exact).area < 0.01 * exact.area
    disk = shapely.Point(1300, 500).buffer(100, 256)
    assert island.symmetric_difference(disk).area < 0.02 * disk.area
    # The buffer comes back as it went in: all -1.
    buffer = successor_buffer(*field.shape)
    filled_contours(field, x0, y0, cell, np.array([level]), buffer)
    assert (buffer == -1).all()


def test_douglas_peucker_stays_within_its_tolerance_and_denoise_drops_small_pieces() -> None:
    cell = 10.0
    field, x0, y0 = _disk_field(180, 110, cell)
    contours = filled_contours(
        field, x0, y0, cell, np.array([100.0]), successor_buffer(*field.shape)
    )
    xy, rings, _, _ = contours
    for tolerance in (0.0, 2.0, 15.0):
        sxy, srings, _, slevels = simplify_contours(*contours, tolerance, 0.0)
        assert list(slevels) == [0, 2]
        for r in range(len(rings) - 1):
            original = shapely.LineString(xy[rings[r] : rings[r + 1]])
            simplified = shapely.LineString(sxy[srings[r] : srings[r + 1]])
            assert len(simplified.coords) <= len(original.coords)
            assert shapely.hausdorff_distance(original, simplified) <= tolerance + 1e-9
            assert simplified.coords[0] == simplified.coords[-1]
    largest_only = simplify_contours(*contours, 2.0, 1.0)
    assert list(largest_only[3]) == [0, 1]
    assert largest_only[2][1] - largest_only[2][0] == 2  # the annulus keeps its hole


def test_metres_to_degrees_matches_pyproj(network_of) -> None:
    network = network_of("heidelberg")
    result = isochrone(network, *(float(v[777]) for v in network.node_lonlat), minutes=[30])
    lon, lat = network.projection.inverse(result.xy[:, 0], result.xy[:, 1])
    degrees = to_degrees(network, result.xy)
    assert np.abs(degrees - np.column_stack([lon, lat])).max() < 1e-8
    # Spread over the whole extract the quadratic is not good enough: every point is exact.
    spread = np.column_stack([network.node_x, network.node_y])
    lon, lat = network.projection.inverse(spread[:, 0], spread[:, 1])
    assert np.abs(to_degrees(network, spread) - np.column_stack([lon, lat])).max() < 1e-9


def test_reused_workspaces_give_the_same_answers_in_threads(network_of) -> None:
    network = network_of("helsinki_clipped")
    lon, lat = network.node_lonlat
    points = [(float(lon[k]), float(lat[k])) for k in range(0, network.n_nodes, 97)][:24]

    def area(point: tuple[float, float]) -> list[float]:
        result = isochrone(network, *point, minutes=[3, 6])
        return [round(p.area, 6) for p in result.shapely_polygons()]

    sequential = [area(point) for point in points]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(area, points)) == sequential
    assert [area(point) for point in points] == sequential
