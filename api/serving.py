"""Run the application with uvicorn: in the foreground (the command line) or in a thread (tests)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

STARTUP_TIMEOUT_S = 120.0


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port nobody listens on at ``host`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def uvicorn_config(app: FastAPI, *, host: str, port: int, access_log: bool = False) -> uvicorn.Config:
    """The uvicorn configuration of quarterhour: one process, keep-alive, quiet unless asked."""
    return uvicorn.Config(
        app, host=host, port=port, access_log=access_log, log_level="info" if access_log else "warning",
        timeout_keep_alive=30, lifespan="on",
    )


@contextmanager
def serve_in_thread(app: FastAPI, *, host: str = "127.0.0.1", port: int | None = None) -> Iterator[str]:
    """Serve ``app`` on loopback in a background thread; yield its base URL, stop on exit.

    Raises
    ------
    RuntimeError
        If the server does not start (its start-up failed) within ``STARTUP_TIMEOUT_S``.
    """
    server = uvicorn.Server(uvicorn_config(app, host=host, port=port or free_port(host)))
    thread = threading.Thread(target=server.run, name="quarterhour-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            msg = "the quarterhour server did not start (see its log)"
            raise RuntimeError(msg)
        time.sleep(0.05)
    try:
        yield f"http://{host}:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
