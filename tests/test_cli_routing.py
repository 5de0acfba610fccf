"""The command line for isochrones and walk times: outputs, and one clear error on bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from quarterhour.api.cli.main import main

if TYPE_CHECKING:
    from pathlib import Path

SHANGHAI = "shanghai_center.osm.pbf"


def run_cli(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    """Run ``quarterhour`` in a fresh process, as a planner would."""
    env = {**os.environ, "QUARTERHOUR_CACHE": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "quarterhour", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def write_csv(path: Path, rows: list[list[object]], header: str = "id,name,lon,lat") -> Path:
    path.write_text(
        header + "\n" + "\n".join(",".join(str(v) for v in row) for row in rows) + "\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def points(tmp_path: Path) -> tuple[Path, Path]:
    """Two small point files in central Shanghai (WGS84)."""
    stations = write_csv(
        tmp_path / "stations.csv",
        [["s1", "People's Square", 121.4706, 31.2317], ["s2", "Xintiandi", 121.4747, 31.2194]],
    )
    homes = write_csv(
        tmp_path / "homes.csv",
        [
            ["h1", "a", 121.4720, 31.2290],
            ["h2", "b", 121.4760, 31.2230],
            ["h3", "c", 121.5300, 31.2500],
            ["h4", "far", 121.9, 31.0],
        ],
    )
    return stations, homes


def test_isochrone_command_writes_geojson(
    data_dir: Path, tmp_path: Path, isolated_cache: Path
) -> None:
    out = tmp_path / "iso.geojson"
    result = run_cli(
        "isochrone",
        "--osm",
        str(data_dir / SHANGHAI),
        "--lon",
        "121.4737",
        "--lat",
        "31.2304",
        "--crs",
        "gcj02",
        "--minutes",
        "5",
        "10",
        "15",
        "-o",
        str(out),
        cache=isolated_cache,
    )
    assert result.returncode == 0, result.stderr
    collection = json.loads(out.read_text())
    assert [f["properties"]["contour"] for f in collection["features"]] == [15.0, 10.0, 5.0]
    assert all(f["properties"]["crs"] == "gcj02" for f in collection["features"])
    assert "OpenStreetMap contributors" in collection["attribution"]
    assert "nodes" in result.stderr  # log lines state sizes


def test_walktimes_command_writes_pairs(
    data_dir: Path, points: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    stations, homes = points
    out = tmp_path / "pairs.csv"
    status = main(
        [
            "walktimes",
            "--crs",
            "wgs84",
            "--osm",
            str(data_dir / SHANGHAI),
            "--from",
            str(homes),
            "--to",
            str(stations),
            "-o",
            str(out),
        ]
    )
    assert status == 0
    rows = list(csv.DictReader(out.open()))
    assert rows and set(rows[0]) == {"from_id", "to_id", "walk_min"}
    assert {r["from_id"] for r in rows} <= {"h1", "h2", "h3"}
    assert all(0 <= float(r["walk_min"]) <= 15 for r in rows)
    assert "h4" in capsys.readouterr().err  # the unreachable point is named
    meta = json.loads((tmp_path / "pairs.meta.json").read_text())
    assert meta["speed_kmh"] == 4.5 and meta["limit"] == 15.0 and "h4" in meta["unreachable_from"]
    assert "OpenStreetMap contributors" in meta["attribution"]


def test_quiet_prints_nothing(
    data_dir: Path, points: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    stations, _ = points
    status = main(
        [
            "walktimes",
            "--crs",
            "wgs84",
            "--quiet",
            "--osm",
            str(data_dir / SHANGHAI),
            "--from",
            str(stations),
            "--to",
            str(stations),
            "-o",
            str(tmp_path / "p.csv"),
        ]
    )
    assert status == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


@pytest.mark.parametrize(
    ("osm_content", "message"),
    [
        (b"", "empty"),
        (b"<osm version='0.6'><way id='1'><nd ref=", "cannot read OSM data"),
        (
            b"<?xml version='1.0'?><osm version='0.6'><node id='1' lat='31.2' lon='121.4'/></osm>",
            "no walkable ways",
        ),
    ],
)
def test_bad_osm_file_one_line_error(
    tmp_path: Path,
    points: tuple[Path, Path],
    osm_content: bytes,
    message: str,
    isolated_cache: Path,
) -> None:
    stations, homes = points
    osm = tmp_path / "bad.osm"
    osm.write_bytes(osm_content)
    out = tmp_path / "pairs.csv"
    result = run_cli(
        "walktimes",
        "--crs",
        "wgs84",
        "--osm",
        str(osm),
        "--from",
        str(homes),
        "--to",
        str(stations),
        "-o",
        str(out),
        cache=isolated_cache,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert (
        lines[-1].startswith("quarterhour: error:")
        and message in lines[-1]
        and "bad.osm" in lines[-1]
    )
    assert "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,name,lon,lat\n", "no origin rows"),
        ("id,name,x1,y1\na,b,1,2\n", "lon"),
        ("id,name,lon,lat\na,b,121.47,abc\n", "row"),
        ("id,name,lon,lat\na,b,121.47,31.23\na,c,121.48,31.22\n", "duplicate"),
        ("id,name,lon,lat\na,b,31.23,121.47\nc,d,31.22,121.48\n", "swapped"),
    ],
)
def test_broken_csv_one_line_error(
    data_dir: Path, tmp_path: Path, points: tuple[Path, Path], content: str, message: str, capsys
) -> None:
    stations, _ = points
    broken = tmp_path / "broken.csv"
    broken.write_text(content, encoding="utf-8")
    out = tmp_path / "pairs.csv"
    status = main(
        [
            "walktimes",
            "--crs",
            "wgs84",
            "--osm",
            str(data_dir / SHANGHAI),
            "--from",
            str(broken),
            "--to",
            str(stations),
            "-o",
            str(out),
        ]
    )
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("quarterhour: error:") and "broken.csv" in err[-1]
    assert message in err[-1].lower()
    assert not out.exists()


def test_point_off_the_network_is_a_clear_error(data_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "iso.geojson"
    status = main(
        [
            "isochrone",
            "--osm",
            str(data_dir / SHANGHAI),
            "--crs",
            "wgs84",
            "--lon",
            "121.9",
            "--lat",
            "31.0",
            "-o",
            str(out),
        ]
    )
    assert status == 2
    assert "snapping limit" in capsys.readouterr().err
    assert not out.exists()


def test_missing_osm_file_and_bad_numbers(tmp_path: Path, capsys) -> None:
    assert (
        main(
            [
                "isochrone",
                "--osm",
                str(tmp_path / "none.osm.pbf"),
                "--lon",
                "1",
                "--lat",
                "1",
                "-o",
                str(tmp_path / "x.json"),
            ]
        )
        == 2
    )
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "isochrone",
                "--lon",
                "1",
                "--lat",
                "1",
                "--minutes",
                "-5",
                "-o",
                str(tmp_path / "x.json"),
            ]
        )
    assert exit_info.value.code == 2


def test_help_speaks_to_planners(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "15 minutes" in text and "isochrone" in text and "walktimes" in text
