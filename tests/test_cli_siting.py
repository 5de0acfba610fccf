"""``quarterhour plan`` and ``coverage``: the main job on the bundled data, and bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from quarterhour.api.cli.main import main

DATA = Path(__file__).resolve().parents[1] / "data"
SUMMARY_KEYS = {"n_existing", "n_new", "covered", "uncoverable", "lower_bound", "gap"}
STDOUT_KEYS = SUMMARY_KEYS | {"n_communities", "status_counts", "upper_bound"}


def write_points(path: Path, rows: list[tuple[str, float, float]]) -> Path:
    path.write_text(
        "id,name,lon,lat\n" + "".join(f"{i},{i},{lon},{lat}\n" for i, lon, lat in rows),
        encoding="utf-8",
    )
    return path


def test_plan_with_no_options_plans_central_shanghai(tmp_path: Path, isolated_cache: Path) -> None:
    """The README's main job: a fresh process, the bundled network and compounds."""
    env = {**os.environ, "QUARTERHOUR_CACHE": str(isolated_cache)}
    result = subprocess.run(
        [sys.executable, "-m", "quarterhour", "plan"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "plan"
    summary = json.loads((folder / "summary.json").read_text())
    assert set(summary) >= SUMMARY_KEYS
    assert summary["n_communities"] > 2000
    assert summary["covered"] + summary["uncoverable"] == summary["n_communities"]
    assert summary["lower_bound"] <= summary["n_new"] <= 1.1 * summary["lower_bound"] + 1
    assert "OpenStreetMap contributors" in summary["attribution"]
    stations = json.loads((folder / "stations.geojson").read_text())
    assert sum(f["properties"]["kind"] == "new" for f in stations["features"]) == summary["n_new"]
    with (folder / "assignments.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == summary["n_communities"]
    assert all(float(r["walk_min"]) <= 15.0 for r in rows if r["covered"] == "True")
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed.keys() == STDOUT_KEYS
    # stdout and summary.json count alike, from the statuses an independent count agrees with
    statuses = pd.read_csv(folder / "assignments.csv")["status"].value_counts()
    assert printed["status_counts"] == summary["status_counts"]
    assert {k: v for k, v in printed["status_counts"].items() if v} == statuses.to_dict()
    count = statuses.to_dict()
    assert printed["uncoverable"] == count.get("uncoverable", 0) + count.get("off_network", 0)
    assert printed["covered"] == count.get("covered_existing", 0) + count.get("covered_new", 0)
    # every bundled compound is accounted for: in the plan, or counted out of the network's area
    with (DATA / "shanghai_compounds_amap_gcj02.csv").open(encoding="utf-8") as handle:
        listed = sum(1 for _ in csv.DictReader(handle))
    selection = summary["inputs"]["selection"]
    assert selection["read"] == listed
    assert selection["in_area"] == summary["communities_read"] == len(rows)
    assert listed == selection["in_area"] + selection["outside_box"] + selection["off_streets"]


@pytest.fixture(scope="module")
def shanghai_points(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("points")
    communities = [
        ("c1", 121.4720, 31.2290),
        ("c2", 121.4760, 31.2230),
        ("c3", 121.4650, 31.2350),
        ("c4", 121.4850, 31.2150),
        ("c5", 121.4420, 31.2050),
    ]
    return {
        "communities": write_points(folder / "communities.csv", communities),
        "stations": write_points(folder / "stations.csv", [("s1", 121.4706, 31.2317)]),
        "duplicates": write_points(
            folder / "duplicates.csv", [*communities, ("c1", 121.47, 31.22)]
        ),
        "empty": write_points(folder / "empty.csv", []),
        "outside": write_points(
            folder / "outside.csv", [("o1", 121.90, 31.00), ("o2", 121.95, 31.02)]
        ),
        "far_station": write_points(folder / "far_station.csv", [("s9", 121.90, 31.00)]),
    }


def test_plan_keeps_existing_stations(
    shanghai_points: dict[str, Path], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "plan"
    status = main(
        [
            "plan",
            "--crs",
            "wgs84",
            "--communities",
            str(shanghai_points["communities"]),
            "--existing",
            str(shanghai_points["stations"]),
            "--effort",
            "fast",
            "--time-limit",
            "20",
            "-o",
            str(out),
        ]
    )
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_existing"] == 1
    assert "upper limit on the true gap" in summary["gap_note"]
    stations = json.loads((out / "stations.geojson").read_text())["features"]
    assert [
        f["properties"]["station_id"] for f in stations if f["properties"]["kind"] == "existing"
    ] == ["s1"]
    assert summary["covered"] == 5


def test_coverage_command(shanghai_points: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "coverage.csv"
    status = main(
        [
            "coverage",
            "--crs",
            "wgs84",
            "--communities",
            str(shanghai_points["communities"]),
            "--stations",
            str(shanghai_points["stations"]),
            "-o",
            str(out),
        ]
    )
    assert status == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert len(rows) == 5
    assert {"community_id", "walk_min", "covered"} <= set(rows[0])
    meta = json.loads((tmp_path / "coverage.meta.json").read_text())
    assert meta["speed_kmh"] == 4.5 and "OpenStreetMap contributors" in meta["attribution"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--communities", "{duplicates}"], "duplicate"),
        (["--communities", "{empty}"], "no communities rows"),
        (["--communities", "{communities}", "--budget", "-2"], "budget"),
    ],
)
def test_plan_bad_input_one_line_error(
    shanghai_points: dict[str, Path], tmp_path: Path, args: list[str], message: str, capsys
) -> None:
    out = tmp_path / "plan"
    status = main(
        [
            "plan",
            "--crs",
            "wgs84",
            *[a.format(**{k: str(v) for k, v in shanghai_points.items()}) for a in args],
            "-o",
            str(out),
        ]
    )
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("quarterhour: error:")
    assert message in err[-1].lower()
    assert not (out / "summary.json").exists()


@pytest.mark.parametrize(
    ("args", "option"),
    [(["--aides", "0"], "--aides "), (["--aides", "2", "--max-aides", "1"], "--max-aides ")],
)
def test_plan_bad_aides_name_their_option(
    shanghai_points: dict[str, Path], tmp_path: Path, args: list[str], option: str
) -> None:
    """A fresh process: exit status 2 and one line naming the command line's option."""
    out = tmp_path / "plan"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "quarterhour",
            "plan",
            "--crs",
            "wgs84",
            "--communities",
            str(shanghai_points["communities"]),
            "--residents-per-aide",
            "1000",
            *args,
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"quarterhour: error: {option}")
    assert "--aides-new" not in result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_communities_all_outside_the_network(
    shanghai_points: dict[str, Path], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "plan"
    status = main(
        ["plan", "--crs", "wgs84", "--communities", str(shanghai_points["outside"]), "-o", str(out)]
    )
    assert status == 2
    assert "none of the 2 communities in outside.csv lies within 500 m" in capsys.readouterr().err
    assert not out.exists()


def test_candidate_on_another_continent_leaves_communities_uncoverable(
    shanghai_points: dict[str, Path], tmp_path: Path, capsys
) -> None:
    """Found by schemathesis: a stray site far away (inf in the local projection) crashed the plan."""
    stray = write_points(tmp_path / "stray.csv", [("k1", -47.98, 0.0)])
    out = tmp_path / "plan"
    status = main(
        [
            "plan",
            "--crs",
            "wgs84",
            "--communities",
            str(shanghai_points["communities"]),
            "--candidates",
            str(stray),
            "-o",
            str(out),
        ]
    )
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["uncoverable"] == 5 and summary["n_new"] == 0
    assert "nothing can be covered" in capsys.readouterr().err


def test_bundled_compounds_on_another_extract_ask_for_communities(
    data_dir: Path, tmp_path: Path, capsys
) -> None:
    status = main(
        [
            "plan",
            "--osm",
            str(data_dir / "singapore_bayfront.osm.pbf"),
            "-o",
            str(tmp_path / "plan"),
        ]
    )
    assert status == 2
    assert "give your communities with --communities" in capsys.readouterr().err


def test_existing_station_off_the_streets_is_kept_and_named(
    shanghai_points: dict[str, Path], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "plan"
    status = main(
        [
            "plan",
            "--crs",
            "wgs84",
            "--communities",
            str(shanghai_points["communities"]),
            "--existing",
            str(shanghai_points["far_station"]),
            "-o",
            str(out),
        ]
    )
    assert status == 0
    assert "s9" in capsys.readouterr().err  # the warning names it
    summary = json.loads((out / "summary.json").read_text())
    assert summary["existing_inactive"]["off_network"] == ["s9"]
    assert any("s9" in warning for warning in summary["warnings"])
    features = json.loads((out / "stations.geojson").read_text())["features"]
    far = next(f for f in features if f["properties"]["station_id"] == "s9")
    assert far["properties"]["status"] == "off_network"
    assert far["properties"]["served_communities"] == 0
