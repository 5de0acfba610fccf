"""How quarterhour compiles its hot loops: one decorator, so the choice lives in one place.

Every kernel (Dijkstra, isochrone fields, network simplification, the siting solvers) is
compiled by numba in nopython mode, releases the GIL so that threads run kernels on every core,
and is cached on disk so that later processes load it instead of compiling it again.

The kernels a plan, an isochrone or a route calls from Python (its *entries*) are also compiled
ahead of time when the package is installed (:mod:`quarterhour.routing.aot`, run by
``setup.py``) into the extension module ``quarterhour.routing._kernels``, for the signatures
they declare: the first ``quarterhour plan``, ``isochrone`` or ``route`` of a fresh install (and
the warm-up of ``quarterhour serve``) then compiles nothing. An entry runs its ahead-of-time
version only when

- the extension module was built from these very sources (a digest of the kernel modules is
  compiled into it, so an edited kernel is never shadowed by an old build), and
- every argument has exactly a declared type (array dtype, dimensions, contiguity; the compiled
  code trusts its arguments, as C does),

and otherwise falls back to numba's just-in-time dispatcher, which types and compiles as usual.
Inside other kernels an entry is its dispatcher (numba types it as one).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, overload

import numba
import numpy as np
from numba._dispatcher import compute_fingerprint
from numba.core import types
from numba.extending import typeof_impl

from quarterhour import settings

if TYPE_CHECKING:
    from types import ModuleType

    from numba.core.dispatcher import Dispatcher
    from numba.core.typing.templates import Signature

log = logging.getLogger("quarterhour")

Function = TypeVar("Function", bound=Callable[..., object])

COMPILED_MODULE = "quarterhour.routing._kernels"
"""The extension module the entries are compiled into ahead of time."""
KERNEL_MODULES = (
    "quarterhour.routing.dijkstra",
    "quarterhour.routing.simplify",
    "quarterhour.routing.edge_grid",
    "quarterhour.routing.contour",
    "quarterhour.routing.isochrone_kernels",
    "quarterhour.routing.route_kernels",
    "quarterhour.siting.assign",
    "quarterhour.siting.transport",
    "quarterhour.siting.kernels.pattern",
    "quarterhour.siting.kernels.min_cover",
    "quarterhour.siting.kernels.max_cover",
)
"""Modules whose entries are compiled ahead of time; they import only numpy, scipy and numba."""
DIGEST_EXPORT = "source_digest"
"""Name of the function of the compiled module that returns the digest it was built from."""

ROOT = Path(__file__).resolve().parent.parent

# Types for declaring signatures: C-contiguous 1-D arrays (writable and read-only), 2-D arrays of
# floats (``(n, 2)`` points, grids) and scalars.
BOOLS = types.Array(types.boolean, 1, "C")
INT8S = types.Array(types.int8, 1, "C")
INT32S = types.Array(types.int32, 1, "C")
INT64S = types.Array(types.int64, 1, "C")
INT64S_2D = types.Array(types.int64, 2, "C")
UINT64S = types.Array(types.uint64, 1, "C")
FLOATS = types.Array(types.float64, 1, "C")
INT32S_READ = INT32S.copy(readonly=True)
INT64S_READ = INT64S.copy(readonly=True)
FLOATS_READ = FLOATS.copy(readonly=True)
FLOATS_2D = types.Array(types.float64, 2, "C")
WALK_ARCS = (INT64S_READ, INT32S_READ, INT32S_READ, FLOATS_READ, INT32S_READ, INT32S_READ)
"""Types of a walking network's ``indptr, arc_head, arc_edge, arc_cost, edge_u, edge_v`` as the
isochrone and route kernels take them (their first six arguments)."""
FLOATS_2D_READ = FLOATS_2D.copy(readonly=True)
INT = types.int64
FLOAT = types.float64
BOOL = types.boolean
tuple_of = types.Tuple

_compile_lock = threading.Lock()
_compile_seconds = 0.0


def seconds_compiling() -> float:
    """Seconds this process has spent compiling (or loading from numba's cache) entries."""
    return _compile_seconds


def work_clock() -> float:
    """``time.perf_counter()`` less the time spent compiling: the clock of effort budgets.

    A search given 8 s of effort gets 8 s of searching whether or not numba compiled its
    kernels first; wall-clock limits (``time_limit``) keep the real clock.
    """
    return time.perf_counter() - _compile_seconds


def module_path(name: str) -> Path:
    """The source file of module ``name`` of the package (``quarterhour.a.b`` is ``a/b.py``)."""
    return ROOT.joinpath(*name.split(".")[1:]).with_suffix(".py")


def source_digest() -> int:
    """A 63-bit digest of the kernel modules' sources and of this file, as built into the module."""
    digest = hashlib.sha256()
    for path in (Path(__file__).resolve(), *(module_path(name) for name in KERNEL_MODULES)):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return int.from_bytes(digest.digest()[:8], "little") >> 1


def compiled_module() -> ModuleType | None:
    """The ahead-of-time module when it is installed, current and wanted, else None."""
    return _load_compiled() if settings.use_compiled_kernels else None


@cache
def _load_compiled() -> ModuleType | None:
    try:
        module = importlib.import_module(COMPILED_MODULE)
    except ImportError as error:
        log.debug("no kernels compiled ahead of time (%s): numba compiles them at first use", error)
        return None
    if getattr(module, DIGEST_EXPORT)() != source_digest():
        log.warning(
            "the kernels compiled at install are older than their sources; numba compiles them "
            "at first use (reinstall quarterhour to compile them again)"
        )
        return None
    return module


def export_name(kernel: AheadOfTime, index: int) -> str:
    """The name of signature ``index`` of ``kernel`` in the compiled module."""
    module = kernel.dispatcher.py_func.__module__.removeprefix("quarterhour.")
    return f"{module.replace('.', '_')}__{kernel.__name__}__{index}"


def _accepts(declared: types.Type, actual: types.Type) -> bool:
    """Whether a value of numba type ``actual`` may be passed where ``declared`` is compiled."""
    if isinstance(declared, types.Array):
        return (
            isinstance(actual, types.Array)
            and actual.dtype == declared.dtype
            and actual.ndim == declared.ndim
            and actual.layout == declared.layout
            and actual.aligned
            and (actual.mutable or not declared.mutable)
        )
    if isinstance(declared, types.BaseNamedTuple):
        return (
            isinstance(actual, types.BaseNamedTuple)
            and actual.instance_class is declared.instance_class  # type: ignore[attr-defined]  # numba sets them in its subclasses
            and len(actual.types) == len(declared.types)  # type: ignore[attr-defined]  # (as above)
            and all(_accepts(d, a) for d, a in zip(declared.types, actual.types, strict=True))  # type: ignore[attr-defined]  # (as above)
        )
    if isinstance(declared, types.Integer):
        return isinstance(actual, types.Integer | types.Boolean)
    if isinstance(declared, types.Float):
        return isinstance(actual, types.Integer | types.Float)
    return actual == declared


class AheadOfTime:
    """An entry kernel: its compiled-at-install versions when they fit, else its dispatcher."""

    def __init__(self, dispatcher: Dispatcher, signatures: Sequence[Signature]) -> None:
        self.dispatcher = dispatcher
        self.signatures = tuple(signatures)
        self.__name__ = dispatcher.py_func.__name__
        self.__qualname__ = dispatcher.py_func.__qualname__
        self.__module__ = dispatcher.py_func.__module__
        self.__doc__ = dispatcher.py_func.__doc__
        self.__wrapped__ = dispatcher.py_func
        self._chosen: dict[tuple[tuple[bytes, ...], tuple[type, ...]], Callable | None] = {}

    def __repr__(self) -> str:
        return f"<kernel {self.__module__}.{self.__name__}, ahead of time>"

    def compiled_for(self, args: tuple[object, ...]) -> Callable[..., object] | None:
        """The ahead-of-time function that takes ``args``, or None.

        The choice is remembered per numba type fingerprint of the arguments (dtype, layout,
        dimensions, writability: what ``numba.typeof`` would tell, in a few microseconds instead
        of hundreds) and their Python types; arrays that are not aligned are always typed.
        """
        module = compiled_module()
        if module is None:
            return None
        try:
            key = (tuple(map(compute_fingerprint, args)), tuple(map(type, args)))  # type: ignore[arg-type]  # others raise NotImplementedError
        except NotImplementedError:
            key = None
        if key is not None and all(
            arg.flags.aligned for arg in args if isinstance(arg, np.ndarray)
        ):
            if key not in self._chosen:
                self._chosen[key] = self._typed_choice(module, args)
            return self._chosen[key]
        return self._typed_choice(module, args)

    def _typed_choice(
        self, module: ModuleType, args: tuple[object, ...]
    ) -> Callable[..., object] | None:
        arg_types = tuple(numba.typeof(arg) for arg in args)
        for index, signature in enumerate(self.signatures):
            if len(signature.args) == len(arg_types) and all(
                _accepts(d, a) for d, a in zip(signature.args, arg_types, strict=True)
            ):
                compiled: Callable[..., object] = getattr(module, export_name(self, index))
                return compiled
        log.debug("%s: arguments %s match no compiled signature", self.__name__, arg_types)
        return None

    def __call__(self, *args: object) -> object:
        """Run the compiled-at-install version for these arguments, else the dispatcher."""
        compiled = self.compiled_for(args)
        if compiled is not None:
            return compiled(*args)
        self._compile_for(args)
        return self.dispatcher(*args)

    def _compile_for(self, args: tuple[object, ...]) -> None:
        """Compile (or load from numba's cache) the dispatcher for ``args``, timed apart."""
        global _compile_seconds  # noqa: PLW0603 (one counter per process, under a lock)
        arg_types = tuple(numba.typeof(arg) for arg in args)
        if arg_types in self.dispatcher.overloads:
            return
        with _compile_lock:
            start = time.perf_counter()
            self.dispatcher.compile(arg_types)
            elapsed = time.perf_counter() - start
            _compile_seconds += elapsed
        level = logging.INFO if elapsed > 1 else logging.DEBUG
        log.log(level, "compiled kernel %s in %.1f s", self.__name__, elapsed)


@typeof_impl.register(AheadOfTime)
def _typeof_entry(value: AheadOfTime, _context: object) -> types.Type:
    """Inside a kernel an entry is its dispatcher."""
    return types.Dispatcher(value.dispatcher)


@overload
def kernel(
    function: Function, *, inline: bool = ..., ahead_of_time: Sequence[Signature] = ...
) -> Function: ...
@overload
def kernel(
    function: None = None, *, inline: bool = ..., ahead_of_time: Sequence[Signature] = ...
) -> Callable[[Function], Function]: ...
def kernel(
    function: Function | None = None,
    *,
    inline: bool = False,
    ahead_of_time: Sequence[Signature] = (),
) -> Function | Callable[[Function], Function]:
    """Compile ``function`` with numba: nopython, without the GIL, cached on disk.

    Parameters
    ----------
    function
        The function to compile (the decorator may also be called with options only).
    inline
        Inline the function into the kernels that call it (small helpers on hot paths).
    ahead_of_time
        Signatures to compile at install (an entry called from Python by a plan); its module
        must be listed in :data:`KERNEL_MODULES`.
    """
    compile_ = numba.njit(cache=True, nogil=True, inline="always" if inline else "never")

    def decorate(function: Function) -> Function:
        dispatcher = compile_(function)
        if not ahead_of_time:
            return dispatcher  # type: ignore[return-value]  # a dispatcher is called as the function
        return AheadOfTime(dispatcher, ahead_of_time)  # type: ignore[return-value]  # as is an entry

    if function is None:
        return decorate
    return decorate(function)


def entries(modules: Sequence[ModuleType]) -> list[AheadOfTime]:
    """The entries defined in ``modules``, in definition order."""
    return [
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, AheadOfTime) and value.__module__ == module.__name__
    ]
