"""Compile the entry kernels ahead of time, when the package is built (``setup.py``).

numba's ``pycc`` turns each declared signature of every entry (see
:mod:`quarterhour.routing.jit`) into a function of one CPython extension module; the kernels
they call are compiled into it as well. Two choices differ from pycc's defaults:

- the functions release the GIL, as the just-in-time kernels do (the service runs plans in
  threads beside its event loop);
- the code is compiled for the building machine's CPU, as numba's JIT does, unless
  ``QUARTERHOUR_AOT_CPU`` names another (``generic`` for a wheel meant for other machines).

The build imports only the kernel modules, under empty parent packages, so it needs numpy,
scipy and numba but none of the package's other dependencies. ``QUARTERHOUR_AOT=0`` skips it;
a build that fails (no C compiler) leaves the JIT, with a warning.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PACKAGE = "quarterhour"


def load_kernel_modules(root: Path) -> types.ModuleType:
    """Import the kernel modules of the source tree at ``root``; return its ``routing.jit``.

    The parent packages are registered empty, so their ``__init__`` (and its imports of pandas,
    shapely and the rest) never runs.
    """
    for name in (PACKAGE, f"{PACKAGE}.routing", f"{PACKAGE}.siting", f"{PACKAGE}.siting.kernels"):
        if name in sys.modules:
            continue
        package = types.ModuleType(name)
        package.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
        sys.modules[name] = package
    jit = importlib.import_module(f"{PACKAGE}.routing.jit")
    for name in jit.KERNEL_MODULES:
        importlib.import_module(name)
    return jit


def _gil_free_flags() -> None:
    """Make pycc compile its Python wrappers to release the GIL, as ``nogil=True`` does."""
    from numba.pycc import compiler

    class Flags(compiler.Flags):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self.release_gil = True  # type: ignore[assignment]  # numba declares its flags as Option descriptors

    compiler.Flags = Flags  # type: ignore[misc]  # pycc has no hook for its flags: replace the class


def _exports(jit: types.ModuleType) -> Iterator[tuple[str, object, object]]:
    modules = [sys.modules[name] for name in jit.KERNEL_MODULES]
    for entry in jit.entries(modules):
        for index, signature in enumerate(entry.signatures):
            yield jit.export_name(entry, index), signature, entry.dispatcher.py_func


def compile_objects(root: Path, build_temp: str) -> list[str]:
    """Compile the entries of the source tree at ``root`` to object files in ``build_temp``."""
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="quarterhour-numba-"))
    jit = load_kernel_modules(root)
    _gil_free_flags()
    from numba.core import types as nb
    from numba.pycc import CC

    compiled = CC(jit.COMPILED_MODULE.rsplit(".", 1)[1])
    compiled.target_cpu = os.environ.get("QUARTERHOUR_AOT_CPU", "host")
    compiled.verbose = False
    digest = jit.source_digest()
    compiled.export(jit.DIGEST_EXPORT, nb.int64())(lambda: digest)
    for name, signature, function in _exports(jit):
        compiled.export(name, signature)(function)
    os.makedirs(build_temp, exist_ok=True)  # noqa: PTH103 (a str from setuptools)
    objects, _ = compiled._compile_object_files(build_temp)
    return list(objects)


def extension_options(root: Path) -> dict[str, object]:
    """Options of the setuptools ``Extension`` of the compiled module: pycc's C helpers.

    Its dependencies include the Python sources of the kernels, so that a changed kernel is
    compiled again (setuptools otherwise keeps a module newer than its C sources).
    """
    from numba.pycc import CC

    template = CC("_kernels").distutils_extension()
    kernels = [
        str(path) for folder in ("routing", "siting") for path in (root / folder).rglob("*.py")
    ]
    return {
        "sources": template.sources,
        "depends": [*template.depends, *sorted(kernels)],
        "define_macros": template.define_macros,
        "include_dirs": template.include_dirs,
        "libraries": template.libraries,
        "library_dirs": template.library_dirs,
        "extra_compile_args": template.extra_compile_args,
        "extra_link_args": template.extra_link_args,
    }
