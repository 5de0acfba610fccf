"""Planners' own files, end to end: the contract of inputs, outputs and the report.

The fixtures are shaped like what a district's planners hand over: a GBK CSV and an Excel
workbook with Chinese headers (序号, 社区名称, 地址, 经度, 纬度, 常住人口, 街镇), coordinates in
GCJ-02 (AMap), a population column, existing stations of which some stand off the streets, and a
district outline from the bundled district file. They are built from the bundled real compounds.
Statuses are checked against independent point-in-polygon and distance checks (shapely on the
raw GCJ-02 data and on the street lines), not against the planner's own code paths.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyproj
import pytest
import shapely

from quarterhour import settings
from quarterhour.api.cli.main import main
from quarterhour.api.report import build_report
from quarterhour.api.report.i18n import fmt_bound, fmt_int, fmt_pct
from quarterhour.geo.crs import gcj02_to_wgs84
from quarterhour.routing.network import load_network

DATA = Path(__file__).resolve().parents[1] / "data"
HEADERS = ["序号", "社区名称", "地址", "经度", "纬度", "常住人口", "街镇"]
POPPLER = shutil.which("pdftotext") is not None
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils not installed")


def _pdf_text(path: Path) -> str:
    text = subprocess.run(
        ["pdftotext", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return " ".join(text.split())


@pytest.fixture(scope="module")
def network():
    return load_network(settings.default_osm_path())


@pytest.fixture(scope="module")
def street_lines(network):
    """The streets as one geometry in metres, for an independent distance check."""
    return shapely.union_all(network.edge_lines)


def _metres_to_streets(network, street_lines, lon_gcj, lat_gcj) -> np.ndarray:
    lon, lat = gcj02_to_wgs84(np.asarray(lon_gcj, float), np.asarray(lat_gcj, float))
    x, y = network.projection.forward(lon, lat)
    return shapely.distance(shapely.points(x, y), street_lines)


@pytest.fixture(scope="module")
def compounds(network, street_lines) -> pd.DataFrame:
    """Real compounds of Huangpu and Jing'an in the extract, and 3 of them far from any street."""
    table = pd.read_csv(DATA / settings.default_communities, dtype=str)
    table = table[table["adcode"].isin(["310101", "310106"])]
    lng, lat = table["lng"].astype(float), table["lat"].astype(float)
    inside = lng.between(121.415, 121.545) & lat.between(31.185, 31.275)
    table = table[inside].drop_duplicates("id").reset_index(drop=True)
    distance = _metres_to_streets(network, street_lines, table["lng"], table["lat"])
    near = table[distance < 400].iloc[::2].head(360)
    far = table[distance > 600].head(3)
    assert len(far) == 3, "the extract has compounds far from its streets"
    return pd.concat([near, far], ignore_index=True)


@pytest.fixture(scope="module")
def planner_table(compounds: pd.DataFrame) -> pd.DataFrame:
    """The communities as a planner's list: Chinese headers, GCJ-02, population, town."""
    rng = np.random.default_rng(15)
    district = np.where(compounds["adcode"] == "310101", "黄浦", "静安")
    table = pd.DataFrame(
        {
            "序号": np.arange(1, len(compounds) + 1).astype(str),
            "社区名称": compounds["name"].str.strip(),
            "地址": compounds["address"].fillna(""),
            "经度": compounds["lng"],
            "纬度": compounds["lat"],
            "常住人口": rng.integers(300, 6000, len(compounds)).astype(str),
            "街镇": [f"{d}街道{k % 3 + 1}" for k, d in enumerate(district)],
        }
    )
    table.loc[4, "社区名称"] = '=HYPERLINK("http://example.com","点我")'  # a hostile cell
    return table


@pytest.fixture(scope="module")
def files(
    tmp_path_factory: pytest.TempPathFactory,
    planner_table: pd.DataFrame,
    compounds: pd.DataFrame,
    network,
    street_lines,
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("planner")
    csv_path = folder / "社区名单.csv"
    planner_table.to_csv(csv_path, index=False, encoding="gbk")
    xlsx_path = folder / "社区名单.xlsx"
    with pd.ExcelWriter(xlsx_path, engine="openpyxl") as writer:
        pd.DataFrame({"说明": ["本表为测试用"]}).to_excel(writer, sheet_name="说明", index=False)
        planner_table.to_excel(writer, sheet_name="社区", index=False)
    picked = compounds.iloc[[3, 40, 90, 150, 210, 260, 300, 340]]
    stations = pd.DataFrame(
        {
            "站点编号": [f"S{k}" for k in range(1, 9)] + ["S9", "S10"],
            "站点名称": [f"{name}就业服务站" for name in picked["name"]] + ["远郊站甲", "远郊站乙"],
            "经度": [*picked["lng"], "121.5300", "121.5450"],
            "纬度": [*picked["lat"], "31.2740", "31.1860"],
            "地址": [*picked["address"].fillna(""), "", ""],
        }
    )
    far = _metres_to_streets(network, street_lines, stations["经度"][-2:], stations["纬度"][-2:])
    assert (far > 500).all(), far  # two stations stand off the streets
    stations_path = folder / "现有站点.csv"
    stations.to_csv(stations_path, index=False, encoding="gbk")
    districts = json.loads((DATA / "shanghai_districts_datav_gcj02.json").read_text("utf-8"))
    jingan = next(item for item in districts if item["properties"]["name"] == "静安区")
    boundary_path = folder / "静安区.json"
    boundary_path.write_text(json.dumps(jingan, ensure_ascii=False), encoding="utf-8")
    return {
        "csv": csv_path,
        "xlsx": xlsx_path,
        "stations": stations_path,
        "boundary": boundary_path,
        "folder": folder,
    }


def _plan(files: dict[str, Path], out: Path, *extra: str) -> int:
    return main(
        [
            "plan",
            "--communities",
            str(files["csv"]),
            "--crs",
            "gcj02",
            "--existing",
            str(files["stations"]),
            "-o",
            str(out),
            *extra,
        ]
    )


def _read_assignments(folder: Path) -> pd.DataFrame:
    return pd.read_csv(
        folder / "assignments.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )


@pytest.fixture(scope="module")
def plan_dir(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plan") / "plan"
    assert _plan(files, out, "-q") == 0
    return out


# --- inputs ---


def test_gcj02_list_without_a_stated_system_stops_with_the_choices(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["plan", "--communities", str(files["csv"]), "-o", str(tmp_path / "p")])
    assert status == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("quarterhour: error: 社区名单.csv: 363 points lie in China")
    for choice in ("--crs gcj02 (AMap, Tencent)", "--crs bd09 (Baidu)", "--crs wgs84 (GPS"):
        assert choice in error
    assert not (tmp_path / "p").exists()


def test_headers_are_recognised_and_stated(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from quarterhour.geo.points import read_points

    points = read_points(files["csv"], crs="gcj02", role="communities")
    assert points.columns == {
        "id": "序号",
        "name": "社区名称",
        "lon": "经度",
        "lat": "纬度",
        "weight": "常住人口",
        "town": "街镇",
        "address": "地址",
    }
    assert list(points.ids[:3]) == ["1", "2", "3"]
    assert points.weight.sum() > 100_000
    main(["plan", "-v", "--crs", "gcj02", "--communities", str(files["csv"]), "-o", str(tmp_path)])
    log = capsys.readouterr().err
    assert "社区名单.csv: 363 communities in GCJ-02; id ← 序号, name ← 社区名称" in log
    assert "weight ← 常住人口" in log and "town ← 街镇" in log


def test_excel_sheet_reads_like_the_csv(files: dict[str, Path]) -> None:
    from quarterhour.geo.points import read_points

    from_csv = read_points(files["csv"], crs="gcj02")
    from_xlsx = read_points(files["xlsx"], crs="gcj02", sheet="社区")
    np.testing.assert_array_equal(from_xlsx.ids, from_csv.ids)
    # row 5 holds a formula, which Excel stores as a formula: the workbook gives its value
    keep = np.arange(len(from_csv)) != 4
    np.testing.assert_array_equal(from_xlsx.names[keep], from_csv.names[keep])
    np.testing.assert_allclose(from_xlsx.lon, from_csv.lon, atol=1e-12)
    np.testing.assert_array_equal(from_xlsx.weight, from_csv.weight)
    with pytest.raises(Exception, match="no sheet '社区2'; the sheets are 说明, 社区"):
        read_points(files["xlsx"], crs="gcj02", sheet="社区2")


def test_column_overrides_and_row_number_ids(tmp_path: Path, files: dict[str, Path]) -> None:
    from quarterhour.geo.points import read_points

    table = pd.read_csv(files["csv"], dtype=str, encoding="gbk").drop(columns=["序号"])
    table["户数"] = "7"
    path = tmp_path / "无序号.csv"
    table.to_csv(path, index=False, encoding="utf-8-sig")
    points = read_points(path, crs="gcj02", columns={"weight": "户数"})
    assert list(points.ids[:3]) == ["2", "3", "4"]  # the rows a spreadsheet shows
    assert set(points.weight) == {7.0}
    assert "常住人口" in points.extra.columns  # every other column is kept


# --- the plan's outputs ---


def test_one_row_per_input_in_order_with_the_planners_columns(
    plan_dir: Path, planner_table: pd.DataFrame
) -> None:
    rows = _read_assignments(plan_dir)
    assert len(rows) == len(planner_table)
    for column in HEADERS:  # the planner's columns and coordinates, as given
        expected = planner_table[column].tolist()
        if column == "社区名称":
            expected[4] = "'" + expected[4]  # neutralised for spreadsheets
        assert rows[column].tolist() == expected, column
    assert rows["community_id"].tolist() == planner_table["序号"].tolist()
    summary = json.loads((plan_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["communities_read"] == len(planner_table)
    assert sum(summary["status_counts"].values()) == len(planner_table)
    assert rows["status"].value_counts().to_dict() == {
        key: value for key, value in summary["status_counts"].items() if value
    }


def test_statuses_against_independent_distances(
    plan_dir: Path,
    planner_table: pd.DataFrame,
    network,
    street_lines,
) -> None:
    rows = _read_assignments(plan_dir)
    distance = _metres_to_streets(network, street_lines, rows["经度"], rows["纬度"])
    off = rows["status"] == "off_network"
    assert off.sum() == 3
    assert (distance[off.to_numpy()] > 500).all() and (distance[~off.to_numpy()] <= 500).all()
    assert (rows.loc[off, "reason"] == "off_network").all()
    assert rows.loc[off, "reason_text"].str.startswith("off the walking network").all()
    covered = rows["status"].str.startswith("covered")
    walk = rows.loc[covered, "walk_min"].astype(float)
    assert (walk <= 15.0 + 1e-9).all()
    assert rows.loc[covered, "station_name"].ne("").all()
    uncovered_on_network = rows[~covered & ~off]
    # the nearest station beyond the limit is named, within twice the limit, or empty with a reason
    beyond = uncovered_on_network["walk_min"].replace("", "nan").astype(float)
    assert ((beyond > 15.0) & (beyond <= 30.0) | beyond.isna()).all()
    assert uncovered_on_network["reason"].ne("").all()


def test_weights_are_the_population(plan_dir: Path, planner_table: pd.DataFrame) -> None:
    rows = _read_assignments(plan_dir)
    summary = json.loads((plan_dir / "summary.json").read_text(encoding="utf-8"))
    population = planner_table["常住人口"].astype(float)
    covered = rows["covered"] == "True"
    assert summary["covered_weight"] == pytest.approx(population[covered.to_numpy()].sum())


def test_stations_off_the_streets_are_kept_with_their_status(
    plan_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = json.loads((plan_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["existing_inactive"]["off_network"] == ["S9", "S10"]
    # named by their 站点名称, not their ids
    assert any("远郊站甲" in warning and "远郊站乙" in warning for warning in summary["warnings"])
    stations = json.loads((plan_dir / "stations.geojson").read_text(encoding="utf-8"))
    by_id = {feature["properties"]["station_id"]: feature for feature in stations["features"]}
    assert by_id["S9"]["properties"]["status"] == "off_network"
    assert by_id["S9"]["properties"]["served_communities"] == 0
    assert by_id["S1"]["properties"]["status"] == "active"


def test_new_stations_carry_their_communitys_name_and_input_coordinates(
    plan_dir: Path, planner_table: pd.DataFrame
) -> None:
    book = openpyxl.load_workbook(plan_dir / "plan.xlsx", read_only=True)
    assert book.sheetnames == [
        "新建站点 New stations",
        "社区 Communities",
        "按街镇 By town",
        "说明 Inputs and method",
    ]
    sheet = list(book["新建站点 New stations"].values)
    header, rows = sheet[0], sheet[1:]
    assert rows
    by_id = planner_table.set_index("序号")
    for row in rows:
        record = dict(zip(header, row, strict=True))
        community = by_id.loc[str(record["站点编号 station_id"])]
        assert record["名称 name"] == community["社区名称"] or record["名称 name"].startswith("'=")
        assert record["经度 lon (input)"] == community["经度"]
        assert record["纬度 lat (input)"] == community["纬度"]
        assert record["坐标系 crs"] == "gcj02"
    communities = list(book["社区 Communities"].values)
    assert len(communities) == len(planner_table) + 1
    names = [row[communities[0].index("社区名称")] for row in communities[1:]]
    assert names[4].startswith("'=HYPERLINK")  # not a formula when opened


def test_geojson_in_gcj02_on_request(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "plan"
    assert _plan(files, out, "-q", "--out-crs", "gcj02") == 0
    collection = json.loads((out / "stations.geojson").read_text(encoding="utf-8"))
    assert collection["crs"] == "gcj02"
    table = pd.read_csv(files["csv"], dtype=str, encoding="gbk").set_index("序号")
    for feature in collection["features"]:
        if feature["properties"]["kind"] == "new":
            lon, lat = feature["geometry"]["coordinates"]
            community = table.loc[feature["properties"]["station_id"]]
            assert lon == pytest.approx(float(community["经度"]), abs=1e-6)
            assert lat == pytest.approx(float(community["纬度"]), abs=1e-6)


@pytest.mark.parametrize("inside_only", [False, True])
def test_boundary_clips_communities_and_stations(
    files: dict[str, Path], tmp_path: Path, inside_only: bool
) -> None:
    """Communities outside --boundary are not planned; stations outside serve within reach.

    Unless --stations-inside-boundary, an existing station outside the outline but within the
    walk limit (plus the snapping limit) of it serves the residents inside; summary.json says
    which rule the plan used.
    """
    out = tmp_path / "plan"
    options = ["--stations-inside-boundary"] if inside_only else []
    status = _plan(
        files, out, "-q", "--boundary", str(files["boundary"]), "--boundary-crs", "gcj02", *options
    )
    assert status == 0
    rows = _read_assignments(out)
    outline = shapely.geometry.shape(
        json.loads(files["boundary"].read_text(encoding="utf-8"))["geometry"]
    )
    inside = shapely.intersects_xy(outline, rows["经度"].astype(float), rows["纬度"].astype(float))
    outside = rows["status"] == "outside_boundary"
    assert outside.any() and inside.any()
    np.testing.assert_array_equal(outside.to_numpy(), ~inside)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["status_counts"]["outside_boundary"] == int((~inside).sum())
    assert summary["n_communities"] == int(inside.sum())
    assert summary["stations_outside_boundary_serve"] is (not inside_only)
    stations = pd.read_csv(files["stations"], dtype=str, encoding="gbk")
    lon, lat = stations["经度"].astype(float), stations["纬度"].astype(float)
    station_inside = shapely.intersects_xy(outline, lon, lat)
    # metres from the outline, in the local UTM zone (GCJ-02 offsets are a few hundred metres
    # at most and the same for the outline and the stations, so they cancel here)
    utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True)
    outline_m = shapely.transform(outline, lambda xy: np.column_stack(utm.transform(*xy.T)))
    x, y = utm.transform(lon.to_numpy(), lat.to_numpy())
    metres = shapely.distance(outline_m, shapely.points(x, y))
    reach = 15 * 4.5 * 1000 / 60 + 500
    features = json.loads((out / "stations.geojson").read_text(encoding="utf-8"))["features"]
    status_of = {f["properties"]["station_id"]: f["properties"]["status"] for f in features}
    for station_id, is_inside, away in zip(
        stations["站点编号"], station_inside, metres, strict=True
    ):
        serves = is_inside if inside_only else is_inside or away < reach - 50
        if serves or (inside_only or away > reach + 50):
            assert (status_of[station_id] == "outside_boundary") == (not serves), station_id
    served_from_outside = set(rows.loc[rows["status"] == "covered_existing", "station_id"]) & set(
        stations["站点编号"][~station_inside]
    )
    assert bool(served_from_outside) is (not inside_only)


def test_coverage_lists_every_community_and_every_station(
    files: dict[str, Path], tmp_path: Path, planner_table: pd.DataFrame
) -> None:
    out = tmp_path / "today.csv"
    status = main(
        [
            "coverage",
            "-q",
            "--crs",
            "gcj02",
            "--communities",
            str(files["csv"]),
            "--stations",
            str(files["stations"]),
            "-o",
            str(out),
        ]
    )
    assert status == 0
    rows = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert rows["序号"].tolist() == planner_table["序号"].tolist()
    stations = pd.read_csv(tmp_path / "today.stations.csv", dtype=str, encoding="utf-8-sig")
    assert stations["station_id"].tolist() == [f"S{k}" for k in range(1, 11)]
    served = rows[rows["covered"] == "True"]["station_id"].value_counts()
    for row in stations.itertuples(index=False):
        assert int(row.communities) == served.get(row.station_id, 0)
    assert stations.set_index("station_id").loc["S9", "status"] == "off_network"
    assert int(stations.set_index("station_id").loc["S9", "communities"]) == 0


def test_minutes_and_meters_together_is_an_error(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _plan(files, tmp_path / "p", "--minutes", "10", "--meters", "800") == 2
    assert "not both" in capsys.readouterr().err


def test_other_districts_communities_say_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pd.read_csv(DATA / settings.default_communities, dtype=str)
    qingpu = table[table["adcode"] == "310118"][["id", "name", "lng", "lat"]]
    path = tmp_path / "青浦社区.csv"
    qingpu.to_csv(path, index=False, encoding="gbk")
    status = main(["plan", "--crs", "gcj02", "--communities", str(path), "-o", str(tmp_path / "p")])
    assert status == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.search(r"the streets cover lon 121\.4\d\d\.\.121\.5\d\d", error)
    assert "the communities lon 120." in error or "the communities lon 121." in error
    assert "--osm" in error and "geofabrik" in error.lower()
    status = main(
        [
            "plan",
            "--boundary",
            str(DATA / "qingpu_boundary_cgcs2000.geojson"),
            "-o",
            str(tmp_path / "p"),
        ]
    )
    assert status == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no walkable street lies inside the boundary" in error and "--osm" in error


# --- the report, in every mode: its numbers and words equal summary.json ---


def _report(plan: Path, tmp_path: Path, *, lang: str = "zh") -> str:
    output = build_report(plan, tmp_path / "report.pdf", lang=lang, scenarios=False).pdf
    return _pdf_text(output)


@needs_poppler
def test_report_with_existing_stations(plan_dir: Path, tmp_path: Path) -> None:
    text = _report(plan_dir, tmp_path)
    summary = json.loads((plan_dir / "summary.json").read_text(encoding="utf-8"))
    boxes = (
        f"社区（小区）数 现有站点已覆盖社区 建议新建站点 {fmt_int(summary['n_communities'])} "
        f"{fmt_int(summary['covered_today'])} {fmt_int(summary['n_new'])} "
        f"占社区 {fmt_pct(summary['covered_today_share'])}"
    )
    assert boxes in text
    assert (
        f"规划后覆盖社区 覆盖居民（规划前 → 规划后） 新建站点数下界 {fmt_int(summary['covered'])} "
        f"{fmt_int(summary['covered_today_weight'])} → {fmt_int(summary['covered_weight'])} "
        f"{fmt_bound(summary['lower_bound'])} 占社区 {fmt_pct(summary['covered_share'])} "
        f"占居民 {fmt_pct(summary['covered_today_weight_share'])} → "
        f"{fmt_pct(summary['covered_weight_share'])}"
    ) in text
    assert f"无法覆盖的社区 {fmt_int(summary['uncoverable'])}" in text
    assert "不能提供覆盖的现有站点" in text and "远郊站甲" in text and "远郊站乙" in text
    assert "按街镇统计" in text and "黄浦街道1" in text
    total = list(summary["by_area"])
    assert sum(row["covered"] for row in total) == summary["covered"]
    assert re.search(rf"合计 {fmt_int(summary['n_communities'])} ", text)
    assert "步行 15 分钟内可达一处站点" in text


@needs_poppler
def test_report_of_a_budget_plan(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "plan"
    assert _plan(files, out, "-q", "--budget", "5") == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["objective"] == "max_cover" and summary["n_new"] == 5
    text = _report(out, tmp_path)
    assert "预算内能覆盖多少" in text and "为什么不能更少" not in text
    assert "新建站点数下界" not in text
    assert (
        f"规划后覆盖社区 覆盖居民（规划前 → 规划后） 预算内可覆盖居民的上界 "
        f"{fmt_int(summary['covered'])} {fmt_int(summary['covered_today_weight'])} → "
        f"{fmt_int(summary['covered_weight'])} {fmt_int(summary['upper_bound'])}"
    ) in text
    assert f"与上界的差距（真实差距的上限） {fmt_pct(summary['gap'])}" in text
    assert "下界" not in text
    assert f"共覆盖 {fmt_int(summary['covered_weight'])}" in text
    rows = _read_assignments(out)
    assert (rows["status"] == "over_budget").sum() == summary["status_counts"]["over_budget"] > 0


@needs_poppler
def test_report_in_distance_mode_speaks_metres(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "plan"
    assert _plan(files, out, "-q", "--meters", "1000") == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["meters"] == 1000.0 and summary["minutes"] is None
    text = _report(out, tmp_path)
    assert "步行 1,000 米内可达一处站点" in text
    assert "步行距离上限 1,000 米" in text
    assert "– 分钟" not in text and "步行 –" not in text
    english = _report(out, tmp_path, lang="en")
    assert "within a 1,000 m walk" in english


@needs_poppler
def test_report_with_a_boundary(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "plan"
    boundary = ["--boundary", str(files["boundary"]), "--boundary-crs", "gcj02"]
    assert _plan(files, out, "-q", *boundary) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    text = _report(out, tmp_path)
    outside = summary["status_counts"]["outside_boundary"]
    assert f"另有 {fmt_int(outside)} 个社区在规划范围外" in text
    assert f"建议新建站点 {fmt_int(summary['n_communities'])} " in text
    with (out / "assignments.csv").open(encoding="utf-8-sig") as handle:
        statuses = [row["status"] for row in csv.DictReader(handle)]
    assert statuses.count("outside_boundary") == outside
