"""Walking routes in Heidelberg: in process, over HTTP, and against networkx and Valhalla.

* in process: ``shortest_route`` between random street points 0.5-3 km apart (p50/p99), and
  ``nearest_routes`` (k=3 of 200 stations); networkx's ``shortest_path`` between the same
  nodes on the plain graph (what ``osmnx.routing.shortest_path`` runs) as the peer;
* over HTTP: ``GET /route`` and ``POST /route`` (Valhalla's body), one keep-alive client, to
  ``python -m quarterhour serve``; with ``--valhalla`` the same POST bodies to Valhalla's own
  service (``../shared/tools/valhalla-anchor.sh``), and the ratio of route lengths.

Usage::

    .venv/bin/python benchmarks/bench_route.py [--pairs 2000] [--valhalla]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import networkx as nx
import numpy as np

from quarterhour.api.http.serving import free_port
from quarterhour.routing.network import load_network
from quarterhour.routing.route import nearest_routes, shortest_route
from quarterhour.routing.snapping import snap_points

ROOT = Path(__file__).resolve().parents[1]
HEIDELBERG = ROOT / "data" / "heidelberg.osm.pbf"
VALHALLA_ANCHOR = ROOT.parent / "shared" / "tools" / "valhalla-anchor.sh"


def pairs(network, n: int, seed: int = 7) -> np.ndarray:
    """``n`` pairs of street nodes 0.5-3 km apart, as rows ``lon0, lat0, lon1, lat1, u, v``."""
    rng = np.random.default_rng(seed)
    lon, lat = network.node_lonlat
    rows = []
    while len(rows) < n:
        u, v = rng.integers(0, network.n_nodes, 2)
        d = np.hypot(network.node_x[u] - network.node_x[v], network.node_y[u] - network.node_y[v])
        if 500 < d < 3000:
            rows.append((lon[u], lat[u], lon[v], lat[v], u, v))
    return np.array(rows)


def percentiles(seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1000
    return f"p50 {np.percentile(ms, 50):7.3f} ms  p99 {np.percentile(ms, 99):7.3f} ms"


def bench_in_process(network, rows: np.ndarray) -> None:
    times, lengths = [], []
    for lon0, lat0, lon1, lat1, _, _ in rows:
        started = time.perf_counter()
        try:
            result = shortest_route(network, lon0, lat0, lon1, lat1)
            lengths.append(result.meters)
        except Exception:
            continue
        finally:
            times.append(time.perf_counter() - started)
    print(f"shortest_route (in process)      {percentiles(times)}  ({len(lengths)} routes)")

    graph = nx.Graph()
    for e in range(network.n_edges):
        u, v, length = int(network.edge_u[e]), int(network.edge_v[e]), network.edge_length_m[e]
        if not graph.has_edge(u, v) or graph[u][v]["length"] > length:
            graph.add_edge(u, v, length=float(length))
    peer = []
    for row in rows[: min(len(rows), 500)]:
        started = time.perf_counter()
        with contextlib.suppress(nx.NetworkXNoPath):
            nx.shortest_path(graph, int(row[4]), int(row[5]), weight="length")
        peer.append(time.perf_counter() - started)
    print(f"networkx shortest_path (peer)    {percentiles(peer)}")

    rng = np.random.default_rng(3)
    lon, lat = network.node_lonlat
    stations = rng.integers(0, network.n_nodes, 200)
    near = []
    for lon0, lat0, *_ in rows[:500]:
        started = time.perf_counter()
        try:
            nearest_routes(network, lon0, lat0, lon[stations], lat[stations], k=3)
        except Exception:
            continue
        finally:
            near.append(time.perf_counter() - started)
    print(f"nearest_routes k=3 of 200        {percentiles(near)}")
    snapped = snap_points(network, lon[stations], lat[stations])
    near = []
    for lon0, lat0, *_ in rows[:500]:
        started = time.perf_counter()
        try:
            nearest_routes(
                network, lon0, lat0, lon[stations], lat[stations], k=3, stations_snap=snapped
            )
        except Exception:
            continue
        finally:
            near.append(time.perf_counter() - started)
    print(f"  stations snapped once (server) {percentiles(near)}")


def serve(port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "quarterhour", "serve", "--osm", str(HEIDELBERG)]
    command += ["--port", str(port), "-q"]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_until_up(url: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    msg = f"{url} did not answer"
    raise RuntimeError(msg)


def body(row: np.ndarray) -> dict:
    return {
        "locations": [
            {"lat": round(row[1], 6), "lon": round(row[0], 6)},
            {"lat": round(row[3], 6), "lon": round(row[2], 6)},
        ],
        "costing": "pedestrian",
        "costing_options": {"pedestrian": {"walking_speed": 4.5}},
    }


def http_series(base: str, rows: np.ndarray, *, post: bool) -> tuple[list[float], list[float]]:
    times, lengths = [], []
    with httpx.Client(base_url=base, timeout=60) as client:
        for row in rows:
            started = time.perf_counter()
            if post:
                response = client.post("/route", json=body(row))
            else:
                response = client.get(
                    "/route",
                    params={
                        "from_lon": row[0],
                        "from_lat": row[1],
                        "to_lon": row[2],
                        "to_lat": row[3],
                    },
                )
            times.append(time.perf_counter() - started)
            ok = response.status_code == 200
            lengths.append(response.json()["trip"]["summary"]["length"] if ok and post else np.nan)
    return times, lengths


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--valhalla", action="store_true", help="compare with Valhalla's /route")
    args = parser.parse_args()
    network = load_network(HEIDELBERG, quiet=True)
    print(f"machine: {os.cpu_count()} cores; {network.describe()}")
    rows = pairs(network, args.pairs)
    shortest_route(network, *rows[0, :4])  # load the compiled kernels
    bench_in_process(network, rows)

    port = free_port()
    server = serve(port)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/health")
        http_series(base, rows[:100], post=False)  # warm-up
        times, _ = http_series(base, rows, post=False)
        print(f"GET /route, 1 client             {percentiles(times)}")
        times, ours = http_series(base, rows, post=True)
        print(f"POST /route (Valhalla body)      {percentiles(times)}")
    finally:
        server.kill()
    if args.valhalla:
        valhalla_port = free_port()
        output = subprocess.run(
            [str(VALHALLA_ANCHOR), str(HEIDELBERG), str(valhalla_port)],
            check=True,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        pid = int(output.stdout.strip().splitlines()[-1])
        try:
            base = f"http://127.0.0.1:{valhalla_port}"
            wait_until_up(f"{base}/status")
            http_series(base, rows[:100], post=True)
            times, theirs = http_series(base, rows, post=True)
            print(f"Valhalla POST /route (peer)      {percentiles(times)}")
            ratio = np.asarray(ours) / np.asarray(theirs)
            ratio = ratio[np.isfinite(ratio)]
            print(
                f"route length ours / Valhalla's: median {np.median(ratio):.3f}, "
                f"p5 {np.percentile(ratio, 5):.3f}, p95 {np.percentile(ratio, 95):.3f} "
                f"({len(ratio)} pairs both found)"
            )
        finally:
            os.kill(pid, 9)


if __name__ == "__main__":
    main()
