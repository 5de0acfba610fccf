"""Run the application with uvicorn: in the foreground (the command line) or in a thread (tests)."""

from __future__ import annotations

import gc
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import uvicorn
from fastapi import FastAPI

STARTUP_TIMEOUT_S = 120.0


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port nobody listens on at ``host`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def uvicorn_config(
    app: FastAPI, *, host: str, port: int, access_log: bool = False
) -> uvicorn.Config:
    """The uvicorn configuration of quarterhour: keep-alive, quiet unless asked."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=access_log,
        log_level="info" if access_log else "warning",
        timeout_keep_alive=30,
        lifespan="on",
        # The standard event loop, not uvloop: uvloop holds back newly accepted connections
        # while the loop is busy (the first request of the 32nd client waited ~1 s behind the
        # 31 others, measured), and the handlers here are short enough that its speed does
        # not show.
        loop=os.environ.get("QUARTERHOUR_EVENT_LOOP", "asyncio"),
    )


def serve_forever(
    app: FastAPI, *, host: str, port: int, workers: int = 1, access_log: bool = False
) -> None:
    """Serve ``app`` until interrupted, in ``workers`` processes forked after start-up.

    The network is loaded (memory-mapped) and warmed once, before the fork, and shared; each
    worker runs its own event loop on its own listening socket of the one port, so the parts of
    a request that hold the GIL (HTTP parsing, validation, GeoJSON) run on every core too.

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
    """
    # What is loaded by now (the network, the indexes, the modules) lives as long as the server:
    # out of the garbage collector's sight, a full collection no longer stalls a request for
    # 50-150 ms now and then, and forked workers stop copying pages to update it.
    gc.freeze()
    if workers <= 1:
        uvicorn.Server(uvicorn_config(app, host=host, port=port, access_log=access_log)).run()
        return
    # Each worker listens on a socket of its own (SO_REUSEPORT), and the kernel spreads new
    # connections evenly over them. On one shared socket, the worker that wakes first accepts a
    # whole burst of connections (asyncio takes all that are pending) while the others idle:
    # two workers then served no more than one. The parent's socket only holds the port (it
    # fails here if the port is taken) and never listens.
    reuse_port = hasattr(socket, "SO_REUSEPORT")
    holder = tcp_socket(host, port, reuse_port=reuse_port)
    if not reuse_port:  # pragma: no cover - Linux has it
        holder.listen(2048)
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            listener = holder
            if reuse_port:
                holder.close()
                listener = tcp_socket(host, port, reuse_port=True)
                listener.listen(2048)
            # The socket itself, not its fd: uvicorn takes a bare fd for a Unix socket and
            # would leave Nagle's algorithm on (40 ms stalls).
            uvicorn.Server(uvicorn_config(app, host=host, port=port, access_log=access_log)).run(
                sockets=[listener]
            )
            os._exit(0)
        children.append(pid)

    def stop(_signum: int, _frame: object) -> None:
        for child in children:
            with suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for child in children:
        os.waitpid(child, 0)
    holder.close()


def tcp_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to ``host:port``, for workers to listen on.

    Made with ``IPPROTO_TCP`` spelled out: the sockets it accepts inherit the protocol number,
    and asyncio switches Nagle's algorithm off only on sockets that say TCP (with 0, every
    answer waited 40 ms for a delayed ACK).
    """
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    family, kind, proto, _, address = info[0]
    bound = socket.socket(family, kind, proto)
    bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    bound.bind(address)
    bound.set_inheritable(True)
    return bound


@contextmanager
def serve_in_thread(
    app: FastAPI, *, host: str = "127.0.0.1", port: int | None = None
) -> Iterator[str]:
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
