"""The planners' web page in real headless Chromium (Debian's /usr/bin/chromium), offline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from quarterhour import settings
from quarterhour.api.http.app import create_app
from quarterhour.api.http.serving import serve_in_thread

if TYPE_CHECKING:
    from collections.abc import Iterator

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PEOPLES_SQUARE = (121.4737, 31.2304)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"
)


@pytest.fixture(scope="module")
def base_url(data_dir: Path) -> Iterator[str]:
    app = create_app(
        data_dir / settings.default_osm,
        communities=data_dir / settings.default_communities,
        communities_crs="gcj02",
    )
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def page(base_url: str):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.console_errors = []  # type: ignore[attr-defined]
        page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
        page.on("pageerror", lambda e: page.console_errors.append(str(e)))
        outside: list[str] = []
        page.on(
            "request",
            lambda r: None if r.url.startswith((base_url, "data:")) else outside.append(r.url),
        )
        page.outside_requests = outside  # type: ignore[attr-defined]
        page.goto(base_url + "/")
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


def test_plan_button_shows_proposed_stations(page) -> None:
    page.click("#plan-button")
    page.wait_for_selector("body[data-planned]", timeout=60_000)
    n_planned = int(page.evaluate("document.body.dataset.planned"))
    assert n_planned > 10
    assert page.locator("path.planned-station").count() == n_planned
    assert "新站点 new stations" in page.inner_text("#summary")
    assert page.console_errors == []
    assert page.outside_requests == []
