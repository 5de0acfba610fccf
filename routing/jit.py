"""How quarterhour compiles its hot loops: one decorator, so the choice lives in one place.

Every kernel (Dijkstra, isochrone fields, network simplification, the siting solvers) is
compiled by numba in nopython mode, releases the GIL so that threads run kernels on every core,
and is cached on disk so that later processes load it instead of compiling it again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numba

Function = TypeVar("Function", bound=Callable[..., object])


def kernel(function: Function | None = None, *, inline: bool = False) -> Function:
    """Compile ``function`` with numba: nopython, without the GIL, cached on disk.

    Parameters
    ----------
    function
        The function to compile (the decorator may also be called with options only).
    inline
        Inline the function into the kernels that call it (small helpers on hot paths).
    """
    options: dict[str, object] = {"cache": True, "nogil": True}
    if inline:
        options["inline"] = "always"
    compile_ = numba.njit(**options)
    if function is None:
        return compile_  # type: ignore[return-value]
    return compile_(function)
