"""The outline of the planning area (a district), read from GeoJSON and kept in WGS84."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import orjson
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, Polygon, shape

from quarterhour import settings
from quarterhour.geo.crs import check_crs_name, convert, is_wgs84_equivalent, out_of_china
from quarterhour.geo.errors import InputError, require_file
from quarterhour.geo.projection import LocalProjection

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

POLYGONAL_TYPES: tuple[str, ...] = ("Polygon", "MultiPolygon")

MAX_COORDINATE = 1e9
"""Larger coordinates are neither degrees nor the metres of a projected system (Web Mercator's
reach 2e7): refused, as are Infinity and NaN."""

GeometryT = TypeVar("GeometryT", bound=shapely.Geometry)


def read_boundary(
    path: str | Path, *, crs: str | None = None, crs_param: str = "crs"
) -> Polygon | MultiPolygon:
    """Read an area outline from GeoJSON: the union of all its Polygon and MultiPolygon geometries.

    Accepts a FeatureCollection, a Feature, a bare geometry, or a JSON list of any of these
    (as Aliyun DataV files are). Other geometry types are ignored.

    Parameters
    ----------
    path
        The GeoJSON file.
    crs
        Coordinate system of the file's coordinates: ``"wgs84"``, ``"gcj02"`` or ``"bd09"``.
        With ``"wgs84"``, a file declaring CGCS2000 (EPSG:4490) is read as it is and one
        declaring another CRS (old-style ``"crs"`` member) is reprojected. ``None``: the system
        the file declares; a file that declares none is WGS84 (RFC 7946) outside China, and an
        error in China, where outlines come in GCJ-02 (DataV, AMap), BD-09 or WGS84: it is
        never guessed.
    crs_param
        The name of ``crs`` where the caller takes it (``boundary_crs``: the command line
        says ``--boundary-crs``), for the error of an unstated system.

    Returns
    -------
    Polygon | MultiPolygon
        The valid outline in WGS84 degrees.

    Raises
    ------
    InputError
        If the file is missing, too large, nested too deep, not GeoJSON, holds no polygon or a
        coordinate that is not a finite longitude and latitude, or (in China) does not state
        its coordinate system.
    """
    return read_boundary_crs(path, crs=crs, crs_param=crs_param)[0]


def read_boundary_crs(
    path: str | Path, *, crs: str | None = None, crs_param: str = "crs"
) -> tuple[Polygon | MultiPolygon, str]:
    """Read an outline as :func:`read_boundary` does, and say which system it was read in.

    Parameters
    ----------
    path, crs, crs_param
        As for :func:`read_boundary`.

    Returns
    -------
    outline
        The valid outline in WGS84 degrees.
    crs
        ``crs`` if given, else ``"wgs84"`` (declared by the file, or outside China): the value
        that reads the file the same way again.
    """
    crs_name = None if crs is None else check_crs_name(crs)
    file_path = require_file(path, what="boundary")
    source = file_path.name
    document = _read_document(file_path)

    try:
        geometry_objects = _geometry_objects(document)
    except RecursionError as error:
        msg = f"{source}: boundary is not valid GeoJSON (lists and objects nested too deep)"
        raise InputError(msg) from error
    polygons = []
    for position, geometry_object in enumerate(geometry_objects, start=1):
        if geometry_object.get("type") not in POLYGONAL_TYPES:
            continue
        try:
            with np.errstate(invalid="ignore"):  # NaN coordinates: refused just below
                polygon = shape(geometry_object)
        except (
            ValueError,
            TypeError,
            KeyError,
            IndexError,
            RecursionError,
            shapely.errors.GEOSException,
        ) as error:
            kind = geometry_object.get("type")
            msg = f"{source}: geometry {position}: malformed {kind} ({error})"
            raise InputError(msg) from error
        _check_finite(polygon, source=source, position=position)
        polygons.append(polygon)
    if not polygons:
        found = ", ".join(sorted({str(item.get("type")) for item in geometry_objects})) or "nothing"
        msg = f"{source}: no Polygon or MultiPolygon in the boundary (found {found})"
        raise InputError(msg)

    declared = _declared_crs(document, source=source)
    if crs_name is None:
        crs_name = (
            "wgs84"
            if declared is not None
            else _unstated_crs(polygons, source=source, param=crs_param)
        )
    try:
        outline = shapely.union_all([shapely.make_valid(polygon) for polygon in polygons])
        if crs_name != "wgs84":
            outline = _transform_lonlat(
                outline, lambda lon, lat: convert(lon, lat, src=crs_name, dst="wgs84")
            )
        elif not is_wgs84_equivalent(declared):
            to_wgs84 = Transformer.from_crs(declared, "EPSG:4326", always_xy=True)
            outline = _transform_lonlat(outline, to_wgs84.transform)
        outline = _polygonal_part(shapely.make_valid(outline))
    except shapely.errors.GEOSException as error:
        msg = f"{source}: the boundary polygons cannot be joined ({error})"
        raise InputError(msg) from error
    if outline.is_empty or not np.isfinite(outline.bounds).all():
        msg = f"{source}: the boundary polygons have no area"
        raise InputError(msg)
    return outline, crs_name


def _read_document(file_path: Path) -> object:
    """The JSON of a boundary file, its size and nesting bounded before it is parsed."""
    source = file_path.name
    size = file_path.stat().st_size
    max_bytes = settings.max_boundary_mb * 1024**2
    if size > max_bytes:
        msg = (
            f"{source}: the boundary file is {size / 1024**2:,.0f} MB, over the limit of "
            f"{settings.max_boundary_mb:,g} MB (quarterhour.settings.max_boundary_mb, "
            "--max-boundary-mb on the command line)"
        )
        raise InputError(msg)
    try:
        data = file_path.read_bytes()
    except OSError as error:
        msg = f"{source}: cannot read the boundary file ({error.strerror or error})"
        raise InputError(msg) from error
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        # orjson: no recursion in Python, and nesting over 1,024 is an error, not a crash.
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        if "depth limit" in str(error) or "recursion" in str(error):
            msg = f"{source}: boundary is not valid GeoJSON (lists nested over 1,024 deep)"
            raise InputError(msg) from error
    try:
        # The standard parser reads NaN and Infinity, so that the error names the coordinate.
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        msg = f"{source}: boundary is not valid JSON ({str(error)[:200]})"
        raise InputError(msg) from error


def _check_finite(polygon: shapely.Geometry, *, source: str, position: int) -> None:
    """Raise InputError if a vertex is not finite (JSON's Infinity, NaN) or beyond 1e9."""
    coordinates = shapely.get_coordinates(polygon)
    bad = ~(np.abs(coordinates) < MAX_COORDINATE).all(axis=1)
    if bad.any():
        x, y = coordinates[np.flatnonzero(bad)[0]]
        msg = (
            f"{source}: geometry {position}: coordinate ({x:g}, {y:g}) is not a finite number "
            f"within ±{MAX_COORDINATE:g} ({int(bad.sum()):,} such vertices)"
        )
        raise InputError(msg)


def _unstated_crs(polygons: Sequence[shapely.Geometry], *, source: str, param: str) -> str:
    """WGS84 (RFC 7946) for an outline outside China; in China, an error: never guessed."""
    lon, lat = shapely.get_coordinates(polygons).T
    if out_of_china(lon, lat).all():
        return "wgs84"
    msg = (
        f"{source}: the boundary lies in China, where outlines come in GCJ-02 (DataV, AMap), "
        "BD-09 or WGS84, and neither the file (a 'crs' member) nor the command says which: "
        "state it with {param}gcj02 (AMap, Tencent, DataV), {param}bd09 (Baidu) or "
        "{param}wgs84 (GPS, OpenStreetMap)"
    )
    raise InputError(msg, param=param)


def boundary_area_km2(polygon: Polygon | MultiPolygon) -> float:
    """Return the area of a WGS84 outline in square kilometres, measured in its UTM zone.

    Parameters
    ----------
    polygon
        WGS84 degrees.
    """
    min_lon, min_lat, max_lon, max_lat = polygon.bounds
    corner_lon, corner_lat = np.array([min_lon, max_lon]), np.array([min_lat, max_lat])
    projection = LocalProjection.for_lonlat(corner_lon, corner_lat)
    return float(shapely.area(_transform_lonlat(polygon, projection.forward))) / 1e6


def _transform_lonlat(
    geometry: GeometryT,
    function: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> GeometryT:
    """Apply a vectorised ``(x, y) -> (x, y)`` function to every vertex of a geometry."""
    return shapely.transform(geometry, lambda xy: np.column_stack(function(xy[:, 0], xy[:, 1])))


def _geometry_objects(document: object) -> list[dict]:
    """Return the geometry objects of a GeoJSON document, flattening collections."""
    if isinstance(document, list):
        return [geometry for item in document for geometry in _geometry_objects(item)]
    if not isinstance(document, dict):
        return []
    kind = document.get("type")
    if kind == "FeatureCollection":
        return _geometry_objects(document.get("features") or [])
    if kind == "Feature":
        return _geometry_objects(document.get("geometry"))
    if kind == "GeometryCollection":
        return _geometry_objects(document.get("geometries") or [])
    return [document] if isinstance(kind, str) else []


def _declared_crs(document: object, *, source: str) -> CRS | None:
    """Return the CRS named by an old-style GeoJSON ``"crs"`` member, or None."""
    if not isinstance(document, dict) or not isinstance(document.get("crs"), dict):
        return None
    name = (document["crs"].get("properties") or {}).get("name")
    if not name:
        return None
    try:
        return CRS.from_user_input(name)
    except CRSError as error:
        msg = f"{source}: unknown CRS {name!r} in the 'crs' member"
        raise InputError(msg) from error


def _polygonal_part(geometry: shapely.Geometry) -> Polygon | MultiPolygon:
    """Keep only the polygons of what ``make_valid`` returned (it may add stray lines)."""
    if isinstance(geometry, (Polygon, MultiPolygon)):
        return geometry
    parts = [part for part in shapely.get_parts(geometry) if part.geom_type in POLYGONAL_TYPES]
    return shapely.union_all(parts) if parts else Polygon()  # type: ignore[return-value]  # polygons' union
