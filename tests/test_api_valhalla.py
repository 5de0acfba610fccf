"""Valhalla's isochrone requests, over real HTTP: its body, its GET form, and a real client.

Each answer is checked against the same isochrone asked in quarterhour's own form (so the
geometry is the one the correctness tests check against networkx), and against the shape
Valhalla gives: its defaults (LineStrings, the largest polygon only), its units (distance in
kilometres), its colours, ``id`` and ``show_locations``.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
import pytest
import shapely

from quarterhour import settings
from quarterhour.api.http.app import create_app
from quarterhour.api.http.serving import serve_in_thread

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

LON, LAT = 121.4737, 31.2304  # People's Square, WGS84


@pytest.fixture(scope="module")
def base_url(data_dir: Path) -> Iterator[str]:
    with serve_in_thread(create_app(data_dir / settings.default_osm)) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as session:
        yield session


def valhalla_body(**options: object) -> dict:
    return {
        "locations": [{"lat": LAT, "lon": LON}],
        "costing": "pedestrian",
        "contours": [{"time": 15}],
        **options,
    }


def ours(client: httpx.Client, **params: object) -> dict:
    response = client.get("/isochrone", params={"lon": LON, "lat": LAT, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_valhalla_body_with_polygons_equals_our_request(client: httpx.Client) -> None:
    body = valhalla_body(
        contours=[{"time": 15}, {"time": 5, "color": "FF0000"}],
        polygons=True,
        denoise=0.0,
        generalize=10,
    )
    response = client.post("/isochrone", json=body)
    assert response.status_code == 200, response.text
    got = response.json()
    expected = ours(client, contours="5,15", generalize=10)
    assert got["type"] == "FeatureCollection"
    assert "OpenStreetMap contributors" in got["attribution"]
    assert [f["properties"]["contour"] for f in got["features"]] == [15.0, 5.0]
    for feature, reference in zip(got["features"], expected["features"], strict=True):
        assert feature["properties"]["metric"] == "time"
        assert feature["geometry"] == reference["geometry"]
        shape = shapely.geometry.shape(feature["geometry"])
        assert shape.is_valid and shape.contains(shapely.Point(LON, LAT))
    five = got["features"][1]["properties"]
    assert five["color"] == five["fill"] == five["fillColor"] == "#ff0000"
    assert five["fill-opacity"] == five["fillOpacity"] == five["opacity"] == 0.33


def test_valhalla_defaults_are_linestrings_of_the_largest_polygon(client: httpx.Client) -> None:
    got = client.post("/isochrone", json=valhalla_body()).json()
    (feature,) = got["features"]
    assert feature["geometry"]["type"] == "LineString"
    line = feature["geometry"]["coordinates"]
    assert line[0] == line[-1]  # the closed outline
    # Valhalla's defaults: denoise 1 (only the largest polygon), its outline.
    polygon = ours(client, contours=15, denoise=1.0)["features"][0]["geometry"]
    assert polygon["type"] == "Polygon"
    assert line == polygon["coordinates"][0]


def test_distance_contours_are_kilometres(client: httpx.Client) -> None:
    body = valhalla_body(contours=[{"distance": 1.0}, {"distance": 0.5}], polygons=True)
    got = client.post("/isochrone", json=body).json()
    assert [(f["properties"]["contour"], f["properties"]["metric"]) for f in got["features"]] == [
        (1.0, "distance"),
        (0.5, "distance"),
    ]
    expected = ours(client, meters=[500, 1000], denoise=1.0)
    for feature, reference in zip(got["features"], expected["features"], strict=True):
        assert feature["geometry"] == reference["geometry"]


def test_valhalla_get_form_echoes_the_id(client: httpx.Client) -> None:
    query = json.dumps(valhalla_body(polygons=True), separators=(",", ":"))
    response = client.get(f"/isochrone?json={quote(query)}&id=walk_from_office")
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["id"] == "walk_from_office"
    posted = client.post("/isochrone", json=valhalla_body(polygons=True, id=7)).json()
    assert posted["id"] == 7
    assert got["features"] == posted["features"]


def test_show_locations_adds_the_snapped_and_input_points(client: httpx.Client) -> None:
    got = client.post("/isochrone", json=valhalla_body(show_locations=True)).json()
    kinds = [f["properties"].get("type") for f in got["features"]]
    assert kinds == [None, "snapped", "input"]
    snapped, given = got["features"][1:]
    assert given["geometry"] == {"type": "Point", "coordinates": [LON, LAT]}
    assert snapped["geometry"]["type"] == "MultiPoint"
    (point,) = snapped["geometry"]["coordinates"]
    # On the street nearest People's Square, as far from it as the answer says.
    east = (point[0] - LON) * 111_320.0 * math.cos(math.radians(LAT))
    north = (point[1] - LAT) * 111_320.0
    assert math.hypot(east, north) == pytest.approx(got["snap"]["access_m"], abs=1.0)


def test_get_accepts_comma_separated_and_repeated_contours(client: httpx.Client) -> None:
    commas = client.get("/isochrone", params={"lon": LON, "lat": LAT, "contours": "5,10,15"})
    repeated = client.get("/isochrone", params={"lon": LON, "lat": LAT, "contours": [5, 10, 15]})
    mixed = client.get("/isochrone", params={"lon": LON, "lat": LAT, "contours": ["5,10", 15]})
    assert commas.status_code == repeated.status_code == mixed.status_code == 200
    assert commas.content == repeated.content == mixed.content
    contours = [f["properties"]["contour"] for f in commas.json()["features"]]
    assert contours == [15.0, 10.0, 5.0]


def _detail(response: httpx.Response) -> dict:
    assert response.status_code == 422, response.text
    body = response.json()
    assert all(set(item) == {"loc", "msg", "type"} for item in body["detail"])
    return body["detail"][0]


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        (valhalla_body(costing="auto"), ["body", "costing"], "pedestrian"),
        (
            valhalla_body(contours=[{"time": 15}, {"distance": 1}]),
            ["body", "contours"],
            "one metric",
        ),
        (valhalla_body(contours=[{"time": 15, "distance": 1}]), ["body", "contours", 0], "either"),
        (valhalla_body(contours=[{"time": 90}]), ["body", "contours", 0, "time"], "60"),
        (
            valhalla_body(contours=[{"time": 15, "color": "red"}]),
            ["body", "contours", 0, "color"],
            "",
        ),
        (
            valhalla_body(locations=[{"lat": LAT, "lon": LON}, {"lat": LAT, "lon": LON}]),
            ["body", "locations"],
            "at most 1",
        ),
        (
            valhalla_body(costing_options={"pedestrian": {"walking_speed": 4, "use_hills": 1}}),
            ["body", "costing_options", "pedestrian", "use_hills"],
            "",
        ),
        (valhalla_body(format="pbf"), ["body", "format"], "json"),
    ],
)
def test_bad_valhalla_requests_are_422_naming_the_field(
    client: httpx.Client, body: dict, loc: list, words: str
) -> None:
    detail = _detail(client.post("/isochrone", json=body))
    assert detail["loc"] == loc
    assert words in detail["msg"]


def test_bad_get_forms_are_422(client: httpx.Client) -> None:
    broken = _detail(client.get("/isochrone", params={"json": '{"locations": ['}))
    assert broken["loc"][:2] == ["query", "json"] and broken["type"] == "json_invalid"
    both = _detail(client.get("/isochrone", params={"json": "{}", "lon": LON}))
    assert both["loc"] == ["query", "json"] and "not both" in both["msg"]
    off = client.post("/isochrone", json=valhalla_body(locations=[{"lat": 31.0, "lon": 121.0}]))
    assert off.status_code == 404
    assert off.json()["detail"][0]["loc"] == ["body", "locations", 0]


def test_routingpy_valhalla_client_gets_the_isochrones(client: httpx.Client, base_url: str) -> None:
    """routingpy's Valhalla router, pointed at our base URL, as a planner would use it."""
    from routingpy import Valhalla

    router = Valhalla(base_url=base_url, timeout=60)
    isochrones = router.isochrones(
        locations=[LON, LAT],
        profile="pedestrian",
        intervals=[300, 600, 900],  # seconds, as routingpy takes them
        polygons=True,
        options={"walking_speed": 4.5},
    )
    assert [iso.interval for iso in isochrones] == [300, 600, 900]
    # routingpy hands back our answer unchanged, and its geometry is ours.
    expected = client.post(
        "/isochrone",
        json=valhalla_body(
            contours=[{"time": 5.0}, {"time": 10.0}, {"time": 15.0}],
            polygons=True,
            costing_options={"pedestrian": {"walking_speed": 4.5}},
        ),
    ).json()
    assert isochrones.raw == expected
    by_contour = {f["properties"]["contour"]: f["geometry"] for f in expected["features"]}
    for iso, minutes in zip(isochrones, (5.0, 10.0, 15.0), strict=True):
        assert iso.geometry == by_contour[minutes]["coordinates"]
        assert iso.center == [LON, LAT]
    distances = router.isochrones(
        locations=[LON, LAT], profile="pedestrian", intervals=[800], interval_type="distance"
    )
    (line,) = distances
    properties = distances.raw["features"][0]["properties"]
    assert (properties["contour"], properties["metric"]) == (0.8, "distance")
    assert line.geometry[0] == line.geometry[-1]  # Valhalla's default: the outline as a line
