"""Named area outlines a planner may give the report (towns/streets), read into WGS84.

District outlines of Shanghai are bundled (:mod:`quarterhour.geo.districts`); town and street
outlines are not, so a report draws them only from a file the planner gives, in a coordinate
system the planner states (outlines of Chinese towns come in GCJ-02 or BD-09 as often as in
WGS84, and are never guessed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

from quarterhour.geo.crs import check_crs_name, convert
from quarterhour.geo.errors import InputError, require_file

MAX_OUTLINE_BYTES = 64 * 1024 * 1024
"""The largest outline file read (a city's streets as detailed polygons are a few MB)."""

NAME_KEYS: tuple[str, ...] = ("name", "名称", "街镇", "街道", "乡镇", "NAME", "town")
"""Feature properties that may hold an outline's name, in order of preference."""


def read_named_outlines(
    path: str | Path, *, crs: str | None
) -> tuple[tuple[str, shapely.Geometry], ...]:
    """Read the named polygons of a GeoJSON FeatureCollection (or a list of features), WGS84.

    Parameters
    ----------
    path
        The GeoJSON file.
    crs
        Its coordinate system: ``"wgs84"``, ``"gcj02"`` or ``"bd09"`` (required).

    Raises
    ------
    InputError
        If the file is missing, too large, not GeoJSON, holds no polygon, or ``crs`` is not given.
    """
    path = Path(path)
    require_file(path, what="town outlines")
    if crs is None:
        msg = (
            f"{path}: say which coordinate system the town outlines are in "
            "(--town-outlines-crs wgs84, gcj02 or bd09); it is not guessed"
        )
        raise InputError(msg, param="towns_crs")
    crs = check_crs_name(crs)
    size = path.stat().st_size
    if size > MAX_OUTLINE_BYTES:
        msg = (
            f"{path}: {size:,} bytes, more than the {MAX_OUTLINE_BYTES:,} an outline file may have"
        )
        raise InputError(msg)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as error:
        msg = f"{path}: not a GeoJSON file ({str(error)[:120]})"
        raise InputError(msg) from None
    if isinstance(document, dict):
        features = document.get("features", [document])
    else:
        features = document if isinstance(document, list) else []
    outlines = []
    for number, feature in enumerate(features, 1):
        if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
            continue
        try:
            geometry = shape(feature["geometry"])
        except (ValueError, TypeError, KeyError, AttributeError, shapely.errors.ShapelyError):
            msg = f"{path}: feature {number} has a broken geometry"
            raise InputError(msg) from None
        if geometry.geom_type not in ("Polygon", "MultiPolygon"):
            continue
        properties = feature.get("properties") or {}
        name = next(
            (str(properties[key]) for key in NAME_KEYS if properties.get(key)), f"#{number}"
        )
        coordinates = shapely.get_coordinates(geometry)
        if not np.isfinite(coordinates).all():
            msg = f"{path}: feature {number} ({name}) has a coordinate that is not a number"
            raise InputError(msg)
        wgs = shapely.transform(
            geometry, lambda xy: np.column_stack(convert(xy[:, 0], xy[:, 1], src=crs, dst="wgs84"))
        )
        outlines.append((name, shapely.make_valid(wgs)))
    if not outlines:
        msg = f"{path}: no Polygon or MultiPolygon feature to draw as a town outline"
        raise InputError(msg)
    return tuple(outlines)
