"""Forked worker processes under a master: a worker that dies is replaced, and none outlives it.

The master forks the workers after the network is loaded (they share it), then only waits:

* a worker that dies (killed, crashed) is logged and replaced by a new fork; one that dies
  again and again soon after it started is restarted after a growing pause, and after
  ``MAX_QUICK_DEATHS`` in a row the master stops (the fault is not passing);
* ``SIGTERM`` or ``SIGINT`` to the master stops every worker (each finishes its answers) and
  the master exits once they have; nothing is restarted meanwhile;
* a worker asks the kernel for ``SIGTERM`` when its master dies (``PR_SET_PDEATHSIG``), even
  by ``kill -9``, and checks right after that its master has not died already: orphaned
  workers would keep the port.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
import traceback
from contextlib import suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

log = logging.getLogger("quarterhour")

PR_SET_PDEATHSIG = 1
"""``prctl`` option: the signal this process gets when its parent dies (Linux)."""

QUICK_DEATH_S = 10.0
"""A worker that dies sooner than this after it started is restarted after a pause."""

MAX_QUICK_DEATHS = 5
"""Quick deaths in a row after which the master gives up."""

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def die_with_parent(parent: int) -> None:
    """Ask for ``SIGTERM`` when the parent process dies; exit now if it has died already.

    Call it in a child right after ``fork``. The check closes the race of a parent that dies
    between the fork and the request (the child would then be adopted, and never told).
    """
    with suppress(OSError, AttributeError):  # not Linux: no such call
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


def _death(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        with suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with status {code}"


class Supervisor:
    """Run ``count`` forked copies of ``work`` and keep them running until stopped.

    Parameters
    ----------
    work
        What a worker does (serve until told to stop); it runs in the child, which then exits
        with status 0 (or 1 if it raised, or the code of ``SystemExit``).
    count
        Workers to keep.
    """

    def __init__(self, work: Callable[[], None], count: int) -> None:
        self.work = work
        self.count = count
        self.children: dict[int, float] = {}
        """Workers running: process id -> when it started (monotonic seconds)."""
        self.stopping = False
        self.quick_deaths = 0
        self.master = os.getpid()

    def run(self) -> int:
        """Start the workers, replace the ones that die, stop on a signal; return exit status."""
        previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
        for number in STOP_SIGNALS:
            signal.signal(number, self._stop)
        try:
            for _ in range(self.count):
                self._start()
            return self._watch()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _watch(self) -> int:
        status_code = 0
        while self.children:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:  # pragma: no cover - none left
                break
            started = self.children.pop(pid, None)
            if started is None or self.stopping:
                continue
            lived = time.monotonic() - started
            self.quick_deaths = self.quick_deaths + 1 if lived < QUICK_DEATH_S else 0
            if self.quick_deaths >= MAX_QUICK_DEATHS:
                log.error(
                    "worker %d %s; %d workers in a row died within %g s of starting: stopping",
                    pid,
                    _death(status),
                    self.quick_deaths,
                    QUICK_DEATH_S,
                )
                status_code = 1
                self._stop(signal.SIGTERM, None)
                continue
            pause = 0.5 * 2 ** (self.quick_deaths - 1) if self.quick_deaths else 0.0
            log.warning(
                "worker %d %s after %.1f s; starting another%s",
                pid,
                _death(status),
                lived,
                f" in {pause:g} s" if pause else "",
            )
            self._sleep(pause)
            if not self.stopping:
                self._start()
        return status_code

    def _start(self) -> None:
        # Stop signals wait while the child is made and recorded: a stop in between would miss it.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child, measured by the tests from outside
                self._child()
            self.children[pid] = time.monotonic()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def _child(self) -> None:  # pragma: no cover - runs in the child
        code = 0
        try:
            for number in STOP_SIGNALS:
                signal.signal(number, signal.SIG_DFL)
            die_with_parent(self.master)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            self.work()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:  # noqa: BLE001 - whatever it was, the child must not return
            traceback.print_exc()
            code = 1
        finally:
            with suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        for pid in list(self.children):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.05)
