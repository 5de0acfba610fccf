"""Stopping a long step from outside: a cancelled workspace plan stops its walk times and search.

The caller says how to tell that it should stop (:func:`stop_when`, a cheap question asked at
most every ``CHECK_EVERY_S``); long steps ask :func:`check` between their chunks (every progress
bar update does), and a HiGHS call in a forked process is killed (:func:`requested`).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

CHECK_EVERY_S = 0.2
"""Seconds between two questions to the caller (the question may read a database)."""


class Cancelled(Exception):  # noqa: N818 - a state, as asyncio.CancelledError
    """The caller asked the step to stop: it made nothing."""


@dataclass
class _Watch:
    asked: Callable[[], bool]
    last_check: float = field(default=0.0)
    stopped: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requested(self) -> bool:
        if not self.stopped and self.lock.acquire(blocking=False):  # one thread asks at a time
            try:
                now = time.monotonic()
                if now - self.last_check >= CHECK_EVERY_S:
                    self.last_check = now
                    self.stopped = bool(self.asked())
            finally:
                self.lock.release()
        return self.stopped


_watch: ContextVar[_Watch | None] = ContextVar("quarterhour_stop_watch", default=None)


@contextmanager
def stop_when(asked: Callable[[], bool]) -> Iterator[None]:
    """Stop this thread's long steps (raise :class:`Cancelled`) once ``asked()`` is true.

    ``asked`` may be called from the step's worker threads, one at a time.
    """
    token = _watch.set(_Watch(asked))
    try:
        yield
    finally:
        _watch.reset(token)


def requested() -> bool:
    """Whether the caller of this thread's step asked it to stop."""
    watch = _watch.get()
    return watch is not None and watch.requested()


def current() -> Callable[[], bool]:
    """Return this thread's question (true once the step should stop) for its worker threads.

    The worker threads of a pool do not see this thread's context.
    """
    watch = _watch.get()
    return watch.requested if watch is not None else _never


def _never() -> bool:
    return False


def check() -> None:
    """Raise :class:`Cancelled` if the caller asked this thread's step to stop."""
    if requested():
        msg = "stopped: the caller cancelled it"
        raise Cancelled(msg)
