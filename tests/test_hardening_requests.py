"""Hostile request bodies against a real server under a memory cap: small answers, no 500.

Each body is generated here (a few MB at most): millions of zeros or empty objects, 100,000
nested lists, 50,000 nested objects, a number of 4,400 digits, 200,000 bad fields. The server
runs with its address space capped (``RLIMIT_AS``); ``/health`` is timed from another thread
while they are answered, and the server's peak memory is read from /proc.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import Server, peak_rss_mb, rss_mb, start_server, stop_server

from quarterhour.api.http.bodies import json_shape

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MEMORY_CAP_MB = 2_560
"""The server's address space: the network, numba and the threads take about 1 GB of it."""
GROWTH_MB = 512
"""The most a worst-case request may grow the worker (its share of the budget is 1 GB)."""
ANSWER_BYTES = 4_096

VALHALLA = (
    '{"locations":[{"lat":31.23,"lon":121.47}],"costing":"pedestrian","contours":[{"time":5}]'
)


def _bodies() -> list[tuple[str, bytes, int]]:
    """(path, body, expected status) of every hostile body."""
    zeros = ",".join(["0"] * 2_090_000)
    bad_point = "{" + ",".join(f'"k{i}":0' for i in range(18)) + "}"
    return [
        ("/plan", f'{{"communities":[{zeros}]}}'.encode(), 413),
        ("/walktimes", f'{{"sources":[{zeros}],"targets":[]}}'.encode(), 413),
        ("/walktimes", ('{"sources":[' + ",".join(["{}"] * 1_300_000) + "]}").encode(), 413),
        ("/plan", ("[" * 100_000).encode(), 422),
        ("/isochrone", ("[" * 100_000).encode(), 422),
        ("/isochrone", ('{"a":' * 50_000).encode(), 422),
        ("/isochrone", (VALHALLA + ',"id":' + "9" * 4_400 + "}").encode(), 422),
        ("/isochrone", (VALHALLA + ',"id":' + "9" * 40 + "}").encode(), 422),
        ("/route", (VALHALLA + ',"id":' + "9" * 40 + "}").encode(), 422),
        ("/plan", ('{"communities":[' + ",".join(["0"] * 9_000) + "]}").encode(), 422),
        # The worst a body under every limit can do: 200,000 bad fields (one error each).
        ("/plan", ('{"communities":[' + ",".join([bad_point] * 10_000) + "]}").encode(), 422),
        (
            "/plan",
            b'{"communities":[{"lon":121.4,"lat":31.2,"name":"' + b"x" * 3_000_000 + b'"}]}',
            422,
        ),
        ("/isochrone", b'{"lon": NaN, "lat": Infinity}', 422),
        ("/isochrone", b"\xff\xfe{", 400),
        ("/plan", b"\xff\xfe{", 400),
    ]


@pytest.fixture(scope="module")
def capped(isolated_cache: Path) -> Iterator[Server]:
    """One process serving, its address space capped, one heavy request at a time."""
    options = ["--workers", "1", "--max-heavy", "1"]
    server = start_server(isolated_cache, options, memory_cap_mb=MEMORY_CAP_MB)
    yield server
    stop_server(server)


def _check_answer(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert len(response.content) < ANSWER_BYTES, len(response.content)
    assert response.headers["x-content-type-options"] == "nosniff"
    detail = response.json()["detail"]
    assert detail
    assert all({"loc", "msg", "type"} <= set(item) for item in detail)


def test_hostile_bodies_are_answered_small_and_fast_within_memory(capped: Server) -> None:
    baseline = rss_mb(capped.pid)
    health: list[float] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            started = time.monotonic()
            assert httpx.get(f"{capped.url}/health", timeout=5).status_code == 200
            health.append(time.monotonic() - started)
            time.sleep(0.05)

    bodies = _bodies()  # made before the clock starts: this process holds its GIL meanwhile
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with httpx.Client(base_url=capped.url, timeout=60) as client:
            for path, body, status in bodies:
                headers = {"content-type": "application/json"}
                _check_answer(client.post(path, content=body, headers=headers), status)
            deep = "[" * 1_999
            _check_answer(client.get("/isochrone", params={"json": deep}), 422)
            # The answers the server writes itself carry the header too.
            too_long = client.get("/health", headers={"x-padding": "a" * 70_000})
            assert too_long.status_code == 431
            assert too_long.headers["x-content-type-options"] == "nosniff"
            summarised = client.post("/plan", json={"communities": [0] * 9_000}).json()
            assert summarised["detail"][-1]["type"] == "more_errors"
            assert "9,000 in all" in summarised["detail"][-1]["msg"]
    finally:
        done.set()
        watcher.join()
    assert max(health) < 1.0, max(health)
    growth = peak_rss_mb(capped.pid) - baseline
    assert growth < GROWTH_MB, growth
    assert capped.process.poll() is None
    assert "Traceback" not in capped.stderr()
    assert httpx.get(f"{capped.url}/health").status_code == 200


def test_a_large_body_takes_a_heavy_slot(capped: Server) -> None:
    # One slot: a large body arriving while a plan holds it is answered 503 at once.
    points = [{"lon": 121.47 + k * 1e-5, "lat": 31.23, "name": "社区" * 20} for k in range(3_000)]
    body = json.dumps({"communities": points, "time_limit_s": 3, "effort": 1}).encode()
    assert len(body) > 256 * 1024
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=capped.url, timeout=120) as client:
        answers: list[httpx.Response] = []
        first = threading.Thread(
            target=lambda: answers.append(client.post("/plan", content=body, headers=headers))
        )
        first.start()
        time.sleep(1.0)
        second = client.post("/plan", content=body, headers=headers)
        first.join()
    assert answers[0].status_code == 200
    assert second.status_code == 503, second.text[:200]
    assert second.json()["detail"][0]["type"] == "busy"
    assert second.headers["retry-after"].isdigit()


def test_json_shape_counts_what_a_parser_would_build() -> None:
    document = {"a": [1, 2, {"b": "x,[{"}, []], "c": {"d": [[1], [2, 3]]}}
    shape = json_shape(json.dumps(document).encode())
    assert shape.depth == 4
    assert shape.largest == 4  # the list of four items; the brackets in the string count nothing
    assert 14 <= shape.values <= 15  # 14 values; an empty list or object counts one more
    assert json_shape(b"[" + b",".join([b"0"] * 5) + b"]").largest == 5
    assert json_shape(b'"\\"[[["').depth == 0


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                ["lon", "lat", "locations", "contours", "communities", "sources", "id", "x"]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=JSON_VALUES, path=st.sampled_from(["/isochrone", "/walktimes", "/route"]))
def test_random_json_never_makes_a_500(capped: Server, document: object, path: str) -> None:
    body = json.dumps(document, allow_nan=True).encode()
    response = httpx.post(
        f"{capped.url}{path}",
        content=body,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code < 500 or response.status_code == 503, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")


def test_file_uploads_are_sized_not_measured(capped: Server) -> None:
    # A spreadsheet is bytes, not JSON: its brackets are not nesting (the workspace's uploads).
    response = httpx.post(
        f"{capped.url}/plan",
        content=b"PK\x03\x04" + b"[{" * 5_000,
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code < 500
    assert response.json()["detail"][0]["type"] != "too_deep"
    assert httpx.post(f"{capped.url}/plan", content=b"[{" * 5_000).json()["detail"][0]["type"] == (
        "too_deep"
    )
