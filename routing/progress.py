"""Progress bars for long steps (network build, coverage matrices), silenced by ``quiet``."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(*, total: int | None, desc: str, unit: str, quiet: bool) -> tqdm:
    """Return a tqdm bar on stderr (a context manager too); disabled when ``quiet`` or tiny.

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
        disable=quiet or (total is not None and total < 500),
        leave=False,
        dynamic_ncols=True,
    )
