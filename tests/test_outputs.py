"""The outputs of a plan, read back independently: coordinates, counts, names, the report.

A planner's list in BD-09 (Baidu) with eight decimals, existing stations with a precision of
their own, towns given for some rows only, hostile names: every output is read back with pandas,
openpyxl and poppler and compared with the input file and with counts made here from
``assignments.csv`` (never with the plan's own summary alone).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely

from quarterhour import settings
from quarterhour.api.cli.main import main
from quarterhour.api.report import build_report
from quarterhour.api.report.i18n import fmt_int, fmt_pct
from quarterhour.geo.crs import convert
from quarterhour.geo.points import points_from_frame, read_points
from quarterhour.geo.spreadsheets import write_csv, write_workbook
from quarterhour.routing.network import load_network
from quarterhour.siting.plan import run_plan

DATA = Path(__file__).resolve().parents[1] / "data"
POPPLER = shutil.which("pdftotext") is not None
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils not installed")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LONG_NAME = "长" * 40_000


def _pdf_text(path: Path) -> str:
    text = subprocess.run(
        ["pdftotext", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return " ".join(text.split())


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


@pytest.fixture(scope="module")
def network():
    return load_network(settings.default_osm_path())


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Huangpu and Jing'an compounds in BD-09 with 8 decimals; towns for half of them."""
    table = pd.read_csv(DATA / settings.default_communities, dtype=str)
    table = table[table["adcode"].isin(["310101", "310106"])]
    lng, lat = table["lng"].astype(float), table["lat"].astype(float)
    table = table[lng.between(121.445, 121.50) & lat.between(31.215, 31.245)]
    table = table.drop_duplicates("id").iloc[::3].head(120).reset_index(drop=True)
    bd_lon, bd_lat = convert(
        table["lng"].astype(float).to_numpy(),
        table["lat"].astype(float).to_numpy(),
        src="gcj02",
        dst="bd09",
    )
    rng = np.random.default_rng(17)
    towns = np.where(table["adcode"] == "310101", "南京东路街道", "静安寺街道")
    communities = pd.DataFrame(
        {
            "序号": [f"C{k:03d}" for k in range(len(table))],
            "社区名称": table["name"].str.strip(),
            "经度": [f"{value:.8f}" for value in bd_lon],
            "纬度": [f"{value:.8f}" for value in bd_lat],
            "常住人口": rng.integers(500, 5000, len(table)).astype(str),
            "街镇": np.where(np.arange(len(table)) % 2 == 0, towns, ""),
            "区": np.where(table["adcode"] == "310101", "黄浦区", "静安区"),
        }
    )
    # ten far off the streets (30 km east, in the sea off Pudong)
    far = communities.iloc[:10].copy()
    far["序号"] = [f"F{k}" for k in range(10)]
    far["经度"] = [f"{121.80 + k * 0.001:.8f}" for k in range(10)]
    far["社区名称"] = [f"远处{k}" for k in range(10)]
    communities = pd.concat([communities, far], ignore_index=True)
    folder = tmp_path_factory.mktemp("outputs")
    paths = {"communities": folder / "communities.csv", "stations": folder / "stations.csv"}
    communities.to_csv(paths["communities"], index=False, encoding="utf-8")
    picked = communities.iloc[[5, 60]]
    stations = pd.DataFrame(
        {
            "站点编号": ["S1", "S2"],
            "站点名称": ["甲站", "乙站"],
            # a precision of their own: 4 and 7 decimals, moved a little off the community
            "经度": [f"{float(picked['经度'].iloc[0]) + 0.0003:.4f}", picked["经度"].iloc[1][:-1]],
            "纬度": [f"{float(picked['纬度'].iloc[0]):.4f}", picked["纬度"].iloc[1][:-1]],
        }
    )
    stations.to_csv(paths["stations"], index=False, encoding="utf-8")
    hostile = communities.iloc[:40].copy()
    hostile.loc[0, "社区名称"] = "社区\x00甲"
    hostile.loc[1, "社区名称"] = "社区\x1b[31m乙"
    hostile.loc[2, "社区名称"] = "社区\x07丙"
    hostile.loc[3, "社区名称"] = LONG_NAME
    paths["hostile"] = folder / "hostile.csv"
    hostile.to_csv(paths["hostile"], index=False, encoding="utf-8")
    return paths


def _plan(files: dict[str, Path], out: Path, *extra: str, communities: str = "communities") -> int:
    return main(
        [
            "plan",
            "--communities",
            str(files[communities]),
            "--existing",
            str(files["stations"]),
            "--crs",
            "bd09",
            "-o",
            str(out),
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def plans(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same list planned for the fewest stations, with a budget, and with a budget of 0."""
    folder = tmp_path_factory.mktemp("plans")
    runs = {"min_cover": [], "budget": ["--budget", "3"], "today": ["--budget", "0"]}
    for name, extra in runs.items():
        assert _plan(files, folder / name, "-q", "--out-crs", "bd09", *extra) == 0
    return {name: folder / name for name in runs}


# --- coordinates keep the input's precision ---


def test_every_coordinate_keeps_the_inputs_precision(
    files: dict[str, Path], plans: dict[str, Path]
) -> None:
    given = _read_csv(files["communities"]).set_index("序号")
    stations_given = _read_csv(files["stations"]).set_index("站点编号")
    folder = plans["min_cover"]
    rows = _read_csv(folder / "assignments.csv").set_index("序号")
    assert rows["经度"].equals(given["经度"]) and rows["纬度"].equals(given["纬度"])
    collection = json.loads((folder / "stations.geojson").read_text(encoding="utf-8"))
    assert collection["crs"] == "bd09"
    for feature in collection["features"]:
        properties = feature["properties"]
        source = stations_given if properties["kind"] == "existing" else given
        lon, lat = feature["geometry"]["coordinates"]
        expected = source.loc[properties["station_id"]]
        # exactly the number the file gave, in its own system (BD-09 in, BD-09 out)
        assert (lon, lat) == (float(expected["经度"]), float(expected["纬度"]))
        assert (properties["input_lon"], properties["input_lat"]) == (
            expected["经度"],
            expected["纬度"],
        )
    sheet = pd.read_excel(
        folder / "plan.xlsx", sheet_name="新建站点 New stations", dtype=str, engine="openpyxl"
    )
    for row in sheet.itertuples(index=False):
        assert row[6] == given.loc[row[1], "经度"] and row[7] == given.loc[row[1], "纬度"]


def test_coverage_stations_csv_keeps_precision(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "today.csv"
    status = main(
        [
            "coverage",
            "--communities",
            str(files["communities"]),
            "--stations",
            str(files["stations"]),
            "--crs",
            "bd09",
            "-q",
            "-o",
            str(out),
        ]
    )
    assert status == 0
    stations = _read_csv(tmp_path / "today.stations.csv").set_index("station_id")
    given = _read_csv(files["stations"]).set_index("站点编号")
    for station_id, row in given.iterrows():
        assert stations.loc[station_id, "input_lon"] == row["经度"]
        assert stations.loc[station_id, "input_lat"] == row["纬度"]
        lon, lat = convert(float(row["经度"]), float(row["纬度"]), src="bd09", dst="wgs84")
        assert float(stations.loc[station_id, "lon"]) == pytest.approx(float(lon), abs=1e-9)
        assert float(stations.loc[station_id, "lat"]) == pytest.approx(float(lat), abs=1e-9)
    communities = _read_csv(out)
    assert communities["经度"].equals(_read_csv(files["communities"])["经度"])


def test_frame_coordinates_round_trip_exactly(network, tmp_path: Path) -> None:
    """Float columns of a notebook's frame are written as the same floats (no rounding)."""
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "lon": [121.47123456789, 121.4761234567, 121.46512345678],
            "lat": [31.22912345678, 31.2231234567, 31.23512345678],
        }
    )
    plan = run_plan(network, points_from_frame(frame, crs="wgs84"), budget=1)
    paths = plan.write(tmp_path / "plan")
    back = pd.read_csv(paths["assignments"])
    np.testing.assert_array_equal(back["lon"].to_numpy(), frame["lon"].to_numpy())
    np.testing.assert_array_equal(back["lat"].to_numpy(), frame["lat"].to_numpy())


# --- counts from one place ---


def _independent_counts(folder: Path) -> dict[str, object]:
    rows = _read_csv(folder / "assignments.csv")
    status = rows["status"]
    weight = rows["weight"].astype(float)
    in_area = status != "outside_boundary"
    covered = status.isin(["covered_existing", "covered_new"])
    today = rows["covered_today"].eq("True") & in_area
    return {
        "status": status.value_counts().to_dict(),
        "n": int(in_area.sum()),
        "covered": int(covered.sum()),
        "uncoverable": int(status.isin(["uncoverable", "off_network"]).sum()),
        "covered_today": int(today.sum()),
        "weight": float(weight[in_area].sum()),
        "covered_weight": float(weight[covered].sum()),
        "today_weight": float(weight[today].sum()),
    }


def test_stdout_summary_and_log_count_alike(
    files: dict[str, Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan"
    assert _plan(files, out) == 0
    captured = capfd.readouterr()
    printed = json.loads(captured.out.strip().splitlines()[-1])
    counts = _independent_counts(out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert counts["status"].get("off_network", 0) >= 10
    assert {k: v for k, v in printed["status_counts"].items() if v} == counts["status"]
    assert printed["uncoverable"] == counts["uncoverable"] == summary["uncoverable"]
    assert printed["covered"] == counts["covered"] == summary["covered"]
    assert printed["n_communities"] == counts["n"] == summary["n_communities"]
    assert "uncoverable" in summary["count_definitions"]
    # the warning is logged once
    assert captured.err.count("have no station site within") == 1


def test_by_area_falls_back_to_the_district_per_row(
    files: dict[str, Path], plans: dict[str, Path]
) -> None:
    summary = json.loads((plans["min_cover"] / "summary.json").read_text(encoding="utf-8"))
    assert summary["by_area_kind"] == "town"
    areas = pd.DataFrame(summary["by_area"])
    assert "" not in set(areas["area"])
    rows = _read_csv(plans["min_cover"] / "assignments.csv")
    label = rows["街镇"].where(rows["街镇"] != "", rows["区"])
    level = np.where(rows["街镇"] != "", "town", "district")
    expected = pd.DataFrame({"area": label, "level": level}).value_counts()
    got = areas.set_index(["area", "level"])["communities"]
    assert got.sort_index().to_dict() == expected.sort_index().to_dict()
    assert int(areas["covered"].sum()) == summary["covered"]
    sheet = pd.read_excel(
        plans["min_cover"] / "plan.xlsx", sheet_name="按街镇 By town", engine="openpyxl"
    )
    assert list(sheet.columns[:3]) == [
        "街镇或区 area",
        "层级 level (town/district)",
        "社区 communities",
    ]
    assert all(re.search(r"[\u4e00-\u9fff].* [a-z]", column) for column in sheet.columns)


# --- names safe for every output ---


def test_control_characters_and_long_names_never_fail_a_plan(
    files: dict[str, Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan"
    assert _plan(files, out, communities="hostile") == 0
    err = capfd.readouterr().err
    assert "control characters" in err and "longer than 32,767" in err  # said before the work
    workbook = openpyxl.load_workbook(out / "plan.xlsx", read_only=True)
    names = [row[1] for row in workbook["社区 Communities"].iter_rows(min_row=2, values_only=True)]
    assert names[0] == "社区\ufffd甲" and names[1] == "社区\ufffd[31m乙"
    assert names[2] == "社区\ufffd丙" and names[3] == "长" * 32_767
    csv_text = (out / "assignments.csv").read_text(encoding="utf-8-sig")
    assert not CONTROL.search(csv_text)
    geojson_text = (out / "stations.geojson").read_text(encoding="utf-8")
    assert not CONTROL.search(json.dumps(json.loads(geojson_text), ensure_ascii=False))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    warnings = " ".join(summary["warnings"])
    assert "control characters, written as U+FFFD in 3 rows (C000, C001, C002)" in warnings
    assert "cut to that length in 1 rows (C003)" in warnings


# --- the report says what summary.json says, every percentage labelled ---


@needs_poppler
@pytest.mark.parametrize("mode", ["min_cover", "budget", "today"])
def test_report_matches_summary_and_labels_every_share(
    plans: dict[str, Path], files: dict[str, Path], tmp_path: Path, mode: str
) -> None:
    folder = plans[mode]
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    counts = _independent_counts(folder)
    assert summary["covered"] == counts["covered"]
    assert summary["covered_weight"] == pytest.approx(counts["covered_weight"])
    assert summary["covered_today_weight"] == pytest.approx(counts["today_weight"])
    pdf = build_report(folder, tmp_path / "report.pdf", scenarios=False).pdf
    text = _pdf_text(pdf)
    community_share = fmt_pct(counts["covered"] / counts["n"])
    today_share = fmt_pct(counts["covered_today"] / counts["n"])
    assert "规划后覆盖社区 覆盖居民（规划前 → 规划后）" in text
    assert f"占社区 {today_share} · 现有站点 2" in text
    assert f"占社区 {community_share}" in text
    assert (
        f"{fmt_int(counts['today_weight'])} → {fmt_int(counts['covered_weight'])}" in text
        and f"占居民 {fmt_pct(counts['today_weight'] / counts['weight'])} → "
        f"{fmt_pct(counts['covered_weight'] / counts['weight'])}，共 {fmt_int(counts['weight'])} 人"
        in text
    )
    uncoverable = re.escape(fmt_int(counts["uncoverable"]))
    assert re.search(rf"无法覆盖的社区 .{{0,60}}\b{uncoverable}\b", text)
    html = pdf.with_suffix(".html").read_text(encoding="utf-8")
    assert f'id="uncoverable">{fmt_int(counts["uncoverable"])}<' in html
    joined = re.sub(r"\s", "", text)  # a line may break inside a Chinese word
    # no bare percentage: each one is "占社区 x%", "占居民 x%", a gap, or a table's (share)
    for match in re.finditer(r"\d+(\.\d)?%", joined):
        before = joined[max(0, match.start() - 30) : match.start()]
        assert re.search(r"占社区|占居民|差距|\(|→", before), before
    assert "术语：新覆盖社区：" in joined and "服务社区：以该站点为最近站点" in joined
    if mode == "min_cover":
        assert f"与下界的差距（真实差距的上限） {fmt_pct(summary['gap'])}" in text
        assert "上界" not in text
    elif mode == "budget":
        assert "下界" not in text
        assert f"与上界的差距（真实差距的上限） {fmt_pct(summary['gap'])}" in text
        bound = re.escape(fmt_int(summary["upper_bound"]))
        assert re.search(rf"预算内可覆盖居民的上界 .{{0,60}} {bound} ", text)
    else:  # today's coverage: no bound to speak of, and it says so
        assert "下界" not in text and "上界" not in text
        assert "现状评估：本次不新建站点" in text
        assert counts["covered"] == counts["covered_today"]
    if mode != "today":
        # station coordinates as the input gave them, in its own system
        given = _read_csv(files["communities"]).set_index("序号")
        new = [
            f["properties"]
            for f in json.loads((folder / "stations.geojson").read_text("utf-8"))["features"]
            if f["properties"]["kind"] == "new"
        ]
        assert new and "经度, 纬度 BD-09" in text
        for station in new:
            row = given.loc[station["station_id"]]
            assert f"{row['经度']}, {row['纬度']}" in text


# --- a plan made in Python goes to `quarterhour report` ---


@needs_poppler
def test_python_plan_written_then_reported_by_the_cli(
    network, files: dict[str, Path], tmp_path: Path
) -> None:
    communities = read_points(files["communities"], crs="bd09", role="communities")
    stations = read_points(files["stations"], crs="bd09", role="existing stations")
    model = run_plan(network, communities, existing=stations)
    assert "PointSet 130 points from communities.csv, input bd09" in repr(communities)
    assert repr(network).startswith("<WalkNetwork walking network from shanghai_center.osm.pbf")
    folder = tmp_path / "notebook plan"
    model.write(folder)
    expected = {"stations.geojson", "assignments.csv", "plan.xlsx", "summary.json"}
    assert expected | {"communities.input.csv", "existing.input.csv"} == {
        path.name for path in folder.iterdir()
    }
    output = ["-o", str(folder / "report.pdf")]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "quarterhour",
            "report",
            str(folder),
            "--no-scenarios",
            "-q",
            *output,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    text = _pdf_text(folder / "report.pdf")
    counts = _independent_counts(folder)
    assert (
        f"社区（小区）数 现有站点已覆盖社区 建议新建站点 {fmt_int(counts['n'])} "
        f"{fmt_int(counts['covered_today'])} {fmt_int(summary['n_new'])}"
    ) in text
    assert summary["n_new"] == model.result.summary["n_new"]
    assert f"占社区 {fmt_pct(counts['covered'] / counts['n'])}" in text


# --- town outlines, where given ---


def test_town_outlines_are_drawn_over_the_districts(
    plans: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from quarterhour.api.report.inputs import load_plan_inputs
    from quarterhour.api.report.maps import overview_figure
    from quarterhour.api.report.outlines import read_named_outlines

    districts = json.loads((DATA / "shanghai_districts_datav_gcj02.json").read_text("utf-8"))
    jingan = shapely.geometry.shape(
        next(item for item in districts if item["properties"]["name"] == "静安区")["geometry"]
    )
    west, south, east, north = jingan.bounds
    middle = 121.46
    halves = [
        ("西片街道", jingan.intersection(shapely.box(west, south, middle, north))),
        ("东片街道", jingan.intersection(shapely.box(middle, south, east, north))),
    ]
    path = tmp_path / "towns.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": name},
                        "geometry": shapely.geometry.mapping(shape),
                    }
                    for name, shape in halves
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    # the system is stated, never guessed
    status = main(["report", str(plans["min_cover"]), "--town-outlines", str(path), "-o", "r.pdf"])
    assert status == 2 and "--town-outlines-crs" in capsys.readouterr().err
    towns = read_named_outlines(path, crs="gcj02")
    assert [name for name, _ in towns] == ["西片街道", "东片街道"]
    # converted to WGS84: GCJ-02 lies a few hundred metres off it in Shanghai
    wgs_lon = shapely.get_coordinates(towns[0][1])[:, 0].min()
    assert 0.003 < west - wgs_lon < 0.006
    data = load_plan_inputs(plans["min_cover"])
    figure = overview_figure(
        replace(data, towns=towns),
        covered=np.zeros(130, bool),
        catchment=shapely.MultiPolygon(),
        lang="zh",
    )
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert "西片街道" in texts and "东片街道" in texts and "静安区" in texts
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert "街镇界" in legend and "区界" in legend
    out = tmp_path / "report.pdf"
    arguments = ["report", str(plans["min_cover"]), "--no-scenarios", "-q", "-o", str(out)]
    assert main([*arguments, "--town-outlines", str(path), "--town-outlines-crs", "gcj02"]) == 0
    assert out.is_file()


def test_workbook_cells_never_warn_or_fail(tmp_path: Path) -> None:
    """Every text openpyxl would refuse or cut with a UserWarning is made safe first."""
    frame = pd.DataFrame({"name": ["=" + "x" * 40_000, "a\x1bb\x00", "-5", "-x", "tab\tok"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_workbook({"名称 names": frame}, tmp_path / "a.xlsx")
        write_csv(frame, tmp_path / "a.csv")
    cells = [cell.value for cell in openpyxl.load_workbook(tmp_path / "a.xlsx")["名称 names"]["A"]]
    assert cells[1] == "'=" + "x" * 32_765 and cells[2:] == [
        "a\ufffdb\ufffd",
        "-5",
        "'-x",
        "tab\tok",
    ]
    back = pd.read_csv(tmp_path / "a.csv", dtype=str, encoding="utf-8-sig")["name"].tolist()
    assert back == [cells[1], "a\ufffdb\ufffd", "-5", "'-x", "tab\tok"]
