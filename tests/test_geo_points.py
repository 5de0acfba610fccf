"""Tests of geo.points: reading point sets from CSV, GeoJSON, GeoPackage and frames."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point

from quarterhour.geo.crs import gcj02_to_wgs84, wgs84_to_gcj02
from quarterhour.geo.errors import InputError
from quarterhour.geo.points import PointSet, points_from_frame, read_points

DATA = Path(__file__).resolve().parents[1] / "data"
COMPOUNDS = DATA / "shanghai_compounds_amap_gcj02.csv"


def write_csv(path: Path, text: str, *, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def error_message(path: Path, **options: str) -> str:
    with pytest.raises(InputError) as caught:
        read_points(path, **options)
    return str(caught.value)


@pytest.fixture(scope="module")
def compounds() -> PointSet:
    return read_points(COMPOUNDS, crs="gcj02", role="communities")


def test_real_compounds_load_and_convert_to_wgs84(compounds: PointSet) -> None:
    raw = pd.read_csv(COMPOUNDS, dtype=str)
    assert len(compounds) == 8995 == len(raw)
    assert compounds.source == "shanghai_compounds_amap_gcj02.csv"
    assert len(set(compounds.ids)) == len(compounds)
    np.testing.assert_array_equal(compounds.ids, raw["id"].to_numpy())
    np.testing.assert_array_equal(compounds.names, raw["name"].str.strip().to_numpy())
    expected_lon, expected_lat = gcj02_to_wgs84(raw["lng"].astype(float), raw["lat"].astype(float))
    np.testing.assert_allclose(compounds.lon, expected_lon, rtol=0, atol=1e-12)
    np.testing.assert_allclose(compounds.lat, expected_lat, rtol=0, atol=1e-12)
    # GCJ-02 lies east of WGS84 in Shanghai, so converting moves every point west.
    assert np.all(compounds.lon < raw["lng"].astype(float).to_numpy())
    np.testing.assert_array_equal(compounds.weight, np.ones(8995))
    assert list(compounds.extra.columns) == ["adcode", "address", "city", "shape"]
    assert (compounds.extra["adcode"] == "310118").sum() == 247


def test_subset_and_to_frame(compounds: PointSet) -> None:
    qingpu = compounds.subset(compounds.extra["adcode"].to_numpy() == "310118")
    assert len(qingpu) == 247
    assert set(qingpu.extra["adcode"]) == {"310118"}
    picked = compounds.subset([5, 2])
    assert list(picked.ids) == [compounds.ids[5], compounds.ids[2]]
    assert picked.extra["address"].tolist() == compounds.extra["address"].iloc[[5, 2]].tolist()
    frame = picked.to_frame()
    assert list(frame.columns[:5]) == ["id", "name", "lon", "lat", "weight"]
    assert frame["lon"].tolist() == [compounds.lon[5], compounds.lon[2]]
    with pytest.raises(InputError, match="mask of 3 values"):
        compounds.subset(np.array([True, False, True]))


def test_lonlat_in_gcj02_gives_back_the_file_coordinates(compounds: PointSet) -> None:
    raw = pd.read_csv(COMPOUNDS, usecols=["lng", "lat"])
    gcj_lon, gcj_lat = compounds.lonlat_in("gcj02")
    np.testing.assert_allclose(gcj_lon, raw["lng"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(gcj_lat, raw["lat"], rtol=0, atol=1e-9)


def test_chinese_headers_and_weight(tmp_path: Path) -> None:
    text = (
        "编号,名称,经度,纬度,人口,街道\n"
        "A,盈浦街道一村,121.11,31.15,1200,盈浦\nB,夏阳,121.12,31.16,800,夏阳\n"
    )
    path = write_csv(tmp_path / "社区.csv", text)
    points = read_points(path, crs="wgs84")
    assert list(points.ids) == ["A", "B"]
    assert list(points.names) == ["盈浦街道一村", "夏阳"]
    assert list(points.lon) == [121.11, 121.12]
    assert list(points.lat) == [31.15, 31.16]
    assert list(points.weight) == [1200.0, 800.0]
    assert list(points.extra.columns) == ["街道"]


def test_lng_latitude_aliases_any_case_and_row_number_ids(tmp_path: Path) -> None:
    text = "Title,LNG,Latitude,Residents\nx,121.1,31.1,5\ny,121.2,31.2,0\n"
    path = write_csv(tmp_path / "stations.csv", text)
    points = read_points(path, crs="wgs84")
    assert list(points.ids) == ["2", "3"]  # the rows a spreadsheet shows under the header
    assert list(points.names) == ["x", "y"]
    assert list(points.lon) == [121.1, 121.2]
    assert list(points.weight) == [5.0, 0.0]
    assert points.extra.columns.tolist() == []


def test_ids_keep_leading_zeros(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", "code,lon,lat\n007,121.1,31.1\n010,121.2,31.2\n")
    assert list(read_points(path, crs="wgs84").ids) == ["007", "010"]


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8-sig"])
def test_encodings(tmp_path: Path, encoding: str) -> None:
    text = "名称,经度,纬度,地址\n香花桥,121.12,31.19,青浦区香花桥街道\n"
    path = write_csv(tmp_path / "c.csv", text, encoding=encoding)
    points = read_points(path, crs="gcj02")
    assert list(points.names) == ["香花桥"]
    assert points.extra["地址"].tolist() == ["青浦区香花桥街道"]


def test_gcj02_csv_is_converted(tmp_path: Path) -> None:
    gcj_lon, gcj_lat = wgs84_to_gcj02(121.1, 31.15)
    path = write_csv(tmp_path / "c.csv", f"id,lon,lat\na,{gcj_lon:.12f},{gcj_lat:.12f}\n")
    points = read_points(path, crs="gcj02")
    assert points.lon[0] == pytest.approx(121.1, abs=1e-9)
    assert points.lat[0] == pytest.approx(31.15, abs=1e-9)
    bd_points = read_points(path, crs="bd09")
    assert abs(bd_points.lon[0] - 121.1) > 0.005


def test_geojson_round_trip(tmp_path: Path, compounds: PointSet) -> None:
    sample = compounds.subset(np.arange(0, 8995, 450))
    path = tmp_path / "sample.geojson"
    sample.to_geodataframe().to_file(path, driver="GeoJSON")
    back = read_points(path)
    np.testing.assert_array_equal(back.ids, sample.ids)
    np.testing.assert_array_equal(back.names, sample.names)
    np.testing.assert_allclose(back.lon, sample.lon, rtol=0, atol=1e-9)
    np.testing.assert_allclose(back.lat, sample.lat, rtol=0, atol=1e-9)
    assert "address" in back.extra.columns
    # The geometry wins over the lon/lat attribute columns written by to_frame.
    assert "lon" not in back.extra.columns and "lat" not in back.extra.columns


def test_geopackage_round_trip_in_gcj02(tmp_path: Path) -> None:
    gcj_lon, gcj_lat = wgs84_to_gcj02(np.array([121.1, 121.2]), np.array([31.15, 31.1]))
    frame = gpd.GeoDataFrame(
        {"id": [1, 2], "name": ["a", "b"], "population": [10.0, 20.0]},
        geometry=gpd.points_from_xy(gcj_lon, gcj_lat),
        crs="EPSG:4326",
    )
    path = tmp_path / "stations.gpkg"
    frame.to_file(path, driver="GPKG")
    points = read_points(path, crs="gcj02")
    assert list(points.ids) == ["1", "2"]
    assert list(points.weight) == [10.0, 20.0]
    np.testing.assert_allclose(points.lon, [121.1, 121.2], atol=1e-9)
    np.testing.assert_allclose(points.lat, [31.15, 31.1], atol=1e-9)


def test_cgcs2000_taken_as_wgs84_and_projected_crs_reprojected(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(121.1, 31.15)], crs="EPSG:4490")
    cgcs_path = tmp_path / "cgcs.gpkg"
    frame.to_file(cgcs_path, driver="GPKG")
    cgcs = read_points(cgcs_path)
    assert (cgcs.lon[0], cgcs.lat[0]) == (121.1, 31.15)
    mercator_path = tmp_path / "mercator.gpkg"
    mercator_frame = frame.set_crs("EPSG:4326", allow_override=True).to_crs("EPSG:3857")
    mercator_frame.to_file(mercator_path, driver="GPKG")
    mercator = read_points(mercator_path)
    assert mercator.lon[0] == pytest.approx(121.1, abs=1e-9)
    assert mercator.lat[0] == pytest.approx(31.15, abs=1e-9)


def test_points_from_frame_numbers_rows_from_one() -> None:
    frame = pd.DataFrame({"lon": [121.1, 121.2, 121.3], "lat": [31.1, "n/a", 31.3]})
    expected = r"^<frame>: row 2: 'lat' is not a number \(found 'n/a'\)$"
    with pytest.raises(InputError, match=expected):
        points_from_frame(frame, crs="wgs84")
    points = points_from_frame(frame.iloc[[0, 2]], source="upload.csv", crs="wgs84")
    assert points.source == "upload.csv"
    assert list(points.ids) == ["1", "2"]


# --- errors: one InputError naming the file and the rows or field ---


def test_missing_file(tmp_path: Path) -> None:
    message = error_message(tmp_path / "nowhere.csv", role="communities")
    assert message.startswith("nowhere.csv: communities file not found")


def test_empty_file(tmp_path: Path) -> None:
    message = error_message(write_csv(tmp_path / "empty.csv", "\n\n"))
    assert message == "empty.csv: points file is empty"


def test_header_only(tmp_path: Path) -> None:
    message = error_message(write_csv(tmp_path / "header.csv", "id,lon,lat\n"), role="stations")
    assert message == "header.csv: no stations rows"


def test_missing_coordinate_columns_names_found_columns(tmp_path: Path) -> None:
    message = error_message(write_csv(tmp_path / "c.csv", "id,name,lng,address\n1,a,121.1,x\n"))
    assert message.startswith("c.csv:")
    assert "need a lat column" in message
    assert "found columns: id, name, lng, address" in message


def test_non_numeric_coordinates_name_file_rows_and_field(tmp_path: Path) -> None:
    text = "id,lon,lat\na,121.1,31.1\nb,121.1,abc\nc,121.1,31.1\nd,121.1,31.1\ne,121.1,\n"
    message = error_message(write_csv(tmp_path / "communities.csv", text))
    assert message == "communities.csv: rows 3, 6: 'lat' is not a number (found 'abc', '')"


def test_at_most_five_rows_listed(tmp_path: Path) -> None:
    rows = "".join(f"{i},121.1,x\n" for i in range(8))
    message = error_message(write_csv(tmp_path / "c.csv", "id,lon,lat\n" + rows))
    assert "rows 2, 3, 4, 5, 6 and 3 more: 'lat'" in message


def test_out_of_range(tmp_path: Path) -> None:
    text = "id,lon,lat\na,121.1,31.1\nb,190.5,31.1\n"
    message = error_message(write_csv(tmp_path / "c.csv", text))
    assert message == "c.csv: row 3: 'lon' is outside -180..180"
    message = error_message(write_csv(tmp_path / "d.csv", "id,lon,lat\na,121.1,-91\n"))
    assert message == "d.csv: row 2: 'lat' is outside -90..90"


def test_swapped_rows_beyond_90(tmp_path: Path) -> None:
    text = "id,lng,lat\na,121.1,31.1\nb,31.2,121.2\n"
    message = error_message(write_csv(tmp_path / "c.csv", text))
    assert message.startswith("c.csv: row 3: looks like lon and lat are swapped")


def test_swapped_chinese_data_set(tmp_path: Path) -> None:
    # Swapped, yet every value is within range: only the China rule can tell.
    text = "id,lon,lat\na,31.1,81.1\nb,31.2,81.2\n"
    message = error_message(write_csv(tmp_path / "c.csv", text))
    assert message.startswith("c.csv:")
    assert "looks like lon and lat are swapped" in message
    assert "'lat'" in message


def test_duplicate_ids_named(tmp_path: Path) -> None:
    text = "id,lon,lat\nA1,121.1,31.1\nB2,121.2,31.2\nA1,121.3,31.3\n"
    message = error_message(write_csv(tmp_path / "c.csv", text))
    assert message == "c.csv: rows 2, 4: duplicate 'id' values 'A1'"


def test_empty_id(tmp_path: Path) -> None:
    message = error_message(write_csv(tmp_path / "c.csv", "id,lon,lat\n,121.1,31.1\n"))
    assert message == "c.csv: row 2: 'id' is empty"


@pytest.mark.parametrize(
    ("weight", "expected"),
    [("-3", "must be a non-negative number"), ("many", "is not a number (found 'many')")],
)
def test_bad_weights(tmp_path: Path, weight: str, expected: str) -> None:
    text = f"id,lon,lat,人口\na,121.1,31.1,4\nb,121.2,31.2,{weight}\n"
    message = error_message(write_csv(tmp_path / "c.csv", text))
    assert message == f"c.csv: row 3: '人口' {expected}"


def test_unknown_crs(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", "lon,lat\n121.1,31.1\n")
    message = error_message(path, crs="utm")
    assert re.search("unknown coordinate system 'utm'.*wgs84, gcj02, bd09", message)


def test_unknown_suffix(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.ods", "lon,lat\n121.1,31.1\n")
    assert error_message(path).startswith("c.ods: cannot read points from a .ods file")
    old = write_csv(tmp_path / "c.xls", "lon,lat\n121.1,31.1\n")
    assert error_message(old).startswith("c.xls: not a readable Excel workbook")
    broken = write_csv(tmp_path / "c.xlsx", "lon,lat\n121.1,31.1\n")
    assert error_message(broken).startswith("c.xlsx: not a readable Excel workbook")


def test_geojson_with_non_point_features(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["a", "b"]},
        geometry=[Point(121.1, 31.1), LineString([(121.1, 31.1), (121.2, 31.2)])],
        crs="EPSG:4326",
    )
    path = tmp_path / "mixed.geojson"
    frame.to_file(path, driver="GeoJSON")
    message = error_message(path)
    assert message == "mixed.geojson: feature 2: points need Point geometries (found LineString)"


def test_invalid_geojson(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "broken.geojson", '{"type": "FeatureCollection", "features": [')
    assert error_message(path).startswith("broken.geojson: cannot read points")


# --- bounds: one error naming the file, the bound and the parameter that raises it ---


def test_bounds_from_the_call_and_from_settings(tmp_path: Path, monkeypatch) -> None:
    from quarterhour import settings
    from quarterhour.geo.errors import TooLargeError
    from quarterhour.geo.points import ReaderLimits

    path = write_csv(tmp_path / "c.csv", "id,lon,lat,a,b\n1,121.1,31.1,x,y\n2,121.2,31.2,x,y\n")
    with pytest.raises(TooLargeError, match=r"c.csv: columns: row 1 has 5 fields.*max_columns=40"):
        read_points(path, crs="wgs84", limits=ReaderLimits(max_columns=4))
    monkeypatch.setattr(settings, "max_rows", 2)
    with pytest.raises(TooLargeError, match=r"c.csv: rows: more than 3 lines.*max_rows=20"):
        read_points(path, crs="wgs84")
    assert len(read_points(path, crs="wgs84", limits=ReaderLimits(max_rows=3))) == 2


def test_sheet_bounds_are_checked_before_the_parser(tmp_path: Path) -> None:
    import openpyxl

    from quarterhour.geo.errors import TooLargeError
    from quarterhour.geo.points import ReaderLimits

    path = tmp_path / "w.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["id", "lon", "lat"])
    workbook.active.append(["a", 121.47, 31.23])
    workbook.active["Z30"] = "far"
    workbook.save(path)
    limits = ReaderLimits(max_columns=20)
    with pytest.raises(TooLargeError, match=r"reaches column 26.*max_columns="):
        read_points(path, crs="gcj02", limits=limits)
    with pytest.raises(TooLargeError, match=r"spans 30 rows by 26 columns.*max_cells="):
        read_points(path, crs="gcj02", limits=ReaderLimits(max_cells=500))
    # within the bounds the stray cell is a row like any other: never dropped unsaid
    assert error_message(path, crs="gcj02") == "w.xlsx: row 30: 'lon' is not a number (found '')"


def test_long_cells_are_read_in_linear_time_and_cut_in_messages(tmp_path: Path) -> None:
    import time

    title = ",".join(["(" * 30_000] * 3)  # a bracketed unit is searched only in short headers
    pair = "1," + " " * 30_000 + "x"  # one 经纬度 cell the pair split would backtrack on
    path = write_csv(tmp_path / "c.csv", f'{title}\n名称,经纬度\na,"121.4,31.2"\nb,"{pair}"\n')
    start = time.perf_counter()
    message = error_message(path, crs="gcj02")
    assert time.perf_counter() - start < 5
    assert message.startswith(
        "c.csv: row 4: '经纬度' is not a coordinate pair (lon,lat) (found '1,"
    )
    assert message.endswith("…')") and len(message) < 200
