"""Latency of ``GET /isochrone`` over HTTP: 15-minute isochrones in Heidelberg.

Starts ``python -m quarterhour serve`` (the ``quarterhour serve`` command) on loopback with
``data/heidelberg.osm.pbf`` and sends 15-minute isochrone requests from random street nodes:
first one client in sequence, then 8 concurrent clients, each with its own keep-alive
connection (httpx). Reports p50/p99 latency, throughput, errors (must be 0) and the server's
resident memory before and after. With ``--valhalla`` it runs the same requests against
Valhalla's own service (``../shared/tools/valhalla-anchor.sh``) and prints the ratios.

Usage::

    /opt/qh/bin/python benchmarks/bench_isochrone_api.py [--requests 10000] [--valhalla]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HEIDELBERG = ROOT / "data" / "heidelberg.osm.pbf"
VALHALLA_ANCHOR = ROOT.parent / "shared" / "tools" / "valhalla-anchor.sh"
SPEED_KMH = 4.5
MINUTES = 15
CONCURRENCY = 8
WARM_UP = 100


@dataclass(frozen=True)
class Run:
    """Latencies of one series of requests."""

    label: str
    seconds: np.ndarray
    wall_s: float
    errors: int

    @property
    def p50_ms(self) -> float:
        return float(np.percentile(self.seconds, 50) * 1000)

    @property
    def p99_ms(self) -> float:
        return float(np.percentile(self.seconds, 99) * 1000)

    @property
    def per_second(self) -> float:
        return len(self.seconds) / self.wall_s


def rss_mib(pid: int) -> float:
    """Memory of a process and its worker children, MiB: proportional set size (Linux /proc),
    so pages the forked workers share count once."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids += [int(child) for child in (task / "children").read_text().split()]
    total_kib = 0.0
    for member in pids:
        for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                total_kib += float(line.split()[1])
    return total_kib / 1024


def wait_until_up(url: str, *, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            msg = f"the server exited with status {process.returncode}"
            raise RuntimeError(msg)
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    msg = f"{url} did not answer within {timeout_s:g} s"
    raise RuntimeError(msg)


def request_points(n: int, *, seed: int = 42) -> np.ndarray:
    """``n`` (lon, lat) street nodes of Heidelberg, drawn at random."""
    from quarterhour.routing.network import load_network

    network = load_network(HEIDELBERG)
    lon, lat = network.node_lonlat
    pick = np.random.default_rng(seed).integers(0, network.n_nodes, n)
    return np.column_stack([lon[pick], lat[pick]])


def quarterhour_url(base: str, lon: float, lat: float) -> str:
    return f"{base}/isochrone?lon={lon:.6f}&lat={lat:.6f}&contours={MINUTES}&speed_kmh={SPEED_KMH}"


def valhalla_url(base: str, lon: float, lat: float) -> str:
    query = {
        "locations": [{"lat": round(lat, 6), "lon": round(lon, 6)}],
        "costing": "pedestrian",
        "costing_options": {"pedestrian": {"walking_speed": SPEED_KMH}},
        "contours": [{"time": MINUTES}],
        "polygons": True,
    }
    return f"{base}/isochrone?json={json.dumps(query, separators=(',', ':'))}"


def _series(urls: list[str]) -> tuple[list[float], int]:
    times, errors = [], 0
    with httpx.Client(timeout=60) as client:  # one keep-alive connection
        for url in urls:
            started = time.perf_counter()
            try:
                response = client.get(url)
                ok = response.status_code == 200 and b"FeatureCollection" in response.content
            except httpx.HTTPError:
                ok = False
            times.append(time.perf_counter() - started)
            errors += not ok
    return times, errors


def run(label: str, urls: list[str], *, clients: int) -> Run:
    """Send ``urls`` with ``clients`` concurrent keep-alive clients."""
    shares = [urls[k::clients] for k in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(_series, shares))
    wall = time.perf_counter() - started
    seconds = np.concatenate([np.asarray(times) for times, _ in results])
    return Run(label, seconds, wall, sum(errors for _, errors in results))


def bench(name: str, make_url, points: np.ndarray, *, n_sequential: int, memory=None) -> list[Run]:
    """The sequential and the concurrent series against one server; ``memory()`` after each."""
    urls = [make_url(float(lon), float(lat)) for lon, lat in points]
    run(f"{name} warm-up", urls[:WARM_UP], clients=1)
    rss = [memory()] if memory else []
    sequential = run(f"{name} 1 client", urls[:n_sequential], clients=1)
    rss += [memory()] if memory else []
    concurrent = run(f"{name} {CONCURRENCY} clients", urls[n_sequential:], clients=CONCURRENCY)
    rss += [memory()] if memory else []
    if memory:
        print(
            f"{name} server RSS: {rss[0]:.0f} MiB after warm-up, "
            f"{rss[1]:.0f} MiB after the sequential series, "
            f"{rss[2]:.0f} MiB after the concurrent one"
        )
    return [sequential, concurrent]


def start_quarterhour(port: int, workers: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "quarterhour",
        "serve",
        "--osm",
        str(HEIDELBERG),
        "--port",
        str(port),
        "--workers",
        str(workers),
        "-q",
    ]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def start_valhalla(port: int) -> int:
    output = subprocess.run(
        [str(VALHALLA_ANCHOR), str(HEIDELBERG), str(port)],
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return int(output.stdout.strip().splitlines()[-1])


def print_table(runs: list[Run], anchors: dict[str, Run]) -> None:
    header = (
        f"{'series':<28}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'errors':>8}"
        f"{'p50 ratio':>11}{'req/s ratio':>13}"
    )
    print(header)
    print("-" * len(header))
    for item in runs:
        anchor = (
            anchors.get(item.label.split(" ", 1)[1])
            if item.label.startswith("quarterhour")
            else None
        )
        p50_ratio = f"{item.p50_ms / anchor.p50_ms:.2f}" if anchor else ""
        rate_ratio = f"{item.per_second / anchor.per_second:.2f}" if anchor else ""
        print(
            f"{item.label:<28}{len(item.seconds):>9,}{item.p50_ms:>9.1f}{item.p99_ms:>9.1f}"
            f"{item.per_second:>9.0f}{item.errors:>8}{p50_ratio:>11}{rate_ratio:>13}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=10_000, help="total requests (a fifth sequential)"
    )
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument(
        "--workers", type=int, default=2, help="quarterhour serve --workers (processes)"
    )
    parser.add_argument(
        "--valhalla", action="store_true", help="also run against Valhalla (needs ../shared/tools)"
    )
    parser.add_argument("--valhalla-port", type=int, default=8732)
    args = parser.parse_args(argv)

    n_sequential = args.requests // 5
    points = request_points(args.requests)
    server = start_quarterhour(args.port, args.workers)
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_until_up(f"{base}/health", timeout_s=300, process=server)
        print(f"quarterhour server RSS: {rss_mib(server.pid):.0f} MiB after start-up")
        runs = bench(
            "quarterhour",
            lambda lon, lat: quarterhour_url(base, lon, lat),
            points,
            n_sequential=n_sequential,
            memory=lambda: rss_mib(server.pid),
        )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)

    anchors: dict[str, Run] = {}
    if args.valhalla:
        pid = start_valhalla(args.valhalla_port)
        valhalla = f"http://127.0.0.1:{args.valhalla_port}"
        try:
            wait_until_up(valhalla_url(valhalla, *points[0]), timeout_s=300)
            valhalla_runs = bench(
                "valhalla",
                lambda lon, lat: valhalla_url(valhalla, lon, lat),
                points,
                n_sequential=n_sequential,
            )
            anchors = {item.label.split(" ", 1)[1]: item for item in valhalla_runs}
            runs += valhalla_runs
        finally:
            os.kill(pid, signal.SIGKILL)

    print(
        f"15-minute walking isochrones at {SPEED_KMH} km/h, "
        f"Heidelberg ({len(points):,} random street nodes), "
        f"{os.cpu_count()} CPUs, keep-alive HTTP/1.1 on loopback"
    )
    print_table(runs, anchors)
    total_errors = sum(item.errors for item in runs)
    print(f"errors: {total_errors}")
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
