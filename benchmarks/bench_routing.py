"""Routing benchmark on Heidelberg: network build, cached reload, 15-minute reach, isochrones.

Every figure is measured in this run, beside its peer on the same data and machine:

- network build from PBF vs ``osmnx.graph_from_xml`` on the same data (as OSM XML);
- cached reload;
- 15-minute reach from 5,000 sources vs networkx ``single_source_dijkstra_path_length``
  (on the osmnx-style MultiDiGraph and on a plain Graph), ``scipy.sparse.csgraph.dijkstra``
  with ``limit=`` and pandana ``nodes_in_range``, all on the same simplified graph;
- one 15-minute isochrone polygon (p50/p99), and Valhalla's own service when ``--valhalla``.

Run: ``python benchmarks/bench_routing.py [--quick] [--valhalla]`` (pandana: ``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from quarterhour import settings
from quarterhour.routing.edge_grid import grid_of
from quarterhour.routing.isochrone import isochrone, to_geojson
from quarterhour.routing.network import build_network, load_network
from quarterhour.routing.walktimes import reach_from_nodes

ROOT = Path(__file__).resolve().parents[1]
HEIDELBERG = ROOT / "data" / "heidelberg.osm.pbf"
LIMIT_MIN = 15.0
SPEED_M_PER_MIN = settings.walk_speed_kmh * 1000 / 60


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def row(measure: str, ours: float, peer_name: str, peer: float | None, unit: str = "s") -> None:
    ratio = f"{peer / ours:8.1f}x" if peer else "       -"
    peer_text = f"{peer:10.4f} {unit}" if peer else "         -"
    print(f"{measure:<38} {ours:10.4f} {unit}  {peer_name:<34} {peer_text}  {ratio}")


def write_xml(pbf: Path, xml: Path) -> None:
    import osmium

    writer = osmium.SimpleWriter(str(xml), overwrite=True)
    for entity in osmium.FileProcessor(str(pbf)):
        writer.add(entity)
    writer.close()


def bench_build(quick: bool) -> None:
    _, ours = timed(build_network, HEIDELBERG)
    peer = None
    if not quick:
        import osmnx as ox

        with tempfile.TemporaryDirectory() as folder:
            xml = Path(folder) / "heidelberg.osm"
            write_xml(HEIDELBERG, xml)
            _, peer = timed(ox.graph_from_xml, xml)
    row("network build from PBF", ours, "osmnx.graph_from_xml", peer)
    with tempfile.TemporaryDirectory() as folder:
        load_network(HEIDELBERG, cache_folder=folder)
        _, reload = timed(load_network, HEIDELBERG, cache_folder=folder)
    row("cached reload (target < 0.5 s)", reload, "", None)


def bench_reach(network, quick: bool) -> None:
    import networkx as nx
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    n_sources = 1000 if quick else 5000
    sources = np.random.default_rng(0).integers(0, network.n_nodes, n_sources).astype(np.int32)
    arc_cost = network.arc_cost()
    reach_from_nodes(network, sources[:50], limit=LIMIT_MIN, arc_cost=arc_cost)  # compile
    reach, ours = timed(reach_from_nodes, network, sources, limit=LIMIT_MIN, arc_cost=arc_cost)
    per_source = ours / n_sources * 1e3
    print(
        f"  ours: {n_sources:,} sources, {reach.nnz / n_sources:,.0f} nodes reached per source on average"
    )

    multi = nx.MultiDiGraph()
    minutes = network.edge_length_m / SPEED_M_PER_MIN
    for u, v, t in zip(
        network.edge_u.tolist(), network.edge_v.tolist(), minutes.tolist(), strict=True
    ):
        multi.add_edge(u, v, travel_time=t)
        multi.add_edge(v, u, travel_time=t)
    simple = nx.Graph()
    for u, v, t in zip(
        network.edge_u.tolist(), network.edge_v.tolist(), minutes.tolist(), strict=True
    ):
        if not simple.has_edge(u, v) or simple[u][v]["travel_time"] > t:
            simple.add_edge(u, v, travel_time=t)
    sample = sources[:200].tolist()
    for name, graph in (
        ("networkx (osmnx MultiDiGraph)", multi),
        ("networkx (plain Graph)", simple),
    ):
        _, seconds = timed(
            lambda g=graph: [
                nx.single_source_dijkstra_path_length(g, s, cutoff=LIMIT_MIN, weight="travel_time")
                for s in sample
            ]
        )
        row("15-min reach, ms per source", per_source, name, seconds / len(sample) * 1e3, "ms")

    tails = np.repeat(np.arange(network.n_nodes), np.diff(network.indptr))
    # csr_matrix would sum parallel arcs; scipy must get the shortest of them instead.
    order = np.lexsort((arc_cost, network.arc_head, tails))
    first = np.ones(len(order), dtype=bool)
    first[1:] = (tails[order][1:] != tails[order][:-1]) | (
        network.arc_head[order][1:] != network.arc_head[order][:-1]
    )
    keep = order[first]
    matrix = csr_matrix(
        (arc_cost[keep], (tails[keep], network.arc_head[keep])), shape=(network.n_nodes,) * 2
    )
    scipy_sources = sources[:1000]
    _, seconds = timed(
        lambda: [
            dijkstra(matrix, directed=True, indices=chunk, limit=LIMIT_MIN)
            for chunk in np.array_split(scipy_sources, 10)
        ]
    )
    row(
        "15-min reach, ms per source",
        per_source,
        "scipy csgraph.dijkstra(limit=)",
        seconds / len(scipy_sources) * 1e3,
        "ms",
    )

    try:
        import pandana
    except ImportError:
        print("  pandana not installed: pip install -e .[bench]")
        return
    import pandas as pd

    pandana_net = pandana.Network(
        pd.Series(network.node_x),
        pd.Series(network.node_y),
        pd.Series(network.edge_u.astype(np.int64)),
        pd.Series(network.edge_v.astype(np.int64)),
        pd.DataFrame({"minutes": minutes}),
        twoway=True,
    )
    pandana_sources = sources[:1000]
    _, seconds = timed(pandana_net.nodes_in_range, pandana_sources.tolist(), LIMIT_MIN, "minutes")
    row(
        "15-min reach, ms per source",
        per_source,
        "pandana nodes_in_range",
        seconds / len(pandana_sources) * 1e3,
        "ms",
    )


def bench_isochrone(network, quick: bool, valhalla_port: int | None) -> None:
    """Where one request's time goes, stage by stage (thread CPU time, so other programs on a
    shared machine do not count), and Valhalla's whole request beside it."""
    from quarterhour.api.http.responses import dumps

    lon, lat = network.node_lonlat
    origins = np.random.default_rng(1).integers(0, network.n_nodes, 200 if quick else 1000)
    to_geojson(isochrone(network, lon[0], lat[0], minutes=[15]), network, arrays=True)
    stages = {"snap (grid index)": [], "isochrone (walk, field, contours)": [], "GeoJSON": []}
    stages["serialise (orjson)"] = []
    totals = []
    for node in origins:
        x, y = network.projection.forward(lon[node : node + 1], lat[node : node + 1])
        started = time.thread_time()
        grid_of(network).nearest(network, x[0], y[0], 500.0)
        snapped = time.thread_time()
        result = isochrone(network, lon[node], lat[node], minutes=[15])
        walked = time.thread_time()
        collection = to_geojson(result, network, arrays=True)
        drawn = time.thread_time()
        dumps(collection)
        done = time.thread_time()
        stages["snap (grid index)"].append(snapped - started)
        stages["isochrone (walk, field, contours)"].append(walked - snapped)
        stages["GeoJSON"].append(drawn - walked)
        stages["serialise (orjson)"].append(done - drawn)
        totals.append(done - snapped)
    for name, seconds in stages.items():
        values = np.asarray(seconds) * 1e3
        print(
            f"  {name:<36} p50 {np.median(values):.3f} ms, p99 {np.percentile(values, 99):.3f} ms"
        )
    ours_p50 = float(np.median(totals)) * 1e3
    print(
        "  ours: one 15-min isochrone polygon (in process, JSON bytes): "
        f"p50 {ours_p50:.2f} ms, p99 {np.percentile(totals, 99) * 1e3:.2f} ms"
    )
    peer = None
    if valhalla_port:
        times = []
        for node in origins[:300]:
            query = {
                "locations": [{"lat": float(lat[node]), "lon": float(lon[node])}],
                "costing": "pedestrian",
                "costing_options": {"pedestrian": {"walking_speed": 4.5}},
                "contours": [{"time": 15}],
                "polygons": True,
            }
            url = f"http://127.0.0.1:{valhalla_port}/isochrone?json=" + urllib.request.quote(
                json.dumps(query)
            )
            started = time.perf_counter()
            with urllib.request.urlopen(url, timeout=30) as response:
                response.read()
            times.append(time.perf_counter() - started)
        peer = float(np.median(times)) * 1e3
    row("one 15-min isochrone, p50 (in process)", ours_p50, "Valhalla service (HTTP)", peer, "ms")
    print(
        "  (over HTTP against Valhalla, same points and threads: benchmarks/bench_isochrone_api.py)"
    )


def start_valhalla(port: int) -> int:
    tool = ROOT.parent / "shared" / "tools" / "valhalla-anchor.sh"
    pid = subprocess.run(
        [str(tool), str(HEIDELBERG), str(port)], capture_output=True, text=True, check=True
    ).stdout.strip()
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=1).read()
            return int(pid)
        except OSError:
            time.sleep(1)
    return int(pid)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="skip osmnx's build; fewer sources")
    parser.add_argument(
        "--valhalla",
        action="store_true",
        help="start Valhalla (../shared/tools) and compare isochrones",
    )
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; data: {HEIDELBERG.name}")
    print(f"{'measure':<38} {'ours':>12}  {'compared with':<34} {'peer':>12}  {'ratio':>9}")
    bench_build(args.quick)
    network = build_network(HEIDELBERG)
    print(f"  {network.describe()}")
    bench_reach(network, args.quick)
    pid = start_valhalla(8002) if args.valhalla else None
    try:
        bench_isochrone(network, args.quick, 8002 if pid else None)
    finally:
        if pid:
            os.kill(pid, 9)


if __name__ == "__main__":
    main()
