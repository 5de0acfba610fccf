"""The spreadsheets district offices really send, read like the clean list they hold.

Each file is built from the bundled real compounds (Huangpu, GCJ-02) the way offices circulate
them: a title merged above a header of two rows (坐标 over 经度 / 纬度), the data on the second
sheet, towns merged down their communities, numbers typed as people type them (full-width,
``14,217``, ``10515人``, ``1.3540万``, ``约9676``, number formats), weights that say nothing,
a blank row, a 合计 row and notes under the table, a community pasted twice; a GBK CSV with a
title line and one 经纬度 column; a UTF-8 CSV with one GBK row; existing stations known by their
address only. Every figure is checked against an independent pandas reading of the same sheet,
written plainly here, and the messy list must give the same plan as the clean one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from quarterhour import settings
from quarterhour.api.cli.main import main
from quarterhour.geo.crs import gcj02_to_wgs84
from quarterhour.geo.errors import InputError
from quarterhour.geo.numbers import parse_number
from quarterhour.geo.points import read_points

DATA = Path(__file__).resolve().parents[1] / "data"
FULL_WIDTH = str.maketrans("0123456789.,", "０１２３４５６７８９．，")
TOWNS = ("外滩街道", "南京东路街道", "豫园街道")
MISSING = {7: "-", 19: "待核实", 33: ""}
"""Communities (positions in the clean list) whose weight cell says nothing."""


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    """120 real Huangpu compounds as a clean planner's list (GCJ-02), sorted by town."""
    table = pd.read_csv(DATA / settings.default_communities, dtype=str)
    table = table[table["adcode"] == "310101"].drop_duplicates("id")
    table = table[table["lng"].astype(float).between(121.46, 121.51)].head(120)
    rng = np.random.default_rng(17)
    clean = pd.DataFrame(
        {
            "序号": np.arange(1, len(table) + 1).astype(str),
            "社区名称": table["name"].str.strip().to_numpy(),
            "地址": table["address"].fillna("").to_numpy(),
            "经度": table["lng"].to_numpy(),
            "纬度": table["lat"].to_numpy(),
            "常住人口": rng.integers(300, 9000, len(table)).astype(str),
            "街镇": [TOWNS[k * 3 // len(table)] for k in range(len(table))],
        }
    )
    assert clean["社区名称"].is_unique
    return clean


def _typed_weight(k: int, weight: str) -> object:
    """The weight as an office types it: the six ways seen, in turn."""
    if k in MISSING:
        return MISSING[k]
    value = int(weight)
    return (
        f"{value:,}",
        f"{value}人",
        f"{value / 10000:.4f}万",
        f"约{value}",
        str(value).translate(FULL_WIDTH),
        value,  # a number cell, shown as 14,217 by its number format
    )[k % 6]


def _stations(clean: pd.DataFrame) -> pd.DataFrame:
    """Existing stations: three at communities, two known by their address only."""
    return pd.DataFrame(
        {
            "站点名称": [
                "外滩就业服务站",
                "豫园就业服务站",
                "南京东路就业服务站",
                "老西门站",
                "董家渡站",
            ],
            "地址": ["中山东一路1号", "", "南京东路100号", "中华路1号", "董家渡路2号"],
            "经度": [clean["经度"][5], clean["经度"][100], clean["经度"][50], "", "待核实"],
            "纬度": [clean["纬度"][5], clean["纬度"][100], clean["纬度"][50], "", ""],
        }
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, clean: pd.DataFrame) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("messy")
    clean_path = folder / "clean.csv"
    clean.to_csv(clean_path, index=False, encoding="utf-8")

    workbook = openpyxl.Workbook()
    notes = workbook.active
    notes.title = "填报说明"
    notes["A1"] = "请于每月5日前报送"
    sheet = workbook.create_sheet("点位清单")
    sheet["A1"] = "黄浦区社区就业服务点位清单（2024年）"
    sheet.merge_cells("A1:G1")
    for column, name in zip(
        "ABCFG", ("序号", "社区名称", "地址", "常住人口（人）", "街镇"), strict=True
    ):
        sheet[f"{column}3"] = name
        sheet.merge_cells(f"{column}3:{column}4")
    sheet["D3"] = "坐标"
    sheet.merge_cells("D3:E3")
    sheet["D4"], sheet["E4"] = "经度", "纬度"
    row = 5
    town_start = {}
    for k, item in enumerate(clean.itertuples(index=False)):
        if k == 60:
            row += 1  # a blank row between two towns
        town_start.setdefault(item.街镇, row)
        sheet.cell(row, 1, int(item.序号))
        sheet.cell(row, 2, item.社区名称)
        sheet.cell(row, 3, item.地址)
        if k % 4 == 0:
            sheet.cell(row, 4, item.经度.translate(FULL_WIDTH))
        else:
            sheet.cell(row, 4, float(item.经度)).number_format = "0.000"
        sheet.cell(row, 5, float(item.纬度) if k % 2 else item.纬度)
        weight = sheet.cell(row, 6, _typed_weight(k, item.常住人口))
        if isinstance(weight.value, int):
            weight.number_format = "#,##0"
        sheet.cell(row, 7, item.街镇 if town_start[item.街镇] == row else None)
        row += 1
        if k == len(clean) - 1 or clean["街镇"].iloc[k + 1] != item.街镇:
            sheet.merge_cells(f"G{town_start[item.街镇]}:G{row - 1}")
    pasted = clean.iloc[10]  # pasted again under a new 序号
    values = (999, pasted["社区名称"], pasted["地址"], float(pasted["经度"]), float(pasted["纬度"]))
    for column, value in enumerate((*values, int(pasted["常住人口"])), start=1):
        sheet.cell(row, column, value)
    sheet.cell(row + 1, 1, "合计")
    sheet.cell(row + 1, 6, "=SUM(F5:F200)")
    sheet.cell(row + 2, 1, "注：1. 常住人口为2023年末数；")
    sheet.cell(row + 3, 1, "2. 坐标取自高德地图。")
    sheet.cell(row + 4, 1, "数据来源：区民政局")
    messy_path = folder / "点位清单.xlsx"
    workbook.save(messy_path)

    stations_path = folder / "现有站点.xlsx"
    _stations(clean).to_excel(stations_path, index=False)
    return {"clean": clean_path, "messy": messy_path, "stations": stations_path, "folder": folder}


@pytest.fixture(scope="module")
def independent(files: dict[str, Path]) -> pd.DataFrame:
    """The messy sheet read plainly with pandas (openpyxl), for comparison: rows 5 onwards."""
    raw = pd.read_excel(
        files["messy"], sheet_name="点位清单", header=None, dtype=object, engine="openpyxl"
    )
    raw.index = np.arange(1, len(raw) + 1)  # the sheet's row numbers
    return raw.loc[5:]


def _plain_number(value: object) -> tuple[float, bool]:
    """The weight an office meant, read by hand: no shared code with the reader."""
    if isinstance(value, int | float) and not pd.isna(value):
        return float(value), False
    text = "" if pd.isna(value) else str(value)
    text = text.translate(str.maketrans("０１２３４５６７８９．，", "0123456789.,"))
    approximate = text.startswith("约")
    text = text.removeprefix("约").removesuffix("人").replace(",", "")
    if text.endswith("万"):
        return round(float(text[:-1]) * 10000, 6), approximate
    if text in ("", "-", "待核实"):
        return float("nan"), approximate
    return float(text), approximate


@pytest.fixture(scope="module")
def messy(files: dict[str, Path]):
    return read_points(files["messy"], crs="gcj02", role="communities")


def test_sheet_and_header_found_and_stated(messy) -> None:
    reading = messy.reading
    assert reading.sheet == "点位清单"
    assert "填报说明" in reading.sheet_reason
    assert reading.header_rows == (3, 4)
    assert reading.columns["lon"] == "经度" and reading.columns["lat"] == "纬度"
    assert reading.columns["weight"] == "常住人口（人）"


def test_rows_read_and_skipped_against_pandas(messy, independent: pd.DataFrame) -> None:
    first = independent[0]
    blank = independent.isna().all(axis=1)
    blank = blank[: first.last_valid_index()]  # blank rows inside the table only
    data = independent[
        first.map(lambda value: isinstance(value, int | float) and not pd.isna(value))
    ]
    totals = independent[first == "合计"]
    notes = independent[first.astype(str).str.match(r"^(注|\d\.|数据来源)")]
    assert len(messy) == len(data) == 121
    assert messy.rows.astype(int).tolist() == data.index.tolist()
    skipped = {(row.row, row.reason) for row in messy.reading.skipped}
    expected = (
        {(row, "blank") for row in blank[blank].index}
        | {(row, "total") for row in totals.index}
        | {(row, "note") for row in notes.index}
    )
    assert skipped == expected
    assert messy.reading.skipped_counts() == {"blank": 1, "total": 1, "note": 3}


def test_weights_as_typed_against_pandas(messy, independent: pd.DataFrame, clean) -> None:
    data = independent.loc[messy.rows.astype(int)]
    parsed = [_plain_number(value) for value in data[5]]
    expected = np.array([value for value, _ in parsed])
    missing = np.isnan(expected)
    np.testing.assert_array_equal(messy.weight[~missing], expected[~missing])
    assert (messy.weight[missing] == 0).all()
    assert messy.reading.missing_weight == tuple(data.index[missing])
    approximate = [approximate for _, approximate in parsed]
    assert messy.reading.approximate == tuple(data.index[approximate])
    # and they are the clean list's populations
    clean_weight = clean["常住人口"].astype(float).to_numpy()
    np.testing.assert_array_equal(messy.weight[:120][~missing[:120]], clean_weight[~missing[:120]])


def test_coordinates_to_the_inputs_precision(messy, clean: pd.DataFrame) -> None:
    lon_text, lat_text = messy.input_text()
    assert lon_text[:120].tolist() == [str(float(value)) for value in clean["经度"]]
    assert lat_text[:120].tolist() == [str(float(value)) for value in clean["纬度"]]
    lon, lat = gcj02_to_wgs84(
        clean["经度"].astype(float).to_numpy(), clean["纬度"].astype(float).to_numpy()
    )
    np.testing.assert_allclose(messy.lon[:120], lon, rtol=0, atol=1e-12)
    np.testing.assert_allclose(messy.lat[:120], lat, rtol=0, atol=1e-12)


def test_merged_towns_reach_every_community(messy, clean: pd.DataFrame) -> None:
    assert messy.field("town")[:120].tolist() == clean["街镇"].tolist()


def test_a_community_pasted_twice_is_named_and_dropped_on_request(files, messy) -> None:
    (duplicate,) = messy.reading.duplicates
    assert (duplicate.first_row, duplicate.name) == (15, messy.names[10])
    assert duplicate.row == int(messy.rows[-1]) and not duplicate.dropped
    assert any("repeats row 15" in line for line in messy.reading.warnings())
    deduped = read_points(files["messy"], crs="gcj02", role="communities", dedupe=True)
    assert len(deduped) == len(messy) - 1
    assert deduped.reading.duplicates[0].dropped


def test_header_row_given_and_wrong(files) -> None:
    given = read_points(files["messy"], crs="gcj02", header_row=4)
    assert given.reading.header_rows == (3, 4) and given.reading.header_reason == "given"
    with pytest.raises(InputError, match="need a lon and lat column"):
        read_points(files["messy"], crs="gcj02", header_row=1)


@pytest.mark.parametrize(
    ("text", "value", "approximate"),
    [
        ("１２１．４６５９８２", 121.465982, False),
        ("14,217", 14217.0, False),
        ("10515人", 10515.0, False),
        ("1.3540万", 13540.0, False),
        ("约9676", 9676.0, True),
        ("9676左右", 9676.0, True),
    ],
)
def test_numbers_as_people_type_them(text: str, value: float, approximate: bool) -> None:
    assert parse_number(text, units=True) == (value, approximate)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("121°26'49.13\"E", 121 + 26 / 60 + 49.13 / 3600),
        ("121°26′49.13″", 121 + 26 / 60 + 49.13 / 3600),
        ("东经121度28分53.29秒", 121 + 28 / 60 + 53.29 / 3600),
        ("北纬31度14分", 31 + 14 / 60),
        ("31°14.5'S", -(31 + 14.5 / 60)),
        ("w73°59'", -(73 + 59 / 60)),
        ("121.5°", 121.5),
        ("121.4\u200b65", 121.465),  # a zero-width space pasted from a web page
    ],
)
def test_coordinates_in_degrees_minutes_seconds(text: str, value: float) -> None:
    read, approximate = parse_number(text, units=False)
    assert read == pytest.approx(value, abs=1e-12) and not approximate


@pytest.mark.parametrize("text", ["121°61'", "121°26'60\"", "N121°E", "121°26'49.13\"X"])
def test_what_is_no_angle_stays_unread(text: str) -> None:
    assert np.isnan(parse_number(text, units=False)[0])


def test_tabs_semicolons_and_nul_padding_read_like_commas(tmp_path: Path, clean) -> None:
    """A copy from a sheet (tabs, .txt or .tsv), Excel's semicolons, an exporter's NULs."""
    table = clean[["序号", "社区名称", "经度", "纬度", "常住人口"]].head(30)
    expected = read_points(_written(table, tmp_path / "plain.csv", ","), crs="gcj02")
    for name, separator, said in (
        ("copied.txt", "\t", "tabs"),
        ("copied.tsv", "\t", "tabs"),
        ("excel_de.csv", ";", "semicolons"),
    ):
        points = read_points(_written(table, tmp_path / name, separator), crs="gcj02")
        assert points.names.tolist() == expected.names.tolist(), name
        np.testing.assert_array_equal(points.weight, expected.weight)
        np.testing.assert_array_equal(points.lon, expected.lon)
        assert f"fields separated by {said}, not commas" in points.reading.describe()
    padded = tmp_path / "padded.csv"
    text = table.to_csv(index=False)
    padded.write_bytes(text.replace("\n", "\x00\n", 3).encode("gbk"))
    points = read_points(padded, crs="gcj02")
    assert points.columns["weight"] == "常住人口"  # not '常住人口\x00', an unknown column
    np.testing.assert_array_equal(points.weight, expected.weight)
    assert "3 NUL characters removed" in points.reading.describe()
    # one comma anywhere in the file's start keeps it a CSV: a name with a comma stays whole
    mixed = tmp_path / "mixed.csv"
    mixed.write_text('名称,经度,纬度\n"a;b\tc",121.47,31.23\n', encoding="utf-8")
    assert read_points(mixed, crs="gcj02").names.tolist() == ["a;b\tc"]


def _written(table: pd.DataFrame, path: Path, separator: str) -> Path:
    table.to_csv(path, index=False, sep=separator)
    return path


def test_an_unreadable_geojson_names_the_file_not_a_server_path(tmp_path: Path) -> None:
    path = tmp_path / "deep.geojson"
    path.write_bytes(b"[" * 1000 + b"]" * 1000)
    with pytest.raises(InputError) as raised:
        read_points(path, crs="gcj02", name="社区.geojson")
    assert str(raised.value).startswith("社区.geojson: cannot read points")
    assert str(tmp_path) not in str(raised.value) and "It might help" not in str(raised.value)


def test_a_header_in_ten_thousands_scales_the_weights(tmp_path: Path, clean: pd.DataFrame) -> None:
    """常住人口（万人）: 1.3540 is 13,540 residents; a cell with its own unit keeps it."""
    cells = ["1.3540", "0.8万", "约0.25", "9676人", "-"]
    table = clean.iloc[: len(cells)][["序号", "社区名称", "经度", "纬度"]].assign(
        **{"常住人口（万人）": cells}
    )
    path = tmp_path / "万人.xlsx"
    table.to_excel(path, index=False)
    points = read_points(path, crs="gcj02")
    independent = pd.read_excel(path, dtype=str, engine="openpyxl")["常住人口（万人）"]
    assert independent.tolist() == cells
    np.testing.assert_array_equal(points.weight, [13540.0, 8000.0, 2500.0, 9676.0, 0.0])
    assert points.reading.approximate == (4,) and points.reading.missing_weight == (6,)
    assert any("万人" in note and "10,000" in note for note in points.reading.notes)
    unitless = tmp_path / "人.csv"
    table.rename(columns={"常住人口（万人）": "常住人口"}).to_csv(unitless, index=False)
    plain = read_points(unitless, crs="gcj02")
    np.testing.assert_array_equal(plain.weight, [1.354, 8000.0, 0.25, 9676.0, 0.0])
    assert not any("万人" in note for note in plain.reading.notes)


def test_an_old_xls_workbook_reads_like_the_xlsx(tmp_path: Path, clean: pd.DataFrame) -> None:
    """Offices still send .xls (Excel 97-2003): a merged title, towns merged down, text numbers."""
    import xlwt  # the test extra: writes Excel 97-2003

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("社区名单")
    headers = ["序号", "街镇", "社区名称", "经度", "纬度", "常住人口"]
    sheet.write_merge(0, 0, 0, len(headers) - 1, "黄浦区社区点位表（2024年）")
    for column, header in enumerate(headers):
        sheet.write(1, column, header)
    rows = clean.iloc[:30].reset_index(drop=True)
    for k, row in rows.iterrows():
        sheet.write(2 + k, 0, row["序号"])
        sheet.write(2 + k, 2, row["社区名称"])
        sheet.write(2 + k, 3, float(row["经度"]))
        sheet.write(2 + k, 4, float(row["纬度"]))
        sheet.write(2 + k, 5, f"{int(row['常住人口']):,}")  # typed as text with a separator
    sheet.write_merge(2, 2 + len(rows) - 1, 1, 1, TOWNS[0])
    sheet.write(2 + len(rows), 0, "合计")
    path = tmp_path / "社区.xls"
    book.save(str(path))
    points = read_points(path, crs="gcj02")
    assert points.reading.sheet == "社区名单" and points.reading.header_rows == (2,)
    assert points.ids.tolist() == rows["序号"].tolist()
    np.testing.assert_array_equal(points.weight, rows["常住人口"].astype(float).to_numpy())
    lon_text, lat_text = points.input_text()
    assert lon_text.tolist() == rows["经度"].tolist() and lat_text.tolist() == rows["纬度"].tolist()
    assert points.field("town").tolist() == [TOWNS[0]] * len(rows)
    assert len(points.reading.skipped) == 1


def test_an_unreadable_weight_is_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("序号,经度,纬度,常住人口\n1,121.47,31.23,很多\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 2: '常住人口' is not a number \(found '很多'\)"):
        read_points(path, crs="gcj02")


def test_gbk_csv_with_a_title_and_one_coordinate_column(
    tmp_path: Path, clean: pd.DataFrame
) -> None:
    separators = (",", "，", " ")
    pairs = [
        f"{lon}{separators[k % 3]}{lat}"
        for k, (lon, lat) in enumerate(zip(clean["经度"], clean["纬度"], strict=True))
    ]
    table = pd.DataFrame({"序号": clean["序号"], "社区名称": clean["社区名称"], "经纬度": pairs})
    path = tmp_path / "点位.csv"
    with path.open("w", encoding="gbk", newline="") as handle:
        handle.write("黄浦区点位清单\n\n")
        table.to_csv(handle, index=False)
        handle.write("合计,120,\n")
    points = read_points(path, crs="gcj02")
    independent = pd.read_csv(path, encoding="gbk", skiprows=2, dtype=str).iloc[:-1]
    assert points.reading.encoding == "gb18030" and points.reading.header_rows == (3,)
    assert points.ids.tolist() == independent["序号"].tolist()
    lon_text, lat_text = points.input_text()
    assert (
        lon_text.tolist() == clean["经度"].tolist() and lat_text.tolist() == clean["纬度"].tolist()
    )
    assert [(row.row, row.reason) for row in points.reading.skipped] == [(124, "total")]
    # latitude first (as Google Maps copies it): read the other way round, and said so
    flipped = tmp_path / "flipped.csv"
    flipped.write_text(
        "name,坐标\na,31.23,121.47\n".replace("31.23,121.47", '"31.23,121.47"'), encoding="utf-8"
    )
    back = read_points(flipped, crs="gcj02")
    assert back.reading.pair_order == "lat,lon"
    np.testing.assert_allclose(back.input_lonlat(), ([121.47], [31.23]))


def test_lon_and_lat_columns_named(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("名称,X坐标,Y坐标\na,121.47,31.23\n", encoding="utf-8")
    points = read_points(path, crs="gcj02", columns={"lon": "X坐标", "lat": "Y坐标"})
    np.testing.assert_allclose(points.input_lonlat(), ([121.47], [31.23]))


def test_utf8_file_with_one_gbk_row_names_it(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    lines = ["序号,社区名称,经度,纬度"] + [f"{k},社区{k},121.4{k},31.2{k}" for k in range(1, 6)]
    data = "\n".join(lines).encode("utf-8")
    data += "\n6,社区6,121.46,31.26\n".encode("gbk")
    path.write_bytes(data)
    points = read_points(path, crs="gcj02")
    assert points.names.tolist() == [f"社区{k}" for k in range(1, 7)]  # nothing garbled
    assert points.reading.encoding == "utf-8" and points.reading.other_encoding_rows == (7,)
    assert any("line 7" in line and "GB18030" in line for line in points.reading.warnings())


def _plan(out: Path, communities: Path, *extra: str) -> dict[str, object]:
    args = ["plan", "-q", "--communities", str(communities), "--crs", "gcj02", "-o", str(out)]
    assert main([*args, *extra]) == 0
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def _new_stations(folder: Path) -> list[tuple[object, ...]]:
    collection = json.loads((folder / "stations.geojson").read_text(encoding="utf-8"))
    return [
        (feature["properties"]["station_id"], *feature["geometry"]["coordinates"])
        for feature in collection["features"]
        if feature["properties"]["kind"] == "new"
    ]


def test_the_messy_list_gives_the_clean_lists_plan(files: dict[str, Path], tmp_path: Path) -> None:
    clean_summary = _plan(tmp_path / "clean", files["clean"])
    messy_summary = _plan(tmp_path / "messy", files["messy"], "--dedupe")
    assert _new_stations(tmp_path / "messy") == _new_stations(tmp_path / "clean")
    assert messy_summary["status_counts"] == clean_summary["status_counts"]
    clean_rows = pd.read_csv(
        tmp_path / "clean" / "assignments.csv", dtype=str, keep_default_na=False
    )
    messy_rows = pd.read_csv(
        tmp_path / "messy" / "assignments.csv", dtype=str, keep_default_na=False
    )
    for column in ("community_id", "community_name", "status", "station_id", "walk_min"):
        assert messy_rows[column].tolist() == clean_rows[column].tolist(), column
    reading = messy_summary["inputs"]["reading"]["communities"]
    assert reading["skipped_counts"] == {"blank": 1, "total": 1, "note": 3}
    assert reading["header_rows"] == [3, 4] and reading["sheet"] == "点位清单"
    assert [item["row"] for item in reading["duplicates"]] == [126]
    assert reading["missing_weight_rule"].startswith("kept as communities with weight 0")
    assert any("repeats row 15" in line for line in messy_summary["warnings"])


def test_stations_without_coordinates_never_stop_a_plan(
    files: dict[str, Path], tmp_path: Path
) -> None:
    summary = _plan(tmp_path / "plan", files["clean"], "--existing", str(files["stations"]))
    # no id column: existing-<row>, those without coordinates too
    assert summary["existing_inactive"]["no_coordinates"] == ["existing-5", "existing-6"]
    collection = json.loads((tmp_path / "plan" / "stations.geojson").read_text(encoding="utf-8"))
    unlocated = {
        feature["properties"]["name"]: feature
        for feature in collection["features"]
        if feature["properties"]["status"] == "no_coordinates"
    }
    assert set(unlocated) == {"老西门站", "董家渡站"}
    assert all(feature["geometry"] is None for feature in unlocated.values())
    (warning,) = [line for line in summary["warnings"] if "no_coordinates" in line]
    assert "老西门站 (中华路1号)" in warning and "董家渡站 (董家渡路2号)" in warning
    assert "coordinate picker" in warning and "GCJ-02" in warning


def test_a_list_of_stations_all_without_coordinates_keeps_every_one(
    files: dict[str, Path], clean: pd.DataFrame, tmp_path: Path
) -> None:
    addresses_only = tmp_path / "stations.csv"
    _stations(clean).iloc[3:].to_csv(addresses_only, index=False, encoding="utf-8")
    summary = _plan(tmp_path / "plan", files["clean"], "--existing", str(addresses_only))
    assert summary["n_existing"] == 2
    assert summary["status_counts"]["covered_existing"] == 0
    collection = json.loads((tmp_path / "plan" / "stations.geojson").read_text(encoding="utf-8"))
    existing = [f for f in collection["features"] if f["properties"]["kind"] == "existing"]
    assert [f["properties"]["name"] for f in existing] == ["老西门站", "董家渡站"]
    assert {f["properties"]["status"] for f in existing} == {"no_coordinates"}
    assert all(f["geometry"] is None for f in existing)
    assert any("老西门站 (中华路1号)" in line for line in summary["warnings"])
    # the audit of today: nobody covered, both stations listed (before: "the stations are empty")
    out = tmp_path / "coverage.csv"
    args = ["coverage", "-q", "--communities", str(files["clean"]), "--crs", "gcj02"]
    assert main([*args, "--stations", str(addresses_only), "-o", str(out)]) == 0
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(table) == 120 and "covered" not in set(table["status"])
    stations = pd.read_csv(out.with_name("coverage.stations.csv"), dtype=str, keep_default_na=False)
    assert stations["name"].tolist() == ["老西门站", "董家渡站"]
    assert set(stations["status"]) == {"no_coordinates"}


def test_an_upload_stored_under_another_name_reads_the_same(
    files: dict[str, Path], messy, tmp_path: Path
) -> None:
    stored = tmp_path / "upload-3f2a.bin"
    stored.write_bytes(files["messy"].read_bytes())
    upload = read_points(stored, crs="gcj02", role="communities", name="点位清单.xlsx")
    assert upload.source == "点位清单.xlsx" and upload.reading.to_dict() == messy.reading.to_dict()
    np.testing.assert_array_equal(upload.weight, messy.weight)


def test_serve_takes_plans_crs_options_and_warns_at_start_up(
    files: dict[str, Path], tmp_path: Path
) -> None:
    from quarterhour.api.cli.main import build_parser
    from quarterhour.api.http.settings import ServerConfig
    from quarterhour.api.http.state import load_state
    from quarterhour.siting.points import station_warnings

    args = build_parser().parse_args(
        ["serve", "--crs", "gcj02", "--existing", str(files["stations"]), "--existing-crs", "gcj02"]
    )
    assert (args.crs, args.stations, args.stations_crs) == ("gcj02", files["stations"], "gcj02")
    config = ServerConfig(
        network_path=settings.default_osm_path(), stations=files["stations"], stations_crs="gcj02"
    )
    state = load_state(config)
    _plan(tmp_path / "plan", files["clean"], "--existing", str(files["stations"]))
    collection = json.loads((tmp_path / "plan" / "stations.geojson").read_text(encoding="utf-8"))
    plan_ids = [
        feature["properties"]["station_id"]
        for feature in collection["features"]
        if feature["properties"]["kind"] == "existing"
    ]
    served = [*state.stations.ids, *(item.id for item in state.stations.reading.unlocated)]
    assert served == plan_ids == [f"existing-{row}" for row in range(2, 7)]
    (warning,) = station_warnings(state.network, state.stations)
    assert "老西门站 (中华路1号)" in warning and "no_coordinates" in warning


def test_a_row_pasted_with_its_id_names_dedupe(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("序号,名称,经度,纬度\n1,甲,121.47,31.23\n1,甲,121.47,31.23\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"rows 2, 3: duplicate '序号' values '1' .*--dedupe"):
        read_points(path, crs="gcj02")
    assert len(read_points(path, crs="gcj02", dedupe=True)) == 1


def test_coverage_names_the_stations_without_coordinates(
    files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "coverage.csv"
    args = ["coverage", "-q", "--communities", str(files["clean"]), "--crs", "gcj02"]
    assert main([*args, "--stations", str(files["stations"]), "-o", str(out)]) == 0
    meta = json.loads(out.with_name("coverage.meta.json").read_text(encoding="utf-8"))
    (warning,) = [line for line in meta["warnings"] if "no_coordinates" in line]
    assert "老西门站 (中华路1号)" in warning and "董家渡站 (董家渡路2号)" in warning
    stations = pd.read_csv(out.with_name("coverage.stations.csv"), dtype=str, keep_default_na=False)
    assert sorted(stations.loc[stations["status"] == "no_coordinates", "name"]) == [
        "老西门站",
        "董家渡站",
    ]
    assert [item["row"] for item in meta["reading"]["stations"]["unlocated"]] == [5, 6]


def test_plan_options_name_the_header_row_columns_and_each_files_sheet(
    files: dict[str, Path], clean: pd.DataFrame, tmp_path: Path
) -> None:
    communities = tmp_path / "communities.xlsx"
    renamed = clean.rename(columns={"经度": "X", "纬度": "Y"})
    with pd.ExcelWriter(communities) as writer:
        renamed.to_excel(writer, sheet_name="点位", startrow=4, index=False)  # header on row 5
    stations = tmp_path / "stations.xlsx"
    with pd.ExcelWriter(stations) as writer:
        _stations(clean).to_excel(writer, sheet_name="旧表", index=False)
        _stations(clean).head(2).to_excel(writer, sheet_name="2024", index=False)
    extra = ("--header-row", "5", "--lon-col", "X", "--lat-col", "Y", "--existing", str(stations))
    summary = _plan(tmp_path / "plan", communities, *extra, "--existing-sheet", "2024")
    inputs = summary["inputs"]
    assert (inputs["header_row"], inputs["existing_sheet"]) == (5, "2024")
    assert inputs["reading"]["communities"]["header_rows"] == [5]
    assert inputs["reading"]["communities"]["columns"]["lon"] == "X"
    assert summary["n_existing"] == 2
    assert summary["communities_read"] == len(clean)
    # the report reads the same files the same way
    from quarterhour.api.report.inputs import load_plan_inputs

    again = load_plan_inputs(tmp_path / "plan")
    assert len(again.communities) == len(clean) and len(again.existing) == 2
