"""Walking routes over real HTTP on loopback: GET/POST /route and GET /nearest, central Shanghai."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import numpy as np
import pandas as pd
import pytest

from quarterhour import settings
from quarterhour.api.http.app import create_app
from quarterhour.api.http.serving import serve_in_thread
from quarterhour.geo.crs import convert
from quarterhour.geo.points import read_points
from quarterhour.routing.route import shortest_route
from quarterhour.routing.walktimes import walk_time_matrix

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PEOPLES_SQUARE = (121.4737, 31.2304)  # WGS84, Puxi
XINTIANDI = (121.4747, 31.2194)
LUJIAZUI = (121.5050, 31.2400)  # Pudong: the extract has no walkable crossing of the river
FAR_AWAY = (121.9, 31.0)


@pytest.fixture(scope="module")
def stations_file(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Real compounds inside the network as 'existing stations' (GCJ-02, as AMap gives them)."""
    table = pd.read_csv(data_dir / settings.default_communities)
    inside = table[table["lng"].between(121.44, 121.52) & table["lat"].between(31.20, 31.26)]
    path = tmp_path_factory.mktemp("route-stations") / "stations.csv"
    stations = inside.iloc[::40].head(30)[["id", "name", "lng", "lat"]]
    stations.assign(id="S-" + stations["id"]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def base_url(data_dir: Path, stations_file: Path) -> Iterator[str]:
    app = create_app(data_dir / settings.default_osm, stations=stations_file, stations_crs="gcj02")
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as session:
        yield session


def route_query(start: tuple[float, float], end: tuple[float, float], **more: object) -> dict:
    return {"from_lon": start[0], "from_lat": start[1], "to_lon": end[0], "to_lat": end[1], **more}


def valhalla_body(start: tuple[float, float], end: tuple[float, float], **more: object) -> dict:
    return {
        "locations": [{"lat": start[1], "lon": start[0]}, {"lat": end[1], "lon": end[0]}],
        "costing": "pedestrian",
        **more,
    }


def test_get_route_is_a_geojson_line_equal_to_the_library(client: httpx.Client, network_of) -> None:
    response = client.get("/route", params=route_query(PEOPLES_SQUARE, XINTIANDI))
    assert response.status_code == 200
    feature = response.json()
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "LineString"
    properties = feature["properties"]
    assert properties["attribution"] == "© OpenStreetMap contributors (ODbL)"
    assert properties["speed_kmh"] == 4.5 and properties["crs"] == "wgs84"
    assert properties["kind"] == "network"
    expected = shortest_route(network_of("shanghai_center"), *PEOPLES_SQUARE, *XINTIANDI)
    assert properties["minutes"] == pytest.approx(expected.minutes, abs=1e-4)
    assert properties["meters"] == pytest.approx(expected.meters, abs=0.01)
    assert 1200 < properties["meters"] < 2500  # 1.2 km apart as the crow flies
    line = np.array(feature["geometry"]["coordinates"])
    np.testing.assert_allclose(line, expected.coordinates("wgs84"), atol=1e-6)
    assert line[0] == pytest.approx(PEOPLES_SQUARE) and line[-1] == pytest.approx(XINTIANDI)
    faster = client.get("/route", params=route_query(PEOPLES_SQUARE, XINTIANDI, speed_kmh=6.0))
    assert faster.json()["properties"]["minutes"] == pytest.approx(
        properties["meters"] / 100.0, abs=1e-3
    )


def test_get_route_in_gcj02(client: httpx.Client) -> None:
    wgs = client.get("/route", params=route_query(PEOPLES_SQUARE, XINTIANDI)).json()
    start, end = (
        tuple(float(v) for v in convert(*p, src="wgs84", dst="gcj02"))
        for p in (PEOPLES_SQUARE, XINTIANDI)
    )
    gcj = client.get("/route", params=route_query(start, end, crs="gcj02")).json()
    assert gcj["properties"]["crs"] == "gcj02"
    assert gcj["properties"]["meters"] == pytest.approx(wgs["properties"]["meters"], abs=0.01)
    line = np.array(gcj["geometry"]["coordinates"])
    lon, lat = convert(line[:, 0], line[:, 1], src="gcj02", dst="wgs84")
    np.testing.assert_allclose(
        np.column_stack([lon, lat]), wgs["geometry"]["coordinates"], atol=2e-6
    )
    back = client.get("/route", params=route_query(start, end, crs="gcj02", out_crs="wgs84")).json()
    np.testing.assert_allclose(
        back["geometry"]["coordinates"], wgs["geometry"]["coordinates"], atol=2e-6
    )


def test_post_route_answers_in_valhalla_shape(client: httpx.Client) -> None:
    from routingpy.utils import decode_polyline6

    feature = client.get("/route", params=route_query(PEOPLES_SQUARE, XINTIANDI)).json()
    meters, minutes = feature["properties"]["meters"], feature["properties"]["minutes"]
    response = client.post("/route", json=valhalla_body(PEOPLES_SQUARE, XINTIANDI, id="home-1"))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "home-1"
    trip = body["trip"]
    assert trip["status"] == 0 and trip["units"] == "kilometers"
    assert trip["summary"]["time"] == pytest.approx(minutes * 60, abs=0.01)
    assert trip["summary"]["length"] == pytest.approx(meters / 1000, abs=0.001)
    (leg,) = trip["legs"]
    assert leg["summary"] == trip["summary"]
    shape = decode_polyline6(leg["shape"])
    np.testing.assert_allclose(shape, feature["geometry"]["coordinates"], atol=1.1e-6)
    assert leg["maneuvers"][-1]["end_shape_index"] == len(shape) - 1
    assert [location["original_index"] for location in trip["locations"]] == [0, 1]

    in_miles = client.post(
        "/route",
        json=valhalla_body(
            PEOPLES_SQUARE,
            XINTIANDI,
            directions_options={"units": "miles"},
            costing_options={"pedestrian": {"walking_speed": 6.0}},
            shape_format="geojson",
        ),
    ).json()["trip"]
    assert in_miles["units"] == "miles"
    assert in_miles["summary"]["length"] == pytest.approx(meters / 1609.344, abs=0.001)
    assert in_miles["summary"]["time"] == pytest.approx(meters / 100.0 * 60, abs=0.1)
    np.testing.assert_allclose(
        in_miles["legs"][0]["shape"]["coordinates"], feature["geometry"]["coordinates"], atol=1e-6
    )


def test_a_valhalla_client_reads_our_route(base_url: str, client: httpx.Client) -> None:
    """routingpy's Valhalla client, pointed at quarterhour, gets the route and decodes it."""
    from routingpy import Valhalla

    feature = client.get("/route", params=route_query(PEOPLES_SQUARE, XINTIANDI)).json()
    valhalla = Valhalla(base_url=base_url, timeout=60)
    direction = valhalla.directions(
        locations=[list(PEOPLES_SQUARE), list(XINTIANDI)],
        profile="pedestrian",
        options={"walking_speed": 4.5},
        units="km",
        id="resident-7",
    )
    assert direction.distance == int(round(feature["properties"]["meters"] / 1000, 3) * 1000)
    assert direction.duration == int(feature["properties"]["minutes"] * 60)
    np.testing.assert_allclose(direction.geometry, feature["geometry"]["coordinates"], atol=1.1e-6)
    assert direction.raw["id"] == "resident-7"


@pytest.mark.parametrize(
    ("method", "request_kwargs", "status", "kind", "loc"),
    [
        (
            "GET",
            {"params": route_query(PEOPLES_SQUARE, FAR_AWAY)},
            404,
            "off_network",
            ["query", "to_lon"],
        ),
        (
            "GET",
            {"params": route_query(FAR_AWAY, PEOPLES_SQUARE)},
            404,
            "off_network",
            ["query", "from_lon"],
        ),
        ("GET", {"params": route_query(PEOPLES_SQUARE, LUJIAZUI)}, 404, "no_route", ["query"]),
        (
            "GET",
            {"params": route_query(PEOPLES_SQUARE, (200.0, 31.0))},
            422,
            "less_than_equal",
            ["query", "to_lon"],
        ),
        (
            "GET",
            {"params": {**route_query(PEOPLES_SQUARE, XINTIANDI), "crs": "utm"}},
            422,
            "literal_error",
            ["query", "crs"],
        ),
        (
            "POST",
            {"json": valhalla_body(PEOPLES_SQUARE, FAR_AWAY)},
            404,
            "off_network",
            ["body", "locations", 1],
        ),
        ("POST", {"json": valhalla_body(PEOPLES_SQUARE, LUJIAZUI)}, 404, "no_route", ["body"]),
        (
            "POST",
            {"json": valhalla_body(PEOPLES_SQUARE, XINTIANDI, costing="auto")},
            422,
            "literal_error",
            ["body", "costing"],
        ),
        (
            "POST",
            {"json": {**valhalla_body(PEOPLES_SQUARE, XINTIANDI), "avoid_locations": []}},
            422,
            "extra_forbidden",
            ["body", "avoid_locations"],
        ),
        (
            "POST",
            {
                "json": valhalla_body(
                    PEOPLES_SQUARE, XINTIANDI, costing_options={"pedestrian": {"walking_speed": 50}}
                )
            },
            422,
            "less_than_equal",
            ["body", "costing_options", "pedestrian", "walking_speed"],
        ),
    ],
)
def test_route_errors_name_the_field(
    client: httpx.Client, method: str, request_kwargs: dict, status: int, kind: str, loc: list
) -> None:
    response = client.request(method, "/route", **request_kwargs)
    assert response.status_code == status, response.text
    (detail,) = response.json()["detail"]
    assert detail["type"] == kind and detail["loc"] == loc
    if kind == "no_route":
        assert "separate parts" in detail["msg"]
    if kind == "off_network":
        assert "snapping limit" in detail["msg"]


def test_three_locations_are_422(client: httpx.Client) -> None:
    body = valhalla_body(PEOPLES_SQUARE, XINTIANDI)
    body["locations"].append(body["locations"][0])
    response = client.post("/route", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "locations"]


def test_nearest_stations_are_ordered_by_walk_time(
    client: httpx.Client, stations_file: Path, network_of
) -> None:
    stations = read_points(stations_file, crs="gcj02", role="stations")
    lon, lat = PEOPLES_SQUARE
    times = walk_time_matrix(
        network_of("shanghai_center"),
        [lon],
        [lat],
        stations.lon,
        stations.lat,
        minutes=600,
        quiet=True,
    ).matrix
    order = times.indices[np.lexsort((times.indices, times.data))]
    response = client.get("/nearest", params={"lon": lon, "lat": lat, "k": 4})
    assert response.status_code == 200
    body = response.json()
    assert (
        body["type"] == "FeatureCollection"
        and body["k"] == 4
        and body["n_stations"] == len(stations)
    )
    assert "OpenStreetMap" in body["attribution"]
    features = body["features"]
    assert [f["properties"]["station_id"] for f in features] == stations.ids[order[:4]].tolist()
    assert [f["properties"]["rank"] for f in features] == [1, 2, 3, 4]
    for feature, t in zip(features, order[:4], strict=True):
        assert feature["properties"]["minutes"] == pytest.approx(times[0, t], abs=1e-4)
        line = feature["geometry"]["coordinates"]
        assert line[-1] == pytest.approx([stations.lon[t], stations.lat[t]], abs=1e-6)
        assert feature["properties"]["station"] == pytest.approx(line[-1], abs=1e-6)
    # In GCJ-02, as AMap draws them: the same stations, and the station points as the file gave.
    gcj_lon, gcj_lat = (float(v) for v in convert(lon, lat, src="wgs84", dst="gcj02"))
    in_gcj = client.get(
        "/nearest", params={"lon": gcj_lon, "lat": gcj_lat, "crs": "gcj02", "k": 1}
    ).json()
    (first,) = in_gcj["features"]
    assert first["properties"]["station_id"] == features[0]["properties"]["station_id"]
    table = pd.read_csv(stations_file).set_index("id")
    assert first["properties"]["station"] == pytest.approx(
        table.loc[first["properties"]["station_id"], ["lng", "lat"]].tolist(), abs=2e-6
    )


@pytest.mark.parametrize(
    ("params", "status", "kind"),
    [
        ({"lon": PEOPLES_SQUARE[0], "lat": PEOPLES_SQUARE[1], "k": 11}, 422, "less_than_equal"),
        ({"lon": PEOPLES_SQUARE[0], "lat": PEOPLES_SQUARE[1], "k": 0}, 422, "greater_than_equal"),
        ({"lon": "nan", "lat": PEOPLES_SQUARE[1]}, 422, "finite_number"),
        ({"lon": FAR_AWAY[0], "lat": FAR_AWAY[1]}, 404, "off_network"),
        ({"lon": LUJIAZUI[0], "lat": LUJIAZUI[1]}, 200, None),  # Pudong has stations too
    ],
)
def test_nearest_bounds(client: httpx.Client, params: dict, status: int, kind: str | None) -> None:
    response = client.get("/nearest", params=params)
    assert response.status_code == status, response.text
    if kind:
        assert response.json()["detail"][0]["type"] == kind


def test_nearest_without_stations_is_409(data_dir: Path) -> None:
    app = create_app(data_dir / "singapore_bayfront.osm.pbf")
    with serve_in_thread(app) as url:
        response = httpx.get(f"{url}/nearest", params={"lon": 103.855, "lat": 1.283}, timeout=60)
        route = httpx.get(
            f"{url}/route", params=route_query((103.8545, 1.2830), (103.8590, 1.2850)), timeout=60
        )
    assert response.status_code == 409
    assert response.json()["detail"][0]["type"] == "no_data"
    assert route.status_code == 200, route.text
