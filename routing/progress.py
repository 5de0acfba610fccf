"""Progress bars for long steps (network build, coverage matrices), silenced by ``quiet``."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from collections.abc import Iterator

from tqdm import tqdm


@contextmanager
def progress_bar(*, total: int, desc: str, unit: str, quiet: bool) -> Iterator[tqdm]:
    """Yield a tqdm bar on stderr; disabled when ``quiet`` or for tiny totals."""
    bar = tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=quiet or total < 500,
        leave=False,
        dynamic_ncols=True,
    )
    try:
        yield bar
    finally:
        bar.close()
