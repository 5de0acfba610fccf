"""Tests of geo.boundary on the two real Qingpu outlines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon, box, mapping

from quarterhour.geo.boundary import boundary_area_km2, read_boundary
from quarterhour.geo.crs import gcj02_to_wgs84
from quarterhour.geo.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "data"
CGCS2000 = DATA / "qingpu_boundary_cgcs2000.geojson"
DATAV_GCJ02 = DATA / "qingpu_boundary_datav_gcj02.json"


def iou(first: Polygon | MultiPolygon, second: Polygon | MultiPolygon) -> float:
    return first.intersection(second).area / first.union(second).area


def geodesic_area_km2(polygon: Polygon | MultiPolygon) -> float:
    # Signed by ring orientation, hence abs.
    area_m2, _ = Geod(ellps="WGS84").geometry_area_perimeter(polygon)
    return abs(area_m2) / 1e6


def test_cgcs2000_outline() -> None:
    outline = read_boundary(CGCS2000)
    assert outline.is_valid
    assert isinstance(outline, (Polygon, MultiPolygon))
    area = boundary_area_km2(outline)
    assert 655.0 < area < 680.0
    # The UTM area agrees with the geodesic area on the ellipsoid.
    assert area == pytest.approx(geodesic_area_km2(outline), rel=2e-3)
    assert outline.contains(shapely.Point(121.1, 31.15))


def test_datav_gcj02_outline_converted_to_wgs84() -> None:
    reference = read_boundary(CGCS2000)
    converted = read_boundary(DATAV_GCJ02, crs="gcj02")
    unconverted = read_boundary(DATAV_GCJ02, crs="wgs84")
    assert len(shapely.get_coordinates(converted)) == len(shapely.get_coordinates(unconverted))
    assert iou(converted, reference) == pytest.approx(0.95, abs=0.015)
    # Converting must bring the outline closer to the reference than leaving it offset.
    assert iou(converted, reference) > iou(unconverted, reference) + 0.02
    assert boundary_area_km2(converted) == pytest.approx(668.0, abs=5.0)


def test_gcj02_conversion_is_vertex_by_vertex(tmp_path: Path) -> None:
    square = box(121.10, 31.10, 121.12, 31.12)
    path = tmp_path / "square.geojson"
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": mapping(square)}))
    converted = read_boundary(path, crs="gcj02")
    expected_lon, expected_lat = gcj02_to_wgs84(*shapely.get_coordinates(square).T)
    converted_vertices = np.unique(shapely.get_coordinates(converted), axis=0)
    expected_vertices = np.unique(np.column_stack([expected_lon, expected_lat]), axis=0)
    np.testing.assert_allclose(converted_vertices, expected_vertices, rtol=0, atol=1e-12)


def test_union_of_features_and_bare_geometry(tmp_path: Path) -> None:
    west, east = box(121.0, 31.0, 121.1, 31.1), box(121.1, 31.0, 121.2, 31.1)
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {}, "geometry": mapping(west)},
            {"type": "Feature", "properties": {}, "geometry": mapping(east)},
            {"type": "Feature", "properties": {}, "geometry": mapping(shapely.Point(121.5, 31.5))},
        ],
    }
    path = tmp_path / "two.geojson"
    path.write_text(json.dumps(collection))
    assert read_boundary(path, crs="wgs84").equals(box(121.0, 31.0, 121.2, 31.1))
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(mapping(west)))
    assert read_boundary(bare, crs="wgs84").equals(west)


def test_declared_projected_crs_is_reprojected(tmp_path: Path) -> None:
    # About 11.1 km x 11.1 km near the equator in Web Mercator metres.
    document = {
        "type": "Feature",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},
        "properties": {},
        "geometry": mapping(box(0, 0, 1113194.9, 1118890.0)),
    }
    path = tmp_path / "mercator.geojson"
    path.write_text(json.dumps(document))
    outline = read_boundary(path)
    assert outline.bounds == pytest.approx((0.0, 0.0, 10.0, 10.0), abs=1e-3)


def test_area_of_known_box() -> None:
    # 0.1 x 0.1 degree at 31 N: 11.13 km (lat) x 9.54 km (lon), independent of the projection.
    square = box(121.0, 31.0, 121.1, 31.1)
    assert boundary_area_km2(square) == pytest.approx(geodesic_area_km2(square), rel=1e-3)
    assert 105.0 < boundary_area_km2(square) < 107.0


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^qingpu\.geojson: boundary file not found"):
        read_boundary(tmp_path / "qingpu.geojson")


def test_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "Feature", ')
    with pytest.raises(InputError, match=r"^broken\.geojson: boundary is not valid JSON"):
        read_boundary(path)


def test_no_polygon(tmp_path: Path) -> None:
    path = tmp_path / "points.geojson"
    point = {"type": "Point", "coordinates": [1, 2]}
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": point}))
    expected = r"^points\.geojson: no Polygon or MultiPolygon in the boundary \(found Point\)"
    with pytest.raises(InputError, match=expected):
        read_boundary(path)


def test_malformed_polygon(tmp_path: Path) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps({"type": "Polygon", "coordinates": [[[1, 2], [3]]]}))
    with pytest.raises(InputError, match=r"^bad\.geojson: geometry 1: malformed Polygon"):
        read_boundary(path)


def test_unknown_crs_name() -> None:
    with pytest.raises(InputError, match="wgs84, gcj02, bd09"):
        read_boundary(CGCS2000, crs="cgcs2000")
