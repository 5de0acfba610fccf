"""The server under hostile connections, and its workers supervised: a real server on loopback.

Floods of idle and slow sockets while /health is timed with a clock, oversized headers with the
server's memory read from /proc, a stalled body, workers and their master killed with SIGKILL,
and a port already in use.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from servers import (
    Server,
    children,
    open_files,
    peak_rss_mb,
    rss_mb,
    serve_command,
    server_env,
    start_server,
    stop_server,
)

from quarterhour import settings
from quarterhour.api.http.app import create_app
from quarterhour.api.http.connections import LINGER_S
from quarterhour.api.http.listening import ACCEPTED_AHEAD
from quarterhour.api.http.serving import serve_in_thread
from quarterhour.api.http.settings import ConnectionLimits

if TYPE_CHECKING:
    from collections.abc import Iterator

REQUEST_TIMEOUT_S = 2.0
MAX_CONNECTIONS = 200
MAX_HEADER_KB = 16
IDLE_SOCKETS = 2_000
SLOW_SOCKETS = 100


@pytest.fixture(scope="module")
def guarded(isolated_cache: Path) -> Iterator[Server]:
    """One process serving, with a short request timeout, few connections and a small header cap."""
    options = [
        "--workers",
        "1",
        "--request-timeout",
        str(REQUEST_TIMEOUT_S),
        "--max-connections",
        str(MAX_CONNECTIONS),
        "--max-header-kb",
        str(MAX_HEADER_KB),
    ]
    server = start_server(isolated_cache, options)
    yield server
    # One process serving is uvicorn's: it stops, then ends by the signal it was sent.
    assert stop_server(server) in (0, -signal.SIGTERM)


@pytest.fixture(scope="module")
def two_workers(isolated_cache: Path) -> Iterator[Server]:
    server = start_server(isolated_cache, ["--workers", "2"])
    yield server
    assert stop_server(server) == 0


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _read_to_end(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset counts as closed)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def _error_answer(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["detail"][0]


class HealthClock(threading.Thread):
    """GET /health on a new connection every 0.1 s, and how long each took (5 s: failed)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{url}/health"
        self.seconds: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            started = time.monotonic()
            try:
                ok = httpx.get(self.url, timeout=5).status_code == 200
            except httpx.TransportError:
                ok = False
            self.seconds.append(time.monotonic() - started if ok else 5.0)
            self.done.wait(0.1)


@pytest.mark.slow
def test_a_flood_of_idle_and_slow_sockets_neither_starves_health_nor_keeps_files(
    guarded: Server,
) -> None:
    pid, port = guarded.pid, guarded.port
    files_before = open_files(pid)
    clock = HealthClock(guarded.url)
    clock.start()
    files = [files_before]
    # Sockets that connect and send nothing, then others that send headers a byte at a time.
    idle = []
    for _ in range(IDLE_SOCKETS):
        idle.append(_connect(port))
        if len(idle) % 200 == 0:
            files.append(open_files(pid))
    slow = [_connect(port) for _ in range(SLOW_SOCKETS)]
    flood_opened = time.monotonic()
    for sock in slow:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    while time.monotonic() < flood_opened + REQUEST_TIMEOUT_S + LINGER_S + 1.0:
        for sock in slow:
            with suppress(OSError):  # closed by the server
                sock.send(b"x")
        files.append(open_files(pid))
        time.sleep(0.2)
    clock.done.set()
    clock.join()

    # The server closed every one of them: evicted or timed out; the slow ones got 408.
    timed_out = 0
    for sock in idle + slow:
        sock.settimeout(10)
        answer = _read_to_end(sock)
        sock.close()
        if answer:
            status, detail = _error_answer(answer)
            assert status == 408 and detail["type"] == "timeout", answer
            timed_out += 1
    assert timed_out > 0
    files_after = open_files(pid)
    p50 = sorted(clock.seconds)[len(clock.seconds) // 2]
    print(
        f"/health under {IDLE_SOCKETS + SLOW_SOCKETS} sockets: {len(clock.seconds)} requests, "
        f"p50 {p50 * 1000:.1f} ms, max {max(clock.seconds) * 1000:.1f} ms; open files "
        f"{files_before} before, at most {max(files)} during, {files_after} after; "
        f"{timed_out} slow requests answered 408"
    )
    assert len(clock.seconds) >= 10
    assert max(clock.seconds) < 1.0, clock.seconds
    # Accepted connections are open files until the worker closes older ones for them.
    assert max(files) <= files_before + MAX_CONNECTIONS + ACCEPTED_AHEAD + 16
    assert files_after <= files_before + 4
    assert httpx.get(f"{guarded.url}/health", timeout=5).status_code == 200


@pytest.mark.slow
def test_oversized_headers_get_431_and_hold_no_memory(guarded: Server) -> None:
    pid, port = guarded.pid, guarded.port
    rss_before, peak_before = rss_mb(pid), peak_rss_mb(pid)
    big = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (8 * 1024**2)

    def attack(_: int) -> bytes:
        with _connect(port) as sock:
            with suppress(OSError):  # the server closed first
                sock.sendall(big)
            try:
                return _read_to_end(sock)
            except OSError:
                return b""

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(attack, range(50)))
    refused = [answer for answer in answers if answer]
    assert refused, "no connection was answered"
    for answer in refused:
        status, detail = _error_answer(answer)
        assert status == 431 and detail == {
            "loc": ["header"],
            "msg": f"the request line and headers are over the limit of {MAX_HEADER_KB * 1024:,} bytes",
            "type": "too_large",
        }
    growth, peak_growth = rss_mb(pid) - rss_before, peak_rss_mb(pid) - peak_before
    print(
        f"50 x 8 MB of headers: {len(refused)} answered 431; "
        f"RSS +{growth:.1f} MB, peak +{peak_growth:.1f} MB"
    )
    assert peak_growth < 100  # 400 MB were sent: a bounded read per connection, not each 8 MB
    # Headers over the limit that arrive at once get the same answer; under it, they pass.
    for size, status in ((100_000, 431), (20_000, 431), (12_000, 200)):
        response = httpx.get(f"{guarded.url}/health", headers={"Cookie": "a" * size}, timeout=5)
        assert response.status_code == status


def test_a_stalled_body_is_answered_408_after_the_request_timeout(guarded: Server) -> None:
    with _connect(guarded.port) as sock:
        sock.sendall(
            b"POST /walktimes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000\r\n\r\n{" + b" " * 100_000
        )
        sock.settimeout(REQUEST_TIMEOUT_S + LINGER_S + 10)
        status, detail = _error_answer(_read_to_end(sock))
    assert status == 408 and detail["loc"] == ["request"] and detail["type"] == "timeout"


def test_unfinished_bodies_together_stay_within_their_budget(data_dir: Path) -> None:
    """Bodies that stop short of their Content-Length: the oldest are closed over the budget."""
    budget = 1024**2
    limits = ConnectionLimits(max_unfinished_bytes=budget)
    app = create_app(data_dir / settings.default_osm)
    head = (
        b"POST /walktimes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 4000000\r\n\r\n{"
    )
    with serve_in_thread(app, connections=limits) as url:
        port = int(url.rsplit(":", 1)[1])
        uploads = []
        for _ in range(6):  # 6 x 300 kB of unfinished bodies: 1.8 MB against a budget of 1 MB
            sock = _connect(port)
            sock.sendall(head + b" " * 300_000)
            uploads.append(sock)
            time.sleep(0.3)  # in order: the oldest is closed first
        closed = []
        for sock in uploads:
            sock.settimeout(0.5)
            try:
                closed.append(sock.recv(1) == b"")
            except TimeoutError:
                closed.append(False)
            except ConnectionResetError:
                closed.append(True)
            sock.close()
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
    # The kept ones fit in the budget, the newest among them; the oldest made room.
    print(f"unfinished uploads closed: {closed}")
    assert closed[0] and not closed[-1], closed
    assert closed.count(False) * 300_000 <= budget, closed


@pytest.mark.slow
def test_a_killed_worker_is_replaced(two_workers: Server) -> None:
    workers = children(two_workers.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    killed = time.monotonic()
    while True:
        now = children(two_workers.pid)
        if len(now) == 2 and workers[0] not in now:
            break
        assert time.monotonic() < killed + 30, now
        time.sleep(0.05)
    print(f"worker replaced after {time.monotonic() - killed:.2f} s")
    assert workers[1] in now
    with httpx.Client(base_url=two_workers.url, timeout=10) as client:
        for _ in range(10):
            assert client.get("/health", headers={"Connection": "close"}).status_code == 200
    assert f"worker {workers[0]} was killed by SIGKILL" in two_workers.stderr()


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_second_server_on_the_port_of_a_running_one_is_refused(
    two_workers: Server, isolated_cache: Path, workers: str
) -> None:
    _assert_refused(two_workers.port, isolated_cache, workers)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_one_error_line_before_serving(isolated_cache: Path, workers: str) -> None:
    with socket.socket() as taken:  # a plain socket, as any other program would hold
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        _assert_refused(taken.getsockname()[1], isolated_cache, workers)


def _assert_refused(port: int, cache: Path, workers: str) -> None:
    result = subprocess.run(
        serve_command(port, "--workers", workers),
        env=server_env(cache),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    line = (
        f"quarterhour: error: port {port} on 127.0.0.1 is already in use: stop what listens "
        "there or choose another --port"
    )
    assert result.stderr.splitlines() == [line]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited (its new parent may be slow to reap it)


@pytest.mark.slow
def test_workers_die_with_their_master_and_free_the_port(isolated_cache: Path) -> None:
    server = start_server(isolated_cache, ["--workers", "2"])
    workers = children(server.pid)
    assert len(workers) == 2
    os.kill(server.pid, signal.SIGKILL)
    killed = time.monotonic()
    server.process.wait(timeout=10)
    while any(_alive(pid) for pid in workers):
        assert time.monotonic() < killed + 10, "workers outlived their master"
        time.sleep(0.05)
    exited = time.monotonic() - killed
    with socket.socket() as rebound:  # no SO_REUSEPORT: nothing may listen there any more
        rebound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        rebound.bind(("127.0.0.1", server.port))
        rebound.listen()
    print(f"workers exited {exited:.2f} s after their master's SIGKILL; the port is free")
