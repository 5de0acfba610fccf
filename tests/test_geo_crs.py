"""Tests of geo.crs against the real compounds file and an independent textbook implementation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quarterhour.geo import crs
from quarterhour.geo.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "data"
EARTH_RADIUS_M = 6371008.8


LonLat = tuple[np.ndarray, np.ndarray]


def haversine_m(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(d_phi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(h))


def textbook_wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """The widely copied scalar GCJ-02 formula (wandergis/coordTransform), with math only."""
    a, ee, pi = 6378245.0, 0.00669342162296594323, math.pi
    x, y = lng - 105.0, lat - 35.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    dlat += (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat += (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * pi) + 320 * math.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    dlng += (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlng += (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlng += (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1 - ee * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((a * (1 - ee)) / (magic * sqrtmagic) * pi)
    dlng = (dlng * 180.0) / (a / sqrtmagic * math.cos(radlat) * pi)
    return lng + dlng, lat + dlat


def textbook_gcj02_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    x_pi = math.pi * 3000.0 / 180.0
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * x_pi)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * x_pi)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


@pytest.fixture(scope="module")
def compounds_gcj02() -> tuple[np.ndarray, np.ndarray]:
    table = pd.read_csv(DATA / "shanghai_compounds_amap_gcj02.csv", usecols=["lng", "lat"])
    return table["lng"].to_numpy(float), table["lat"].to_numpy(float)


def test_gcj02_round_trip_on_real_compounds(compounds_gcj02: LonLat) -> None:
    lon, lat = compounds_gcj02
    assert len(lon) == 8995
    wgs_lon, wgs_lat = crs.gcj02_to_wgs84(lon, lat)
    back_lon, back_lat = crs.wgs84_to_gcj02(wgs_lon, wgs_lat)
    error_m = haversine_m(lon, lat, back_lon, back_lat)
    assert error_m.max() < 0.01
    # The conversion did move the points (by the GCJ offset), so the round trip is not trivial.
    assert haversine_m(lon, lat, wgs_lon, wgs_lat).min() > 100.0


def test_gcj02_inverse_beats_one_step_inverse(compounds_gcj02: LonLat) -> None:
    lon, lat = compounds_gcj02
    shifted_lon, shifted_lat = crs.wgs84_to_gcj02(lon, lat)
    one_step_lon, one_step_lat = 2 * lon - shifted_lon, 2 * lat - shifted_lat
    one_step_error = haversine_m(*crs.wgs84_to_gcj02(one_step_lon, one_step_lat), lon, lat)
    exact_error = haversine_m(*crs.wgs84_to_gcj02(*crs.gcj02_to_wgs84(lon, lat)), lon, lat)
    assert one_step_error.max() > 0.1
    assert exact_error.max() < one_step_error.max() / 100


def test_forward_matches_textbook_implementation(compounds_gcj02: LonLat) -> None:
    lon, lat = compounds_gcj02
    sample = slice(None, None, 97)
    gcj_lon, gcj_lat = crs.wgs84_to_gcj02(lon[sample], lat[sample])
    bd_lon, bd_lat = crs.gcj02_to_bd09(lon[sample], lat[sample])
    for position, (x, y) in enumerate(zip(lon[sample], lat[sample], strict=True)):
        expected_gcj = textbook_wgs84_to_gcj02(x, y)
        expected_bd = textbook_gcj02_to_bd09(x, y)
        assert (gcj_lon[position], gcj_lat[position]) == pytest.approx(expected_gcj, abs=1e-12)
        assert (bd_lon[position], bd_lat[position]) == pytest.approx(expected_bd, abs=1e-12)


def test_published_reference_pair() -> None:
    # Tiananmen example quoted with many GCJ-02 libraries: WGS84 (116.397428, 39.90923).
    gcj_lon, gcj_lat = crs.wgs84_to_gcj02(116.397428, 39.90923)
    assert haversine_m(gcj_lon, gcj_lat, 116.403664, 39.910633) < 2.0
    assert haversine_m(116.397428, 39.90923, gcj_lon, gcj_lat) > 500.0


def test_gcj_offset_around_qingpu_is_about_490_m() -> None:
    gcj_lon, gcj_lat = crs.wgs84_to_gcj02(121.1, 31.15)
    offset_m = float(haversine_m(121.1, 31.15, gcj_lon, gcj_lat))
    assert 450.0 < offset_m < 530.0
    # Around Shanghai the offset points east and slightly south.
    assert gcj_lon > 121.1
    assert gcj_lat < 31.15


def test_bd09_round_trip(compounds_gcj02: LonLat) -> None:
    lon, lat = compounds_gcj02
    bd_lon, bd_lat = crs.gcj02_to_bd09(lon, lat)
    assert haversine_m(lon, lat, bd_lon, bd_lat).min() > 500.0
    back_lon, back_lat = crs.bd09_to_gcj02(bd_lon, bd_lat)
    assert haversine_m(lon, lat, back_lon, back_lat).max() < 0.01


def test_convert_chains_through_gcj02(compounds_gcj02: LonLat) -> None:
    lon, lat = compounds_gcj02
    bd_lon, bd_lat = crs.convert(lon, lat, src="wgs84", dst="bd09")
    expected = crs.gcj02_to_bd09(*crs.wgs84_to_gcj02(lon, lat))
    np.testing.assert_allclose(bd_lon, expected[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(bd_lat, expected[1], rtol=0, atol=1e-12)
    wgs_lon, wgs_lat = crs.convert(bd_lon, bd_lat, src="BD09", dst="WGS84")
    assert haversine_m(lon, lat, wgs_lon, wgs_lat).max() < 0.01


def test_convert_same_system_returns_copies() -> None:
    lon = np.array([121.1, 121.2])
    lat = np.array([31.1, 31.2])
    out_lon, _out_lat = crs.convert(lon, lat, src="gcj02", dst="gcj02")
    np.testing.assert_array_equal(out_lon, lon)
    out_lon[0] = 0.0
    assert lon[0] == 121.1


def test_out_of_china_points_unchanged() -> None:
    lon = np.array([2.35, -74.0, 151.2, 121.1])
    lat = np.array([48.85, 40.7, -33.9, 31.15])
    gcj_lon, gcj_lat = crs.wgs84_to_gcj02(lon, lat)
    np.testing.assert_array_equal(gcj_lon[:3], lon[:3])
    np.testing.assert_array_equal(gcj_lat[:3], lat[:3])
    assert gcj_lon[3] != lon[3]
    wgs_lon, wgs_lat = crs.gcj02_to_wgs84(lon[:3], lat[:3])
    np.testing.assert_array_equal(wgs_lon, lon[:3])
    np.testing.assert_array_equal(wgs_lat, lat[:3])


def test_scalars_accepted() -> None:
    gcj_lon, _gcj_lat = crs.wgs84_to_gcj02(121.1, 31.15)
    assert np.ndim(gcj_lon) == 0
    assert float(gcj_lon) == pytest.approx(textbook_wgs84_to_gcj02(121.1, 31.15)[0], abs=1e-12)


@pytest.mark.parametrize("name", ["mercator", "", "gcj"])
def test_unknown_crs_name_lists_allowed_values(name: str) -> None:
    with pytest.raises(InputError, match="wgs84, gcj02, bd09"):
        crs.check_crs_name(name)


def test_crs_name_spellings() -> None:
    assert crs.check_crs_name("GCJ-02") == "gcj02"
    assert crs.check_crs_name(" WGS84 ") == "wgs84"
