"""The service under the heavy requests of issue 10, with its default limits (not a test).

    python benchmarks/bench_hardening.py [--rounds 2] [--bodies]

Starts ``quarterhour serve`` (bundled central Shanghai; default ``--workers``, ``--max-heavy 2``,
``--memory-budget-mb 2048``) and measures, reading the workers' memory from /proc:

* the issue's attack, ``POST /plan`` with 10,000 points, ``minutes: 60``, ``speed_kmh: 20``, three
  at once: answers, time to answer, the workers' peak memory growth;
* the largest plans the budget admits, four at once (two run, two get 503): peak growth against
  the 2 GiB ceiling;
* ``time_limit_s`` of 1, 2 and 5 s on plans that need longer (walk times and search; and the
  issue's ``exact`` with ``budget: 200, minutes: 60``): the overshoot past the limit;
* ``GET /health`` latency while those run.

With ``--bodies``, only the hostile bodies of issue 18 instead (4 MB of 2,090,000 zeros,
1,300,000 empty objects, 100,000 nested lists, the worst body within the bounds: 200,000 bad
fields): status, answer size, time and the worker's peak growth; and the cost of measuring a
body before parsing (``json_shape``) against its peer, orjson parsing the same 10,000 points.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

BUDGET_MB = 2048


def _status(pid: int, key: str) -> float:
    with Path(f"/proc/{pid}/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return 0.0


def workers(master: int) -> list[int]:
    """The worker pids of a ``serve`` master (or the master itself with one worker)."""
    with Path(f"/proc/{master}/task/{master}/children").open(encoding="ascii") as children:
        pids = [int(pid) for pid in children.read().split()]
    return pids or [master]


class MemoryWatch:
    """Samples the workers' resident memory every 20 ms; ``peak_growth`` in MB over the start."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.baseline = {pid: _status(pid, "VmRSS:") for pid in workers(master)}
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            growth = sum(
                _status(pid, "VmRSS:") - self.baseline.get(pid, 0.0) for pid in workers(self.master)
            )
            self.peak = max(self.peak, growth)
            time.sleep(0.02)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def points(n: int, seed: int) -> list[dict[str, float]]:
    """``n`` random points over central Shanghai (WGS84)."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(121.42, 121.54, n)
    lat = rng.uniform(31.19, 31.27, n)
    return [{"lon": float(x), "lat": float(y)} for x, y in zip(lon, lat, strict=True)]


def health_latencies(url: str, stop: threading.Event, out: list[float]) -> None:
    """Time ``GET /health`` every 50 ms until ``stop``."""
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get(f"{url}/health")
            out.append(time.perf_counter() - started)
            time.sleep(0.05)


def post_all(url: str, bodies: list[dict[str, object]]) -> list[tuple[int, float, str]]:
    """POST the bodies to /plan at once; (status, seconds, error type) each."""

    def one(body: dict[str, object]) -> tuple[int, float, str]:
        started = time.perf_counter()
        response = httpx.post(f"{url}/plan", json=body, timeout=600)
        elapsed = time.perf_counter() - started
        kind = response.json()["detail"][0]["type"] if response.status_code >= 400 else ""
        return response.status_code, elapsed, kind

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(one, bodies))


def start_server(cache: str) -> tuple[subprocess.Popen[str], str]:
    """``quarterhour serve`` with its default limits on a free port; wait until it answers."""
    from quarterhour.api.http.serving import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "quarterhour", "serve", "-q", "--port", str(port)],
        env={**os.environ, "QUARTERHOUR_CACHE": cache},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    msg = f"the server did not start: {process.stderr.read() if process.stderr else ''}"
    raise RuntimeError(msg)


def hostile_bodies(url: str, master: int) -> None:
    """POST each hostile body once, one after the other: answer, time, peak growth."""
    bad_point = "{" + ",".join(f'"k{i}":0' for i in range(18)) + "}"
    bodies = {
        "/plan, 2,090,000 zeros (4 MB)": (
            "/plan",
            ('{"communities":[' + ",".join(["0"] * 2_090_000) + "]}").encode(),
        ),
        "/walktimes, 1,300,000 {}": (
            "/walktimes",
            ('{"sources":[' + ",".join(["{}"] * 1_300_000) + "]}").encode(),
        ),
        "/isochrone, 100,000 [": ("/isochrone", b"[" * 100_000),
        "/plan, 10,000 points of 18 unknown fields": (
            "/plan",
            ('{"communities":[' + ",".join([bad_point] * 10_000) + "]}").encode(),
        ),
    }
    latencies: list[float] = []
    stop = threading.Event()
    watcher = threading.Thread(target=health_latencies, args=(url, stop, latencies))
    watcher.start()
    for label, (path, body) in bodies.items():
        with MemoryWatch(master) as memory:
            started = time.perf_counter()
            response = httpx.post(
                f"{url}{path}", content=body, headers={"content-type": "application/json"}
            )
            seconds = time.perf_counter() - started
        print(
            f"{label}: {response.status_code} of {len(response.content):,} bytes in "
            f"{seconds:.2f} s; peak growth {memory.peak:.0f} MB"
        )
    stop.set()
    watcher.join()
    print(f"GET /health meanwhile: max {1000 * max(latencies):.0f} ms")


def shape_cost() -> None:
    """Time json_shape against orjson.loads on a valid body of 10,000 named points."""
    import orjson

    from quarterhour.api.http.bodies import json_shape

    named = [
        {**point, "id": str(k), "name": f"社区{k}", "weight": 1200.0}
        for k, point in enumerate(points(10_000, 5))
    ]
    body = orjson.dumps({"communities": named})
    timings = {}
    for name, function in (("json_shape", json_shape), ("orjson.loads", orjson.loads)):
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            function(body)
            runs.append(time.perf_counter() - started)
        timings[name] = min(runs)
    print(
        f"10,000 named points ({len(body) / 1e6:.1f} MB): json_shape "
        f"{1000 * timings['json_shape']:.1f} ms, orjson.loads {1000 * timings['orjson.loads']:.1f} "
        f"ms ({timings['json_shape'] / timings['orjson.loads']:.1f}x)"
    )


def main() -> None:
    """Run every measure and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--bodies", action="store_true", help="only the hostile bodies")
    args = parser.parse_args()
    if args.bodies:
        shape_cost()
    with tempfile.TemporaryDirectory() as cache:
        process, url = start_server(cache)
        try:
            print(f"server {url}: workers {workers(process.pid)}, budget {BUDGET_MB} MB")
            if args.bodies:
                hostile_bodies(url, process.pid)
                return
            latencies: list[float] = []
            stop = threading.Event()
            watcher = threading.Thread(target=health_latencies, args=(url, stop, latencies))
            watcher.start()
            attack = {"communities": points(10_000, 1), "minutes": 60, "speed_kmh": 20}
            admitted = {"communities": points(10_000, 2), "minutes": 20}
            for label, body, copies in (
                ("attack x3", attack, 3),
                ("10,000 points x 20 min, 4 at once", admitted, 4),
            ):
                for round_ in range(args.rounds):
                    with MemoryWatch(process.pid) as memory:
                        answers = post_all(url, [body] * copies)
                    print(
                        f"{label} (round {round_ + 1}): "
                        + ", ".join(f"{code} {kind} in {s:.2f} s" for code, s, kind in answers)
                        + f"; peak growth {memory.peak:.0f} MB of the {BUDGET_MB} MB budget"
                    )
            overshoots = []
            cases = {
                "10,000 points x 25 min": {"communities": points(10_000, 3), "minutes": 25},
                "exact, budget 200, 60 min": {
                    "communities": points(3_000, 4),
                    "minutes": 60,
                    "budget": 200,
                    "exact": True,
                },
            }
            for name, body in cases.items():
                for limit in (1.0, 2.0, 5.0):
                    ((code, seconds, kind),) = post_all(url, [{**body, "time_limit_s": limit}])
                    overshoots.append(seconds - limit)
                    print(
                        f"time limit {limit:.0f} s, {name}: {code} {kind} in {seconds:.2f} s "
                        f"(overshoot {seconds - limit:+.2f} s)"
                    )
            stop.set()
            watcher.join()
            print(f"worst time-limit overshoot: {max(overshoots):+.2f} s")
            print(
                f"GET /health during all this: {len(latencies)} requests, p50 "
                f"{1000 * statistics.median(latencies):.1f} ms, max {1000 * max(latencies):.1f} ms"
            )
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


if __name__ == "__main__":
    main()
