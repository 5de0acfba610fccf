"""Crash-safe outputs and bounded work on the command line, done for real.

Plans are killed with SIGKILL at random moments while they replace an existing plan folder; a
process whose file size is capped (RLIMIT_FSIZE) plays the full disk.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest

from quarterhour.api.cli.main import main
from quarterhour.routing.snapping import snap_points
from quarterhour.routing.walktimes import walk_time_chunks, walk_time_matrix

if TYPE_CHECKING:
    from pathlib import Path

SHANGHAI = "shanghai_center.osm.pbf"


def _plan_process(folder: Path, cache: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "quarterhour", "plan", "-q", "-o", str(folder), *args],
        env={**os.environ, "QUARTERHOUR_CACHE": str(cache)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _consistent(folder: Path) -> tuple[int, float]:
    """The plan's stations and walk limit, after checking its files agree with each other."""
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    stations = json.loads((folder / "stations.geojson").read_text(encoding="utf-8"))
    new = sum(feature["properties"]["kind"] == "new" for feature in stations["features"])
    assert new == summary["n_new"]
    with (folder / "assignments.csv").open(encoding="utf-8-sig") as handle:
        rows = sum(1 for _ in handle) - 1
    assert rows == summary["communities_read"]
    assert (folder / "plan.xlsx").stat().st_size > 0
    return summary["n_new"], summary["minutes"]


@pytest.mark.slow
def test_a_killed_rerun_leaves_the_old_plan_or_the_new_one_never_a_mix(
    tmp_path: Path, isolated_cache: Path
) -> None:
    folder = tmp_path / "plan"
    first = _plan_process(folder, isolated_cache)
    assert first.wait(timeout=600) == 0, first.stderr.read()
    old = _consistent(folder)
    (folder / "report.pdf").write_bytes(b"%PDF- a report of the old plan")
    other = _plan_process(tmp_path / "other", isolated_cache, "--minutes", "10")
    assert other.wait(timeout=600) == 0
    new = _consistent(tmp_path / "other")
    assert new != old
    rng = random.Random(9)
    seen = set()
    for _ in range(6):
        process = _plan_process(folder, isolated_cache, "--minutes", "10")
        time.sleep(rng.uniform(0.3, 4.0))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        state = _consistent(folder)
        assert state in (old, new)
        seen.add(state)
        if state == new:
            assert not (folder / "report.pdf").exists()  # the old plan's report went with it
            break
    # the next run cleans up what the killed ones left beside the folder
    final = _plan_process(folder, isolated_cache, "--minutes", "10")
    assert final.wait(timeout=600) == 0, final.stderr.read()
    assert _consistent(folder) == new
    leftovers = [path.name for path in tmp_path.iterdir() if path.name.startswith(".plan.")]
    assert leftovers == []
    assert sorted(path.name for path in folder.iterdir()) == [
        "assignments.csv",
        "plan.xlsx",
        "stations.geojson",
        "summary.json",
    ]


def test_a_folder_with_other_files_is_not_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "desktop"
    folder.mkdir()
    (folder / "notes.docx").write_text("mine", encoding="utf-8")
    assert main(["plan", "-q", "-o", str(folder)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "holds other files (notes.docx)" in error
    assert (folder / "notes.docx").read_text(encoding="utf-8") == "mine"


FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
from quarterhour.api.cli.main import main
raise SystemExit(main(["plan", "-q", "-o", sys.argv[1]]))
"""


def test_a_full_disk_names_the_path_and_leaves_nothing_half_written(
    tmp_path: Path, isolated_cache: Path
) -> None:
    folder = tmp_path / "plan"
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(folder)],
        env={**os.environ, "QUARTERHOUR_CACHE": str(isolated_cache)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"quarterhour: error: {folder}/")  # the file, in its real place
    assert "cannot write (" in error
    assert "Traceback" not in result.stderr
    assert not folder.exists()
    assert [path.name for path in tmp_path.iterdir()] == []


def test_walktimes_refuses_a_matrix_over_the_limit_before_the_work(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    points = tmp_path / "points.csv"
    lon = np.linspace(121.44, 121.50, 40)
    lat = np.linspace(31.20, 31.25, 40)
    rows = "".join(f"p{k},{x:.5f},{y:.5f}\n" for k, (x, y) in enumerate(zip(lon, lat, strict=True)))
    points.write_text("id,lon,lat\n" + rows, encoding="utf-8")
    out = tmp_path / "pairs.csv"
    args = ["walktimes", "--osm", str(data_dir / SHANGHAI), "--crs", "wgs84"]
    args += ["--from", str(points), "--to", str(points), "--minutes", "60", "-o", str(out)]
    assert main([*args, "--max-pairs", "100"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "40 x 40 points give about" in error and "--max-pairs 100" in error
    assert "lower --minutes" in error
    assert not out.exists()
    assert main([*args]) == 0  # within the default limit it runs, in chunks
    assert out.is_file()


def test_output_paths_are_checked_before_any_work(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["walktimes", "--osm", str(data_dir / SHANGHAI), "--crs", "wgs84"]
    args += ["--from", str(tmp_path / "missing.csv"), "--to", str(tmp_path / "missing.csv")]
    assert main([*args, "-o", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "is a folder, expected an output file name" in error  # not "missing.csv not found"


def test_chunked_walk_times_equal_the_whole_matrix(network_of) -> None:
    network = network_of("shanghai_center")
    rng = np.random.default_rng(4)
    lon = rng.uniform(121.44, 121.50, 300)
    lat = rng.uniform(31.20, 31.25, 300)
    whole = walk_time_matrix(network, lon, lat, lon[:200], lat[:200], quiet=True).matrix
    src, dst = snap_points(network, lon, lat), snap_points(network, lon[:200], lat[:200])
    pieces = list(walk_time_chunks(network, src, dst, pairs_per_chunk=500, quiet=True))
    assert len(pieces) > 3
    rows = {}
    for first, times in pieces:
        for row in range(times.matrix.shape[0]):
            rows[first + row] = times.matrix[row]
    assert sorted(rows) == list(range(300))
    for row, values in rows.items():
        expected = whole[row]
        assert values.indices.tolist() == expected.indices.tolist()
        np.testing.assert_allclose(values.data, expected.data)


# --- hostile point files: bounded before they are read, under a memory cap ---

MB = 1024 * 1024
READER_CAP_MB = 1024
"""Address space of the child reading a hostile file: about 600 MB go to the imports."""

_CAPPED = """
import resource, sys
cap = int(sys.argv[1]) * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
from quarterhour.api.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def _capped_coverage(tmp_path: Path, stations: Path, *extra: str) -> subprocess.CompletedProcess:
    """``coverage --stations FILE`` in a child capped at READER_CAP_MB (the file is read first)."""
    communities = tmp_path / "c.csv"
    communities.write_text("id,name,lon,lat\n1,a,121.47,31.23\n", encoding="utf-8")
    command = [sys.executable, "-c", _CAPPED, str(READER_CAP_MB), "coverage", "-q"]
    command += ["--stations", str(stations), "--communities", str(communities), "--crs", "gcj02"]
    command += ["-o", str(tmp_path / "out.csv"), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def _refused(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("quarterhour: error: ")
    for needle in needles:
        assert needle in line, line
    return line


def _workbook_with(
    path: Path, member: str, head: bytes, filler: bytes, size: int, tail: bytes
) -> Path:
    """A real one-station workbook whose ``member`` is replaced by ``size`` bytes of ``filler``."""
    import zipfile

    import openpyxl

    plain = path.with_name("plain.xlsx")
    workbook = openpyxl.Workbook()
    workbook.active.append(["id", "lon", "lat"])
    workbook.active.append(["a", 121.47, 31.23])
    workbook.save(plain)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", compresslevel=1) as target:
        for info in source.infolist():
            if info.filename != member:
                target.writestr(info, source.read(info))
        bomb = zipfile.ZipInfo(member)
        bomb.compress_type = zipfile.ZIP_DEFLATED
        with target.open(bomb, "w", force_zip64=True) as stream:
            stream.write(head)
            block = filler * MB
            for _ in range(size // MB):
                stream.write(block)
            stream.write(tail)
    return path


@pytest.mark.slow
def test_a_cell_at_xfd1048576_is_refused_before_any_padding(tmp_path: Path) -> None:
    import openpyxl

    path = tmp_path / "far.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["id", "lon", "lat"])
    workbook.active.append(["a", 121.47, 31.23])
    workbook.active["XFD1048576"] = 1
    workbook.save(path)
    assert path.stat().st_size < 10_000
    _refused(_capped_coverage(tmp_path, path), "far.xlsx", "row 1,048,576", "--max-rows")
    # with the rows raised, the columns stop it; with both, the cells
    line = _refused(_capped_coverage(tmp_path, path, "--max-rows", "2000000"))
    assert "column 16,384" in line and "--max-columns" in line
    line = _refused(
        _capped_coverage(tmp_path, path, "--max-rows", "2000000", "--max-columns", "20000")
    )
    assert "--max-cells" in line


@pytest.mark.slow
@pytest.mark.parametrize(
    ("member", "head", "filler", "tail"),
    [
        (  # one cell of 400 MB
            "xl/worksheets/sheet1.xml",
            (
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>'
            ),
            b"a",
            b"</t></is></c></row></sheetData></worksheet>",
        ),
        (  # 400 MB of whitespace between two tags of the shared strings
            "xl/sharedStrings.xml",
            b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">',
            b" ",
            b"</sst>",
        ),
    ],
)
def test_a_workbook_part_that_unpacks_to_hundreds_of_megabytes_is_refused(
    tmp_path: Path, member: str, head: bytes, filler: bytes, tail: bytes
) -> None:
    path = _workbook_with(tmp_path / "bomb.xlsx", member, head, filler, 400 * MB, tail)
    assert path.stat().st_size < 5 * MB
    _refused(_capped_coverage(tmp_path, path), "bomb.xlsx", member, "--max-cell-chars")
    # past the text bound, the part's size bound holds
    line = _refused(_capped_coverage(tmp_path, path, "--max-cell-chars", "2000000000"))
    assert "more than 200 MB once decompressed" in line and "--max-part-mb" in line


@pytest.mark.slow
def test_a_csv_line_of_gigabytes_is_refused_as_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "line.csv"
    with path.open("wb") as handle:
        handle.write(b"id,lon,lat\na,121.47,31.23\nb,")
        handle.truncate(2 * 1024 * MB)  # sparse: one line of 2 GB, nothing on disk
    _refused(_capped_coverage(tmp_path, path), "line.csv", "2,048.0 MB", "--max-file-mb")
    line = _refused(_capped_coverage(tmp_path, path, "--max-file-mb", "4000"))
    assert "line 3 is longer" in line and "--max-line-chars" in line


@pytest.mark.slow
def test_a_csv_of_too_many_rows_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(b"id,lon,lat\n" + b"a,121.47,31.23\n" * 1_000_001)
    _refused(_capped_coverage(tmp_path, path), "rows.csv", "rows", "--max-rows")
