"""``quarterhour serve`` for real, in a subprocess on a loopback port, for the tests.

* :func:`start_server` -- ``python -m quarterhour serve ...`` started, and waited for until
  ``/health`` answers;
* :func:`stop_server` -- SIGTERM, and its exit status;
* :func:`rss_mb`, :func:`peak_rss_mb`, :func:`open_files`, :func:`children` -- a process as
  /proc sees it.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import httpx

from quarterhour.api.http.serving import free_port

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

K = TypeVar("K")

STARTUP_S = 300.0


class Server:
    """A running ``quarterhour serve``: its process, port, base URL and what it wrote to stderr."""

    def __init__(self, process: subprocess.Popen[str], port: int, log: IO[str]) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def stderr(self) -> str:
        """What the server wrote to stderr so far."""
        self.log.seek(0)
        return self.log.read()

    @property
    def pid(self) -> int:
        """The process id of the server (the master, with workers)."""
        return self.process.pid


def serve_command(port: int, *options: str) -> list[str]:
    """The command line of ``quarterhour serve -q --port PORT OPTIONS``."""
    return [sys.executable, "-m", "quarterhour", "serve", "-q", "--port", str(port), *options]


def server_env(cache: Path) -> dict[str, str]:
    """The environment of a server process, its network cache in ``cache``."""
    return {**os.environ, "QUARTERHOUR_CACHE": str(cache)}


def memory_cap(megabytes: int) -> Callable[[], None]:
    """A ``preexec_fn`` that caps the address space of the child at ``megabytes`` MiB."""

    def cap() -> None:
        limit = megabytes * 1024**2
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return cap


def one_line_errors(
    commands: Mapping[K, Sequence[str]], *, cache: Path, memory_cap_mb: int, timeout: float = 240
) -> dict[K, str]:
    """Run ``commands`` side by side, each capped at ``memory_cap_mb``; each must stop with exit
    status 2 and one line on stderr: return those lines."""
    runs = {
        key: subprocess.Popen(
            command,
            env=server_env(cache),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=memory_cap(memory_cap_mb),  # noqa: PLW1509
        )
        for key, command in commands.items()
    }
    lines = {}
    for key, process in runs.items():
        _, stderr = process.communicate(timeout=timeout)
        assert process.returncode == 2, (key, stderr)
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert stderr.startswith("quarterhour: error: "), stderr
        lines[key] = stderr.strip()
    return lines


def start_server(
    cache: Path,
    options: Sequence[str] = (),
    *,
    port: int | None = None,
    memory_cap_mb: int | None = None,
) -> Server:
    """Start ``quarterhour serve`` with ``options`` on a free port; return once it answers.

    ``memory_cap_mb`` caps the server's address space (``RLIMIT_AS``), if given.
    """
    port = port or free_port()
    # A file, not a pipe: a server that logs much would block on a full pipe nobody reads.
    log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - kept by Server
    process = subprocess.Popen(
        serve_command(port, *options),
        env=server_env(cache),
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
        preexec_fn=memory_cap(memory_cap_mb) if memory_cap_mb else None,  # noqa: PLW1509
    )
    server = Server(process, port, log)
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise AssertionError(server.stderr())
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)


def stop_server(server: Server, timeout: float = 30) -> int:
    """Stop ``server`` with SIGTERM (if still running); return its exit status."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
    return server.process.wait(timeout=timeout)


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field}")


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` now, MiB."""
    return _status_mb(pid, "VmRSS")


def peak_rss_mb(pid: int) -> float:
    """Largest resident memory process ``pid`` had so far, MiB."""
    return _status_mb(pid, "VmHWM")


def open_files(pid: int) -> int:
    """Files (sockets included) process ``pid`` has open."""
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


def children(pid: int) -> list[int]:
    """Process ids of the children of ``pid``."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
