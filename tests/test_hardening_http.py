"""The service under hostile or heavy use, for real: a server process on loopback.

Concurrent heavy plans with the server's memory read from /proc, time limits measured with a
clock, a bad Host header, and the offline documentation pages.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import httpx
import numpy as np
import orjson
import pytest
from servers import children, peak_rss_mb, rss_mb, start_server, stop_server

from quarterhour.api.http.guards import SharedSlots

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

BUDGET_MB = 400


def _growth_mb(master: int, baseline: dict[int, float]) -> float:
    """Peak memory the workers took beyond their resident size at ``baseline``, together."""
    return sum(peak_rss_mb(pid) - baseline[pid] for pid in children(master))


@pytest.fixture(scope="module")
def server(isolated_cache: Path) -> Iterator[tuple[str, int]]:
    options = ["--max-heavy", "1", "--memory-budget-mb", str(BUDGET_MB), "--workers", "2"]
    running = start_server(isolated_cache, options)
    yield running.url, running.pid
    stop_server(running)


def _points(n: int, seed: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    lon = rng.uniform(121.42, 121.54, n)
    lat = rng.uniform(31.19, 31.27, n)
    return [{"lon": float(x), "lat": float(y)} for x, y in zip(lon, lat, strict=True)]


def test_a_plan_too_large_for_the_memory_budget_is_refused_before_the_work(
    server: tuple[str, int],
) -> None:
    url, pid = server
    before = {worker: rss_mb(worker) for worker in children(pid)}
    assert len(before) == 2
    body = {"communities": _points(10_000, 1), "minutes": 60, "speed_kmh": 20}
    started = time.monotonic()
    response = httpx.post(f"{url}/plan", json=body, timeout=120)
    assert response.status_code == 413
    detail = response.json()["detail"][0]
    assert detail["type"] == "too_large" and "pairs within the limit" in detail["msg"]
    assert time.monotonic() - started < 20
    assert _growth_mb(pid, before) < BUDGET_MB


def test_concurrent_heavy_plans_wait_their_turn_and_memory_stays_bounded(
    server: tuple[str, int],
) -> None:
    url, pid = server
    baseline = {worker: rss_mb(worker) for worker in children(pid)}
    body = {"communities": _points(3_000, 2), "minutes": 20}

    def plan(_: int) -> httpx.Response:
        return httpx.post(f"{url}/plan", json=body, timeout=300)

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(plan, k) for k in range(4)]
        health = []
        for _ in range(10):  # /health answers at once while plans run
            started = time.monotonic()
            assert httpx.get(f"{url}/health", timeout=5).status_code == 200
            health.append(time.monotonic() - started)
            time.sleep(0.05)
        responses = [future.result() for future in futures]
    codes = sorted(response.status_code for response in responses)
    assert 200 in codes and 503 in codes, codes
    for response in responses:
        if response.status_code == 503:
            assert response.headers["retry-after"].isdigit()
            assert response.json()["detail"][0]["type"] == "busy"
    assert max(health) < 2.5, health  # 37 ms p50 when quiet; a plan held it for 37 s before
    assert _growth_mb(pid, baseline) < BUDGET_MB + 200


@pytest.mark.parametrize(
    "body",
    [
        {"communities": _points(6_000, 3), "minutes": 30},
        {"communities": _points(3_000, 5), "minutes": 20, "budget": 10, "exact": True},
    ],
    ids=["search", "exact"],
)
def test_the_time_limit_bounds_the_whole_request(
    server: tuple[str, int], body: dict[str, object]
) -> None:
    url, _ = server
    for _ in range(20):  # wait for the slot the other tests' plans may still hold
        started = time.monotonic()
        response = httpx.post(f"{url}/plan", json={**body, "time_limit_s": 1.0}, timeout=120)
        elapsed = time.monotonic() - started
        if response.status_code != 503 or response.json()["detail"][0]["type"] != "busy":
            break
        time.sleep(1)
    # The product keeps within 0.35 s of the limit on a quiet machine (benchmarks/
    # bench_hardening.py); 2 s more leaves room for a CI runner busy with the other tests, and
    # still fails a request that ignores its limit (these take 10-60 s without one).
    assert elapsed < 1.0 + 2.0, elapsed
    if response.status_code == 503:
        assert response.json()["detail"][0]["type"] == "time_limit"
    else:
        assert response.status_code == 200
        summary = response.json()["summary"]
        # cut by the limit, or (walk times found in the cache, a machine between other
        # tests' bursts) done within it: either way within the limit
        assert summary["stopped"] == "time limit" or elapsed <= 1.0 + 0.5, summary


def test_the_time_limit_counts_the_time_the_body_took_to_arrive(server: tuple[str, int]) -> None:
    url, _ = server
    body = orjson.dumps({"communities": _points(6_000, 7), "minutes": 30, "time_limit_s": 1.0})
    last_byte: list[float] = []

    def trickle() -> Iterator[bytes]:  # the body arrives over 1.2 s, past the 1 s limit
        for k in range(4):
            yield body[k * len(body) // 4 : (k + 1) * len(body) // 4]
            time.sleep(0.4 if k < 3 else 0)
        last_byte.append(time.monotonic())

    for _ in range(20):  # wait for the slot the other tests' plans may still hold
        last_byte.clear()
        response = httpx.post(
            f"{url}/plan",
            content=trickle(),
            headers={"Content-Type": "application/json"},
            timeout=120,
        )
        answered = time.monotonic()
        if response.status_code != 503 or response.json()["detail"][0]["type"] != "busy":
            break
        time.sleep(1)
    assert answered - last_byte[0] < 0.8, answered - last_byte[0]  # not a full second more
    if response.status_code == 503:
        assert response.json()["detail"][0]["type"] == "time_limit"
    else:
        assert response.status_code == 200
        assert response.json()["summary"]["stopped"] == "time limit"


def test_a_foreign_host_is_refused_but_health_answers(server: tuple[str, int]) -> None:
    url, _ = server
    response = httpx.post(f"{url}/plan", json={}, headers={"Host": "attacker.example"}, timeout=30)
    assert response.status_code == 400
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["header", "host"] and detail["type"] == "untrusted_host"
    assert httpx.get(f"{url}/health", headers={"Host": "lb.internal"}, timeout=5).status_code == 200
    ok = httpx.get(f"{url}/isochrone?lon=121.47&lat=31.23&contours=5", timeout=30)
    assert ok.status_code == 200  # 127.0.0.1 is its own address


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", ["/vendor/docs/swagger-ui-bundle.js", "/vendor/docs/swagger-ui.css"]),
        ("/redoc", ["/vendor/docs/redoc.standalone.js"]),
    ],
)
def test_documentation_is_served_offline(
    server: tuple[str, int], page: str, assets: list[str]
) -> None:
    url, _ = server
    html = httpx.get(f"{url}{page}", timeout=10).text
    assert "cdn" not in html.lower() and "googleapis" not in html
    for asset in assets:
        assert asset in html
        response = httpx.get(f"{url}{asset}", timeout=10)
        assert response.status_code == 200 and len(response.content) > 10_000


def _hold_a_slot(slots: SharedSlots, held: multiprocessing.synchronize.Event) -> None:
    assert slots.try_acquire() is not None
    held.set()
    time.sleep(600)


def test_heavy_slots_are_shared_by_the_workers_and_freed_when_one_dies() -> None:
    """One slot for the service: a forked worker holding it makes the others wait; its death frees it."""
    slots = SharedSlots(1)
    fork = multiprocessing.get_context("fork")
    held = fork.Event()
    holder = fork.Process(target=_hold_a_slot, args=(slots, held))
    holder.start()
    try:
        assert held.wait(30)
        assert slots.try_acquire() is None  # this process is another worker: no slot for it
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(30)
        slot = slots.try_acquire()
        assert slot is not None  # the kernel released the dead worker's lock
        assert slots.try_acquire() is None  # and one slot is one request, threads included
        slots.release(slot)
        assert slots.try_acquire() == slot
    finally:
        holder.kill()
