"""GeoJSON of the loaded data: street lines, community and station points, posted points."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import shapely

from quarterhour.api.http.errors import field_errors, too_large
from quarterhour.api.http.schemas import PointIn
from quarterhour.geo.crs import convert
from quarterhour.geo.points import PointSet, points_from_frame
from quarterhour.routing.graph import WalkNetwork


def network_lines(network: WalkNetwork, *, crs: str, tolerance_m: float, precision: int) -> dict:
    """Return the streets as one MultiLineString feature, simplified, in ``crs`` degrees.

    Parameters
    ----------
    network
        The walking network.
    crs
        ``wgs84``, ``gcj02`` or ``bd09``.
    tolerance_m
        Douglas-Peucker tolerance in metres.
    precision
        Decimal places of the coordinates.
    """
    lines = shapely.simplify(network.edge_lines, tolerance_m)
    coords = shapely.get_coordinates(lines)
    counts = shapely.get_num_coordinates(lines)
    lon, lat = network.projection.inverse(coords[:, 0], coords[:, 1])
    lon, lat = convert(lon, lat, src="wgs84", dst=crs)
    lonlat = np.round(np.column_stack([lon, lat]), precision)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    parts = [
        lonlat[bounds[i] : bounds[i + 1]].tolist() for i in range(len(counts)) if counts[i] >= 2
    ]
    feature = {
        "type": "Feature",
        "geometry": {"type": "MultiLineString", "coordinates": parts},
        "properties": {"source": network.source, "n_edges": network.n_edges, "crs": crs},
    }
    return {"type": "FeatureCollection", "features": [feature], "attribution": network.attribution}


def point_coordinates(lon: np.ndarray, lat: np.ndarray, *, crs: str) -> list[list[float]]:
    """Return WGS84 points as GeoJSON ``[lon, lat]`` pairs in ``crs``, to six decimals (about 0.1 m)."""
    x, y = convert(lon, lat, src="wgs84", dst=crs)
    return [[round(float(a), 6), round(float(b), 6)] for a, b in zip(x, y, strict=True)]


def point_features(
    points: PointSet,
    *,
    crs: str,
    properties: Sequence[dict[str, object]] | None = None,
) -> list[dict]:
    """Return one Point feature per point (``id``, ``name``, ``weight`` and ``properties``)."""
    coordinates = point_coordinates(points.lon, points.lat, crs=crs)
    extra = properties if properties is not None else [{}] * len(points)
    return [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": xy},
            "properties": {"id": str(i), "name": str(n), "weight": float(w)} | more,
        }
        for xy, i, n, w, more in zip(
            coordinates, points.ids, points.names, points.weight, extra, strict=True
        )
    ]


def features_to_crs(collection: dict, crs: str) -> dict:
    """Convert the Point features of a WGS84 FeatureCollection to ``crs`` in place (one conversion)."""
    if crs == "wgs84":
        return collection
    located = [
        feature["geometry"] for feature in collection["features"] if feature["geometry"] is not None
    ]
    if located:
        lon, lat = np.array([geometry["coordinates"] for geometry in located], dtype=float).T
        for geometry, xy in zip(located, point_coordinates(lon, lat, crs=crs), strict=True):
            geometry["coordinates"] = xy
    return collection


def posted_points(
    points: list[PointIn],
    *,
    crs: str,
    loc: tuple[str, ...],
    role: str,
    max_points: int,
) -> PointSet:
    """Validate posted points into a WGS84 PointSet, 413 over ``max_points``, 422 if bad.

    Points without an id get their position in the list.
    """
    if len(points) > max_points:
        msg = f"{role}: {len(points):,} points is over the limit of {max_points:,}"
        raise too_large(loc, msg)
    frame = pd.DataFrame(
        {
            "id": [p.id if p.id is not None else str(k) for k, p in enumerate(points)],
            "name": [p.name if p.name is not None else "" for p in points],
            "lon": [p.lon for p in points],
            "lat": [p.lat for p in points],
            "weight": [p.weight for p in points],
        }
    )
    if any(p.aides is not None for p in points):
        frame["aides"] = ["" if p.aides is None else str(p.aides) for p in points]
    with field_errors(*loc):
        return points_from_frame(frame, crs=crs, source=role, role=role)
