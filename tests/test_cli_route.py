"""``quarterhour route``: the walking route between two points, or to the nearest stations."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pytest

from quarterhour.api.cli.main import main
from quarterhour.geo.crs import convert
from quarterhour.routing.route import shortest_route

if TYPE_CHECKING:
    from pathlib import Path

SHANGHAI = "shanghai_center.osm.pbf"
HOME = (121.4720, 31.2290)  # WGS84
STATION = (121.4747, 31.2194)


def run_route(data_dir: Path, *args: str) -> int:
    crs = [] if "--crs" in args else ["--crs", "wgs84"]  # points in China state their system
    return main(["route", "--quiet", "--osm", str(data_dir / SHANGHAI), *crs, *args])


def test_route_command_writes_the_route(data_dir: Path, tmp_path: Path, network_of) -> None:
    gcj = [tuple(float(v) for v in convert(*p, src="wgs84", dst="gcj02")) for p in (HOME, STATION)]
    out = tmp_path / "route.geojson"
    status = run_route(
        data_dir,
        *("--from-lon", str(gcj[0][0]), "--from-lat", str(gcj[0][1])),
        *("--to-lon", str(gcj[1][0]), "--to-lat", str(gcj[1][1])),
        *("--crs", "gcj02", "--out-crs", "wgs84", "-o", str(out)),
    )
    assert status == 0
    feature = json.loads(out.read_text())
    expected = shortest_route(network_of("shanghai_center"), *HOME, *STATION)
    assert feature["type"] == "Feature" and feature["properties"]["crs"] == "wgs84"
    assert feature["properties"]["meters"] == pytest.approx(expected.meters, abs=0.05)
    assert feature["properties"]["minutes"] == pytest.approx(expected.minutes, abs=1e-3)
    np.testing.assert_allclose(
        feature["geometry"]["coordinates"][1:-1], expected.coordinates()[1:-1], atol=2e-6
    )
    assert "OpenStreetMap contributors" in feature["attribution"]


def test_route_command_to_the_nearest_stations(data_dir: Path, tmp_path: Path) -> None:
    stations = tmp_path / "stations.csv"
    stations.write_text(
        "id,name,lon,lat\nfar,Far,121.4600,31.2400\nnear,Near,121.4730,31.2280\n"
        "mid,Mid,121.4747,31.2194\n",
        encoding="utf-8",
    )
    out = tmp_path / "nearest.geojson"
    status = run_route(
        data_dir,
        *("--from-lon", str(HOME[0]), "--from-lat", str(HOME[1])),
        *("--stations", str(stations), "-k", "2", "-o", str(out)),
    )
    assert status == 0
    collection = json.loads(out.read_text())
    assert [f["properties"]["station_id"] for f in collection["features"]] == ["near", "mid"]
    minutes = [f["properties"]["minutes"] for f in collection["features"]]
    assert minutes == sorted(minutes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--to-lon", "121.9", "--to-lat", "31.0"), "--to-lon/--to-lat"),
        (("--to-lon", "121.48"), "give both --to-lon and --to-lat"),
        ((), "give an end point"),
        (("--to-lon", "121.48", "--to-lat", "31.22", "--speed-kmh", "50"), "--speed-kmh"),
        (("--to-lon", "121.48", "--to-lat", "95"), "--to-lon/--to-lat"),
        (("--to-lon", "121.505", "--to-lat", "31.24"), "separate parts"),  # across the river
    ],
)
def test_route_command_errors_are_one_line(
    data_dir: Path, tmp_path: Path, capsys, args: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "route.geojson"
    status = run_route(
        data_dir, "--from-lon", str(HOME[0]), "--from-lat", str(HOME[1]), *args, "-o", str(out)
    )
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("quarterhour: error:")
    assert message in lines[0]
    assert not out.exists()
