"""Kernels compiled at install: present, current, used by a first plan, equal to the JIT's."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import numpy as np
import pytest
import scipy.sparse as sp

from quarterhour import settings
from quarterhour.routing import jit
from quarterhour.siting.assign import nearest_in_rows

if TYPE_CHECKING:
    from pathlib import Path

REINSTALL = (
    "the compiled kernels are missing or stale: pip install -e . (needs gcc, Python headers)"
)


def _plan(folder: Path, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
        "QUARTERHOUR_CACHE": str(tmp_path / "networks"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "quarterhour", "plan", "-v", "-o", str(folder), *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        check=False,
    )


def test_the_install_compiled_every_entry() -> None:
    module = jit.compiled_module()
    assert module is not None, REINSTALL
    kernels = jit.entries([importlib.import_module(name) for name in jit.KERNEL_MODULES])
    assert {kernel.__name__ for kernel in kernels} >= {"walk_times_chunk", "nearest_in_rows"}
    for kernel in kernels:
        for index in range(len(kernel.signatures)):
            assert hasattr(module, jit.export_name(kernel, index)), (kernel, index)


@pytest.mark.slow
@pytest.mark.parametrize("args", [(), ("--budget", "20")], ids=["cover-all", "budget"])
def test_a_first_plan_compiles_nothing(tmp_path: Path, args: tuple[str, ...]) -> None:
    """A fresh numba cache and network cache: the plan writes nothing to numba's cache."""
    done = _plan(tmp_path / "plan", tmp_path, *args)
    assert done.returncode == 0, done.stderr
    compiled = sorted(path.name for path in (tmp_path / "numba").rglob("*.nbi"))
    assert compiled == [], f"compiled at run time: {compiled}\n{done.stderr}"
    assert "compiled kernel" not in done.stderr


@pytest.mark.slow
def test_compiled_and_jit_plans_are_the_same(tmp_path: Path) -> None:
    compiled = _plan(tmp_path / "compiled", tmp_path)
    just_in_time = _plan(tmp_path / "jit", tmp_path, QUARTERHOUR_AOT="0")
    assert compiled.returncode == just_in_time.returncode == 0, just_in_time.stderr
    for name in ("assignments.csv", "stations.geojson"):
        assert (tmp_path / "compiled" / name).read_bytes() == (tmp_path / "jit" / name).read_bytes()
    summaries = [
        json.loads((tmp_path / run / "summary.json").read_text()) for run in ("compiled", "jit")
    ]
    for summary in summaries:
        summary.pop("seconds", None)
        summary.pop("provenance", None)
    assert summaries[0] == summaries[1]


def test_arguments_of_other_types_take_the_jit() -> None:
    """The compiled code trusts its argument types; anything else goes to numba's dispatcher."""
    rng = np.random.default_rng(7)
    matrix = sp.random(300, 200, density=0.05, format="csr", random_state=rng)
    matrix.data = rng.uniform(0, 15, matrix.nnz)
    expected_cols = np.array(
        [row.indices[row.data.argmin()] if row.nnz else -1 for row in matrix], dtype=np.int64
    )
    reference = nearest_in_rows(
        matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64), matrix.data
    )
    variants = {
        "int32 indices": (matrix.indptr, matrix.indices.astype(np.int32), matrix.data),
        "strided values": (
            matrix.indptr.astype(np.int64),
            matrix.indices.astype(np.int64),
            np.repeat(matrix.data, 2)[::2],
        ),
        "read-only inputs": tuple(
            np.frombuffer(array.astype(dtype).tobytes(), dtype=dtype)
            for array, dtype in (
                (matrix.indptr, np.int64),
                (matrix.indices, np.int64),
                (matrix.data, np.float64),
            )
        ),
    }
    np.testing.assert_array_equal(reference[0], expected_cols)
    for why, args in variants.items():
        cols, values = nearest_in_rows(*args)
        np.testing.assert_array_equal(cols, reference[0], err_msg=why)
        np.testing.assert_array_equal(values, reference[1], err_msg=why)
    assert nearest_in_rows.compiled_for(variants["read-only inputs"]) is not None
    assert nearest_in_rows.compiled_for(variants["int32 indices"]) is None
    assert nearest_in_rows.compiled_for(variants["strided values"]) is None


def test_the_switch_turns_the_compiled_kernels_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "use_compiled_kernels", False)
    assert jit.compiled_module() is None
    args = (np.array([0, 1], np.int64), np.array([0], np.int64), np.array([2.5]))
    assert nearest_in_rows.compiled_for(args) is None
    assert nearest_in_rows(*args)[1][0] == 2.5
