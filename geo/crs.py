"""The coordinate systems planners in China receive points in: WGS84, GCJ-02 and BD-09.

GCJ-02 ("Mars coordinates", AMap/Gaode, Tencent) is WGS84 shifted by an obfuscating offset of
a few hundred metres; BD-09 (Baidu) shifts GCJ-02 once more. The forward formulas are the
standard public ones; the inverses solve the forward formula by fixed-point iteration, so a
round trip is exact to well under a centimetre (the common one-step inverse is off by metres).

All functions are vectorised: they take scalars or arrays of degrees and return float64 arrays
(0-d for scalars).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pyproj import CRS

from quarterhour.geo.errors import InputError

CRS_NAMES: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

KRASOVSKY_A = 6378245.0
"""Semi-major axis of the Krasovsky 1940 ellipsoid used by the GCJ-02 formula, in metres."""

KRASOVSKY_EE = 0.00669342162296594323
"""First eccentricity squared of the Krasovsky 1940 ellipsoid."""

BD09_X_PI = np.pi * 3000.0 / 180.0

WGS84_EQUIVALENT_EPSG: frozenset[int] = frozenset({4326, 4490})
"""WGS84 and CGCS2000 (EPSG:4490), which agree within about a metre: both are taken as WGS84."""

_INVERSE_TOLERANCE_DEG = 1e-11
_INVERSE_MAX_ITERATIONS = 30

Degrees = np.ndarray | float
LonLat = tuple[np.ndarray, np.ndarray]
LonLatFunction = Callable[[np.ndarray, np.ndarray], LonLat]


def check_crs_name(name: str) -> str:
    """Return a coordinate system name in lower case, or raise if it is not known.

    Parameters
    ----------
    name
        One of ``CRS_NAMES``, in any case (``"GCJ02"``, ``"gcj-02"`` and ``"WGS-84"`` are
        accepted too).

    Returns
    -------
    str
        The name as spelled in ``CRS_NAMES``.
    """
    normalised = str(name).strip().lower().replace("-", "").replace("_", "")
    if normalised not in CRS_NAMES:
        msg = f"unknown coordinate system {name!r}: use one of {', '.join(CRS_NAMES)}"
        raise InputError(msg)
    return normalised


def is_wgs84_equivalent(crs: CRS | None) -> bool:
    """Return whether a pyproj CRS can be read as WGS84 longitude/latitude as it is.

    A missing CRS counts as WGS84 (the GeoJSON default), and so do OGC:CRS84 and CGCS2000.

    Parameters
    ----------
    crs
        The CRS a file declares, or None.
    """
    if crs is None:
        return True
    if crs.to_epsg() in WGS84_EQUIVALENT_EPSG:
        return True
    return crs.equals(CRS.from_user_input("OGC:CRS84"))


def out_of_china(lon: Degrees, lat: Degrees) -> np.ndarray:
    """Return a mask of the points the GCJ-02 offset leaves unchanged (the usual bounding box).

    Parameters
    ----------
    lon, lat
        Degrees. NaN counts as out of China.
    """
    lon_arr, lat_arr = _as_float_arrays(lon, lat)
    inside = (lon_arr > 73.66) & (lon_arr < 135.05) & (lat_arr > 3.86) & (lat_arr < 53.55)
    return ~inside


def wgs84_to_gcj02(lon: Degrees, lat: Degrees) -> LonLat:
    """Convert WGS84 to GCJ-02 (the standard public formula).

    Parameters
    ----------
    lon, lat
        WGS84 degrees.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        GCJ-02 longitude and latitude; points out of China are returned unchanged.
    """
    lon_arr, lat_arr = _as_float_arrays(lon, lat)
    d_lat = _offset_lat(lon_arr - 105.0, lat_arr - 35.0)
    d_lon = _offset_lon(lon_arr - 105.0, lat_arr - 35.0)
    rad_lat = np.radians(lat_arr)
    magic = 1.0 - KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (KRASOVSKY_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    outside = out_of_china(lon_arr, lat_arr)
    gcj_lon = np.where(outside, lon_arr, lon_arr + d_lon)
    gcj_lat = np.where(outside, lat_arr, lat_arr + d_lat)
    return gcj_lon, gcj_lat


def gcj02_to_wgs84(lon: Degrees, lat: Degrees) -> LonLat:
    """Convert GCJ-02 to WGS84 by solving ``wgs84_to_gcj02`` exactly.

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        WGS84 longitude and latitude; points out of China are returned unchanged.
    """
    lon_arr, lat_arr = _as_float_arrays(lon, lat)
    wgs_lon, wgs_lat = _invert(wgs84_to_gcj02, lon_arr, lat_arr)
    outside = out_of_china(lon_arr, lat_arr)
    return np.where(outside, lon_arr, wgs_lon), np.where(outside, lat_arr, wgs_lat)


def gcj02_to_bd09(lon: Degrees, lat: Degrees) -> LonLat:
    """Convert GCJ-02 to BD-09 (Baidu).

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        BD-09 longitude and latitude.
    """
    lon_arr, lat_arr = _as_float_arrays(lon, lat)
    radius = np.hypot(lon_arr, lat_arr) + 0.00002 * np.sin(lat_arr * BD09_X_PI)
    theta = np.arctan2(lat_arr, lon_arr) + 0.000003 * np.cos(lon_arr * BD09_X_PI)
    return radius * np.cos(theta) + 0.0065, radius * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: Degrees, lat: Degrees) -> LonLat:
    """Convert BD-09 to GCJ-02 by solving ``gcj02_to_bd09`` exactly.

    Parameters
    ----------
    lon, lat
        BD-09 degrees.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        GCJ-02 longitude and latitude.
    """
    lon_arr, lat_arr = _as_float_arrays(lon, lat)
    return _invert(gcj02_to_bd09, lon_arr, lat_arr)


def convert(
    lon: Degrees,
    lat: Degrees,
    *,
    src: str,
    dst: str,
) -> LonLat:
    """Convert coordinates between any two of WGS84, GCJ-02 and BD-09.

    Parameters
    ----------
    lon, lat
        Degrees in ``src``.
    src, dst
        Names from ``CRS_NAMES``.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        Longitude and latitude in ``dst`` (new arrays, also when ``src == dst``).
    """
    source = check_crs_name(src)
    target = check_crs_name(dst)
    lon_arr, lat_arr = _as_float_arrays(lon, lat)
    if source == target:
        return lon_arr.copy(), lat_arr.copy()
    # Every path goes through GCJ-02, the only system that borders both others.
    if source == "wgs84":
        lon_arr, lat_arr = wgs84_to_gcj02(lon_arr, lat_arr)
    elif source == "bd09":
        lon_arr, lat_arr = bd09_to_gcj02(lon_arr, lat_arr)
    if target == "wgs84":
        return gcj02_to_wgs84(lon_arr, lat_arr)
    if target == "bd09":
        return gcj02_to_bd09(lon_arr, lat_arr)
    return lon_arr, lat_arr


def _as_float_arrays(lon: Degrees, lat: Degrees) -> LonLat:
    lon_arr, lat_arr = np.broadcast_arrays(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
    return lon_arr, lat_arr


def _invert(forward: LonLatFunction, lon: np.ndarray, lat: np.ndarray) -> LonLat:
    # The offsets change by far less than a degree per degree, so x <- x - (f(x) - target)
    # is a contraction; it reaches 1e-11 degrees (about 1 micrometre) in a handful of steps.
    guess_lon, guess_lat = lon.copy(), lat.copy()
    for _ in range(_INVERSE_MAX_ITERATIONS):
        forward_lon, forward_lat = forward(guess_lon, guess_lat)
        error_lon = forward_lon - lon
        error_lat = forward_lat - lat
        guess_lon = guess_lon - error_lon
        guess_lat = guess_lat - error_lat
        errors = np.concatenate([error_lon.ravel(), error_lat.ravel(), [0.0]])
        if np.nanmax(np.abs(errors)) < _INVERSE_TOLERANCE_DEG:
            break
    return guess_lon, guess_lat


def _offset_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    offset: np.ndarray = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    )
    offset += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    offset += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    offset += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return offset


def _offset_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    offset: np.ndarray = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    offset += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    offset += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    offset += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return offset
