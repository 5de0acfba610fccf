"""Walk times: equal to networkx Dijkstra on the same graph with the same snapping."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from quarterhour.routing.graph import cost_per_metre
from quarterhour.routing.snapping import snap_points
from quarterhour.routing.walktimes import reach_from_nodes, walk_time_matrix

from reference import graph_with_points, reference_times, with_straight_walks


def random_points(network, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random points over the network's area (some off the network, beyond the snapping limit)."""
    rng = np.random.default_rng(seed)
    lon, lat = network.node_lonlat
    return rng.uniform(lon.min(), lon.max(), n), rng.uniform(lat.min(), lat.max(), n)


@pytest.mark.parametrize(
    ("name", "minutes", "speed_kmh", "meters"),
    [
        ("heidelberg", 15.0, 4.5, None),
        ("helsinki_clipped", 10.0, 3.6, None),
        ("shanghai_center", 15.0, 4.5, None),
        ("shanghai_center", None, 4.5, 1000.0),
    ],
)
def test_walk_times_equal_networkx_dijkstra(
    network_of, name: str, minutes, speed_kmh, meters
) -> None:
    network = network_of(name)
    src_lon, src_lat = random_points(network, 40, seed=1)
    far_lon, far_lat = random_points(network, 100, seed=2)
    rng = np.random.default_rng(5)
    # Targets around the sources (within about 1 km), some right next to them (same edge).
    near_lon = np.repeat(src_lon, 10) + rng.normal(0, 0.006, 400)
    near_lat = np.repeat(src_lat, 10) + rng.normal(0, 0.004, 400)
    dst_lon = np.concatenate([far_lon, near_lon, src_lon[:10] + 2e-4])
    dst_lat = np.concatenate([far_lat, near_lat, src_lat[:10] + 1e-4])
    times = walk_time_matrix(
        network,
        src_lon,
        src_lat,
        dst_lon,
        dst_lat,
        minutes=minutes,
        speed_kmh=speed_kmh,
        meters=meters,
        quiet=True,
    )
    limit = times.limit
    per_metre = cost_per_metre(speed_kmh=speed_kmh, meters=meters is not None)
    graph = graph_with_points(
        network, {"s": times.src_snap, "t": times.dst_snap}, per_metre=per_metre
    )
    n_pairs = 0
    for s in range(len(src_lon)):
        row = times.matrix.getrow(s)
        ours = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
        if not times.src_snap.reachable[s]:
            assert not ours
            continue
        reference = reference_times(graph, ("s", s), limit=limit)
        expected = {
            t: d
            for (kind, t), d in (
                (k, d) for k, d in reference.items() if isinstance(k, tuple) and len(k) == 2
            )
            if kind == "t"
        }
        expected = with_straight_walks(
            expected, s, times.src_snap, times.dst_snap, per_metre=per_metre
        )
        for t, d in expected.items():
            if d < limit - 1e-9:
                assert t in ours, (s, t, d)
                assert ours[t] == pytest.approx(d, abs=1e-6)
        for t, d in ours.items():
            assert d <= limit
            assert d == pytest.approx(expected[t], abs=1e-6)
        n_pairs += len(ours)
    assert n_pairs > 50


def test_snapping_matches_brute_force_nearest_edge(network_of) -> None:
    network = network_of("shanghai_center")
    lon, lat = random_points(network, 300, seed=3)
    snap = snap_points(network, lon, lat)
    x, y = network.projection.forward(lon, lat)
    for i in range(len(lon)):
        distances = shapely.distance(shapely.Point(x[i], y[i]), network.edge_lines)
        assert snap.access_m[i] == pytest.approx(distances.min(), abs=1e-6)
        if distances.min() <= 500:
            assert snap.reachable[i]
            assert distances[snap.edge[i]] == pytest.approx(distances.min(), abs=1e-6)
        else:
            assert not snap.reachable[i] and snap.edge[i] == -1


def test_points_beyond_the_limit_are_flagged_not_snapped(network_of) -> None:
    network = network_of("singapore_bayfront")
    lon, lat = network.node_lonlat
    far_lon, far_lat = np.array([lon.max() + 0.05]), np.array([lat.mean()])
    snap = snap_points(network, far_lon, far_lat)
    assert not snap.reachable[0]
    assert snap.access_m[0] > 5000
    times = walk_time_matrix(network, far_lon, far_lat, lon[:5], lat[:5], quiet=True)
    assert times.matrix.nnz == 0


def test_reach_from_nodes_equals_networkx(network_of) -> None:
    network = network_of("heidelberg")
    graph = network.to_networkx()
    per_metre = cost_per_metre(speed_kmh=4.5)
    for _, _, data in graph.edges(data=True):
        data["weight"] = data["length"] * per_metre
    sources = np.random.default_rng(4).integers(0, network.n_nodes, 25)
    reach = reach_from_nodes(network, sources, limit=15.0)
    for row, source in enumerate(sources):
        reference = reference_times(graph, int(source), limit=15.0)
        ours = reach.getrow(row)
        assert (
            dict(zip(ours.indices.tolist(), ours.data.tolist(), strict=True)).keys()
            == reference.keys()
        )
        np.testing.assert_allclose(ours.data, [reference[n] for n in ours.indices], atol=1e-9)


def test_a_station_on_the_spot_serves_a_compound_far_from_the_street(network_of) -> None:
    """Same point: zero minutes, not a walk to the street and back (400 m off it here)."""
    network = network_of("shanghai_center")
    lon, lat = random_points(network, 2000, seed=7)
    snap = snap_points(network, lon, lat)
    far = np.flatnonzero(snap.reachable & (snap.access_m > 300))[:3]
    assert len(far)
    matrix = walk_time_matrix(network, lon[far], lat[far], lon[far], lat[far], quiet=True).matrix
    for i in range(len(far)):
        row = matrix.getrow(i)
        assert i in row.indices  # the pair is stored (an explicit zero), not missing
        assert row.data[list(row.indices).index(i)] == 0.0
