"""The demo map (``/map``) in real headless Chromium (Debian's /usr/bin/chromium), offline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import numpy as np
import pandas as pd
import pytest
from browsers import CHROMIUM, CHROMIUM_ARGS, needs_chromium, watch

from quarterhour import settings
from quarterhour.api.http.app import create_app
from quarterhour.api.http.serving import serve_in_thread

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PEOPLES_SQUARE = (121.4737, 31.2304)

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def stations_file(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Twenty real compounds inside the network as 'existing stations' (GCJ-02)."""
    table = pd.read_csv(data_dir / settings.default_communities)
    inside = table[table["lng"].between(121.44, 121.52) & table["lat"].between(31.20, 31.26)]
    stations = inside.iloc[::40].head(20)[["id", "name", "lng", "lat"]]
    path = tmp_path_factory.mktemp("browser-stations") / "stations.csv"
    stations.assign(id="S-" + stations["id"]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def base_url(data_dir: Path, stations_file: Path) -> Iterator[str]:
    app = create_app(
        data_dir / settings.default_osm,
        communities=data_dir / settings.default_communities,
        communities_crs="gcj02",
        stations=stations_file,
        stations_crs="gcj02",
    )
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def page(base_url: str):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = watch(context.new_page(), base_url)
        page.goto(base_url + "/map")
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        yield page
        browser.close()


def test_page_loads_offline_with_streets_communities_and_attribution(page) -> None:
    assert page.outside_requests == []
    assert "OpenStreetMap contributors (ODbL)" in page.inner_text(".leaflet-control-attribution")
    assert "小区 communities" in page.inner_text("#status")
    assert page.evaluate("document.querySelectorAll('.leaflet-overlay-pane canvas').length") >= 1
    assert page.console_errors == []


def test_click_draws_isochrone_polygons(page) -> None:
    lon, lat = PEOPLES_SQUARE
    point = page.evaluate(
        "([lat, lon]) => { const m = window.quarterhourMap; m.setView([lat, lon], 15, {animate: false});"
        " const p = m.latLngToContainerPoint([lat, lon]); const r = m.getContainer().getBoundingClientRect();"
        " return [r.left + p.x, r.top + p.y]; }",
        [lat, lon],
    )
    page.mouse.click(point[0], point[1])
    page.wait_for_selector("body[data-isochrones='3']", timeout=30_000)
    for contour in (5, 10, 15):
        assert page.locator(f"path.isochrone-{contour}").count() >= 1
    assert page.locator("path.isochrone-15").first.get_attribute("d").count("L") > 20
    assert "5/10/15" in page.inner_text("#status")
    assert page.console_errors == []


def test_click_on_a_community_draws_its_route_to_its_station(page, base_url: str) -> None:
    communities = httpx.get(f"{base_url}/communities", timeout=60).json()["features"]
    stations = httpx.get(f"{base_url}/stations", timeout=60).json()["features"]
    home = np.array([f["geometry"]["coordinates"] for f in communities])
    sites = np.array([f["geometry"]["coordinates"] for f in stations])
    # A community with no station or other community drawn on top of it (> about 60 m).
    to_site = np.hypot(*(home[:, None, :] - sites[None, :, :]).transpose(2, 0, 1)).min(axis=1)
    to_home = np.hypot(*(home[:, None, :] - home[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(to_home, np.inf)
    alone = np.flatnonzero((to_site > 0.0006) & (to_home.min(axis=1) > 0.0006))
    lon, lat = home[alone[len(alone) // 2]]
    page.click("#clear-button")
    point = page.evaluate(
        "([lat, lon]) => { const m = window.quarterhourMap; m.setView([lat, lon], 17, {animate: false});"
        " const p = m.latLngToContainerPoint([lat, lon]); const r = m.getContainer().getBoundingClientRect();"
        " return [r.left + p.x, r.top + p.y]; }",
        [lat, lon],
    )
    isochrones_before = page.evaluate("document.body.dataset.isochrones || ''")
    page.mouse.click(point[0], point[1])
    page.wait_for_selector("body[data-route]", timeout=30_000)
    nearest = httpx.get(
        f"{base_url}/nearest", params={"lon": lon, "lat": lat, "k": 1}, timeout=60
    ).json()["features"][0]["properties"]
    assert float(page.evaluate("document.body.dataset.route")) == pytest.approx(
        nearest["minutes"], abs=0.01
    )
    path = page.locator("path.route")
    assert path.count() == 1
    assert path.first.get_attribute("d").count("L") >= 2
    assert "分钟 min" in page.inner_text("#status") and nearest["name"] in page.inner_text(
        "#status"
    )
    # The click went to the community, not to the map: no isochrone was drawn.
    assert page.evaluate("document.body.dataset.isochrones || ''") == isochrones_before
    assert page.locator("path.isochrone-15").count() == 0
    assert page.console_errors == []
    assert page.outside_requests == []


def test_plan_button_shows_proposed_stations(page) -> None:
    page.click("#plan-button")
    page.wait_for_selector("body[data-planned]", timeout=60_000)
    n_planned = int(page.evaluate("document.body.dataset.planned"))
    assert n_planned > 10
    assert page.locator("path.planned-station").count() == n_planned
    assert "新站点 new stations" in page.inner_text("#summary")
    assert page.console_errors == []
    assert page.outside_requests == []
