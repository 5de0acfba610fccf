"""Isochrone service against Valhalla's own service: latency, throughput and memory, one run.

Starts ``quarterhour serve --workers W`` and Valhalla 3.9.1's ``valhalla_service`` with W
threads (the wheel and tiles that ``../shared/tools/valhalla-anchor.sh`` unpacks and builds) on
loopback, on the same OSM file, and sends both the same 15-minute walking isochrone requests
(random street nodes, 4.5 km/h, polygons). Series of 1, 8 and 32 concurrent keep-alive clients
are interleaved: every round runs each series on both servers, in alternating order, so that
the load other programs put on a shared machine falls on both alike. Every figure is printed
with its ratio to Valhalla's:

- p50 and p99 latency, requests per second;
- CPU milliseconds per request (server processes, from /proc: robust to a busy machine);
- the first and the tenth request after start (everything a request uses is warmed at start);
- the proportional set size (PSS) of the server's process tree: forked workers share the
  memory-mapped network, so N workers cost one network.

The load generator is one asyncio process (uvloop, raw HTTP/1.1 with httptools' parser): it
costs tens of microseconds a request, so it takes little CPU from the servers it measures.

Usage::

    python benchmarks/bench_isochrone_api.py [--osm data/heidelberg.osm.pbf] [--workers 1 2]
        [--rounds 3] [--requests 2000] [--no-valhalla]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HEIDELBERG = ROOT / "data" / "heidelberg.osm.pbf"
VALHALLA_ANCHOR = ROOT.parent / "shared" / "tools" / "valhalla-anchor.sh"
SPEED_KMH = 4.5
MINUTES = 15
CLIENTS = (1, 8, 32)
WARM_UP = 200


def cache_root() -> Path:
    """Where benchmarks keep what they build (never in the repository)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "quarterhour-bench"


# --- processes: memory and CPU time of a process tree ------------------------------------


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with suppress(OSError):
                queue += [int(child) for child in (task / "children").read_text().split()]
    return pids


def pss_mib(pid: int) -> float:
    """Proportional set size of a process tree, MiB: shared pages count once in the sum."""
    total_kib = 0.0
    for member in tree_pids(pid):
        try:
            text = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total_kib += float(line.split()[1])
    return total_kib / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process tree (live processes), seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in tree_pids(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the load generator -----------------------------------------------------------------


async def _connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bytes]:
    import httptools

    done = False
    body: list[bytes] = []

    class Handler:
        def on_body(self, chunk: bytes) -> None:
            body.append(chunk)

        def on_message_complete(self) -> None:
            nonlocal done
            done = True

    parser = httptools.HttpResponseParser(Handler())
    writer.write(raw)
    while not done:
        data = await reader.read(1 << 16)
        if not data:
            msg = "connection closed"
            raise ConnectionError(msg)
        parser.feed_data(data)
    return parser.get_status_code(), b"".join(body)


async def _client(
    port: int, raws: list[bytes], taken: list[int], latencies: list[float], errors: list[int]
) -> None:
    """One keep-alive connection sending the next request not yet taken, until none is left."""
    reader, writer = await _connection(port)
    try:
        while taken[0] < len(raws):
            raw = raws[taken[0]]
            taken[0] += 1
            started = time.perf_counter()
            try:
                status, body = await _exchange(reader, writer, raw)
                ok = status == 200 and b"FeatureCollection" in body
            except (ConnectionError, OSError):
                ok = False
                writer.close()
                reader, writer = await _connection(port)
            latencies.append(time.perf_counter() - started)
            errors[0] += not ok
    finally:
        writer.close()


def request_bytes(paths: list[str], port: int) -> list[bytes]:
    return [f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode() for path in paths]


def load(port: int, paths: list[str], clients: int) -> tuple[np.ndarray, float, int]:
    """Send ``paths`` over ``clients`` keep-alive connections; latencies, wall time, errors.

    The connections share one queue of requests (each sends the next one as soon as it has its
    answer), so a server that spreads connections unevenly over its workers or threads loses
    no throughput to the measurement itself, only latency where it is slow.
    """
    raws = request_bytes(paths, port)
    latencies: list[float] = []
    errors = [0]
    taken = [0]

    async def main() -> float:
        started = time.perf_counter()
        await asyncio.gather(
            *(_client(port, raws, taken, latencies, errors) for _ in range(clients))
        )
        return time.perf_counter() - started

    try:
        import uvloop

        wall = uvloop.run(main())
    except ImportError:
        wall = asyncio.run(main())
    return np.asarray(latencies), wall, errors[0]


# --- the servers ------------------------------------------------------------------------


@dataclass
class Server:
    """A running isochrone service."""

    name: str
    port: int
    process: subprocess.Popen

    @property
    def pid(self) -> int:
        return self.process.pid

    def path(self, lon: float, lat: float) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


class Quarterhour(Server):
    def path(self, lon: float, lat: float) -> str:
        return f"/isochrone?lon={lon:.6f}&lat={lat:.6f}&contours={MINUTES}&speed_kmh={SPEED_KMH}"


class Valhalla(Server):
    def stop(self) -> None:
        # valhalla_service may ignore SIGTERM for a while (it drains): kill it.
        self.process.kill()
        self.process.wait(timeout=30)

    def path(self, lon: float, lat: float) -> str:
        query = {
            "locations": [{"lat": round(lat, 6), "lon": round(lon, 6)}],
            "costing": "pedestrian",
            "costing_options": {"pedestrian": {"walking_speed": SPEED_KMH}},
            "contours": [{"time": MINUTES}],
            "polygons": True,
        }
        return "/isochrone?json=" + quote(json.dumps(query, separators=(",", ":")))


def wait_for(port: int, path: str, *, timeout_s: float, process: subprocess.Popen) -> None:
    """Poll until ``path`` answers 200."""
    import http.client

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"the server exited with status {process.returncode}"
            raise RuntimeError(msg)
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    msg = f"port {port} did not answer within {timeout_s:g} s"
    raise RuntimeError(msg)


def start_quarterhour(osm: Path, workers: int, *, cache: Path | None = None) -> Quarterhour:
    port = free_port()
    env = dict(os.environ)
    if cache is not None:
        env["QUARTERHOUR_CACHE"] = str(cache)
    command = [sys.executable, "-m", "quarterhour", "serve", "--osm", str(osm)]
    command += ["--port", str(port), "--workers", str(workers), "-q"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = Quarterhour(f"quarterhour --workers {workers}", port, process)
    wait_for(port, "/health", timeout_s=900, process=process)
    return server


def valhalla_tiles(osm: Path, workdir: Path) -> tuple[Path, float | None]:
    """Unpack Valhalla and build the tiles of ``osm`` with the anchor script; its config file
    and the tile build's seconds (None when the tiles were already built)."""
    name = "".join(c if c.isalnum() else "_" for c in osm.name)
    built = (workdir / f"tiles-{name}" / "2").is_dir()
    port = free_port()
    started = time.perf_counter()
    output = subprocess.run(
        [str(VALHALLA_ANCHOR), str(osm), str(port), str(workdir)],
        check=True,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    seconds = time.perf_counter() - started
    anchor_pid = int(output.stdout.strip().splitlines()[-1])
    # The anchor starts one thread; the comparison restarts the service with as many threads as
    # quarterhour has workers.
    with suppress(ProcessLookupError):
        os.kill(anchor_pid, signal.SIGKILL)
    return workdir / f"cfg-{name}-{port}.json", (None if built else seconds)


def start_valhalla(config: Path, threads: int, workdir: Path) -> Valhalla:
    settings = json.loads(config.read_text())
    port = free_port()
    settings["httpd"]["service"]["listen"] = f"tcp://127.0.0.1:{port}"
    own = config.with_name(f"cfg-bench-{port}.json")
    own.write_text(json.dumps(settings))
    env = {**os.environ, "LD_LIBRARY_PATH": str(workdir / "pyvalhalla.libs")}
    process = subprocess.Popen(
        [str(workdir / "valhalla" / "bin" / "valhalla_service"), str(own), str(threads)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = Valhalla(f"valhalla {threads} thread{'s' * (threads > 1)}", port, process)
    wait_for(port, "/status", timeout_s=300, process=process)
    return server


# --- measurement ------------------------------------------------------------------------


@dataclass
class Series:
    """Pooled results of one server at one client count, over every round."""

    latencies: list[np.ndarray] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0
    errors: int = 0

    @property
    def seconds(self) -> np.ndarray:
        return np.concatenate(self.latencies) if self.latencies else np.empty(0)

    @property
    def n(self) -> int:
        return len(self.seconds)

    @property
    def p50_ms(self) -> float:
        return float(np.percentile(self.seconds, 50) * 1e3)

    @property
    def p99_ms(self) -> float:
        return float(np.percentile(self.seconds, 99) * 1e3)

    @property
    def per_second(self) -> float:
        return self.n / self.wall_s

    @property
    def cpu_ms(self) -> float:
        return self.cpu_s / self.n * 1e3


def street_points(osm: Path, n: int, *, seed: int = 42, cache: Path | None = None) -> np.ndarray:
    """``n`` random street nodes of the network of ``osm`` as (lon, lat), 6 decimals."""
    from quarterhour.routing.network import load_network

    network = load_network(osm, cache_folder=cache)
    lon, lat = network.node_lonlat
    pick = np.random.default_rng(seed).integers(0, network.n_nodes, n)
    return np.round(np.column_stack([lon[pick], lat[pick]]), 6)


def first_requests(server: Server, point: np.ndarray, *, pause_s: float = 2.0) -> list[float]:
    """The first and tenth isochrone request to a server just started, then the same after a
    pause (ms): ``[first, tenth, first after the pause, tenth after it]``.

    The same request every time, on a connection opened and used once (``/health``,
    ``/status``) before: what is left between the first and the tenth is what the first one had
    to load, and the cold caches of a CPU that was idle, which the pause shows alone.
    """
    warm = "/health" if isinstance(server, Quarterhour) else "/status"
    path = server.path(float(point[0]), float(point[1]))
    figures = []
    for _ in range(2):
        latencies, _, _ = load(server.port, [warm] + [path] * 10, 1)
        figures += [float(latencies[1] * 1e3), float(latencies[10] * 1e3)]
        time.sleep(pause_s)
    return figures


def compare(
    servers: list[Server], points: np.ndarray, *, rounds: int, requests: int
) -> dict[tuple[str, int], Series]:
    """Interleaved series: every round, every client count, every server (order alternating)."""
    results = {(server.name, clients): Series() for server in servers for clients in CLIENTS}
    for server in servers:
        load(server.port, [server.path(*p) for p in points[:WARM_UP]], 4)
    offset = WARM_UP
    for round_ in range(rounds):
        for clients in CLIENTS:
            n = requests // 2 if clients == 1 else requests
            chosen = points[offset : offset + n]
            offset += n
            order = servers if (round_ + clients) % 2 == 0 else servers[::-1]
            for server in order:
                paths = [server.path(float(lon), float(lat)) for lon, lat in chosen]
                before = cpu_seconds(server.pid)
                latencies, wall, errors = load(server.port, paths, clients)
                series = results[(server.name, clients)]
                series.cpu_s += cpu_seconds(server.pid) - before
                series.latencies.append(latencies)
                series.wall_s += wall
                series.errors += errors
    return results


def print_comparison(
    title: str,
    ours: Server,
    anchor: Server | None,
    results: dict[tuple[str, int], Series],
    *,
    memory: dict[str, float],
    first: dict[str, list[float]],
) -> None:
    print(f"\n{title}")
    header = (
        f"{'server':<24}{'clients':>8}{'requests':>9}{'p50 ms':>8}{'p99 ms':>8}{'req/s':>8}"
        f"{'cpu ms/req':>11}{'errors':>7}   ratios to Valhalla (p50 / p99 / req/s / cpu)"
    )
    print(header)
    print("-" * len(header))
    for clients in CLIENTS:
        for server in (ours, anchor):
            if server is None:
                continue
            series = results[(server.name, clients)]
            ratio = ""
            if server is ours and anchor is not None:
                peer = results[(anchor.name, clients)]
                ratio = (
                    f"   {series.p50_ms / peer.p50_ms:.2f} / {series.p99_ms / peer.p99_ms:.2f} / "
                    f"{series.per_second / peer.per_second:.2f} / {series.cpu_ms / peer.cpu_ms:.2f}"
                )
            print(
                f"{server.name:<24}{clients:>8}{series.n:>9,}{series.p50_ms:>8.2f}{series.p99_ms:>8.2f}"
                f"{series.per_second:>8.0f}{series.cpu_ms:>11.2f}{series.errors:>7}{ratio}"
            )
    for server in (ours, anchor):
        if server is None:
            continue
        one, tenth, one_later, tenth_later = first[server.name]
        print(
            f"{server.name:<24} first isochrone after start {one:.2f} ms, tenth {tenth:.2f} ms "
            f"(after a pause: {one_later:.2f}, {tenth_later:.2f}); "
            f"PSS of the server processes {memory[server.name]:.0f} MiB"
        )


def bench_service(
    osm: Path,
    *,
    workers: list[int],
    rounds: int,
    requests: int,
    valhalla: bool,
    label: str,
    cache: Path | None = None,
    valhalla_workdir: Path | None = None,
) -> int:
    """Compare the services on ``osm`` for each worker count; print the tables; error count."""
    points = street_points(osm, WARM_UP + 10 + rounds * len(CLIENTS) * requests + 10, cache=cache)
    config = None
    workdir = valhalla_workdir or cache_root() / "valhalla"
    if valhalla:
        config, _ = valhalla_tiles(osm, workdir)
    total_errors = 0
    for count in workers:
        ours = start_quarterhour(osm, count, cache=cache)
        anchor = start_valhalla(config, count, workdir) if config is not None else None
        servers = [s for s in (ours, anchor) if s is not None]
        try:
            first = {s.name: first_requests(s, points[-1]) for s in servers}
            results = compare(servers, points, rounds=rounds, requests=requests)
            memory = {s.name: pss_mib(s.pid) for s in servers}
        finally:
            for server in servers:
                server.stop()
        print_comparison(
            f"{label}: {MINUTES}-minute walking isochrones at {SPEED_KMH} km/h, quarterhour "
            f"--workers {count} vs Valhalla with {count} thread{'s' * (count > 1)}; "
            f"{rounds} interleaved rounds, {os.cpu_count()} CPUs, load average "
            f"{os.getloadavg()[0]:.1f}",
            ours,
            anchor,
            results,
            memory=memory,
            first=first,
        )
        total_errors += sum(series.errors for series in results.values())
    return total_errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--osm", type=Path, default=HEIDELBERG, help="OSM file (both servers)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument(
        "--requests", type=int, default=2000, help="requests a series (half with one client)"
    )
    parser.add_argument("--no-valhalla", action="store_true", help="quarterhour alone")
    args = parser.parse_args(argv)
    if not args.no_valhalla and not shutil.which("bash"):
        parser.error("the Valhalla anchor needs bash")
    errors = bench_service(
        args.osm.resolve(),
        workers=args.workers,
        rounds=args.rounds,
        requests=args.requests,
        valhalla=not args.no_valhalla,
        label=args.osm.name,
    )
    print(f"errors: {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
