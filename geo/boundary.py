"""The outline of the planning area (a district), read from GeoJSON and kept in WGS84."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, Polygon, shape

from quarterhour.geo.crs import check_crs_name, convert, is_wgs84_equivalent
from quarterhour.geo.errors import InputError, require_file
from quarterhour.geo.projection import LocalProjection

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

POLYGONAL_TYPES: tuple[str, ...] = ("Polygon", "MultiPolygon")


def read_boundary(path: str | Path, *, crs: str = "wgs84") -> Polygon | MultiPolygon:
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
        declaring another CRS (old-style ``"crs"`` member) is reprojected.

    Returns
    -------
    Polygon | MultiPolygon
        The valid outline in WGS84 degrees.
    """
    crs_name = check_crs_name(crs)
    file_path = require_file(path, what="boundary")
    source = file_path.name
    try:
        document = json.loads(file_path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        msg = f"{source}: boundary is not valid JSON ({error})"
        raise InputError(msg) from error

    geometry_objects = _geometry_objects(document)
    polygons = []
    for position, geometry_object in enumerate(geometry_objects, start=1):
        if geometry_object.get("type") not in POLYGONAL_TYPES:
            continue
        try:
            polygons.append(shape(geometry_object))
        except (ValueError, TypeError, KeyError, IndexError, shapely.errors.GEOSException) as error:
            kind = geometry_object.get("type")
            msg = f"{source}: geometry {position}: malformed {kind} ({error})"
            raise InputError(msg) from error
    if not polygons:
        found = ", ".join(sorted({str(item.get("type")) for item in geometry_objects})) or "nothing"
        msg = f"{source}: no Polygon or MultiPolygon in the boundary (found {found})"
        raise InputError(msg)

    outline: shapely.Geometry = shapely.union_all(
        [shapely.make_valid(polygon) for polygon in polygons]
    )
    if crs_name != "wgs84":
        outline = _transform_lonlat(
            outline, lambda lon, lat: convert(lon, lat, src=crs_name, dst="wgs84")
        )
    else:
        declared = _declared_crs(document, source=source)
        if not is_wgs84_equivalent(declared):
            to_wgs84 = Transformer.from_crs(declared, "EPSG:4326", always_xy=True)
            outline = _transform_lonlat(outline, to_wgs84.transform)
    polygonal = _polygonal_part(shapely.make_valid(outline))
    if polygonal.is_empty:
        msg = f"{source}: the boundary polygons have no area"
        raise InputError(msg)
    return polygonal


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
    geometry: shapely.Geometry,
    function: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> shapely.Geometry:
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
