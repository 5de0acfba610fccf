"""Progress bars for long steps (network build, walk times, siting, writing), silenced by ``quiet``.

A bar appears only once its step has run for ``DELAY_S``: short steps print nothing. Every update
asks whether the step was cancelled (:mod:`quarterhour.routing.stopping`), shown or not.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

from quarterhour.routing import stopping

DELAY_S = 1.0
"""Seconds a step runs before its bar appears."""


class _StoppableBar(tqdm):
    def update(self, n: float | None = 1) -> bool | None:
        stopping.check()
        return super().update(n)


def progress_bar(*, total: int | None, desc: str, unit: str, quiet: bool) -> tqdm:
    """Return a tqdm bar on stderr (a context manager too), shown after ``DELAY_S``, or never if ``quiet``.

    Parameters
    ----------
    total
        Steps expected, or None for a counter.
    desc, unit
        What is counted.
    quiet
        Show nothing.
    """
    return _StoppableBar(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=quiet,
        delay=DELAY_S,
        leave=False,
        dynamic_ncols=True,
    )
