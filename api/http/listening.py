"""The listening sockets of the service, bound before it says it is serving, and its open files.

A port already in use is one error line before ``quarterhour: serving ...``, whether one
process serves or forked workers do. Workers each listen on a socket of their own with
``SO_REUSEPORT`` (the kernel spreads connections over them), and the kernel lets any process of
the same user bind such a socket to a port that others like it hold: a second ``quarterhour
serve`` would silently share the port of a running one. So the port is first probed with a
socket that does not share (:func:`check_port`): it fails if anything listens there.
"""

from __future__ import annotations

import errno
import logging
import resource
import socket
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from quarterhour.geo.errors import QuarterhourError

if TYPE_CHECKING:
    from quarterhour.api.http.settings import ConnectionLimits

log = logging.getLogger("quarterhour")

BACKLOG = 2048
"""Connections the kernel queues for a worker before it accepts them."""

ACCEPT_BATCH = 128
"""Connections a worker accepts at once (asyncio's ``backlog``)."""

ACCEPTED_AHEAD = 4 * ACCEPT_BATCH
"""Connections a worker may hold beyond ``max_connections``, as open files: asyncio hands a
connection to its protocol (which closes the longest-waiting one to make room) two turns of the
event loop after accepting it, releases a closed one's file a turn later, and accepts a batch
at each turn."""

RESERVED_FILES = 64
"""Open files a worker keeps for itself (the network's files, logs, pipes) besides connections."""


class ListenError(QuarterhourError):
    """The service cannot listen where it was asked to (port in use, no such address)."""


class PortInUseError(ListenError):
    """Another process listens on the port."""


def tcp_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to ``host:port``, for workers to listen on.

    Made with ``IPPROTO_TCP`` spelled out: the sockets it accepts inherit the protocol number,
    and asyncio switches Nagle's algorithm off only on sockets that say TCP (with 0, every
    answer waited 40 ms for a delayed ACK). ``SO_REUSEADDR`` lets a restarted service bind while
    connections of the previous one linger in TIME_WAIT.

    Raises
    ------
    PortInUseError
        If the port is taken.
    ListenError
        If ``host`` is not an address of this machine, or the port is not allowed.
    """
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        msg = f"cannot listen on {host}: {error.strerror or error}"
        raise ListenError(msg) from error
    family, kind, proto, _, address = info[0]
    bound = socket.socket(family, kind, proto)
    try:
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        bound.bind(address)
    except OSError as error:
        bound.close()
        raise _listen_error(host, port, error) from error
    bound.set_inheritable(True)
    return bound


def listening_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket listening on ``host:port`` (see :func:`tcp_socket`)."""
    bound = tcp_socket(host, port, reuse_port=reuse_port)
    try:
        bound.listen(BACKLOG)
    except OSError as error:
        bound.close()
        raise _listen_error(host, port, error) from error
    return bound


def check_port(host: str, port: int) -> None:
    """Raise :class:`PortInUseError` if anything listens on ``host:port``, sharing or not.

    The probe does not share the port (no ``SO_REUSEPORT``), so it fails on the sockets of
    another quarterhour's workers too; it listens for an instant and is closed.
    """
    listening_socket(host, port).close()


def claim_port(host: str, port: int, *, workers: int) -> socket.socket:
    """The socket that holds ``host:port`` for the service, checked free first.

    Parameters
    ----------
    host, port
        Where to listen.
    workers
        Processes that will serve: with one, the socket it listens on; with more, a socket
        that only holds the port (bound with ``SO_REUSEPORT``, never listening, after
        :func:`check_port`) while each worker listens on its own.

    Raises
    ------
    PortInUseError
        If anything listens on the port already.
    """
    if workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        return listening_socket(host, port)
    check_port(host, port)
    return tcp_socket(host, port, reuse_port=True)


def _listen_error(host: str, port: int, error: OSError) -> ListenError:
    if error.errno == errno.EADDRINUSE:
        return PortInUseError(
            f"port {port} on {host} is already in use: stop what listens there or choose "
            "another --port"
        )
    return ListenError(f"cannot listen on port {port} on {host}: {error.strerror or error}")


def raise_open_file_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit; return the limit.

    Every connection is an open file: at the usual soft limit of 1,024, a worker refuses
    connections long before it is busy.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft and (hard == resource.RLIM_INFINITY or hard > soft):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # pragma: no cover - a hard limit the kernel refuses
            return soft
        return hard
    return soft


def fit_open_files(limits: ConnectionLimits) -> ConnectionLimits:
    """``limits`` with ``max_connections`` within the open files this process may have.

    Raises the soft limit first (:func:`raise_open_file_limit`); if that is still too small
    for ``max_connections`` beside the files already open, fewer connections are kept (and
    a line says so).
    """
    allowed = raise_open_file_limit()
    if allowed == resource.RLIM_INFINITY:  # pragma: no cover - unusual
        return limits
    try:
        already = sum(1 for _ in Path("/proc/self/fd").iterdir())
    except OSError:  # pragma: no cover - not Linux
        already = 0
    room = max(16, allowed - already - RESERVED_FILES - ACCEPTED_AHEAD)
    if limits.max_connections <= room:
        return limits
    log.warning(
        "at most %d connections per worker (the open-file limit is %d; raise it with "
        "ulimit -n to keep %d)",
        room,
        allowed,
        limits.max_connections,
    )
    return replace(limits, max_connections=room)
