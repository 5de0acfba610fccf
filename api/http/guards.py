"""What keeps one client from harming the others: trusted hosts and admission of heavy work.

* :class:`HostCheckMiddleware` answers only requests whose ``Host`` is one the service is known
  by (its own names and addresses, and ``--allowed-host``): a web page on another site cannot
  reach a service on 127.0.0.1 through DNS rebinding.
* :class:`Admission` lets at most ``max_heavy_requests`` heavy requests (plans, walk-time
  matrices, coverage audits) run at once, answers 503 with ``Retry-After`` when they are all
  busy, and bounds each one's size so that the service stays within its memory budget.
"""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager, suppress
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
            names.update(info[4][0] for info in socket.getaddrinfo(machine, None))
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
        detail = [{"loc": ["header", "host"], "msg": msg, "type": "untrusted_host"}]
        await error_response(400, detail)(scope, receive, send)


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
        self._slots = threading.BoundedSemaphore(limits.max_heavy_requests)

    @property
    def max_pairs(self) -> int:
        """The most pairs within the limit one heavy request may hold (its share of memory)."""
        share = self.limits.memory_budget_bytes / self.limits.max_heavy_requests
        return int(share / BYTES_PER_PAIR)

    @contextmanager
    def heavy(self, *, loc: Sequence[str]) -> Iterator[None]:
        """Hold a slot for a heavy request, or answer 503 at once when none is free."""
        if not self._slots.acquire(blocking=False):
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
        try:
            yield
        finally:
            self._slots.release()
