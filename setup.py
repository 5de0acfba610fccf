"""Build step beyond pyproject.toml: the entry kernels compiled ahead of time.

Everything else about the package is declared in pyproject.toml. See routing/aot.py.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
COMPILED_MODULE = "quarterhour.routing._kernels"


def _load_aot():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("_quarterhour_aot", ROOT / "routing" / "aot.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class BuildKernels(build_ext):
    """Compile the kernels with numba's pycc, then link them with its C helpers."""

    def build_extension(self, ext: Extension) -> None:
        """Compile the kernels' object files first (or leave the module out, saying why)."""
        if ext.name == COMPILED_MODULE:
            try:
                ext.extra_objects = _load_aot().compile_objects(ROOT, self.build_temp)
            except Exception as error:  # noqa: BLE001 (the JIT remains; say why)
                print(f"quarterhour: kernels not compiled ahead of time: {error}", file=sys.stderr)
                return
        super().build_extension(ext)


class BuildPackage(build_py):
    """The package is the repository root: leave this file out of it."""

    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        """The modules of ``package``, without ``setup``."""
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if not (package == "quarterhour" and m[1] == "setup")]


extensions = []
if os.environ.get("QUARTERHOUR_AOT", "1") != "0":
    extensions.append(
        Extension(COMPILED_MODULE, optional=True, **_load_aot().extension_options(ROOT))
    )

setup(ext_modules=extensions, cmdclass={"build_ext": BuildKernels, "build_py": BuildPackage})
