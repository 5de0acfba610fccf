"""Walking routes: lengths equal networkx shortest paths, lines on the streets, walk times equal."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import quarterhour as qh
from quarterhour.geo.crs import convert
from quarterhour.geo.errors import InputError, NetworkError, NoRouteError
from quarterhour.routing.graph import cost_per_metre
from quarterhour.routing.route import nearest_routes, shortest_route
from quarterhour.routing.snapping import snap_points
from quarterhour.routing.walktimes import walk_time_matrix

from reference import graph_with_points, with_straight_walks

EARTH_RADIUS_M = 6_371_009.0  # osmnx's mean Earth radius: edge lengths are great-circle


def haversine_length(lon: np.ndarray, lat: np.ndarray) -> float:
    """Great-circle length of a polyline in WGS84 degrees."""
    lon, lat = np.radians(lon), np.radians(lat)
    a = (
        np.sin(np.diff(lat) / 2) ** 2
        + np.cos(lat[:-1]) * np.cos(lat[1:]) * np.sin(np.diff(lon) / 2) ** 2
    )
    return float((2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))).sum())


def pairs_near_each_other(network, n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Start points on the network's area and end points within about 1.5 km, some next door."""
    rng = np.random.default_rng(seed)
    lon, lat = network.node_lonlat
    picked = rng.integers(0, network.n_nodes, n)
    from_lon = lon[picked] + rng.normal(0, 0.001, n)
    from_lat = lat[picked] + rng.normal(0, 0.001, n)
    spread = np.where(np.arange(n) % 4 == 0, 0.0003, 0.008)  # a quarter right next door
    to_lon = from_lon + rng.normal(0, 1, n) * spread
    to_lat = from_lat + rng.normal(0, 1, n) * spread * 0.7
    return from_lon, from_lat, to_lon, to_lat


ON_STREET_M = 0.01


def check_line_on_streets(network, result) -> None:
    """The ends are the points, their access legs straight; everything between lies on streets.

    Every vertex between the ends, and the middle of every segment between them, is within 1 cm
    of an edge of the network (re-projected from the route's WGS84 coordinates).
    """
    x, y = network.projection.forward(result.lon, result.lat)
    if result.kind == "straight":
        assert len(x) == 2
        return
    middles = shapely.points((x[1:-2] + x[2:-1]) / 2, (y[1:-2] + y[2:-1]) / 2)
    points = np.concatenate([shapely.points(x, y), middles])
    _, distance = network.edge_tree.query_nearest(points, return_distance=True, all_matches=False)
    assert distance[0] == pytest.approx(result.access_m[0], abs=ON_STREET_M)
    assert distance[len(x) - 1] == pytest.approx(result.access_m[1], abs=ON_STREET_M)
    interior = np.delete(distance, [0, len(x) - 1])
    assert (interior < ON_STREET_M).all(), interior.max()
    if result.access_m[0] > ON_STREET_M:
        assert np.hypot(x[1] - x[0], y[1] - y[0]) == pytest.approx(result.access_m[0], abs=0.01)
    if result.access_m[1] > ON_STREET_M:
        assert np.hypot(x[-1] - x[-2], y[-1] - y[-2]) == pytest.approx(result.access_m[1], abs=0.01)


def line_metres(result) -> float:
    """The line's length as the network measures: great-circle along streets, access legs straight."""
    if result.kind == "straight":
        return float(np.hypot(np.diff(result.x), np.diff(result.y)).sum())
    start = 1 if result.access_m[0] > ON_STREET_M else 0
    stop = len(result.lon) - 1 if result.access_m[1] > ON_STREET_M else len(result.lon)
    street = haversine_length(result.lon[start:stop], result.lat[start:stop])
    return result.access_m[0] + street + result.access_m[1]


@pytest.mark.parametrize(
    ("name", "n_pairs"),
    [("heidelberg", 60), ("shanghai_center", 60), ("singapore_bayfront", 40)],
)
def test_routes_equal_networkx_shortest_paths_and_follow_the_streets(
    network_of, name: str, n_pairs: int
) -> None:
    network = network_of(name)
    from_lon, from_lat, to_lon, to_lat = pairs_near_each_other(network, n_pairs, seed=11)
    src = snap_points(network, from_lon, from_lat)
    dst = snap_points(network, to_lon, to_lat)
    graph = graph_with_points(network, {"s": src, "t": dst}, per_metre=1.0)
    kinds = set()
    n_checked = 0
    for i in range(n_pairs):
        if not (src.reachable[i] and dst.reachable[i]):
            with pytest.raises(NetworkError):
                shortest_route(network, from_lon[i], from_lat[i], to_lon[i], to_lat[i])
            continue
        try:
            expected = nx.dijkstra_path_length(graph, ("s", i), ("t", i), weight="weight")
        except nx.NetworkXNoPath:
            expected = np.inf
        expected = with_straight_walks({i: expected}, i, src, dst, per_metre=1.0)[i]
        if not np.isfinite(expected):
            with pytest.raises(NoRouteError):
                shortest_route(network, from_lon[i], from_lat[i], to_lon[i], to_lat[i])
            continue
        result = shortest_route(network, from_lon[i], from_lat[i], to_lon[i], to_lat[i])
        assert result.meters == pytest.approx(expected, abs=1e-6)
        assert result.minutes == pytest.approx(expected * cost_per_metre(speed_kmh=4.5), abs=1e-9)
        check_line_on_streets(network, result)
        # Full edges measure exactly; the snapped ends of the first and last edge carry the
        # projection's distortion (the network locates them by planar share of the edge).
        assert line_metres(result) == pytest.approx(result.meters, rel=2e-3, abs=0.05)
        kinds.add(result.kind)
        n_checked += 1
    assert n_checked >= n_pairs // 3
    assert "network" in kinds


def test_route_times_equal_the_walk_time_matrix(network_of) -> None:
    network = network_of("heidelberg")
    from_lon, from_lat, to_lon, to_lat = pairs_near_each_other(network, 80, seed=12)
    times = walk_time_matrix(network, from_lon, from_lat, to_lon, to_lat, minutes=30, quiet=True)
    n_equal = 0
    for i in range(len(from_lon)):
        row = times.matrix.getrow(i)
        if i not in row.indices:
            continue
        result = shortest_route(network, from_lon[i], from_lat[i], to_lon[i], to_lat[i])
        assert result.minutes == pytest.approx(row.data[list(row.indices).index(i)], abs=1e-9)
        n_equal += 1
    assert n_equal > 30


def test_same_edge_pairs_walk_along_it_or_straight_across(network_of) -> None:
    """Two points joining one edge walk the shorter of along it and straight across.

    Straight across is never longer in the plane, so it wins unless the points are on the street
    of an edge the plane draws longer than it is (great-circle): then along the street wins.
    """
    network = network_of("shanghai_center")
    planar = shapely.length(network.edge_lines)
    straight_edge = np.diff(network.geom_offsets) == 2
    short_in_fact = np.flatnonzero(
        straight_edge & (network.edge_length_m < 0.999 * planar) & (planar > 150)
    )[:30]
    assert len(short_in_fact) >= 3
    kinds = []
    for edge in short_in_fact.tolist():
        line = network.edge_lines[edge]
        for fractions, offset_m, kind in (
            ((0.3, 0.6), 0.0, "along_street"),
            ((0.45, 0.5), 40.0, "straight"),
        ):
            p, q = (shapely.line_interpolate_point(line, f, normalized=True) for f in fractions)
            normal = np.array([q.y - p.y, p.x - q.x]) / shapely.distance(p, q)
            x = np.array([p.x, q.x]) + offset_m * normal[0]
            y = np.array([p.y, q.y]) + offset_m * normal[1]
            lon, lat = network.projection.inverse(x, y)
            snap = snap_points(network, lon, lat)
            if not (snap.edge == edge).all():
                continue  # another street is nearer
            result = shortest_route(network, lon[0], lat[0], lon[1], lat[1])
            along = snap.access_m.sum() + abs(snap.offset_m[0] - snap.offset_m[1])
            straight = float(np.hypot(x[1] - x[0], y[1] - y[0]))
            assert result.kind == kind
            assert result.meters == pytest.approx(min(along, straight), abs=1e-6)
            if kind == "straight":
                assert len(result) == 2
            else:
                assert result.edges.tolist() == [edge]
                check_line_on_streets(network, result)
                assert line_metres(result) == pytest.approx(result.meters, rel=2e-3, abs=0.05)
            kinds.append(kind)
    assert {"straight", "along_street"} <= set(kinds)


def test_same_point_is_a_zero_route(network_of) -> None:
    network = network_of("shanghai_center")
    result = shortest_route(network, 121.4737, 31.2304, 121.4737, 31.2304)
    assert result.meters == 0.0 and result.kind == "straight"
    assert result.to_geojson()["geometry"]["coordinates"][0] == [121.4737, 31.2304]


def test_off_network_and_unconnected_points(network_of) -> None:
    network = network_of("shanghai_center")
    with pytest.raises(NetworkError) as error:
        shortest_route(network, 121.4737, 31.2304, 121.9, 31.0)
    assert error.value.param == "to_point" and "snapping limit" in str(error.value)
    assert not isinstance(error.value, NoRouteError)
    # Central Shanghai's road-only extract has two parts: Puxi and Pudong (no walkable crossing).
    adjacency = coo_matrix(
        (np.ones(network.n_edges), (network.edge_u, network.edge_v)), shape=(network.n_nodes,) * 2
    )
    n_parts, labels = connected_components(adjacency, directed=False)
    assert n_parts == 2
    lon, lat = network.node_lonlat
    a, b = np.flatnonzero(labels == 0)[0], np.flatnonzero(labels == 1)[0]
    with pytest.raises(NoRouteError, match="separate parts"):
        shortest_route(network, lon[a], lat[a], lon[b], lat[b])
    with pytest.raises(NoRouteError, match="other parts"):
        nearest_routes(network, lon[a], lat[a], lon[labels == 1][:5], lat[labels == 1][:5])


def test_gcj02_points_and_output(network_of) -> None:
    network = network_of("shanghai_center")
    wgs = [(121.4737, 31.2304), (121.4800, 31.2250)]
    gcj = [tuple(float(v) for v in convert(*p, src="wgs84", dst="gcj02")) for p in wgs]
    in_gcj = qh.route(network, gcj[0], gcj[1], crs="gcj02")
    in_wgs = shortest_route(network, *wgs[0], *wgs[1])
    assert in_gcj.meters == pytest.approx(in_wgs.meters, abs=1e-3)
    feature = in_gcj.to_geojson()
    assert feature["properties"]["crs"] == "gcj02"
    line = np.array(feature["geometry"]["coordinates"])
    back_lon, back_lat = convert(line[:, 0], line[:, 1], src="gcj02", dst="wgs84")
    np.testing.assert_allclose(back_lon, in_gcj.lon, atol=2e-6)
    np.testing.assert_allclose(back_lat, in_gcj.lat, atol=2e-6)
    assert line[0] == pytest.approx(gcj[0], abs=1e-6)
    frame = qh.route(network, shapely.Point(*wgs[0]), wgs[1], out_crs="gcj02").to_frame()
    assert frame.crs is None and frame.attrs["crs"] == "gcj02"
    assert frame["meters"].iloc[0] == pytest.approx(in_wgs.meters, abs=1e-2)


def test_nearest_stations_are_ordered_by_walk_time(network_of, data_dir) -> None:
    network = network_of("shanghai_center")
    compounds = pd.read_csv(data_dir / "shanghai_compounds_amap_gcj02.csv")
    inside = compounds[
        compounds["lng"].between(121.44, 121.52) & compounds["lat"].between(31.20, 31.26)
    ]
    stations = qh.points_from_frame(
        inside.iloc[::25].rename(columns={"lng": "lon"}), crs="gcj02", role="stations"
    )
    homes = inside.iloc[3::97].head(12)
    home_lon, home_lat = convert(
        homes["lng"].to_numpy(), homes["lat"].to_numpy(), src="gcj02", dst="wgs84"
    )
    times = walk_time_matrix(
        network, home_lon, home_lat, stations.lon, stations.lat, minutes=600, quiet=True
    ).matrix
    for i in range(len(homes)):
        found = nearest_routes(network, home_lon[i], home_lat[i], stations.lon, stations.lat, k=5)
        row = times.getrow(i)
        order = row.indices[np.lexsort((row.indices, row.data))][:5]
        assert [t for t, _ in found] == order.tolist()
        for t, result in found:
            assert result.minutes == pytest.approx(times[i, t], abs=1e-9)
    snapped = snap_points(network, stations.lon, stations.lat)
    again = nearest_routes(
        network, home_lon[0], home_lat[0], stations.lon, stations.lat, k=5, stations_snap=snapped
    )
    assert [(t, r.meters) for t, r in again] == [
        (t, r.meters)
        for t, r in nearest_routes(
            network, home_lon[0], home_lat[0], stations.lon, stations.lat, k=5
        )
    ]
    frame = qh.nearest_stations(
        network, (homes["lng"].iloc[0], homes["lat"].iloc[0]), stations, k=3, crs="gcj02"
    )
    assert frame["rank"].tolist() == [1, 2, 3]
    assert frame["minutes"].is_monotonic_increasing
    assert set(frame["station_id"]) <= set(stations.ids)
    assert frame.attrs["crs"] == "gcj02" and "OpenStreetMap" in frame.attrs["attribution"]
    with pytest.raises(InputError) as error:
        nearest_routes(network, home_lon[0], home_lat[0], stations.lon, stations.lat, k=0)
    assert error.value.param == "k"
