"""Run the application with uvicorn: in the foreground (the command line) or in a thread (tests).

The pieces: :mod:`~quarterhour.api.http.listening` (the sockets, the port checked free),
:mod:`~quarterhour.api.http.connections` (each connection's time limits and caps) and
:mod:`~quarterhour.api.http.workers` (forked workers, supervised).
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from quarterhour.api.http.connections import guarded_protocol
from quarterhour.api.http.listening import (
    ACCEPT_BATCH,
    BACKLOG,
    ListenError,
    claim_port,
    fit_open_files,
    listening_socket,
)
from quarterhour.api.http.settings import ConnectionLimits
from quarterhour.api.http.workers import Supervisor

log = logging.getLogger("quarterhour")

STARTUP_TIMEOUT_S = 120.0

ANSWER_HEADERS: tuple[tuple[str, str], ...] = (("X-Content-Type-Options", "nosniff"),)
"""Headers of every answer, the application's and those the server writes itself (errors)."""

STARTUP_FAILURE = 3
"""Exit status of a worker that could not start (uvicorn's own)."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port nobody listens on at ``host`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def uvicorn_config(
    app: FastAPI,
    *,
    host: str,
    port: int,
    access_log: bool = False,
    connections: ConnectionLimits | None = None,
) -> uvicorn.Config:
    """The uvicorn configuration of quarterhour: guarded connections, quiet unless asked.

    Parameters
    ----------
    app
        The application.
    host, port
        Where it listens (for uvicorn's messages; the sockets are made by the caller).
    access_log
        Log every request.
    connections
        Time limits, header cap and how many connections a worker holds
        (:mod:`quarterhour.api.http.connections`); the defaults if not given.
    """
    limits = connections or ConnectionLimits()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=access_log,
        log_level="info" if access_log else "warning",
        http=guarded_protocol(limits),
        ws="none",
        headers=list(ANSWER_HEADERS),
        timeout_keep_alive=min(limits.keep_alive_s, limits.request_timeout_s),  # type: ignore[arg-type]  # uvicorn says int, waits any seconds
        backlog=ACCEPT_BATCH,
        lifespan="on",
        # The standard event loop, not uvloop: uvloop holds back newly accepted connections
        # while the loop is busy (the first request of the 32nd client waited ~1 s behind the
        # 31 others, measured), and the handlers here are short enough that its speed does
        # not show.
        loop=os.environ.get("QUARTERHOUR_EVENT_LOOP", "asyncio"),
    )


class QuarterhourServer(uvicorn.Server):
    """uvicorn's server, its kernel queue of new connections longer than asyncio's batch.

    asyncio accepts up to its ``backlog`` of connections each time the socket wakes it, all of
    them before any reaches its protocol (which closes the longest-waiting connection over
    ``max_connections``): with a batch of 2,048, a flood held 1,750 open files in a worker
    limited to 200 connections. So asyncio gets ``ACCEPT_BATCH``, and once it listens, the
    kernel's queue is set back to ``BACKLOG`` (a burst of clients is queued, not refused).
    """

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start as uvicorn does, then lengthen the listening sockets' queues."""
        await super().startup(sockets=sockets)
        for listener in sockets or ():
            listener.listen(BACKLOG)


def serve_forever(
    app: FastAPI,
    *,
    host: str,
    port: int,
    workers: int = 1,
    access_log: bool = False,
    connections: ConnectionLimits | None = None,
    sock: socket.socket | None = None,
) -> int:
    """Serve ``app`` until interrupted, in ``workers`` processes forked after start-up.

    The network is loaded (memory-mapped) and warmed once, before the fork, and shared; each
    worker runs its own event loop on its own listening socket of the one port, so the parts of
    a request that hold the GIL (HTTP parsing, validation, GeoJSON) run on every core too. A
    worker that dies is replaced, and workers die with this process
    (:mod:`quarterhour.api.http.workers`).

    Parameters
    ----------
    app
        The application, its state already loaded.
    host, port
        Where to listen.
    workers
        Processes to serve with (1: this process).
    access_log
        Log every request.
    connections
        Bounds of each worker's connections (default
        :class:`~quarterhour.api.http.settings.ConnectionLimits`); ``max_connections`` is
        lowered to fit the open-file limit, which is raised to its maximum first.
    sock
        The socket of :func:`~quarterhour.api.http.listening.claim_port` for ``workers``,
        claimed before (the command line does, to report a port in use before it says it is
        serving); claimed here if not given.

    Returns
    -------
    int
        Exit status: 0 once stopped by a signal, 1 if workers kept dying at start.

    Raises
    ------
    PortInUseError
        If ``sock`` is not given and the port is taken.
    """
    limits = fit_open_files(connections or ConnectionLimits())
    holder = sock if sock is not None else claim_port(host, port, workers=workers)
    # What is loaded by now (the network, the indexes, the modules) lives as long as the server:
    # out of the garbage collector's sight, a full collection no longer stalls a request for
    # 50-150 ms now and then, and forked workers stop copying pages to update it.
    gc.freeze()

    def serve(listener: socket.socket) -> None:
        # The socket itself, not its fd: uvicorn takes a bare fd for a Unix socket and would
        # leave Nagle's algorithm on (40 ms stalls).
        config = uvicorn_config(
            app, host=host, port=port, access_log=access_log, connections=limits
        )
        QuarterhourServer(config).run(sockets=[listener])

    if workers <= 1:
        with holder:
            serve(holder)
        return 0
    # Each worker listens on a socket of its own (SO_REUSEPORT), and the kernel spreads new
    # connections evenly over them. On one shared socket, the worker that wakes first accepts a
    # whole burst of connections (asyncio takes all that are pending) while the others idle:
    # two workers then served no more than one. The master's socket only holds the port and
    # never listens (on a system without SO_REUSEPORT, it listens and the workers share it).
    shared = not hasattr(socket, "SO_REUSEPORT")

    def work() -> None:
        if shared:  # pragma: no cover - Linux has SO_REUSEPORT
            serve(holder)
            return
        holder.close()
        try:
            listener = listening_socket(host, port, reuse_port=True)
        except ListenError as error:  # another program took the port while no worker held it
            log.error("worker %d: %s", os.getpid(), error)
            sys.exit(STARTUP_FAILURE)
        serve(listener)

    with holder:
        return Supervisor(work, workers).run()


@contextmanager
def serve_in_thread(
    app: FastAPI,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    connections: ConnectionLimits | None = None,
) -> Iterator[str]:
    """Serve ``app`` on loopback in a background thread; yield its base URL, stop on exit.

    Parameters
    ----------
    app
        The application.
    host, port
        Where to listen (a free port by default).
    connections
        Bounds of the connections (default
        :class:`~quarterhour.api.http.settings.ConnectionLimits`).

    Raises
    ------
    RuntimeError
        If the server does not start (its start-up failed) within ``STARTUP_TIMEOUT_S``.
    """
    listener = listening_socket(host, port or 0)
    port = listener.getsockname()[1]
    server = QuarterhourServer(uvicorn_config(app, host=host, port=port, connections=connections))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="quarterhour-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            msg = "the quarterhour server did not start (see its log)"
            raise RuntimeError(msg)
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
