"""The HTTP API over real HTTP on loopback, served by uvicorn, with the bundled Shanghai data."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pandas as pd
import pytest
import shapely

from quarterhour import settings
from quarterhour.api.http.app import create_app
from quarterhour.api.http.serving import serve_in_thread
from quarterhour.api.http.settings import ApiLimits
from quarterhour.geo.crs import convert
from quarterhour.geo.points import read_points
from quarterhour.routing.network import load_network
from quarterhour.routing.walktimes import walk_time_matrix

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PEOPLES_SQUARE = (121.4737, 31.2304)  # WGS84, on the network
ORIGIN = "http://planner.example"
LIMITS = ApiLimits(max_body_bytes=1_000_000, max_walktime_points=2_000, max_plan_points=10_000)


@pytest.fixture(scope="module")
def stations_file(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Twenty real compounds inside the network as 'existing stations' (GCJ-02, as AMap gives them)."""
    table = pd.read_csv(data_dir / settings.default_communities)
    inside = table[table["lng"].between(121.44, 121.52) & table["lat"].between(31.20, 31.26)]
    path = tmp_path_factory.mktemp("stations") / "stations.csv"
    stations = inside.iloc[::40].head(20)[["id", "name", "lng", "lat"]]
    stations.assign(id="S-" + stations["id"]).to_csv(
        path, index=False
    )  # station ids differ from communities'
    return path


@pytest.fixture(scope="module")
def base_url(data_dir: Path, stations_file: Path) -> Iterator[str]:
    app = create_app(
        data_dir / settings.default_osm,
        communities=data_dir / settings.default_communities,
        communities_crs="gcj02",
        stations=stations_file,
        stations_crs="gcj02",
        cors_origins=(ORIGIN,),
        limits=LIMITS,
    )
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as session:
        yield session


def _is_error_shape(body: dict) -> bool:
    return isinstance(body["detail"], list) and all(
        set(item) == {"loc", "msg", "type"} for item in body["detail"]
    )


def test_health_reports_the_loaded_data(client: httpx.Client) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["network"] == "shanghai_center.osm.pbf"
    assert body["n_edges"] > 5000
    assert 1500 < body["n_communities"] < 3000  # the compounds inside the central extract
    assert body["n_stations"] == 20
    assert body["attribution"] == "© OpenStreetMap contributors (ODbL)"
    # the loaded list was clipped to the extract's area: every row of the file is accounted for
    selection = body["communities_selection"]
    rows = len(pd.read_csv(settings.data_folder / settings.default_communities))
    assert selection["read"] == rows
    assert selection["in_area"] == body["n_communities"]
    assert selection["in_area"] + selection["outside_box"] + selection["off_streets"] == rows


def test_isochrone_is_a_valhalla_compatible_collection(client: httpx.Client) -> None:
    lon, lat = PEOPLES_SQUARE
    response = client.get("/isochrone", params={"lon": lon, "lat": lat})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert "OpenStreetMap" in body["attribution"]
    assert [f["properties"]["contour"] for f in body["features"]] == [15.0, 10.0, 5.0]
    areas = []
    for feature in body["features"]:
        assert feature["properties"]["metric"] == "time"
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
        shape = shapely.geometry.shape(feature["geometry"])
        assert shape.is_valid
        assert shape.contains(shapely.Point(lon, lat))
        areas.append(shape.area)
    assert areas[0] > areas[1] > areas[2]
    # The 15-minute area reaches about 1.1 km, never farther than 1,125 m + the 50 m buffer.
    reach = shapely.geometry.shape(body["features"][0]["geometry"]).bounds
    assert 0.005 < reach[2] - lon < 0.0125


def test_post_isochrone_equals_get(client: httpx.Client) -> None:
    lon, lat = PEOPLES_SQUARE
    query = {"lon": lon, "lat": lat, "contours": [7, 12], "denoise": 0.5, "generalize": 10}
    got = client.get("/isochrone", params=query).json()
    posted = client.post("/isochrone", json=query).json()
    assert got == posted
    assert [f["properties"]["contour"] for f in got["features"]] == [12.0, 7.0]


def test_isochrone_in_gcj02_round_trips(client: httpx.Client) -> None:
    lon, lat = PEOPLES_SQUARE
    gcj_lon, gcj_lat = (float(v) for v in convert(lon, lat, src="wgs84", dst="gcj02"))
    in_gcj = client.get(
        "/isochrone", params={"lon": gcj_lon, "lat": gcj_lat, "crs": "gcj02", "contours": 10}
    ).json()
    out_gcj = client.get(
        "/isochrone", params={"lon": lon, "lat": lat, "out_crs": "gcj02", "contours": 10}
    ).json()
    assert in_gcj["features"][0]["properties"]["crs"] == "gcj02"
    assert shapely.geometry.shape(in_gcj["features"][0]["geometry"]).equals_exact(
        shapely.geometry.shape(out_gcj["features"][0]["geometry"]), 1e-6
    )


def test_distance_contours(client: httpx.Client) -> None:
    lon, lat = PEOPLES_SQUARE
    body = client.get("/isochrone", params={"lon": lon, "lat": lat, "meters": [500, 1000]}).json()
    assert [(f["properties"]["contour"], f["properties"]["metric"]) for f in body["features"]] == [
        (1000.0, "distance"),
        (500.0, "distance"),
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lon": "nan", "lat": 31.23}, "lon"),
        ({"lon": "inf", "lat": 31.23}, "lon"),
        ({"lon": 121.47, "lat": "1e400"}, "lat"),
        ({"lon": 1e300, "lat": 31.23}, "lon"),
        ({"lon": 121.47, "lat": 31.23, "contours": 61}, "contours"),
        ({"lon": 121.47, "lat": 31.23, "contours": [1, 2, 3, 4, 5]}, "contours"),
        ({"lon": 121.47, "lat": 31.23, "speed_kmh": 0}, "speed_kmh"),
        ({"lon": 121.47, "lat": 31.23, "crs": "epsg:3857"}, "crs"),
        ({"lon": 121.47, "lat": 31.23, "denoise": 2}, "denoise"),
        ({"lat": 31.23}, "lon"),
    ],
)
def test_bad_isochrone_fields_are_422_naming_the_field(
    client: httpx.Client, params: dict, field: str
) -> None:
    response = client.get("/isochrone", params=params)
    assert response.status_code == 422
    body = response.json()
    assert _is_error_shape(body)
    assert body["detail"][0]["loc"][:2] == ["query", field]


def test_nan_in_a_json_body_is_422(client: httpx.Client) -> None:
    response = client.post(
        "/isochrone",
        content=b'{"lon": NaN, "lat": 31.23}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "lon"]


def test_point_off_the_network_is_404(client: httpx.Client) -> None:
    response = client.get("/isochrone", params={"lon": 121.0, "lat": 31.0})
    assert response.status_code == 404
    body = response.json()
    assert _is_error_shape(body)
    assert body["detail"][0]["type"] == "off_network"
    assert "500 m snapping limit" in body["detail"][0]["msg"]


def test_unknown_path_has_the_same_error_shape(client: httpx.Client) -> None:
    response = client.get("/no-such-thing")
    assert response.status_code == 404
    assert _is_error_shape(response.json())


def test_walktimes_match_the_library(client: httpx.Client, data_dir: Path) -> None:
    rng = np.random.default_rng(3)
    lon = 121.46 + 0.03 * rng.random(40)
    lat = 31.22 + 0.02 * rng.random(40)
    sources = [{"lon": x, "lat": y} for x, y in zip(lon[:15], lat[:15], strict=True)]
    targets = [
        {"lon": x, "lat": y, "id": f"t{k}"}
        for k, (x, y) in enumerate(zip(lon[15:], lat[15:], strict=True))
    ]
    response = client.post(
        "/walktimes", json={"sources": sources, "targets": targets, "minutes": 20}
    )
    assert response.status_code == 200
    body = response.json()
    expected = walk_time_matrix(
        load_network(data_dir / settings.default_osm),
        lon[:15],
        lat[:15],
        lon[15:],
        lat[15:],
        minutes=20,
        quiet=True,
    ).matrix.tocoo()
    assert len(body["value"]) == expected.nnz > 0
    got = dict(zip(zip(body["source"], body["target"], strict=True), body["value"], strict=True))
    for i, j, value in zip(expected.row, expected.col, expected.data, strict=True):
        assert got[(int(i), int(j))] == pytest.approx(value, abs=1e-3)
    assert body["unit"] == "min"


def test_too_many_walktime_points_is_413(client: httpx.Client) -> None:
    points = [{"lon": 121.47, "lat": 31.23}] * 2001
    response = client.post("/walktimes", json={"sources": points, "targets": points[:1]})
    assert response.status_code == 413
    assert response.json()["detail"][0]["loc"] == ["body", "sources"]


def test_oversized_body_is_413_by_length_and_by_stream(client: httpx.Client) -> None:
    big = b'{"sources": [' + b'{"lon": 121.47, "lat": 31.23},' * 40_000 + b"]}"
    declared = client.post("/walktimes", content=big, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413
    assert _is_error_shape(declared.json())

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    streamed = client.post(
        "/walktimes", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


def test_coverage_equals_walk_times_from_the_stations(
    client: httpx.Client, data_dir: Path, stations_file: Path
) -> None:
    """/coverage against the routing layer (itself checked against networkx): a community is
    covered exactly when some station is within 15 minutes, at the smallest of those times."""
    rows = client.get("/coverage").json()["communities"]
    communities = client.get("/communities").json()["features"]
    lon, lat = np.array([f["geometry"]["coordinates"] for f in communities]).T
    stations = read_points(stations_file, crs="gcj02")
    network = load_network(data_dir / settings.default_osm)
    matrix = walk_time_matrix(
        network, stations.lon, stations.lat, lon, lat, minutes=15, quiet=True
    ).matrix.tocsc()
    by_id = {row["community_id"]: row for row in rows}
    # /communities rounds coordinates to 1e-6 degrees (0.1 m): allow 0.005 min (0.4 m).
    for k, feature in enumerate(communities):
        column = matrix.getcol(k)
        row = by_id[feature["properties"]["id"]]
        if column.nnz and column.data.min() > 15 - 0.005:
            continue
        assert row["covered"] == (column.nnz > 0)
        if column.nnz:
            assert row["walk_min"] == pytest.approx(column.data.min(), abs=0.005)


def test_communities_and_coverage_agree(client: httpx.Client) -> None:
    communities = client.get("/communities").json()
    coverage = client.get("/coverage").json()
    summary = coverage["summary"]
    assert summary["n_communities"] == len(communities["features"]) == len(coverage["communities"])
    covered = {f["properties"]["id"] for f in communities["features"] if f["properties"]["covered"]}
    assert len(covered) == summary["covered"] > 0
    assert {row["community_id"] for row in coverage["communities"] if row["covered"]} == covered
    assert all(row["walk_min"] <= 15 for row in coverage["communities"] if row["covered"])
    assert summary["n_stations"] == 20
    assert summary["selection"] == client.get("/health").json()["communities_selection"]
    assert (
        client.get("/coverage", params={"minutes": 5}).json()["summary"]["covered"]
        < summary["covered"]
    )
    in_gcj = client.get("/communities", params={"crs": "gcj02", "minutes": 15}).json()
    assert [f["properties"] for f in in_gcj["features"]] == [
        f["properties"] for f in communities["features"]
    ]
    assert client.get("/coverage", params={"minutes": 10, "unknown": 1}).status_code == 422


def test_stations_are_drawn_in_the_asked_crs(client: httpx.Client, stations_file: Path) -> None:
    body = client.get("/stations", params={"crs": "gcj02"}).json()
    table = pd.read_csv(stations_file)
    coordinates = {f["properties"]["id"]: f["geometry"]["coordinates"] for f in body["features"]}
    for row in table.itertuples():
        assert coordinates[row.id] == pytest.approx([row.lng, row.lat], abs=2e-6)


def test_plan_over_the_loaded_data_covers_more(client: httpx.Client) -> None:
    response = client.post("/plan", json={})
    assert response.status_code == 200
    body = response.json()
    kinds = [f["properties"]["kind"] for f in body["stations"]["features"]]
    assert kinds.count("existing") == 20
    assert body["summary"]["n_new"] == kinds.count("new") > 10
    assert body["summary"]["covered"] == len(body["covered_ids"])
    assert body["summary"]["covered_share"] > 0.9
    selection = client.get("/health").json()["communities_selection"]
    assert body["summary"]["selection"] == selection
    assert body["summary"]["communities_read"] == selection["in_area"]
    budgeted = client.post("/plan", json={"budget": 3, "existing": []}).json()
    assert budgeted["summary"]["n_new"] == 3 and budgeted["summary"]["objective"] == "max_cover"


def test_plan_over_posted_points(client: httpx.Client) -> None:
    points = read_points(settings.data_folder / settings.default_communities, crs="gcj02").subset(
        np.arange(0, 8995, 9)
    )
    lon, lat = points.lonlat_in("gcj02")
    posted = [
        {"id": str(i), "lon": float(x), "lat": float(y)}
        for i, x, y in zip(points.ids, lon, lat, strict=True)
    ]
    request = {"communities": posted, "crs": "gcj02", "existing": [], "effort": "fast"}
    body = client.post("/plan", json=request).json()
    assert body["summary"]["n_communities"] == len(posted)
    assert "selection" not in body["summary"]  # posted points are planned as given, none left out
    assert "upper limit on the true gap" in body["summary"]["gap_note"]
    assert body["summary"]["uncoverable"] > 0  # most of Shanghai is off the central network
    # The new stations stand at posted communities (the default candidates) and come back in gcj02.
    posted_at = {point["id"]: [point["lon"], point["lat"]] for point in posted}
    new = [f for f in body["stations"]["features"] if f["properties"]["kind"] == "new"]
    assert new
    for feature in new:
        assert feature["geometry"]["coordinates"] == pytest.approx(
            posted_at[feature["properties"]["station_id"]], abs=2e-6
        )


def test_plan_limits(client: httpx.Client) -> None:
    many = [{"lon": 121.47, "lat": 31.23}] * 10_001
    assert client.post("/plan", json={"communities": many}).status_code == 413
    assert client.post("/plan", json={"time_limit_s": 3600}).status_code == 422
    for effort in (1.5, -1, "hard"):
        assert client.post("/plan", json={"effort": effort}).status_code == 422
    duplicate = [{"id": "a", "lon": 121.47, "lat": 31.23}] * 2
    response = client.post("/plan", json={"communities": duplicate})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "communities"]


def test_network_is_geojson_lines_of_the_streets(client: httpx.Client, data_dir: Path) -> None:
    first = client.get("/network")
    second = client.get("/network")
    assert first.content == second.content  # the same answer each time
    feature = first.json()["features"][0]
    network = load_network(data_dir / settings.default_osm)
    lines = [
        np.column_stack(network.projection.forward(*np.asarray(line).T))
        for line in feature["geometry"]["coordinates"]
    ]
    drawn_km = (
        float(
            shapely.length(
                shapely.linestrings(
                    np.concatenate(lines),
                    indices=np.repeat(np.arange(len(lines)), [len(x) for x in lines]),
                )
            ).sum()
        )
        / 1000
    )
    assert drawn_km == pytest.approx(
        network.total_length_km, rel=0.02
    )  # simplified to 3 m, nothing lost
    assert feature["geometry"]["type"] == "MultiLineString"
    xy = np.concatenate([np.asarray(line) for line in feature["geometry"]["coordinates"]])
    assert 121.40 < xy[:, 0].min() < xy[:, 0].max() < 121.56
    assert 31.17 < xy[:, 1].min() < xy[:, 1].max() < 31.29


def test_cors_allows_only_the_configured_origin(client: httpx.Client) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = client.options("/isochrone", headers={"Origin": ORIGIN, **preflight})
    assert allowed.headers.get("access-control-allow-origin") == ORIGIN
    other = client.get("/health", headers={"Origin": "http://elsewhere.example"})
    assert "access-control-allow-origin" not in other.headers


def test_concurrent_isochrones_equal_sequential(client: httpx.Client, base_url: str) -> None:
    points = [(121.45 + 0.01 * k, 31.22 + 0.004 * k) for k in range(8)]
    sequential = [client.get("/isochrone", params={"lon": x, "lat": y}).content for x, y in points]

    def fetch(point: tuple[float, float]) -> bytes:
        with httpx.Client(base_url=base_url, timeout=60) as own:
            return own.get("/isochrone", params={"lon": point[0], "lat": point[1]}).content

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(fetch, points)) == sequential


def test_page_and_leaflet_are_served_offline(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "/vendor/leaflet/leaflet.js" in page.text and "http" not in page.text.split("<body>")[1]
    assert client.get("/vendor/leaflet/leaflet.js").status_code == 200
    assert client.get("/vendor/leaflet/leaflet.css").status_code == 200
    assert client.get("/static/app.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/isochrone",
        "/walktimes",
        "/plan",
        "/coverage",
        "/communities",
        "/network",
        "/health",
    } <= set(paths)


def test_serve_command_reports_a_bad_file_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from quarterhour.api.cli.main import main

    status = main(
        [
            "serve",
            "--osm",
            str(settings.default_osm_path()),
            "--communities",
            str(tmp_path / "none.csv"),
        ]
    )
    assert status == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("quarterhour: error: none.csv: communities file not found")


@pytest.mark.parametrize(
    ("option", "value"), [("--max-header-kb", "0"), ("--max-unfinished-mb", "lots")]
)
def test_serve_command_refuses_a_bad_connection_limit(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from quarterhour.api.cli.main import main

    with pytest.raises(SystemExit) as stopped:
        main(["serve", option, value])
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert option in error and f"{value!r} is not a size" in error
