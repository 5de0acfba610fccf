"""Boundary files: bounded before they are parsed, and their coordinate system never guessed in China.

Hostile files are generated here (100,000 nested lists, Infinity and NaN coordinates, a file over
the size bound); the bundled DataV outline of Qingpu (GCJ-02, which it does not say) is refused
without ``--boundary-crs`` by ``plan`` and ``serve``, and read right with it.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING

import pytest
import shapely
from servers import one_line_errors, serve_command
from shapely.geometry import box, mapping

import quarterhour as qh
from quarterhour import settings
from quarterhour.api.http.serving import free_port
from quarterhour.geo.boundary import read_boundary, read_boundary_crs
from quarterhour.geo.errors import InputError

if TYPE_CHECKING:
    from pathlib import Path

DATAV = settings.data_folder / "qingpu_boundary_datav_gcj02.json"
CGCS2000 = settings.data_folder / "qingpu_boundary_cgcs2000.geojson"
CHOICES = "--boundary-crs gcj02 (AMap, Tencent, DataV), --boundary-crs bd09"
PYTHON_CHOICES = "crs=gcj02 (AMap, Tencent, DataV), crs=bd09"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("depth", [100_000, 1_000])
def test_deep_nesting_is_one_error(tmp_path: Path, depth: int) -> None:
    path = _write(tmp_path / "deep.geojson", "[" * depth + "]" * depth)
    with pytest.raises(InputError, match=r"^deep\.geojson: boundary is not valid GeoJSON \(.*deep"):
        read_boundary(path, crs="wgs84")


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", "1e400"])
def test_a_coordinate_that_is_not_finite_is_one_error(tmp_path: Path, value: str) -> None:
    ring = f"[[8.6, 49.4], [8.7, 49.4], [{value}, 49.5], [8.6, 49.4]]"
    path = _write(tmp_path / "inf.geojson", f'{{"type": "Polygon", "coordinates": [{ring}]}}')
    with pytest.raises(InputError, match=r"^inf\.geojson: geometry 1: coordinate \(.*\) is not"):
        read_boundary(path)


def test_the_file_size_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "max_boundary_mb", 0.01)
    with pytest.raises(InputError, match=r"over the limit of 0\.01 MB \(quarterhour\.settings"):
        read_boundary(DATAV, crs="gcj02")


def test_the_command_line_sets_the_file_bounds_for_its_command_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from quarterhour.api.cli.main import main

    before = (settings.max_boundary_mb, settings.max_osm_xml_mb)
    args = ["plan", "-q", "--communities", str(tmp_path / "none.csv"), "-o", str(tmp_path / "p")]
    bounded = [*args, "--boundary", str(DATAV), "--boundary-crs", "gcj02"]
    assert main([*bounded, "--max-boundary-mb", "0.01", "--max-osm-xml-mb", "5"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "over the limit of 0.01 MB" in line and "--max-boundary-mb" in line
    assert (settings.max_boundary_mb, settings.max_osm_xml_mb) == before
    assert main([*bounded, "--max-boundary-mb", "1"]) == 2  # read: Qingpu is off the extract
    assert "no walkable street lies inside the boundary" in capsys.readouterr().err


def test_in_china_an_unstated_system_is_not_guessed() -> None:
    expected = f"^{re.escape(DATAV.name)}: the boundary lies in China.*{re.escape(PYTHON_CHOICES)}"
    with pytest.raises(InputError, match=expected):
        read_boundary(DATAV)
    with pytest.raises(InputError, match="lies in China"):
        qh.read_boundary(DATAV)
    outline, crs = read_boundary_crs(DATAV, crs="gcj02")
    assert crs == "gcj02"
    # The CGCS2000 outline says its system: read without being told, and the DataV outline
    # converted from GCJ-02 lies on it (an IoU of 0.95, as tests/test_geo_boundary.py finds).
    reference, declared = read_boundary_crs(CGCS2000)
    assert declared == "wgs84"
    overlap = shapely.area(shapely.intersection(outline, reference))
    assert overlap / shapely.area(shapely.union(outline, reference)) > 0.93


def test_outside_china_rfc_7946_stands(tmp_path: Path) -> None:
    heidelberg = box(8.65, 49.39, 8.72, 49.42)
    path = _write(tmp_path / "heidelberg.geojson", json.dumps(mapping(heidelberg)))
    outline, crs = read_boundary_crs(path)
    assert crs == "wgs84"
    assert outline.equals(heidelberg)


def test_plan_and_serve_stop_before_any_work(tmp_path: Path) -> None:
    plan = [sys.executable, "-m", "quarterhour", "plan", "-q", "--boundary", str(DATAV)]
    commands = {
        "plan": [*plan, "-o", str(tmp_path / "plan")],
        "serve": serve_command(free_port(), "--workers", "1", "--boundary", str(DATAV)),
    }
    for line in one_line_errors(commands, cache=tmp_path / "cache", memory_cap_mb=2_048).values():
        assert "the boundary lies in China" in line
        assert CHOICES in line
    assert not (tmp_path / "plan").exists()
