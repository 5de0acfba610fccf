"""What keeps one client from harming the others: trusted hosts and admission of heavy work.

* :class:`HostCheckMiddleware` answers only requests whose ``Host`` is one the service is known
  by (its own names and addresses, and ``--allowed-host``): a web page on another site cannot
  reach a service on 127.0.0.1 through DNS rebinding.
* :class:`Admission` lets at most ``max_heavy_requests`` heavy requests (plans, walk-time
  matrices, coverage audits) run at once in the whole service, every worker process together,
  answers 503 with ``Retry-After`` when they are all busy, and bounds each one's size so that
  the service stays within its memory budget.
* :class:`ArrivalClock` notes when each request arrived, so that a request's ``time_limit_s``
  also counts the time spent receiving and parsing its body and waiting for a thread.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from quarterhour.api.http.errors import ApiError, error_response
from quarterhour.routing.walktimes import BYTES_PER_PAIR

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from starlette.types import ASGIApp, Receive, Scope, Send

    from quarterhour.api.http.settings import ApiLimits

LOCAL_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
"""The names every service answers to."""

OPEN_PATHS: tuple[str, ...] = ("/health",)
"""Paths answered whatever the ``Host`` (a load balancer's health check may use an address)."""


def bound_hosts(host: str, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """The host names a service listening on ``host`` answers to.

    Parameters
    ----------
    host
        The address it listens on; on every interface (``0.0.0.0``, ``::``) it is also known by
        the machine's name and addresses.
    extra
        Names added with ``--allowed-host`` (``*`` allows any).
    """
    names = {*LOCAL_HOSTS, host.strip("[]").lower(), *(name.lower() for name in extra)}
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a name to compare with, not one to bind
        machine = socket.gethostname()
        names.add(machine.lower())
        with suppress(OSError):
            names.update(str(info[4][0]) for info in socket.getaddrinfo(machine, None))
    return tuple(sorted(names))


def _host_name(header: str) -> str:
    """The name part of a ``Host`` header (``[::1]:8000`` -> ``::1``, ``a.b:80`` -> ``a.b``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostCheckMiddleware:
    """Answer 400 with a JSON reason to requests for a host the service is not known by.

    Parameters
    ----------
    app
        The ASGI application.
    allowed
        The host names (``*`` allows any).
    """

    def __init__(self, app: ASGIApp, *, allowed: Sequence[str]) -> None:
        self.app = app
        self.allowed = frozenset(name.lower() for name in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the ``Host`` header of HTTP requests, then pass them on."""
        if scope["type"] != "http" or "*" in self.allowed or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        host = _host_name(headers.get(b"host", b"").decode("latin-1"))
        if host in self.allowed:
            await self.app(scope, receive, send)
            return
        msg = (
            f"host {host or '(none)'!r} is not one this service answers to; start it with "
            "--allowed-host NAME to add it"
        )
        detail: list[dict[str, object]] = [
            {"loc": ["header", "host"], "msg": msg, "type": "untrusted_host"}
        ]
        await error_response(400, detail)(scope, receive, send)


ARRIVED = "quarterhour.arrived"


class ArrivalClock:
    """Note in each HTTP request's scope the monotonic time its headers arrived."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stamp the scope, then pass the request on."""
        if scope["type"] == "http":
            scope[ARRIVED] = time.monotonic()
        await self.app(scope, receive, send)


def seconds_left(scope: Scope, limit: float) -> float:
    """What is left of ``limit`` seconds counted from the request's arrival (never 0)."""
    arrived: float = scope.get(ARRIVED, time.monotonic())
    elapsed = time.monotonic() - arrived
    return max(limit - elapsed, 0.01)


def _remove_in_owner(folder: Path, owner: int) -> None:
    if os.getpid() == owner:  # not in a forked worker that exits normally
        shutil.rmtree(folder, ignore_errors=True)


class SharedSlots:
    """``n`` slots shared by this process and the workers forked from it: one lock file each.

    A slot is held with ``flock`` on its file, opened by each process for itself (a lock
    belongs to an open file, and an inherited one would be shared), so the kernel releases the
    slots of a worker that dies, even killed with SIGKILL: none is lost.
    """

    def __init__(self, n: int) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="quarterhour-slots-"))
        self.paths = [self.folder / f"slot-{k}" for k in range(n)]
        for path in self.paths:
            path.touch()
        atexit.register(_remove_in_owner, self.folder, os.getpid())
        self._lock = threading.Lock()
        self._pid = -1
        self._files: list[int] = []
        self._held: set[int] = set()

    def _files_of_this_process(self) -> list[int]:
        if self._pid != os.getpid():  # opened again after a fork
            self._files = [os.open(path, os.O_RDWR) for path in self.paths]
            self._held = set()
            self._pid = os.getpid()
        return self._files

    def try_acquire(self) -> int | None:
        """Hold a free slot and return it, or None when every slot is held."""
        with self._lock:
            for slot, fd in enumerate(self._files_of_this_process()):
                if slot in self._held:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                self._held.add(slot)
                return slot
        return None

    def release(self, slot: int) -> None:
        """Free a slot this process holds."""
        with self._lock:
            fcntl.flock(self._files[slot], fcntl.LOCK_UN)
            self._held.discard(slot)


_HOLDING: ContextVar[bool] = ContextVar("quarterhour_holding_slot", default=False)
"""Whether the request being answered holds a heavy slot already (taken for its large body)."""


class Admission:
    """Bounds on heavy requests: how many run at once, and how large each may be.

    Parameters
    ----------
    limits
        The service's limits (``max_heavy_requests``, ``memory_budget_bytes``,
        ``retry_after_s``).
    """

    def __init__(self, limits: ApiLimits) -> None:
        self.limits = limits
        self._slots = SharedSlots(limits.max_heavy_requests)

    @property
    def max_pairs(self) -> int:
        """The most pairs within the limit one heavy request may hold (its share of memory)."""
        share = self.limits.memory_budget_bytes / self.limits.max_heavy_requests
        return int(share / BYTES_PER_PAIR)

    def _acquire(self, loc: Sequence[str]) -> int:
        """A free slot, or the 503 at once when none is free."""
        slot = self._slots.try_acquire()
        if slot is None:
            msg = (
                f"the service is busy with {self.limits.max_heavy_requests} heavy requests: "
                f"try again in {self.limits.retry_after_s} s"
            )
            raise ApiError(
                503,
                loc=loc,
                msg=msg,
                kind="busy",
                headers={"Retry-After": str(self.limits.retry_after_s)},
            )
        return slot

    @contextmanager
    def heavy(self, *, loc: Sequence[str]) -> Iterator[None]:
        """Hold a slot for a heavy request, or answer 503 at once when none is free.

        A request that holds one already (its large body took it) keeps that one.
        """
        if _HOLDING.get():
            yield
            return
        slot = self._acquire(loc)
        token = _HOLDING.set(True)
        try:
            yield
        finally:
            _HOLDING.reset(token)
            self._slots.release(slot)

    @contextmanager
    def background(self, *, loc: Sequence[str]) -> Iterator[None]:
        """Hold a slot of its own for work that outlives its request (503 when none is free).

        Unlike :meth:`heavy` it takes a slot even when the request holds one for its body, and
        it may be closed in another thread (a plan job's): it marks no request as holding one.
        """
        slot = self._acquire(loc)
        try:
            yield
        finally:
            self._slots.release(slot)
