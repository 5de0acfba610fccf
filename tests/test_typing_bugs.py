"""Bugs the type checker found (issue 22): each test fails without its fix."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import quarterhour as qh
from quarterhour import settings
from quarterhour.api.report.inputs import plan_inputs_of_model
from quarterhour.geo.points import PointSet

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from quarterhour.routing.graph import WalkNetwork


def test_a_candidates_frame_reaches_the_report_as_checked_points(
    network_of: Callable[[str], WalkNetwork],
) -> None:
    # mypy: 'Dict entry 2 has incompatible type "PointSet | GeoDataFrame | DataFrame | None"'.
    # The model kept the caller's frame as its candidates, so the report (qh.report, qh.plot)
    # of a model built from a candidates GeoDataFrame failed on its missing ``source``.
    network = network_of(settings.default_osm.removesuffix(".osm.pbf"))
    homes = qh.bundled_communities(network).subset(list(range(60)))
    frame = homes.to_geodataframe().iloc[::3][["id", "geometry"]]
    frame = frame.assign(id="C" + frame["id"].astype(str))
    model = qh.CoverageModel.from_points(network, homes, candidates=frame, minutes=15).solve()
    candidates = model.points["candidates"]
    assert isinstance(candidates, PointSet)
    assert list(candidates.ids) == list(frame["id"])
    inputs = plan_inputs_of_model(model)
    assert inputs.candidates is candidates
    assert model.points["existing"] is None


def test_walkable_ways_that_join_no_two_points_are_one_error_line(
    tmp_path: Path, isolated_cache: Path
) -> None:
    # mypy: 'Item "None" of "Geometry | None" has no attribute "bounds"'. A file whose only
    # walkable way runs from a node back to itself has ways but no street: without a boundary
    # the message about the boundary read ``None.bounds`` and the command ended in a traceback.
    osm = tmp_path / "loop.osm"
    osm.write_text(
        "<?xml version='1.0'?><osm version='0.6'>"
        "<node id='1' lat='31.23' lon='121.47' version='1'/>"
        "<way id='10' version='1'><nd ref='1'/><nd ref='1'/><tag k='highway' v='footway'/></way>"
        "</osm>",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "quarterhour", "network", "--osm", str(osm)],
        capture_output=True,
        text=True,
        env={**os.environ, "QUARTERHOUR_CACHE": str(isolated_cache)},
        timeout=300,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "quarterhour: error: loop.osm: no walkable street in this OSM file joins two different "
        "points"
    )


def test_a_workbook_without_sheets_is_one_error_naming_the_file(tmp_path: Path) -> None:
    # mypy: 'Incompatible return value type (got "tuple[Grid | None, str]" ...)'. A workbook
    # whose <sheets> is empty (a broken export) opened, gave no sheet, and the reader went on
    # with None: ``'NoneType' object has no attribute 'sheet'``, a traceback, not an error.
    import re
    import zipfile

    import openpyxl
    import pytest

    from quarterhour.geo.errors import InputError
    from quarterhour.geo.points import read_points

    whole = tmp_path / "whole.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["id", "lon", "lat"])
    workbook.active.append(["a", 121.47, 31.23])
    workbook.save(whole)
    path = tmp_path / "nosheets.xlsx"
    with zipfile.ZipFile(whole) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            if info.filename.startswith("xl/worksheets/"):
                continue
            data = source.read(info.filename)
            if info.filename == "xl/workbook.xml":
                data = re.sub(rb"<sheets>.*</sheets>", b"<sheets/>", data)
            target.writestr(info, data)
    with pytest.raises(InputError) as caught:
        read_points(path, crs="wgs84")
    assert str(caught.value) == "nosheets.xlsx: not a readable Excel workbook (it has no sheets)"
