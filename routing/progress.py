"""Progress bars for long steps (network build, walk times, siting, writing), silenced by ``quiet``.

A bar appears only once its step has run for ``DELAY_S``: short steps print nothing.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

DELAY_S = 1.0
"""Seconds a step runs before its bar appears."""


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
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=quiet,
        delay=DELAY_S,
        leave=False,
        dynamic_ncols=True,
    )
