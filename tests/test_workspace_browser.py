"""The planners' workspace page in real headless Chromium, against a real ``quarterhour serve``.

A planner's session, step by step (the tests share one browser page and run in order): upload a
GBK CSV and an Excel list in GCJ-02 with Chinese headers, choosing the coordinate system; see
every community's status on the map and in the table; add and remove a station by hand; meet a
stale version; plan; compare; download plan.xlsx and read it back with openpyxl. Screenshots of
each step at 1366x768 go to ``$QUARTERHOUR_SCREENSHOTS`` when it is set.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
import numpy as np
import openpyxl
import pandas as pd
import pytest
from browsers import CHROMIUM, CHROMIUM_ARGS, needs_chromium, watch
from servers import start_server, stop_server

from quarterhour import settings
from quarterhour.api.http.serving import free_port
from quarterhour.geo.crs import gcj02_to_wgs84, wgs84_to_gcj02

VIEWPORT = {"width": 1366, "height": 768}
DISTRICTS = {
    310101: "黄浦区",
    310104: "徐汇区",
    310105: "长宁区",
    310106: "静安区",
    310107: "普陀区",
    310109: "虹口区",
    310110: "杨浦区",
    310115: "浦东新区",
}
HEADERS = ["编号", "小区名称", "地址", "经度", "纬度", "常住人口", "区"]
OUTLINE_GCJ02 = (121.465, 31.222, 121.495, 31.242)
"""West, south, east, north of a district outline in GCJ-02, cutting through the planner's list."""
FAR_AWAY = [("FAR-1", "朱家角远郊", 121.0550, 31.1100), ("FAR-2", "金山远郊", 121.3410, 30.7400)]
"""Two communities tens of kilometres off the bundled central extract: off_network."""

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def planner_table(data_dir: Path) -> pd.DataFrame:
    """A district planner's list: 90 real compounds (GCJ-02) with Chinese headers, two far away."""
    table = pd.read_csv(data_dir / settings.default_communities, dtype={"id": str})
    inside = table[table["lng"].between(121.45, 121.51) & table["lat"].between(31.21, 31.25)]
    picked = inside.iloc[::5].head(90).reset_index(drop=True)
    rows = pd.DataFrame(
        {
            "编号": [f"XQ{k + 1:03d}" for k in range(len(picked))],
            "小区名称": picked["name"],
            "地址": picked["address"].fillna(""),
            "经度": picked["lng"],
            "纬度": picked["lat"],
            "常住人口": [300 + (k * 137) % 2900 for k in range(len(picked))],
            "区": picked["adcode"].map(DISTRICTS).fillna("其他"),
        }
    )
    far = pd.DataFrame(
        [
            {
                "编号": i,
                "小区名称": n,
                "地址": "",
                "经度": x,
                "纬度": y,
                "常住人口": 800,
                "区": "青浦区",
            }
            for i, n, x, y in FAR_AWAY
        ]
    )
    return pd.concat([rows, far], ignore_index=True)[HEADERS]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, planner_table: pd.DataFrame) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("planner-files")
    paths = {
        "gbk": folder / "青浦社区名单_gbk.csv",
        "xlsx": folder / "社区名单.xlsx",
        "bad": folder / "有错的名单.csv",
        "stations": folder / "现有站点.csv",
        "staffed": folder / "现有站点_援助员.csv",
        "unnamed": folder / "户籍名单.csv",
        "outline": folder / "街道边界_gcj02.geojson",
    }
    planner_table.to_csv(paths["gbk"], index=False, encoding="gbk")
    planner_table.to_excel(paths["xlsx"], index=False, sheet_name="社区")
    bad = planner_table.head(10).copy()
    bad["纬度"] = bad["纬度"].astype(object)
    bad.loc[3, "纬度"] = "三十一度"  # spreadsheet row 5 (the header is row 1)
    bad.to_csv(paths["bad"], index=False, encoding="utf-8-sig")
    # A residents' column no header alias names: the planner picks it in the preview.
    planner_table.head(12).rename(columns={"常住人口": "户籍人口"}).to_csv(
        paths["unnamed"], index=False, encoding="utf-8"
    )
    # A district outline in GCJ-02 (as DataV gives them): a rectangle cutting through the list.
    west, south, east, north = OUTLINE_GCJ02
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    outline = {"type": "Polygon", "coordinates": [ring]}
    paths["outline"].write_text(
        json.dumps({"type": "Feature", "properties": {}, "geometry": outline})
    )
    stations = planner_table.iloc[[5, 40, 75]]
    pd.DataFrame(
        {
            "站点编号": ["ZD1", "ZD2", "ZD3"],
            "站点名称": ["外滩就业服务站", "人民广场就业服务站", "淮海路就业服务站"],
            "经度": stations["经度"].to_numpy(),
            "纬度": stations["纬度"].to_numpy(),
        }
    ).to_csv(paths["stations"], index=False, encoding="utf-8")
    staffed = pd.read_csv(paths["stations"], dtype=str).assign(就业援助员=["1", "2", ""])
    staffed.to_csv(paths["staffed"], index=False, encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, isolated_cache: Path):
    data = tmp_path_factory.mktemp("workspace-data")
    options = ["--osm", str(data_dir / settings.default_osm), "--data-dir", str(data)]
    running = start_server(isolated_cache, options)
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture(scope="module")
def shots() -> Path | None:
    folder = os.environ.get("QUARTERHOUR_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder) if folder else None


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page(browser, server, shots):
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, locale="zh-CN")
    page = watch(context.new_page(), server.url)
    page.shot = lambda name: (
        shots
        and page.screenshot(  # type: ignore[attr-defined]
            path=str(shots / f"{name}.png"),
            animations="disabled",  # a popup as it ends fading in
        )
    )
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    yield page
    context.close()


def script_errors(page) -> list[str]:
    """Errors of the page's script; a refused request the test asked for is not one."""
    expected = ("status of 409", "status of 422")
    return [
        text
        for text in page.console_errors
        if not (text.startswith("Failed to load resource") and any(e in text for e in expected))
    ]


def api(server, path: str, **params) -> dict:
    response = httpx.get(server.url + path, params=params, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def current_scenario(server, page) -> dict:
    pid = page.evaluate("window.quarterhourWorkspace.state.project.id")
    sid = page.evaluate("window.quarterhourWorkspace.state.scenario.id")
    return api(server, f"/api/projects/{pid}/scenarios/{sid}")


def screen_point(page, lon: float, lat: float, zoom: int = 17) -> list[float]:
    """Centre the map on a WGS84 point and return where it is on the screen."""
    return page.evaluate(
        "([lon, lat, zoom]) => { const w = window.quarterhourWorkspace; const ll = w.toMap(lon, lat);"
        " w.map.setView(ll, zoom, {animate: false}); const p = w.map.latLngToContainerPoint(ll);"
        " const r = w.map.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }",
        [lon, lat, zoom],
    )


def upload(page, path: Path, *, crs: str | None, existing: Path | None = None) -> None:
    page.click("#new-project")
    page.fill("#upload-name", path.stem)
    page.set_input_files("#upload-communities", str(path))
    if existing is not None:
        page.click("#upload-form details summary")
        page.set_input_files("#upload-existing", str(existing))
    if crs is not None:
        page.select_option("#upload-crs", crs)


def submit_new_project(page) -> None:
    """Press 上传 Upload and wait until the new project is the one shown."""
    first = page.evaluate("document.body.dataset.project")
    page.click("#upload-submit")
    page.wait_for_function(
        f"document.body.dataset.project && document.body.dataset.project !== '{first}'",
        timeout=60_000,
    )


def chip_counts(page) -> dict[str, int]:
    return page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#status-counts .chip[data-count]')]"
        ".map(c => [c.dataset.status, Number(c.dataset.count)]))"
    )


def test_gcj02_shift_in_the_page_equals_geo_crs(page) -> None:
    lon, lat = np.meshgrid(np.linspace(73.0, 135.5, 23), np.linspace(3.0, 54.0, 19))
    lon, lat = lon.ravel(), lat.ravel()
    shifted = np.array(
        page.evaluate(
            "pts => pts.map(p => window.quarterhourCrs.wgs84ToGcj02(p[0], p[1]))",
            np.column_stack([lon, lat]).tolist(),
        )
    )
    expected = np.column_stack(wgs84_to_gcj02(lon, lat))
    assert np.abs(shifted - expected).max() < 1e-9
    assert (np.abs(expected - np.column_stack([lon, lat])).max(axis=1) > 1e-4).sum() > 100
    back = np.array(
        page.evaluate(
            "pts => pts.map(p => window.quarterhourCrs.gcj02ToWgs84(p[0], p[1]))",
            expected.tolist(),
        )
    )
    assert np.abs(back - np.column_stack(gcj02_to_wgs84(*expected.T))).max() < 1e-9


def test_gbk_csv_upload_waits_for_the_crs_and_shows_every_status(
    page, server, files, planner_table
) -> None:
    page.shot("01-empty")
    upload(page, files["gbk"], crs=None)
    page.wait_for_selector("#preview-table")
    recognised = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#upload-preview select[data-field]')]"
        ".map(s => [s.dataset.field, s.value]))"
    )
    assert recognised["lon"] == "经度" and recognised["lat"] == "纬度"
    assert recognised["weight"] == "常住人口" and recognised["name"] == "小区名称"
    assert page.is_disabled("#upload-submit")  # no coordinate system chosen: nothing guessed
    page.select_option("#upload-crs", "gcj02")
    assert page.is_enabled("#upload-submit")
    page.shot("02-upload-preview")
    page.click("#upload-submit")
    page.wait_for_selector("body[data-project]", timeout=60_000)
    page.wait_for_function("Number(document.body.dataset.rows) > 0")
    scenario = current_scenario(server, page)
    communities = scenario["communities"]
    assert [c["community_id"] for c in communities] == planner_table["编号"].tolist()
    counts = chip_counts(page)
    assert counts == {k: v for k, v in scenario["summary"]["status_counts"].items() if v}
    assert counts["off_network"] == len(FAR_AWAY)
    assert sum(counts.values()) == len(planner_table)
    assert page.locator("#page-info").inner_text().endswith(f"{len(planner_table)} 行 rows")
    assert script_errors(page) == [] and page.outside_requests == []
    page.shot("03-gbk-statuses")


def test_refused_upload_names_row_and_field_in_both_languages(page, server, files) -> None:
    before = api(server, "/api/projects")
    upload(page, files["bad"], crs="gcj02")
    page.click("#upload-submit")
    page.wait_for_selector("#upload-errors .error")
    text = page.inner_text("#upload-errors")
    page.shot("04-refused-upload")
    assert "第 5 行" in text and "纬度" in text and "不是数字" in text
    assert "row 5" in text and "not a number" in text
    assert api(server, "/api/projects") == before
    page.click("#upload-cancel")


def test_a_column_the_reader_missed_is_chosen_in_the_preview(page, server, files) -> None:
    upload(page, files["unnamed"], crs="gcj02")
    page.wait_for_selector("#preview-table")
    assert page.input_value("select[data-field='weight']") == ""
    assert "区 district ← 区" in page.inner_text("#upload-preview")
    page.select_option("select[data-field='weight']", "户籍人口")
    assert page.inner_text("#preview-table td[data-field='weight']") == "300"
    submit_new_project(page)
    given = pd.read_csv(files["unnamed"])
    weights = [c["weight"] for c in current_scenario(server, page)["communities"]]
    assert weights == given["户籍人口"].astype(float).tolist()


def test_the_header_row_is_given_in_the_page(page, server, files, planner_table) -> None:
    path = files["gbk"].with_name("表头在第三行.xlsx")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["黄浦区社区名单（2024年）"])
    sheet.append([])
    sheet.append(["编号", "小区名称", "经度", "纬度", "常住人口"])
    for row in planner_table.head(20).itertuples(index=False):
        sheet.append([row.编号, row.小区名称, float(row.经度), float(row.纬度), int(row.常住人口)])
    sheet.append(["合计", None, None, None, int(planner_table.head(20)["常住人口"].sum())])
    sheet.append(["注：人口为2024年底常住人口"])
    book.save(path)
    page.click("#new-project")
    page.fill("#upload-header-row", "3")
    page.set_input_files("#upload-communities", str(path))
    page.select_option("#upload-crs", "gcj02")
    page.wait_for_selector("#preview-table")
    assert "表头在第 3 行 header on row 3" in page.inner_text("#upload-preview")
    told = page.inner_text("#preview-reading")  # the rows not read, by the sheet's numbers
    assert "第 24 行 row 24：合计行 total，未读入 not read（合计）" in told
    assert "第 25 行 row 25：注释行 note" in told
    page.fill("#upload-header-row", "1")  # wrong: the title row
    page.press("#upload-header-row", "Tab")
    page.wait_for_selector("#upload-errors:not(:empty)")
    assert "need a lon and lat column" in page.inner_text("#upload-errors")
    page.fill("#upload-header-row", "3")  # typed right, then 上传 Upload clicked at once
    submit_new_project(page)
    pid = page.evaluate("window.quarterhourWorkspace.state.project.id")
    sid = current_scenario(server, page)["id"]
    summary = api(server, f"/api/projects/{pid}/scenarios/{sid}/files/summary.json")
    reading = summary["inputs"]["reading"]["communities"]
    assert reading["header_rows"] == [3] and reading["header_reason"] == "given"
    assert len(current_scenario(server, page)["communities"]) == 20


def test_an_outlines_coordinate_system_is_chosen_too(page, server, files) -> None:
    upload(page, files["unnamed"], crs="gcj02")
    page.click("#upload-form details summary")
    page.set_input_files("#upload-boundary", str(files["outline"]))
    assert page.is_disabled("#upload-submit")  # an outline's system is not guessed either
    page.select_option("#upload-boundary-crs", "gcj02")
    assert page.is_enabled("#upload-submit")
    submit_new_project(page)
    given = pd.read_csv(files["unnamed"])
    west, south, east, north = OUTLINE_GCJ02
    inside = given["经度"].between(west, east) & given["纬度"].between(south, north)
    status = [c["status"] for c in current_scenario(server, page)["communities"]]
    assert [s == "outside_boundary" for s in status] == (~inside).tolist()
    assert 0 < inside.sum() < len(given)
    assert chip_counts(page)["outside_boundary"] == (~inside).sum()
    drawn = page.evaluate("window.quarterhourWorkspace.drawnOutline()")
    shift = np.subtract(drawn, OUTLINE_GCJ02)  # drawn in WGS84 on a map without tiles
    assert 0.001 < np.abs(shift).max() < 0.01


def test_a_candidate_site_is_excluded_on_the_map(page, server, files, planner_table) -> None:
    sites = planner_table.iloc[[10, 20, 30]]
    path = files["gbk"].with_name("候选站址.csv")
    pd.DataFrame(
        {
            "编号": ["HX1", "HX2", "HX3"],
            "名称": ["候选一", "候选二", "候选三"],
            "经度": sites["经度"].astype(float).to_numpy() + 0.0004,  # beside a community
            "纬度": sites["纬度"].to_numpy(),
        }
    ).to_csv(path, index=False, encoding="gbk")
    upload(page, files["gbk"], crs="gcj02")
    page.click("#upload-form details summary")
    page.set_input_files("#upload-candidates", str(path))
    submit_new_project(page)
    assert page.evaluate("window.quarterhourWorkspace.drawnSites()") == 3
    pid = page.evaluate("window.quarterhourWorkspace.state.project.id")
    listed = api(server, f"/api/projects/{pid}")["candidate_sites"]
    second = next(site for site in listed if site["id"] == "HX2")
    edits = int(page.evaluate("Number(document.body.dataset.edits || 0)"))
    x, y = screen_point(page, second["lon"], second["lat"], zoom=18)
    page.mouse.click(x, y)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "候选二" in popup.text_content() and "candidate site" in popup.text_content()
    page.shot("05b-candidate-site")
    popup.locator("button[data-action='exclude']").click()
    page.wait_for_function(f"Number(document.body.dataset.edits || 0) === {edits + 1}")
    assert current_scenario(server, page)["excluded"] == ["HX2"]
    assert script_errors(page) == []


def test_xlsx_upload_with_existing_stations_links_table_and_map(
    page, server, files, planner_table
) -> None:
    upload(page, files["xlsx"], crs="gcj02", existing=files["stations"])
    submit_new_project(page)
    page.wait_for_function("Number(document.body.dataset.rows) > 0")
    scenario = current_scenario(server, page)
    assert len([s for s in scenario["stations"] if s["kind"] == "existing"]) == 3
    counts = chip_counts(page)
    assert counts.get("covered_existing", 0) > 0
    # A click on a covered row: the community is selected and its route to its station drawn.
    page.click("#status-counts .chip[data-status='covered_existing']")
    row = page.locator("#community-table tbody tr").first
    cid = row.get_attribute("data-id")
    row.click()
    page.wait_for_selector("path.route")
    walk = next(c["walk_min"] for c in scenario["communities"] if c["community_id"] == cid)
    assert float(page.evaluate("document.body.dataset.route")) == pytest.approx(walk, abs=0.05)
    page.shot("05-xlsx-row-selected")
    # A click on the map selects the row of another community.
    other = next(
        c
        for c in scenario["communities"]
        if c["community_id"] != cid and c["status"] == "uncoverable"
    )
    x, y = screen_point(page, other["lon"], other["lat"])
    page.mouse.click(x, y)
    page.wait_for_selector(f"#community-table tr.selected[data-id='{other['community_id']}']")
    assert page.evaluate("document.body.dataset.selected") == other["community_id"]


def test_counts_by_district_equal_the_planners_column(page, server, planner_table) -> None:
    page.click("#tabs button[data-tab='areas']")
    cells = page.evaluate(
        "[...document.querySelectorAll('#area-table tbody tr')]"
        ".map(r => [...r.cells].map(c => c.textContent))"
    )
    page.shot("06-areas")
    *areas, total = cells
    assert {row[0]: int(row[1]) for row in areas} == planner_table.groupby("区").size().to_dict()
    residents = planner_table.groupby("区")["常住人口"].sum().to_dict()
    assert {row[0]: int(row[3].replace(",", "")) for row in areas} == residents
    covered = current_scenario(server, page)["summary"]
    assert int(total[2]) == covered["covered"] == int(page.inner_text("#head-covered"))
    assert int(total[4].replace(",", "")) == round(covered["covered_weight"])
    page.click("#tabs button[data-tab='communities']")


def test_add_a_station_by_clicking_and_remove_it(page, server) -> None:
    before = current_scenario(server, page)
    target = next(c for c in before["communities"] if c["status"] == "uncoverable")
    edits = int(page.evaluate("Number(document.body.dataset.edits || 0)"))
    page.click("#add-mode")
    # A few metres beside the community, in open map space.
    x, y = screen_point(page, target["lon"] + 0.0002, target["lat"])
    page.mouse.click(x, y)
    page.wait_for_function(
        f"Number(document.body.dataset.edits || 0) === {edits + 1}", timeout=30_000
    )
    page.click("#add-mode")
    after = current_scenario(server, page)
    assert after["version"] == before["version"] + 1
    added = [s for s in after["stations"] if s["id"] not in {t["id"] for t in before["stations"]}]
    assert len(added) == 1 and added[0]["kind"] == "new"
    status = {c["community_id"]: c["status"] for c in after["communities"]}
    assert status[target["community_id"]] == "covered_new"
    assert chip_counts(page) == {k: v for k, v in after["summary"]["status_counts"].items() if v}
    page.shot("07-station-added")
    # Dragged 60 pixels east, it stands where it was dropped.
    box = page.locator(f".leaflet-marker-icon[title='{added[0]['name']}']").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y, steps=4)
    page.mouse.move(x + 60, y, steps=4)
    page.mouse.up()
    page.wait_for_function(
        f"Number(document.body.dataset.edits || 0) === {edits + 2}", timeout=30_000
    )
    dropped = page.evaluate(
        "([x, y]) => { const w = window.quarterhourWorkspace;"
        " const r = w.map.getContainer().getBoundingClientRect();"
        " return w.fromMap(w.map.containerPointToLatLng([x - r.left, y - r.top])); }",
        [x + 60, y],
    )
    moved = next(s for s in current_scenario(server, page)["stations"] if s["id"] == added[0]["id"])
    assert moved["lon"] == pytest.approx(dropped[0], abs=3e-5)  # within a pixel (1.2 m)
    assert moved["lat"] == pytest.approx(dropped[1], abs=3e-5)
    assert moved["lon"] > added[0]["lon"] + 1e-4
    page.click("#tabs button[data-tab='stations']")
    page.click(f"#station-table button[data-action='remove'][data-station='{added[0]['id']}']")
    page.wait_for_function(
        f"Number(document.body.dataset.edits || 0) === {edits + 3}", timeout=30_000
    )
    final = current_scenario(server, page)
    assert {c["community_id"]: c["status"] for c in final["communities"]} == {
        c["community_id"]: c["status"] for c in before["communities"]
    }
    assert page.evaluate("Number(document.body.dataset.version)") == final["version"]
    # The community left out as a site for plans, from its popup; then back in.
    page.click("#tabs button[data-tab='communities']")
    page.fill("#filter-text", target["community_id"])
    page.click(f"#community-table tr[data-id='{target['community_id']}']")
    page.click(".leaflet-popup button[data-action='exclude']")
    page.wait_for_function(
        f"Number(document.body.dataset.edits || 0) === {edits + 4}", timeout=30_000
    )
    assert current_scenario(server, page)["excluded"] == [target["community_id"]]
    page.click("#tabs button[data-tab='stations']")
    page.click(
        f"#candidate-table button[data-action='include'][data-site='{target['community_id']}']"
    )
    page.wait_for_function(
        f"Number(document.body.dataset.edits || 0) === {edits + 5}", timeout=30_000
    )
    assert current_scenario(server, page)["excluded"] == []
    page.click("#tabs button[data-tab='communities']")
    page.fill("#filter-text", "")
    page.dispatch_event("#filter-text", "input")
    assert script_errors(page) == []


def test_a_stale_edit_gets_a_message_and_the_page_reloads(page, server) -> None:
    scenario = current_scenario(server, page)
    pid = page.evaluate("window.quarterhourWorkspace.state.project.id")
    station = scenario["stations"][0]
    # Someone else locks a station meanwhile.
    answer = httpx.post(
        f"{server.url}/api/projects/{pid}/scenarios/{scenario['id']}/edits",
        json={"op": "lock", "station_id": station["id"]},
        headers={"If-Match": str(scenario["version"])},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    page.click("#tabs button[data-tab='stations']")
    # Two edits on the stale version, made before the first is answered: the first gets 409
    # and the page reloads; the second, made on what was reloaded away, is not sent.
    other = scenario["stations"][1]
    page.evaluate(
        "ids => ids.forEach(id => document.querySelector("
        "`#station-table button[data-action='lock'][data-station='${id}']`).click())",
        [station["id"], other["id"]],
    )
    page.wait_for_selector("body[data-conflict='1']", timeout=30_000)
    page.wait_for_selector("body[data-dropped='1']", timeout=30_000)
    page.shot("08-conflict")
    message = page.inner_text("#message")
    assert "已被他人修改" in message and "changed by someone else" in message
    assert f"未保存：锁定 lock {other['name']}" in message and "Not saved" in message
    after = current_scenario(server, page)
    assert after["version"] == scenario["version"] + 1
    assert not next(s for s in after["stations"] if s["id"] == other["id"])["locked"]
    assert page.evaluate("Number(document.body.dataset.version)") == after["version"]
    assert (
        page.locator(
            f"#station-table button[data-action='unlock'][data-station='{station['id']}']"
        ).count()
        == 1
    )


def test_plan_and_compare(page, server) -> None:
    page.click("#tabs button[data-tab='plan']")
    page.check("input[name='objective'][value='budget']")
    page.fill("#plan-budget", "3")
    page.fill("#plan-name", "预算3站")
    page.click("#plan-run")
    page.wait_for_selector("body[data-planned]", timeout=60_000)
    page.shot("09-planned")
    pid = page.evaluate("window.quarterhourWorkspace.state.project.id")
    planned = current_scenario(server, page)
    assert planned["name"] == "预算3站"
    assert len([s for s in planned["stations"] if s["kind"] == "new"]) == 3
    today = next(
        s
        for s in api(server, f"/api/projects/{pid}/scenarios")["scenarios"]
        if s["id"] != planned["id"]
    )
    # The figures of both scenarios, as listed, against their own communities.
    table = page.locator("#scenario-table tbody tr")
    assert table.count() >= 2
    row = page.locator(f"#scenario-table tr[data-scenario='{planned['id']}'] td")
    covered = sum(
        c["status"] in ("covered_existing", "covered_new") for c in planned["communities"]
    )
    walks = [
        c["walk_min"]
        for c in planned["communities"]
        if c["status"] in ("covered_existing", "covered_new")
    ]
    assert row.nth(1).inner_text() == "3 + 3 = 6"
    assert row.nth(2).inner_text() == f"{covered} / {len(planned['communities'])}"
    assert row.nth(5).inner_text() == "—"  # over capacity: no capacity in this project
    assert row.nth(7).inner_text() == f"{np.mean(walks):.1f}"
    assert row.nth(8).inner_text() == f"{np.max(walks):.1f}"
    # Compare today (A) with the plan (B).
    page.select_option("#compare-a", today["id"])
    page.select_option("#compare-b", planned["id"])
    page.click("#compare-run")
    page.wait_for_selector("body[data-compare]")
    only_a, only_b, both, differ = map(
        int, page.evaluate("document.body.dataset.compare").split(",")
    )
    today_full = api(server, f"/api/projects/{pid}/scenarios/{today['id']}")
    today_ids = {s["id"] for s in today_full["stations"]}
    plan_ids = {s["id"] for s in planned["stations"]}
    assert (only_a, only_b, both) == (
        len(today_ids - plan_ids),
        len(plan_ids - today_ids),
        len(today_ids & plan_ids),
    )
    status_today = {c["community_id"]: c["status"] for c in today_full["communities"]}
    assert differ == sum(
        status_today[c["community_id"]] != c["status"] for c in planned["communities"]
    )
    page.shot("10-compare")
    # A row of the comparison shows its community on the map.
    row = page.locator("#compare-table tbody tr").first
    cid = row.get_attribute("data-id")
    row.click()
    page.wait_for_function(f"document.body.dataset.selected === '{cid}'")


def test_a_scenario_copied_under_a_new_name_is_saved(page, server) -> None:
    source = current_scenario(server, page)
    pid = page.evaluate("window.quarterhourWorkspace.state.project.id")
    page.fill("#scenario-copy-name", "方案B 副本")
    page.click("#scenario-copy")
    page.wait_for_function(
        f"document.body.dataset.scenario && document.body.dataset.scenario !== '{source['id']}'"
    )
    listed = api(server, f"/api/projects/{pid}/scenarios")["scenarios"]
    copy = next(s for s in listed if s["name"] == "方案B 副本")
    assert copy["parent"] == source["id"]
    stations = api(server, f"/api/projects/{pid}/scenarios/{copy['id']}")["stations"]
    assert {s["id"] for s in stations} == {s["id"] for s in source["stations"]}
    assert page.input_value("#scenario-select") == copy["id"]
    page.once("dialog", lambda dialog: dialog.accept("方案C"))
    page.click("#scenario-rename")
    page.wait_for_function(
        "[...document.querySelectorAll('#scenario-select option')].some(o => o.text === '方案C')"
    )
    assert api(server, f"/api/projects/{pid}/scenarios/{copy['id']}")["name"] == "方案C"
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#scenario-delete")
    page.wait_for_function(f"document.body.dataset.scenario !== '{copy['id']}'")
    listed = api(server, f"/api/projects/{pid}/scenarios")["scenarios"]
    assert copy["id"] not in {s["id"] for s in listed}
    page.select_option("#scenario-select", source["id"])
    page.wait_for_function(f"document.body.dataset.scenario === '{source['id']}'")


def test_downloads_carry_every_input_row_and_the_files_coordinates(
    page, server, files, tmp_path
) -> None:
    planned = current_scenario(server, page)
    page.click("#tabs button[data-tab='scenarios']")
    # plan.xlsx through the page's own link: one row per input row, as given.
    with page.expect_download() as download_info:
        page.click("#downloads a[data-file='plan.xlsx']")
    path = tmp_path / "plan.xlsx"
    download_info.value.save_as(path)
    workbook = openpyxl.load_workbook(path, read_only=True)
    sheet = next(name for name in workbook.sheetnames if "社区" in name or "Communities" in name)
    rows = list(workbook[sheet].iter_rows(values_only=True))
    header = list(rows[0])
    got = pd.DataFrame(rows[1:], columns=header)
    given = pd.read_excel(files["xlsx"], sheet_name=0, engine="openpyxl")
    assert len(got) == len(given)
    assert got["编号"].astype(str).tolist() == given["编号"].astype(str).tolist()
    assert got["小区名称"].tolist() == given["小区名称"].tolist()
    assert np.allclose(got["经度"].astype(float), given["经度"]) and np.allclose(
        got["纬度"].astype(float), given["纬度"]
    )
    assert got["status"].tolist() == [
        next(c["status"] for c in planned["communities"] if c["community_id"] == i)
        for i in given["编号"].astype(str)
    ]
    # stations.geojson in GCJ-02: the existing stations at the numbers of the planner's file.
    page.select_option("#download-crs", "gcj02")
    with page.expect_download() as download_info:
        page.click("#downloads a[data-file='stations.geojson']")
    path = tmp_path / "stations.geojson"
    download_info.value.save_as(path)
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    at = {f["properties"]["station_id"]: f["geometry"]["coordinates"] for f in features}
    given_stations = pd.read_csv(files["stations"])
    for row in given_stations.itertuples(index=False):
        assert at[row.站点编号] == pytest.approx([row.经度, row.纬度], abs=1e-6)
    assert script_errors(page) == [] and page.outside_requests == []


def test_a_plan_leaves_the_excluded_sites_out(page, server) -> None:
    first = current_scenario(server, page)
    chosen = [s["id"] for s in first["stations"] if s["kind"] == "new"]
    pid = page.evaluate("window.quarterhourWorkspace.state.project.id")
    today = api(server, f"/api/projects/{pid}/scenarios")["scenarios"][0]
    page.select_option("#scenario-select", today["id"])
    page.wait_for_function(f"document.body.dataset.scenario === '{today['id']}'")
    page.click("#tabs button[data-tab='stations']")
    edits = int(page.evaluate("Number(document.body.dataset.edits || 0)"))
    for k, site in enumerate(chosen, start=1):
        page.fill("#exclude-id", site)
        page.click("#exclude-form button[type='submit']")
        page.wait_for_function(f"Number(document.body.dataset.edits || 0) === {edits + k}")
    assert set(current_scenario(server, page)["excluded"]) == set(chosen)
    planned_before = page.evaluate("document.body.dataset.planned")
    page.click("#tabs button[data-tab='plan']")
    page.fill("#plan-name", "预算3站 不用排除的站址")
    page.click("#plan-run")
    page.wait_for_function(f"document.body.dataset.planned !== '{planned_before}'", timeout=60_000)
    again = current_scenario(server, page)
    fresh = {s["id"] for s in again["stations"] if s["kind"] == "new"}
    assert len(fresh) == 3 and not fresh & set(chosen)


def test_capacity_upload_and_aides_set_on_a_station(page, server, files) -> None:
    """Stations serve at most aides x residents per aide: over capacity shown, aides set."""
    upload(page, files["gbk"], crs="gcj02", existing=files["staffed"])
    page.click("#upload-capacity summary")
    page.fill("#upload-rate", "2000")
    page.fill("#upload-max-aides", "2")
    page.fill("#upload-name", "容量试点")
    submit_new_project(page)
    page.wait_for_selector("#head-over")
    today = current_scenario(server, page)
    over = today["summary"]["status_counts"]["over_capacity"]
    assert over > 0 and chip_counts(page)["over_capacity"] == over
    assert page.inner_text("#head-over") == str(over)
    staffing = today["summary"]["staffing"]
    assert page.inner_text("#head-aides") == str(staffing["aides"]) == "4"  # 1 + 2 + blank (1)
    # The station's popup sets its aides; every community follows.
    name = "外滩就业服务站"
    station = next(s for s in today["stations"] if s["name"] == name)
    edits = int(page.evaluate("Number(document.body.dataset.edits || 0)"))
    screen_point(page, station["lon"], station["lat"], zoom=15)
    page.click(f".leaflet-marker-icon[title='{name}']")
    page.fill(f".leaflet-popup input[data-aides-for='{station['id']}']", "4")
    page.click(".leaflet-popup button[data-action='aides']")
    page.wait_for_function(
        f"Number(document.body.dataset.edits || 0) === {edits + 1}", timeout=30_000
    )
    after = current_scenario(server, page)
    edited = next(s for s in after["stations"] if s["id"] == station["id"])
    assert edited["aides"] == 4 and edited["capacity"] == 8000
    assert edited["served_weight"] > station["served_weight"]
    assert after["summary"]["status_counts"]["over_capacity"] < over
    assert page.inner_text("#head-aides") == "7"
    assert chip_counts(page) == {k: v for k, v in after["summary"]["status_counts"].items() if v}
    page.click("#tabs button[data-tab='stations']")
    cell = page.locator(f"#station-table tr[data-station='{station['id']}'] td.aides")
    assert cell.inner_text().startswith(f"4 / {edited['aides_needed']}")
    page.shot("11-capacity")
    assert script_errors(page) == []


def test_a_capacitated_plan_keeps_the_aides_set_by_hand(page, server) -> None:
    """The plan form starts from the scenario's residents per aide; its plan serves them all."""
    today = current_scenario(server, page)
    station = next(s for s in today["stations"] if s["name"] == "外滩就业服务站")
    page.click("#tabs button[data-tab='plan']")
    assert page.input_value("#plan-rate") == "2000"
    page.check("input[name='objective'][value='min_cover']")
    page.fill("#plan-name", "容量规划")
    planned_before = page.evaluate("document.body.dataset.planned || ''")
    page.click("#plan-run")
    page.wait_for_function(
        f"(document.body.dataset.planned || '') !== '{planned_before}'", timeout=90_000
    )
    planned = current_scenario(server, page)
    assert planned["name"] == "容量规划"
    assert planned["settings"]["residents_per_aide"] == 2000
    assert planned["summary"]["status_counts"]["over_capacity"] == 0
    kept = next(s for s in planned["stations"] if s["id"] == station["id"])
    assert station["aides"] == kept["aides"] == 4  # the aides set by hand are kept by the plan
    for row in planned["stations"]:
        assert row["served_weight"] <= row["aides"] * 2000 + 1e-6
    row = page.locator(f"#scenario-table tr[data-scenario='{planned['id']}'] td")
    assert row.nth(5).inner_text() == "0"
    assert row.nth(6).inner_text().startswith(f"{planned['summary']['staffing']['aides']:,}")
    assert script_errors(page) == []


def test_a_project_is_deleted(page, server) -> None:
    projects = api(server, "/api/projects")["projects"]
    gbk = next(p for p in projects if p["name"] == "青浦社区名单_gbk")
    shown = "(window.quarterhourWorkspace.state.project || {id: null}).id"
    page.select_option("#project-select", gbk["id"])
    page.wait_for_function(f"{shown} === '{gbk['id']}'")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#tabs button[data-tab='scenarios']")
    page.click("#project-delete")
    page.wait_for_function(f"{shown} !== null && {shown} !== '{gbk['id']}'")
    assert gbk["id"] not in {p["id"] for p in api(server, "/api/projects")["projects"]}
    assert gbk["id"] not in page.evaluate(
        "[...document.querySelectorAll('#project-select option')].map(o => o.value)"
    )


def test_every_call_the_page_made_is_in_the_api_documentation(page, server) -> None:
    documented = api(server, "/openapi.json")["paths"]
    patterns = [
        (method.upper(), re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$"))
        for path, operations in documented.items()
        for method in operations
    ]
    pages = ("/", "/workspace/static/", "/vendor/")
    calls = {
        (method, url.split("?")[0])
        for method, url in page.calls
        if not url.split("?")[0].startswith(pages[1:]) and url.split("?")[0] != pages[0]
    }
    assert {"/api/projects", "/api/files/preview", "/route", "/network"} <= {p for _, p in calls}
    undocumented = [
        (method, path)
        for method, path in sorted(calls)
        if not any(m == method and pattern.match(path) for m, pattern in patterns)
    ]
    assert undocumented == []


def test_on_gcj02_tiles_the_communities_are_drawn_at_their_amap_coordinates(
    browser, data_dir: Path, isolated_cache: Path, tmp_path: Path, files, planner_table
) -> None:
    """AMap tiles are in GCJ-02: a community given in GCJ-02 is drawn at exactly those numbers."""
    port = free_port()
    tiles = f"http://127.0.0.1:{port}/no-tiles/{{z}}/{{x}}/{{y}}.png"
    options = ["--osm", str(data_dir / settings.default_osm), "--data-dir", str(tmp_path)]
    server = start_server(
        isolated_cache, [*options, "--tiles", tiles, "--tiles-crs", "gcj02"], port=port
    )
    try:
        with files["xlsx"].open("rb") as handle:
            created = httpx.post(
                f"{server.url}/api/projects",
                data={"crs": "gcj02"},
                files={"communities": (files["xlsx"].name, handle)},
                timeout=60,
            )
        assert created.status_code == 201, created.text
        with browser.new_context(viewport=VIEWPORT) as context:
            page = context.new_page()
            page.goto(server.url + "/")
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            assert page.evaluate("document.body.dataset.tiles") == "gcj02"
            assert page.evaluate("document.body.dataset.streets || ''") == ""
            drawn = np.array(
                page.evaluate(
                    "ids => ids.map(id => window.quarterhourWorkspace.drawnAt(id))",
                    planner_table["编号"].tolist(),
                )
            )
    finally:
        stop_server(server)
    given = planner_table[["经度", "纬度"]].to_numpy(float)
    assert np.abs(drawn - given).max() < 1e-6  # about 0.1 m
