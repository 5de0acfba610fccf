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
from quarterhour.routing.isochrone import isochrone, to_geojson
from quarterhour.routing.route import nearest_routes, shortest_route
from quarterhour.siting.assign import nearest_in_rows

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from quarterhour.routing.graph import WalkNetwork

REINSTALL = (
    "the compiled kernels are missing or stale: pip install -e . (needs gcc, Python headers)"
)


def _quarterhour(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``quarterhour *args`` with numba's cache and the network cache (empty) in tmp_path."""
    environment = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
        "QUARTERHOUR_CACHE": str(tmp_path / "networks"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "quarterhour", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        check=False,
    )


def _plan(folder: Path, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return _quarterhour(tmp_path, "plan", "-v", "-o", str(folder), *args, **env)


def _compiled_at_run_time(tmp_path: Path) -> list[str]:
    """The kernels numba compiled (and cached) in a run of :func:`_quarterhour`."""
    return sorted(path.name for path in (tmp_path / "numba").rglob("*.nbi"))


def test_the_install_compiled_every_entry() -> None:
    module = jit.compiled_module()
    assert module is not None, REINSTALL
    kernels = jit.entries([importlib.import_module(name) for name in jit.KERNEL_MODULES])
    assert {kernel.__name__ for kernel in kernels} >= {
        "walk_times_chunk",
        "nearest_in_rows",
        "_time_grid",
        "filled_contours",
        "route_search",
    }
    for kernel in kernels:
        for index in range(len(kernel.signatures)):
            assert hasattr(module, jit.export_name(kernel, index)), (kernel, index)


@pytest.mark.slow
@pytest.mark.parametrize("args", [(), ("--budget", "20")], ids=["cover-all", "budget"])
def test_a_first_plan_compiles_nothing(tmp_path: Path, args: tuple[str, ...]) -> None:
    """A fresh numba cache and network cache: the plan writes nothing to numba's cache."""
    done = _plan(tmp_path / "plan", tmp_path, *args)
    assert done.returncode == 0, done.stderr
    compiled = _compiled_at_run_time(tmp_path)
    assert compiled == [], f"compiled at run time: {compiled}\n{done.stderr}"
    assert "compiled kernel" not in done.stderr


FIRST_REQUESTS = {
    "isochrone": ("isochrone", "--lon", "121.47", "--lat", "31.23", "--crs", "wgs84"),
    "isochrone-meters": (
        *("isochrone", "--lon", "121.48", "--lat", "31.235", "--crs", "wgs84"),
        *("--meters", "300", "800", "--out-crs", "gcj02", "--denoise", "0.5"),
    ),
    "route": (
        *("route", "--from-lon", "121.47", "--from-lat", "31.23"),
        *("--to-lon", "121.475", "--to-lat", "31.232", "--crs", "wgs84"),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("args", FIRST_REQUESTS.values(), ids=FIRST_REQUESTS.keys())
def test_a_first_isochrone_or_route_compiles_nothing(tmp_path: Path, args: tuple[str, ...]) -> None:
    """A fresh numba cache and network cache: the command writes nothing to numba's cache."""
    done = _quarterhour(tmp_path, *args, "-v", "-o", str(tmp_path / "out.geojson"))
    assert done.returncode == 0, done.stderr
    compiled = _compiled_at_run_time(tmp_path)
    assert compiled == [], f"compiled at run time: {compiled}\n{done.stderr}"
    assert "compiled kernel" not in done.stderr
    assert json.loads((tmp_path / "out.geojson").read_text())["type"].startswith("Feature")


def _isochrones_and_routes(network: WalkNetwork) -> list[object]:
    """Isochrones (time, distance, outlines) and routes: every entry of those requests."""
    results: list[object] = []
    for lon, lat, options in [
        (121.47, 31.23, {"minutes": [5, 10, 15]}),
        (121.48, 31.235, {"meters": [300, 800], "buffer_m": 30.0}),
    ]:
        found = isochrone(network, lon, lat, **options)
        results.extend([found.xy, found.ring_offsets, found.poly_offsets, found.level_offsets])
        results.append(to_geojson(found, network, denoise=0.5))
        results.append(to_geojson(found, network, polygons=False, generalize_m=10.0))
    routes = [
        shortest_route(network, 121.47, 31.23, 121.475, 31.232),
        *(
            found
            for _, found in nearest_routes(
                network,
                121.47,
                31.23,
                np.array([121.472, 121.468]),
                np.array([31.231, 31.226]),
                k=2,
            )
        ),
    ]
    for found in routes:
        results.extend([found.x, found.y, found.nodes, found.edges, found.meters, found.kind])
    return results


@pytest.mark.slow
def test_compiled_and_jit_isochrones_and_routes_are_the_same(
    network_of: Callable[[str], WalkNetwork], monkeypatch: pytest.MonkeyPatch
) -> None:
    network = network_of("shanghai_center")
    assert jit.compiled_module() is not None, REINSTALL
    just_in_time: list[str] = []
    compile_for = jit.AheadOfTime._compile_for

    def recorded(kernel: jit.AheadOfTime, args: tuple[object, ...]) -> None:
        just_in_time.append(kernel.__name__)
        compile_for(kernel, args)

    monkeypatch.setattr(jit.AheadOfTime, "_compile_for", recorded)
    compiled = _isochrones_and_routes(network)
    assert just_in_time == [], f"taken by the JIT: {sorted(set(just_in_time))}"
    monkeypatch.setattr(settings, "use_compiled_kernels", False)
    jitted = _isochrones_and_routes(network)
    assert set(just_in_time) >= {"_time_grid", "nearest_edge", "filled_contours", "route_search"}
    assert len(compiled) == len(jitted)
    for index, (a, b) in enumerate(zip(compiled, jitted, strict=True)):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=str(index))
        else:
            assert a == b, index


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
