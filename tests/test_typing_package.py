"""A user's type checker reads quarterhour's annotations: the package ships py.typed (PEP 561)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

USER_SCRIPT = """
import quarterhour as qh

reveal_type(qh.CoverageModel.from_points)
network = qh.load_network("streets.osm.pbf")
qh.CoverageModel.from_points(network, "homes.csv", minutes="15")
"""


def test_the_wheel_carries_the_marker() -> None:
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["package-data"]["quarterhour"]
    assert "py.typed" in package_data
    assert (ROOT / "py.typed").is_file()


@pytest.mark.slow
def test_a_users_script_is_checked_against_the_annotations(tmp_path: Path) -> None:
    """mypy reads the package as installed (a folder on the import path), outside the repository."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "quarterhour").symlink_to(ROOT, target_is_directory=True)
    script = tmp_path / "user.py"
    script.write_text(USER_SCRIPT, encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--python-executable",
            sys.executable,
            "--cache-dir",
            str(tmp_path / "cache"),
            "--no-error-summary",
            str(script),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "py.typed" not in result.stdout
    assert (
        'user.py:4: note: Revealed type is "def (network: quarterhour.routing.graph.WalkNetwork '
        "| str, communities: quarterhour.geo.points.PointSet | "
    ) in result.stdout
    assert (
        'user.py:6: error: Argument "minutes" to "from_points" of "CoverageModel" has '
        'incompatible type "str"; expected "float | None"  [arg-type]'
    ) in result.stdout
    assert 'user.py:6: error: Argument 2 to "from_points"' in result.stdout
