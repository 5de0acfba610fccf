"""The server's side of each connection: time limits, a header cap, and room for real clients.

uvicorn's httptools protocol closes an idle keep-alive connection only after an answer: a
connection that never sends a request, or sends one a byte at a time, stays open for good, and
httptools buffers headers of any size. Twenty thousand such sockets used up the open files (no
client got an answer), and 500 of them sending 8 MB of headers held 4 GB. Here, per connection
(:class:`GuardedHttpProtocol`):

* a deadline: a request (its line, headers and body) must have arrived within
  ``request_timeout_s`` of the connection opening or of the previous answer, else the connection
  is closed, with a 408 answer if a request had begun (nginx's ``client_header_timeout``);
* a cap on the request line and headers: over ``max_header_bytes``, a 431 answer and the
  connection is closed;
* an answer the client leaves unread for ``request_timeout_s`` is dropped with its connection;

and per worker (:class:`ConnectionRegistry`):

* at most ``max_connections`` connections: a new one closes the connection that has waited
  longest for its request (idle, or sending one slowly), so that a flood of idle sockets cannot
  lock real clients out; a request being answered is never closed for it;
* at most ``max_unfinished_bytes`` of requests still arriving, together: over it, the oldest
  unfinished request is closed.

The answers the server writes itself have the application's error shape,
``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``.
"""

from __future__ import annotations

import asyncio
import fcntl
import struct
import termios
from itertools import islice
from typing import TYPE_CHECKING, ClassVar
from weakref import WeakKeyDictionary

import httptools
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from quarterhour.api.http.errors import error_body
from quarterhour.api.http.settings import ConnectionLimits

if TYPE_CHECKING:
    from uvicorn.config import Config
    from uvicorn.server import ServerState

VICTIM_SCAN = 32
"""Longest-waiting connections looked at for one to close (see ``ConnectionRegistry._victim``)."""

LINGER_S = 2.0
"""Seconds a refused connection still reads (and drops) what its client sends after the answer:
a client still sending its headers reads the answer rather than a connection reset."""


class HeadersTooLargeError(Exception):
    """Raised in the parser's callback to stop parsing headers over the limit."""


class ConnectionRegistry:
    """The connections of one server (one worker): how many are open, which wait for a request.

    Parameters
    ----------
    limits
        ``max_connections`` and ``max_unfinished_bytes`` are read.
    """

    def __init__(self, limits: ConnectionLimits) -> None:
        self.max_connections = limits.max_connections
        self.max_unfinished_bytes = limits.max_unfinished_bytes
        self.open: set[GuardedHttpProtocol] = set()
        self.waiting: dict[GuardedHttpProtocol, None] = {}
        """Connections no request of which is being answered, longest waiting first."""
        self.unfinished_bytes = 0

    def admit(self, connection: GuardedHttpProtocol) -> bool:
        """Count a new connection, closing those that waited longest while over the limit.

        Returns
        -------
        bool
            False if the server is full of requests being answered (the caller closes the new
            connection).
        """
        self.open.add(connection)
        while len(self.open) > self.max_connections:
            victim = self._victim()
            if victim is None:
                self.drop(connection)
                return False
            victim.evict()
        return True

    def _victim(self) -> GuardedHttpProtocol | None:
        """The connection that has waited longest and whose client has sent nothing unread.

        A client connects and sends its request at once, but the worker reads it some turns of
        the event loop after it accepted the connection: in a flood, as many newer connections
        were accepted meanwhile. Skipping connections with bytes waiting in the kernel keeps a
        real client from being closed before its request is seen.
        """
        for connection in islice(self.waiting, VICTIM_SCAN):
            if not connection.has_unread_input():
                return connection
        return next(iter(self.waiting), None)

    def wait(self, connection: GuardedHttpProtocol) -> None:
        """Mark ``connection`` as waiting for a request (the newest)."""
        self.waiting.pop(connection, None)
        self.waiting[connection] = None

    def busy(self, connection: GuardedHttpProtocol) -> None:
        """Mark ``connection`` as answering a request: it is not closed for newcomers."""
        self.waiting.pop(connection, None)

    def received(self, connection: GuardedHttpProtocol, size: int) -> None:
        """Count ``size`` bytes of an unfinished request; close the oldest ones if over budget."""
        connection.unfinished += size
        self.unfinished_bytes += size
        if self.unfinished_bytes <= self.max_unfinished_bytes:
            return
        for oldest in list(self.waiting):
            if self.unfinished_bytes <= self.max_unfinished_bytes:
                break
            if oldest.unfinished:
                oldest.evict()

    def finished(self, connection: GuardedHttpProtocol) -> None:
        """The request of ``connection`` has arrived in full (or was refused)."""
        self.unfinished_bytes -= connection.unfinished
        connection.unfinished = 0

    def drop(self, connection: GuardedHttpProtocol) -> None:
        """Forget ``connection`` (closed)."""
        self.finished(connection)
        self.open.discard(connection)
        self.waiting.pop(connection, None)


_REGISTRIES: WeakKeyDictionary[ServerState, ConnectionRegistry] = WeakKeyDictionary()


def registry_of(server_state: ServerState, limits: ConnectionLimits) -> ConnectionRegistry:
    """The registry of the server whose state is ``server_state`` (made on first use)."""
    registry = _REGISTRIES.get(server_state)
    if registry is None:
        registry = _REGISTRIES[server_state] = ConnectionRegistry(limits)
    return registry


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the deadlines and caps of :attr:`limits`.

    Use :func:`guarded_protocol` to make one with other limits, and pass it to
    ``uvicorn.Config(http=...)``.
    """

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, object],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.registry = registry_of(server_state, self.limits)
        self.unfinished = 0
        """Bytes received of the request not yet complete (counted by the registry)."""
        self._deadline: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._answering: list[RequestResponseCycle] = []
        self._busy = False
        self._in_message = False
        self._headers_done = False
        self._head_bytes = 0
        self._lingering = False
        self._fd = -1

    # -- connection events -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's is a socket transport
        """Admit the connection (maybe closing the longest-waiting one) and start its deadline."""
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        self._fd = sock.fileno() if sock is not None else -1
        if not self.registry.admit(self):
            transport.close()
            return
        self.registry.wait(self)
        self._arm_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the timers and forget the connection."""
        self._cancel_deadline()
        self._cancel_send_timer()
        self.registry.drop(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; answer 431 once the request line and headers are over the limit."""
        if self._lingering:
            return
        self._unset_keepalive_if_required()
        if not self._headers_done:
            self._head_bytes += len(data)
        if not self._answered_early():  # else the body is dropped as it comes (uvicorn's on_body)
            self.registry.received(self, len(data))
        if self.transport.is_closing():  # closed to keep the unfinished requests in budget
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as error:
            if isinstance(error.__context__, HeadersTooLargeError):
                self._refuse_headers()
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        if not self._headers_done and self._head_bytes > self.limits.max_header_bytes:
            self._refuse_headers()

    def pause_writing(self) -> None:
        """The client reads slowly: it has ``request_timeout_s`` to take the answer."""
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(
                self.limits.request_timeout_s, self.transport.abort
            )

    def resume_writing(self) -> None:
        """The client reads again."""
        super().resume_writing()
        self._cancel_send_timer()

    # -- parser callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        """A request begins: its headers are counted from here."""
        super().on_message_begin()
        self._in_message = True
        self._headers_done = False

    def on_headers_complete(self) -> None:
        """Refuse headers over the limit (however they arrived), else start the request."""
        self._headers_done = True
        size = len(self.url) + sum(len(name) + len(value) for name, value in self.headers)
        if size > self.limits.max_header_bytes:
            raise HeadersTooLargeError
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The request has arrived in full: the application answers it, without a deadline."""
        super().on_message_complete()
        self._in_message = False
        self._headers_done = False
        self._head_bytes = 0
        self.registry.finished(self)
        if self.cycle is not None and not self.cycle.response_complete:
            self._answering.append(self.cycle)
        self._update_state()

    def on_response_complete(self) -> None:
        """An answer is sent: the connection waits for the next request, within its deadline."""
        super().on_response_complete()
        self._answering = [cycle for cycle in self._answering if not cycle.response_complete]
        if self._answered_early():  # the rest of its body will be dropped, not held
            self.registry.finished(self)
        self._update_state()

    # -- states and timers -------------------------------------------------------------------

    def _answered_early(self) -> bool:
        """Whether the request still arriving was answered already (413 on its declared size)."""
        return self._headers_done and self.cycle is not None and self.cycle.response_complete

    def _update_state(self) -> None:
        if self.transport.is_closing():
            return
        busy = bool(self._answering)
        if busy == self._busy:
            return
        self._busy = busy
        if busy:
            self._cancel_deadline()
            self.registry.busy(self)
        else:
            self.registry.wait(self)
            self._arm_deadline()

    def _arm_deadline(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.limits.request_timeout_s, self._timed_out)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _cancel_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _timed_out(self) -> None:
        """No complete request in time: 408 if one had begun (and is not answered), else close."""
        self._deadline = None
        if self.transport.is_closing() or self._lingering:
            return
        answered = self._headers_done and self.cycle is not None and self.cycle.response_started
        if self._in_message and not answered:
            seconds = f"{self.limits.request_timeout_s:g}"
            msg = f"the request did not arrive in full within {seconds} s"
            self._answer_and_close(408, ("request",), msg, "timeout")
        else:
            self.transport.close()

    def _refuse_headers(self) -> None:
        limit = self.limits.max_header_bytes
        msg = f"the request line and headers are over the limit of {limit:,} bytes"
        self._answer_and_close(431, ("header",), msg, "too_large")

    def _answer_and_close(self, status: int, loc: tuple[str, ...], msg: str, kind: str) -> None:
        """Answer with an error, then read and drop input for ``LINGER_S`` seconds and close."""
        self._lingering = True
        self._cancel_deadline()
        self.registry.finished(self)
        if self._busy:  # an answer is being written (pipelined requests): nothing to add to it
            self.transport.close()
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # The application, if it awaits the body, hears that the client left; its answer,
            # if any, goes nowhere.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        body = error_body(loc, msg, kind)
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self._deadline = self.loop.call_later(
            min(LINGER_S, self.limits.request_timeout_s), self.transport.close
        )

    def has_unread_input(self) -> bool:
        """Whether bytes from the client wait in the kernel, not read yet."""
        if self._fd < 0 or self.transport.is_closing():
            return False
        try:
            waiting = fcntl.ioctl(self._fd, termios.FIONREAD, b"\0\0\0\0")
        except OSError:
            return False
        (count,) = struct.unpack("i", waiting)
        return bool(count > 0)

    def evict(self) -> None:
        """Close the connection to make room (it waits for a request, or sends one slowly)."""
        self.registry.drop(self)
        self._cancel_deadline()
        self.transport.close()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """A :class:`GuardedHttpProtocol` class with ``limits``, for ``uvicorn.Config(http=...)``."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})
