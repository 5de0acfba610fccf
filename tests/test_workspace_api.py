"""The planners' workspace API on a real server: projects, scenarios, edits, plans, files.

Every test talks HTTP to ``quarterhour serve`` on loopback (two workers sharing one SQLite
database in a temporary data folder), with the planners' own kind of files: a GBK CSV and an
xlsx with Chinese headers in GCJ-02, made from the bundled AMap compounds. Numbers are checked
against ``quarterhour coverage`` and ``quarterhour plan`` run on the same files, their outputs
read independently with pandas.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from servers import children, server_env, start_server, stop_server

DATA = Path(__file__).resolve().parents[1] / "data"
OSM = DATA / "shanghai_center.osm.pbf"
TABLES = ("projects", "project_files", "scenarios", "jobs", "changes")


def _compounds() -> pd.DataFrame:
    table = pd.read_csv(DATA / "shanghai_compounds_amap_gcj02.csv", dtype=str)
    lon, lat = table["lng"].astype(float), table["lat"].astype(float)
    return table, lon, lat


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Communities (GBK CSV and xlsx, Chinese headers, GCJ-02) and existing stations (CSV)."""
    folder = tmp_path_factory.mktemp("workspace-files")
    table, lon, lat = _compounds()
    inside = (lon > 121.44) & (lon < 121.50) & (lat > 31.20) & (lat < 31.25)
    # 300 compounds in the streets' area and 4 far east of it (off the network)
    picked = pd.concat([table[inside].iloc[:300], table[lon > 121.8].iloc[:4]])
    weights = np.random.default_rng(7).integers(100, 3000, len(picked))
    communities = pd.DataFrame(
        {
            "序号": [f"C{k:03d}" for k in range(len(picked))],
            "小区名称": picked["name"].to_numpy(),
            "地址": picked["address"].fillna("").to_numpy(),
            "经度": picked["lng"].to_numpy(),
            "纬度": picked["lat"].to_numpy(),
            "常住人口": weights,
            "街镇": np.where(picked["lat"].astype(float) > 31.225, "北片", "南片"),
        }
    )
    stations_rows = table[inside].iloc[300:306]
    stations = pd.DataFrame(
        {
            "编号": [f"S{k}" for k in range(len(stations_rows))],
            "站点名称": [f"就业服务站{k}" for k in range(len(stations_rows))],
            "经度": stations_rows["lng"].to_numpy(),
            "纬度": stations_rows["lat"].to_numpy(),
        }
    )
    paths = {
        "csv": folder / "社区名单.csv",
        "xlsx": folder / "社区名单.xlsx",
        "stations": folder / "站点.csv",
        "staffed": folder / "站点_援助员.csv",
    }
    communities.to_csv(paths["csv"], index=False, encoding="gbk")
    communities.to_excel(paths["xlsx"], index=False)
    stations.to_csv(paths["stations"], index=False, encoding="utf-8")
    staffed = stations.assign(就业援助员=AIDES)
    staffed.to_csv(paths["staffed"], index=False, encoding="utf-8")
    return paths


AIDES = [1, 2, 1, 4, 1, ""]
"""The existing stations' aides (就业援助员); the last is blank: 1, as `quarterhour plan` reads it."""


@pytest.fixture(scope="module")
def workspace_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace-data")


def _serve(cache: Path, folder: Path, *extra: str):
    options = ["--osm", str(OSM), "--data-dir", str(folder), "--workers", "2", *extra]
    return start_server(cache, options)


@pytest.fixture(scope="module")
def server(isolated_cache: Path, workspace_dir: Path):
    running = _serve(isolated_cache, workspace_dir, "--max-upload-rows", "1000")
    yield running
    stop_server(running)


def _upload(
    url: str,
    files: dict[str, Path],
    *,
    communities: str = "csv",
    existing: Path | None = None,
    **form: str,
):
    """``POST /api/projects``: a community list and the stations (default: ``stations``)."""
    stations = files["stations"] if existing is None else existing
    sent = {"communities": (files[communities].name, files[communities].read_bytes())}
    sent["existing"] = (stations.name, stations.read_bytes())
    return httpx.post(f"{url}/api/projects", data={"crs": "gcj02", **form}, files=sent, timeout=120)


@pytest.fixture(scope="module")
def project(server, files: dict[str, Path]) -> dict[str, object]:
    answer = _upload(server.url, files, name="静安试点")
    assert answer.status_code == 201, answer.text
    return answer.json()


def _scenario(url: str, pid: str, sid: str) -> httpx.Response:
    answer = httpx.get(f"{url}/api/projects/{pid}/scenarios/{sid}", timeout=120)
    assert answer.status_code == 200, answer.text
    return answer


def test_upload_creates_a_project_with_today_as_first_scenario(server, project) -> None:
    assert project["reading"]["communities"]["rows"] == 304
    assert project["reading"]["communities"]["columns"]["weight"] == "常住人口"
    assert project["reading"]["existing"]["rows"] == 6
    (today,) = project["scenarios"]
    assert today["name"].startswith("现状") and today["version"] == 1
    answer = _scenario(server.url, project["id"], today["id"])
    assert answer.headers["etag"] == '"1"'
    body = answer.json()
    # one row per input row, in its order; the four far compounds counted, not dropped
    assert [row["community_id"] for row in body["communities"]] == [f"C{k:03d}" for k in range(304)]
    counts = body["summary"]["status_counts"]
    assert sum(counts.values()) == 304
    assert counts["off_network"] == 4
    assert {row["id"] for row in body["stations"]} == {f"S{k}" for k in range(6)}


# ---------------------------------------------------------------------- against the CLI


def _cli(cache: Path, *args: str, osm: bool = True) -> subprocess.CompletedProcess[str]:
    network = ["--osm", str(OSM)] if osm else []
    done = subprocess.run(
        [sys.executable, "-m", "quarterhour", *args, "-q", *network],
        env=server_env(cache),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def _quarterhour_plan(
    cache: Path, files: dict[str, Path], stations: Path, out: Path, *extra: str
) -> None:
    """``quarterhour plan`` of the GBK communities keeping ``stations``, into ``out``."""
    communities = ["--communities", str(files["csv"]), "--crs", "gcj02"]
    _cli(cache, "plan", *communities, "--existing", str(stations), "-o", str(out), *extra)


def _coverage(
    cache: Path, files: dict[str, Path], stations: Path, folder: Path, *extra: str
) -> Path:
    """``quarterhour coverage`` of the GBK communities against ``stations``; its CSV."""
    out = folder / "coverage.csv"
    communities = ["--communities", str(files["csv"]), "--crs", "gcj02"]
    _cli(cache, "coverage", *communities, "--stations", str(stations), *extra, "-o", str(out))
    return out


def _by_id(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows).set_index("community_id")


def _same_communities(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """Status, nearest station and walk time of every community agree."""
    theirs = theirs.set_index(theirs["community_id"].astype(str))
    assert list(ours.index) == list(theirs.index)
    assert (ours["status"].to_numpy() == theirs["status"].astype(str).to_numpy()).all()
    station = theirs["station_id"].fillna("").astype(str).to_numpy()
    assert (ours["station_id"].fillna("").astype(str).to_numpy() == station).all()
    # The CSV holds three decimals; the CLI walks from each community to the stations and the
    # workspace from each station to the communities (the same streets both ways, summed from
    # the other end): within 0.0015 min, 0.1 m.
    np.testing.assert_allclose(
        ours["walk_min"].astype(float).to_numpy(),
        theirs["walk_min"].astype(float).to_numpy(),
        atol=1.5e-3,
    )


def test_today_equals_quarterhour_coverage(server, project, files, isolated_cache, tmp_path):
    out = _coverage(isolated_cache, files, files["stations"], tmp_path)
    theirs = pd.read_csv(out, dtype={"community_id": str, "station_id": str})
    meta = json.loads(out.with_name("coverage.meta.json").read_text(encoding="utf-8"))
    sid = project["scenarios"][0]["id"]
    body = _scenario(server.url, project["id"], sid).json()
    _same_communities(_by_id(body["communities"]), theirs)
    for key in ("status_counts", "n_communities", "covered", "covered_weight", "communities_read"):
        assert body["summary"][key] == meta[key], key
    stations = pd.read_csv(out.with_name("coverage.stations.csv"), dtype={"station_id": str})
    served = {row["id"]: row["served_communities"] for row in body["stations"]}
    assert served == dict(zip(stations["station_id"], stations["communities"], strict=True))


def _wait(url: str, job: str, *, timeout: float = 300) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        state = httpx.get(f"{url}/api/jobs/{job}", timeout=30).json()
        if state["state"] in ("done", "failed", "cancelled"):
            return state
        assert 0.0 <= state["progress"] <= 1.0
        assert time.monotonic() < deadline
        time.sleep(0.3)


def _plan(url: str, pid: str, sid: str, **body: object) -> dict[str, object]:
    answer = httpx.post(f"{url}/api/projects/{pid}/scenarios/{sid}/plan", json=body, timeout=60)
    assert answer.status_code == 202, answer.text
    state = _wait(url, answer.json()["job"])
    assert state["state"] == "done", state
    return state


@pytest.mark.parametrize("budget", [None, 5])
def test_plan_equals_quarterhour_plan(server, project, files, isolated_cache, tmp_path, budget):
    pid, today = project["id"], project["scenarios"][0]["id"]
    before = _scenario(server.url, pid, today)
    options = {} if budget is None else {"budget": budget}
    state = _plan(server.url, pid, today, time_limit_s=60, **options)
    planned = _scenario(server.url, pid, state["scenario"]).json()
    assert planned["parent"] == today and planned["version"] == 1
    # the scenario planned from is unchanged
    assert _scenario(server.url, pid, today).json()["version"] == before.json()["version"]

    out = tmp_path / "plan"
    extra = [] if budget is None else ["--budget", str(budget)]
    _quarterhour_plan(isolated_cache, files, files["stations"], out, *extra)
    theirs = pd.read_csv(out / "assignments.csv", dtype={"community_id": str, "station_id": str})
    _same_communities(_by_id(planned["communities"]), theirs)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for key in (
        "objective",
        "status_counts",
        "n_existing",
        "n_new",
        "covered",
        "covered_today",
        "covered_weight",
        "uncoverable",
        "lower_bound",
        "upper_bound",
        "n_candidates",
        "by_area",
    ):
        assert planned["summary"][key] == summary[key], key
    new = [row["id"] for row in planned["stations"] if row["kind"] == "new"]
    cli_new = json.loads((out / "stations.geojson").read_text(encoding="utf-8"))["features"]
    assert new == [
        f["properties"]["station_id"] for f in cli_new if not f["properties"]["existing"]
    ]


# ---------------------------------------------------------------------- edits and versions


def _new_scenario(url: str, pid: str, name: str, source: str | None = None) -> dict[str, object]:
    body = {"name": name} if source is None else {"name": name, "from": source}
    answer = httpx.post(f"{url}/api/projects/{pid}/scenarios", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _edit(url: str, pid: str, sid: str, version: int, **body: object) -> httpx.Response:
    return httpx.post(
        f"{url}/api/projects/{pid}/scenarios/{sid}/edits",
        json=body,
        headers={"If-Match": f'"{version}"'},
        timeout=60,
    )


def test_edits_follow_quarterhour_coverage(server, project, files, isolated_cache, tmp_path):
    pid = project["id"]
    scenario = _new_scenario(server.url, pid, "手工 by hand")
    sid = scenario["id"]
    start = _scenario(server.url, pid, sid).json()
    # a station at a clicked point (GCJ-02, as on AMap), one at a community, one moved, one removed
    added = _edit(server.url, pid, sid, 1, op="add", lon=121.4705, lat=31.2262, crs="gcj02")
    assert added.status_code == 200, added.text
    assert added.json()["version"] == 2 and added.headers["etag"] == '"2"'
    (station,) = added.json()["changed"]["stations"]
    assert station["kind"] == "new" and station["input_crs"] == "gcj02"
    changed = added.json()["changed"]["communities"]
    assert changed and all(row["station_id"] == station["id"] for row in changed)
    at_community = _edit(server.url, pid, sid, 2, op="add", community_id="C100")
    assert at_community.status_code == 200, at_community.text
    moved = _edit(server.url, pid, sid, 3, op="move", station_id="S1", lon=121.46, lat=31.21)
    removed = _edit(server.url, pid, sid, 4, op="remove", station_id="S2")
    assert moved.status_code == removed.status_code == 200
    assert removed.json()["changed"]["stations"] == [{"id": "S2", "removed": True}]
    body = _scenario(server.url, pid, sid).json()
    assert body["version"] == 5

    # the same stations as a file (WGS84), audited by the command line
    stations = pd.DataFrame(
        [
            {"id": s["id"], "name": s["name"], "lon": s["lon"], "lat": s["lat"]}
            for s in body["stations"]
        ]
    )
    stations.to_csv(tmp_path / "edited.csv", index=False)
    out = _coverage(
        isolated_cache, files, tmp_path / "edited.csv", tmp_path, "--stations-crs", "wgs84"
    )
    theirs = pd.read_csv(out, dtype={"community_id": str, "station_id": str})
    ours = _by_id(body["communities"])
    # the CLI calls every station of its file existing; the workspace knows which are new
    ours["status"] = ours["status"].replace({"covered_new": "covered_existing"})
    _same_communities(ours, theirs)
    # what each edit said changed, applied to the first answer, gives the last one
    rows = {row["community_id"]: row for row in start["communities"]}
    for answer in (added, at_community, moved, removed):
        rows |= {row["community_id"]: row for row in answer.json()["changed"]["communities"]}
    assert [rows[key]["status"] for key in rows] == [row["status"] for row in body["communities"]]
    assert removed.json()["summary"] == body["summary"]
    # and the rows it sent are the full evaluation's (reasons and their distances included)
    final = {row["community_id"]: row for row in body["communities"]}
    for row in removed.json()["changed"]["communities"]:
        assert row == final[row["community_id"]]


def test_stale_and_missing_versions_are_refused(server, project) -> None:
    pid = project["id"]
    sid = _new_scenario(server.url, pid, "版本 versions")["id"]
    assert _edit(server.url, pid, sid, 1, op="lock", station_id="S0").status_code == 200
    stale = _edit(server.url, pid, sid, 1, op="remove", station_id="S0")
    assert stale.status_code == 409
    assert stale.json()["detail"][0]["type"] == "stale_version"
    assert stale.headers["etag"] == '"2"'
    missing = httpx.post(
        f"{server.url}/api/projects/{pid}/scenarios/{sid}/edits",
        json={"op": "unlock", "station_id": "S0"},
        timeout=30,
    )
    assert missing.status_code == 428
    body = _scenario(server.url, pid, sid).json()
    assert body["version"] == 2
    assert [s["locked"] for s in body["stations"] if s["id"] == "S0"] == [True]
    unknown = _edit(server.url, pid, sid, 2, op="remove", station_id="nope")
    assert unknown.status_code == 404 and _scenario(server.url, pid, sid).json()["version"] == 2


def test_concurrent_edits_through_two_workers_lose_nothing(server, project) -> None:
    pid = project["id"]
    sid = _new_scenario(server.url, pid, "并发 concurrent")["id"]
    done: list[str] = []
    lock = threading.Lock()

    def editor(k: int) -> None:
        with httpx.Client(timeout=60) as client:  # one connection each: both workers serve
            for j in range(4):
                name = f"t{k}-{j}"
                while True:
                    version = client.get(f"{server.url}/api/projects/{pid}/scenarios/{sid}")
                    answer = client.post(
                        f"{server.url}/api/projects/{pid}/scenarios/{sid}/edits",
                        json={
                            "op": "add",
                            "lon": 121.46 + 0.002 * k,
                            "lat": 31.22 + 0.002 * j,
                            "name": name,
                        },
                        headers={"If-Match": version.headers["etag"]},
                    )
                    if answer.status_code == 200:
                        with lock:
                            done.append(name)
                        break
                    assert answer.status_code == 409, answer.text

    threads = [threading.Thread(target=editor, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    body = _scenario(server.url, pid, sid).json()
    assert body["version"] == 1 + len(done) == 17
    assert sorted(s["name"] for s in body["stations"] if s["kind"] == "new") == sorted(done)


# ---------------------------------------------------------------------- uploads


def _row_counts(folder: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{folder / 'workspace.sqlite3'}?mode=ro", uri=True) as conn:
        return {
            name: conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]  # noqa: S608
            for name in TABLES
        }


def test_refused_uploads_store_nothing(server, project, files, workspace_dir, tmp_path) -> None:
    before = _row_counts(workspace_dir)
    good = files["csv"].read_bytes()
    bad_row = good.decode("gbk").splitlines()
    fields = bad_row[5].split(",")
    fields[3] = "东经一百二十一度"  # the longitude of the 5th data row, spreadsheet row 6
    bad_row[5] = ",".join(fields)
    too_many = pd.DataFrame(
        {"id": range(1001), "lon": 121.47, "lat": 31.22}  # one row over --max-upload-rows
    ).to_csv(index=False)
    cases = [
        ({"crs": "gcj02"}, {"communities": ("bad.csv", "\n".join(bad_row).encode("gbk"))}, 422),
        ({}, {"communities": ("c.csv", good)}, 422),  # no crs: never guessed
        ({"crs": "gcj02"}, {"communities": ("c.csv", too_many.encode())}, 413),
        ({"crs": "gcj02"}, {"communities": ("c.doc", good)}, 422),
        ({"crs": "gcj02"}, {"communities": ("c.xlsx", b"PK\x03\x04 not a workbook")}, 422),
        (
            {"crs": "gcj02"},
            {"communities": ("c.csv", good), "existing": ("s.csv", b"id,lon\nS1,121.4\n")},
            422,
        ),
    ]
    for form, sent, status in cases:
        answer = httpx.post(f"{server.url}/api/projects", data=form, files=sent, timeout=60)
        assert answer.status_code == status, answer.text
        assert answer.json()["detail"][0]["msg"]
    row = httpx.post(
        f"{server.url}/api/projects", data=cases[0][0], files=cases[0][1], timeout=60
    ).json()["detail"][0]
    assert row["loc"] == ["body", "communities"]
    assert "bad.csv" in row["msg"] and "6" in row["msg"] and "经度" in row["msg"]
    assert _row_counts(workspace_dir) == before


def test_xlsx_with_chinese_headers_reads_as_the_gbk_csv(server, project, files) -> None:
    answer = _upload(server.url, files, communities="xlsx", name="xlsx")
    assert answer.status_code == 201, answer.text
    other = answer.json()
    csv = _scenario(server.url, project["id"], project["scenarios"][0]["id"]).json()
    xlsx = _scenario(server.url, other["id"], other["scenarios"][0]["id"]).json()
    assert (
        other["reading"]["communities"]["columns"] == project["reading"]["communities"]["columns"]
    )
    keys = ("community_id", "community_name", "status", "station_id", "walk_min")
    assert [[row[key] for key in keys] for row in xlsx["communities"]] == [
        [row[key] for key in keys] for row in csv["communities"]
    ]


def test_preview_reports_the_columns_and_stores_nothing(server, files, workspace_dir) -> None:
    before = _row_counts(workspace_dir)
    sent = {"file": (files["xlsx"].name, files["xlsx"].read_bytes())}
    answer = httpx.post(f"{server.url}/api/files/preview", files=sent, timeout=60)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["rows"] == 304 and body["crs"] is None
    assert body["columns"]["lon"] == "经度" and body["columns"]["name"] == "小区名称"
    assert body["first_rows"][0]["序号"] == "C000"
    assert _row_counts(workspace_dir) == before


# ---------------------------------------------------------------------- downloads, compare, jobs


def test_downloads_are_the_plan_files_and_quarterhour_report_reads_them(
    server, project, files, isolated_cache, tmp_path
) -> None:
    pid, today = project["id"], project["scenarios"][0]["id"]
    state = _plan(server.url, pid, today, budget=3, name="三站 three")
    sid = state["scenario"]
    body = _scenario(server.url, pid, sid).json()
    base = f"{server.url}/api/projects/{pid}/scenarios/{sid}/files"

    workbook = httpx.get(f"{base}/plan.xlsx", timeout=120)
    assert workbook.status_code == 200
    assert "attachment" in workbook.headers["content-disposition"]
    sheets = pd.read_excel(io.BytesIO(workbook.content), sheet_name=None, engine="openpyxl")
    (communities,) = [sheet for name, sheet in sheets.items() if "Communities" in name]
    source = pd.read_csv(files["csv"], encoding="gbk", dtype=str)
    assert communities["序号"].astype(str).tolist() == source["序号"].tolist()
    assert communities["status"].tolist() == [row["status"] for row in body["communities"]]

    table = pd.read_csv(io.BytesIO(httpx.get(f"{base}/assignments.csv", timeout=60).content))
    assert len(table) == len(source) and table["小区名称"].tolist() == source["小区名称"].tolist()
    summary = httpx.get(f"{base}/summary.json", timeout=60).json()
    assert summary["status_counts"] == body["summary"]["status_counts"]
    assert summary["n_new"] == 3
    assert summary["inputs"]["osm"] == OSM.name  # the server's folders are not in the download
    gcj = httpx.get(f"{base}/stations.geojson", params={"out_crs": "gcj02"}, timeout=60).json()
    wgs = httpx.get(f"{base}/stations.geojson", timeout=60).json()
    assert gcj["crs"] == "gcj02" and "crs" not in wgs
    shift = np.subtract(
        gcj["features"][0]["geometry"]["coordinates"], wgs["features"][0]["geometry"]["coordinates"]
    )
    assert 0.001 < np.abs(shift).max() < 0.01  # GCJ-02 is a few hundred metres off WGS84

    archive = httpx.get(f"{base}/plan.zip", timeout=120)
    assert archive.status_code == 200
    folder = tmp_path / "downloaded"
    zipfile.ZipFile(io.BytesIO(archive.content)).extractall(folder)
    out = tmp_path / "report.pdf"
    _cli(isolated_cache, "report", str(folder), "-o", str(out), "--no-scenarios", osm=False)
    assert out.read_bytes().startswith(b"%PDF")
    report = httpx.get(f"{base}/report.pdf", timeout=600)
    assert report.status_code == 200, report.text
    assert report.content.startswith(b"%PDF")
    assert report.headers["content-type"] == "application/pdf"


def test_compare_lists_stations_and_communities_that_differ(server, project) -> None:
    pid, today = project["id"], project["scenarios"][0]["id"]
    other = _new_scenario(server.url, pid, "比较 compare", today)["id"]
    added = _edit(server.url, pid, other, 1, op="add", community_id="C050").json()
    assert _edit(server.url, pid, other, 2, op="remove", station_id="S3").status_code == 200
    answer = httpx.get(
        f"{server.url}/api/projects/{pid}/compare", params={"a": today, "b": other}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["stations"]["only_a"] == ["S3"]
    assert body["stations"]["only_b"] == ["C050"]
    assert sorted(body["stations"]["both"]) == ["S0", "S1", "S2", "S4", "S5"]
    a = {
        row["community_id"]: row["status"]
        for row in _scenario(server.url, pid, today).json()["communities"]
    }
    b = {
        row["community_id"]: row["status"]
        for row in _scenario(server.url, pid, other).json()["communities"]
    }
    assert {row["community_id"] for row in body["communities"]} == {k for k in a if a[k] != b[k]}
    assert any(row["status_b"] == "covered_new" for row in body["communities"])
    assert added["summary"]["n_new"] == 1


def test_scenarios_listed_with_figures_renamed_and_deleted(server, project) -> None:
    pid = project["id"]
    sid = _new_scenario(server.url, pid, "临时 temporary")["id"]
    renamed = httpx.patch(
        f"{server.url}/api/projects/{pid}/scenarios/{sid}",
        json={"name": "改名 renamed"},
        timeout=30,
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "改名 renamed"
    listed = httpx.get(f"{server.url}/api/projects/{pid}/scenarios", timeout=30).json()["scenarios"]
    mine = next(item for item in listed if item["id"] == sid)
    for key in (
        "n_existing",
        "n_new",
        "n_stations",
        "covered",
        "covered_weight",
        "uncoverable",
        "mean_walk_min",
        "max_walk_min",
    ):
        assert key in mine["figures"]
    assert (
        httpx.delete(f"{server.url}/api/projects/{pid}/scenarios/{sid}", timeout=30).status_code
        == 204
    )
    assert (
        httpx.get(f"{server.url}/api/projects/{pid}/scenarios/{sid}", timeout=30).status_code == 404
    )
    projects_listed = httpx.get(f"{server.url}/api/projects", timeout=30).json()["projects"]
    assert pid in [item["id"] for item in projects_listed]
    config = httpx.get(f"{server.url}/api/config", timeout=30).json()
    assert config["limits"]["max_rows"] == 1000 and len(config["network"]["bbox"]) == 4


def _plan_and_cancel(url: str, pid: str, sid: str, minutes: float) -> tuple[str, dict]:
    answer = httpx.post(
        f"{url}/api/projects/{pid}/scenarios/{sid}/plan",
        json={"effort": "thorough", "time_limit_s": 60, "minutes": minutes},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    job = answer.json()["job"]
    cancelled = httpx.delete(f"{url}/api/jobs/{job}", timeout=30)
    assert cancelled.status_code == 200, cancelled.text
    return job, cancelled.json()


def test_cancelled_plan_stops_makes_no_scenario_and_deleted_project_is_gone(server, files) -> None:
    """A cancel that comes in time stops the plan and makes nothing;
    one that comes after the plan finished leaves the job done and its scenario made (the
    fixture's plans take well under a second, so either may happen; the stopping itself is
    tested deterministically in test_stopping.py)."""
    created = _upload(server.url, files, name="删除 delete").json()
    pid, today = created["id"], created["scenarios"][0]["id"]
    made = 0
    for attempt in range(3):  # a fresh walk limit each time: the walk times are computed anew
        job, answer = _plan_and_cancel(server.url, pid, today, minutes=11.0 + attempt)
        assert answer["state"] in ("cancelled", "done"), answer
        final = _wait(server.url, job)
        assert final["state"] == answer["state"]
        if answer["state"] == "done":
            made += 1
            assert final["scenario"] is not None
            continue
        assert final["scenario"] is None and final["progress"] < 1.0
        time.sleep(1.0)  # a stopped plan stays stopped: it saves nothing later
        assert _wait(server.url, job)["state"] == "cancelled"
        break
    listed = httpx.get(f"{server.url}/api/projects/{pid}/scenarios", timeout=30).json()
    assert len(listed["scenarios"]) == 1 + made
    assert httpx.delete(f"{server.url}/api/projects/{pid}", timeout=30).status_code == 204
    assert httpx.get(f"{server.url}/api/projects/{pid}", timeout=30).status_code == 404
    assert (
        httpx.get(f"{server.url}/api/projects/{pid}/scenarios/{today}", timeout=30).status_code
        == 404
    )


# ---------------------------------------------------------------------- saved for real


def _integrity(folder: Path) -> str:
    with sqlite3.connect(folder / "workspace.sqlite3") as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def _saves_until_killed(server, pid: str, sid: str, *, version: int) -> list[int]:
    """Edit without pause, kill -9 the server (master and workers) after five saves."""
    acknowledged: list[int] = []

    def save_forever() -> None:
        current = version
        with httpx.Client(timeout=30) as client:
            while True:
                try:
                    answer = client.post(
                        f"{server.url}/api/projects/{pid}/scenarios/{sid}/edits",
                        json={"op": "add", "lon": 121.47, "lat": 31.20 + 0.0005 * current},
                        headers={"If-Match": str(current)},
                    )
                except httpx.TransportError:
                    return
                assert answer.status_code == 200, answer.text
                current = answer.json()["version"]
                acknowledged.append(current)

    saver = threading.Thread(target=save_forever)
    saver.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    for process in [server.pid, *children(server.pid)]:
        os.kill(process, signal.SIGKILL)
    server.process.wait(timeout=30)
    saver.join(timeout=60)
    return acknowledged


def test_kept_across_a_restart_and_a_kill_during_saves(isolated_cache, files, tmp_path) -> None:
    folder = tmp_path / "data"
    first = _serve(isolated_cache, folder)
    try:
        created = _upload(first.url, files, name="持久 durable").json()
        pid, sid = created["id"], created["scenarios"][0]["id"]
        for version in (1, 2, 3):
            edit = _edit(
                first.url, pid, sid, version, op="add", lon=121.46, lat=31.21 + 0.003 * version
            )
            assert edit.status_code == 200
        saved = _scenario(first.url, pid, sid).json()
    finally:
        assert stop_server(first) == 0
    second = _serve(isolated_cache, folder)
    try:
        again = _scenario(second.url, pid, sid).json()
        assert again["version"] == 4
        assert again["stations"] == saved["stations"]
        assert again["communities"] == saved["communities"]

        acknowledged = _saves_until_killed(second, pid, sid, version=4)
    finally:
        stop_server(second)
    assert len(acknowledged) >= 5
    assert _integrity(folder) == "ok"
    third = _serve(isolated_cache, folder)
    try:
        body = _scenario(third.url, pid, sid).json()
        # every acknowledged edit is kept; at most the one in flight was saved unanswered
        assert acknowledged[-1] <= body["version"] <= acknowledged[-1] + 1
        assert sum(s["kind"] == "new" for s in body["stations"]) == body["version"] - 1
        changes = httpx.get(f"{third.url}/api/projects/{pid}", timeout=30)
        assert changes.status_code == 200
    finally:
        stop_server(third)
    with sqlite3.connect(folder / "workspace.sqlite3") as conn:
        edits = conn.execute(
            "SELECT count(*) FROM changes WHERE scenario_id = ? AND action = 'edit'", (sid,)
        ).fetchone()[0]
    assert edits == body["version"] - 1


def test_a_station_locked_at_a_community_is_kept_by_a_plan(server, project) -> None:
    """在此设站 then 锁定: the community's id is the station's; the plan keeps it there."""
    pid = project["id"]
    scenario = _new_scenario(server.url, pid, "锁定小区站")
    answer = _edit(server.url, pid, scenario["id"], 1, op="add", community_id="C020")
    assert answer.status_code == 200, answer.text
    answer = _edit(server.url, pid, scenario["id"], 2, op="lock", station_id="C020")
    assert answer.status_code == 200, answer.text
    state = _plan(server.url, pid, scenario["id"], time_limit_s=60)
    planned = _scenario(server.url, pid, state["scenario"]).json()
    ids = [row["id"] for row in planned["stations"]]
    assert ids.count("C020") == 1  # kept, and not opened a second time as a candidate
    kept = next(row for row in planned["stations"] if row["id"] == "C020")
    assert kept["locked"] and kept["kind"] == "new"


def test_edits_of_a_planned_scenario_answer_the_full_evaluation(server, project) -> None:
    pid, today = project["id"], project["scenarios"][0]["id"]
    sid = _plan(server.url, pid, today, budget=4)["scenario"]
    body = _scenario(server.url, pid, sid).json()
    new = [row["id"] for row in body["stations"] if row["kind"] == "new"]
    steps = [
        {"op": "remove", "station_id": new[0]},
        {"op": "add", "community_id": "C010"},
        {"op": "move", "station_id": "S0", "lon": 121.455, "lat": 31.215},
        {"op": "exclude", "site_id": "C020"},
        {"op": "lock", "station_id": new[1]},
    ]
    for version, step in enumerate(steps, start=1):
        answer = _edit(server.url, pid, sid, version, **step)
        assert answer.status_code == 200, answer.text
        full = _scenario(server.url, pid, sid).json()
        # the edit's incremental summary is the full evaluation's
        assert answer.json()["summary"] == full["summary"], step
    assert full["summary"]["objective"] == "max_cover" and full["excluded"] == ["C020"]
    assert "edited by hand" in full["summary"]["method"]


def test_outline_clips_as_quarterhour_coverage_does(server, files, isolated_cache, tmp_path):
    outline = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [121.43, 31.19],
                            [121.475, 31.19],
                            [121.475, 31.26],
                            [121.43, 31.26],
                            [121.43, 31.19],
                        ]
                    ],
                },
            }
        ],
    }
    path = tmp_path / "片区.geojson"
    path.write_text(json.dumps(outline), encoding="utf-8")
    sent = {
        "communities": (files["csv"].name, files["csv"].read_bytes()),
        "existing": (files["stations"].name, files["stations"].read_bytes()),
        "boundary": (path.name, path.read_bytes()),
    }
    before = httpx.get(f"{server.url}/api/projects").json()
    unstated = httpx.post(
        f"{server.url}/api/projects", data={"crs": "gcj02"}, files=sent, timeout=300
    )
    assert unstated.status_code == 422, unstated.text
    assert "boundary_crs" in unstated.text
    assert httpx.get(f"{server.url}/api/projects").json() == before
    answer = httpx.post(
        f"{server.url}/api/projects",
        data={"crs": "gcj02", "boundary_crs": "gcj02"},
        files=sent,
        timeout=300,
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    body = _scenario(server.url, created["id"], created["scenarios"][0]["id"]).json()
    assert body["summary"]["status_counts"]["outside_boundary"] > 0
    project = httpx.get(f"{server.url}/api/projects/{created['id']}", timeout=60).json()
    drawn = np.asarray(project["boundary"]["coordinates"][0])  # WGS84: GCJ-02 shifted back
    given = np.asarray(outline["features"][0]["geometry"]["coordinates"][0])
    assert project["boundary"]["type"] == "Polygon" and drawn.shape == given.shape
    assert 0.001 < np.abs(drawn - given).max() < 0.01
    assert project["candidate_sites"] == []  # the communities are the sites
    out = _coverage(
        isolated_cache,
        files,
        files["stations"],
        tmp_path,
        "--boundary",
        str(path),
        "--boundary-crs",
        "gcj02",
    )
    theirs = pd.read_csv(out, dtype={"community_id": str, "station_id": str})
    _same_communities(_by_id(body["communities"]), theirs)


def test_a_project_lists_its_candidate_sites_for_exclusion(server, files, tmp_path) -> None:
    table, lon, lat = _compounds()
    picked = table[(lon > 121.45) & (lon < 121.47) & (lat > 31.21) & (lat < 31.23)].iloc[:5]
    sites = pd.DataFrame(
        {
            "编号": [f"K{k}" for k in range(len(picked))],
            "名称": [f"候选{k}" for k in range(len(picked))],
            "经度": picked["lng"].to_numpy(),
            "纬度": picked["lat"].to_numpy(),
        }
    )
    path = tmp_path / "候选站址.csv"
    sites.to_csv(path, index=False, encoding="gbk")
    sent = {
        "communities": (files["csv"].name, files["csv"].read_bytes()),
        "candidates": (path.name, path.read_bytes()),
    }
    answer = httpx.post(
        f"{server.url}/api/projects", data={"crs": "gcj02"}, files=sent, timeout=300
    )
    assert answer.status_code == 201, answer.text
    pid, sid = answer.json()["id"], answer.json()["scenarios"][0]["id"]
    project = httpx.get(f"{server.url}/api/projects/{pid}", timeout=60).json()
    listed = project["candidate_sites"]
    assert [item["id"] for item in listed] == sites["编号"].tolist()
    assert [item["name"] for item in listed] == sites["名称"].tolist()
    drawn = np.array([[item["lon"], item["lat"]] for item in listed])
    given = sites[["经度", "纬度"]].astype(float).to_numpy()
    assert 0.001 < np.abs(drawn - given).max() < 0.01  # WGS84, not the file's GCJ-02
    assert project["boundary"] is None
    excluded = _edit(server.url, pid, sid, 1, op="exclude", site_id=listed[0]["id"])
    assert excluded.status_code == 200, excluded.text
    assert _scenario(server.url, pid, sid).json()["excluded"] == [listed[0]["id"]]


def test_evicted_engine_rebuilds_the_same_scenario(
    server, project, files, isolated_cache, tmp_path
) -> None:
    """A worker whose budget holds one project's engine evicts the older one and rebuilds it
    from the store: the scenario, and an edit made after the reload, equal the unevicted server's.
    """
    small = _serve(
        isolated_cache,
        tmp_path / "data",
        "--max-upload-rows",
        "1000",
        "--workers",
        "1",
        "--memory-budget-mb",
        "0.05",
    )
    try:
        first = _upload(small.url, files, name="A")
        assert first.status_code == 201, first.text
        pid, sid = first.json()["id"], first.json()["scenarios"][0]["id"]
        before = _scenario(small.url, pid, sid).json()
        second = _upload(small.url, files, name="B")
        assert second.status_code == 201, second.text
        assert f"evicted project {pid}'s engine" in small.stderr()
        after = _scenario(small.url, pid, sid).json()
        assert after == before
        edit = {"op": "add", "lon": 121.4705, "lat": 31.2262, "crs": "gcj02"}
        theirs_sid = _new_scenario(server.url, project["id"], "evict-peer")["id"]
        theirs = _edit(server.url, project["id"], theirs_sid, 1, **edit)
        ours = _edit(small.url, pid, sid, before["version"], **edit)
        assert ours.status_code == theirs.status_code == 200, ours.text
        ours_body = _scenario(small.url, pid, sid).json()
        theirs_body = _scenario(server.url, project["id"], theirs_sid).json()
        assert ours_body["communities"] == theirs_body["communities"]
        assert ours_body["summary"] == theirs_body["summary"]
    finally:
        stop_server(small)


# ---------------------------------------------------------------------- capacity and aides

RATE = 3000
"""Residents per aide of the capacitated project: the six stations are too few for their areas."""


@pytest.fixture(scope="module")
def staffed_project(server, files: dict[str, Path]) -> dict[str, object]:
    answer = _upload(
        server.url, files, existing=files["staffed"], residents_per_aide=str(RATE), max_aides="3"
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def _but_splits(staffing: dict[str, object]) -> dict[str, object]:
    """The staffing totals but the count of split communities.

    Which communities are split between stations is one of several assignments with the least
    walk: walk times summed from either end differ in their last bits, and the flow may end at
    another vertex of the same optimum. Everything else of the staffing is the same.
    """
    return {key: value for key, value in staffing.items() if key != "split_communities"}


def _same_staffing(
    body: dict[str, object], cache: Path, files: dict[str, Path], stations: Path, folder: Path
) -> None:
    """Statuses, stations, residents served and staffing equal `quarterhour coverage`'s."""
    out = _coverage(cache, files, stations, folder, "--residents-per-aide", str(RATE))
    theirs = pd.read_csv(out, dtype={"community_id": str, "station_id": str})
    ours = _by_id(body["communities"])
    _same_communities(ours, theirs)
    np.testing.assert_allclose(
        ours["served_weight"].astype(float), theirs["served_weight"].astype(float), atol=1e-3
    )
    meta = json.loads(out.with_name("coverage.meta.json").read_text(encoding="utf-8"))
    assert _but_splits(body["summary"]["staffing"]) == _but_splits(meta["staffing"])
    assert body["summary"]["status_counts"] == meta["status_counts"]
    table = pd.read_csv(out.with_name("coverage.stations.csv"), dtype={"station_id": str})
    for row in body["stations"]:
        theirs_row = table.loc[table["station_id"] == row["id"]].iloc[0]
        for key in ("aides", "aides_needed", "shortfall"):
            assert row[key] == theirs_row[key], (row["id"], key)
        assert row["served_weight"] <= row["aides"] * RATE + 1e-6  # never over capacity


def test_capacity_scenario_equals_quarterhour_coverage(
    server, staffed_project, files, isolated_cache, tmp_path
) -> None:
    pid, today = staffed_project["id"], staffed_project["scenarios"][0]
    assert today["settings"]["residents_per_aide"] == RATE
    body = _scenario(server.url, pid, today["id"]).json()
    assert body["summary"]["status_counts"]["over_capacity"] > 0  # the test means something
    assert [row["aides"] for row in body["stations"]] == [1, 2, 1, 4, 1, 1]
    _same_staffing(body, isolated_cache, files, files["staffed"], tmp_path)
    figures = today["figures"]
    assert figures["staffing"]["over_capacity"] == body["summary"]["status_counts"]["over_capacity"]


def test_edited_aides_follow_quarterhour_coverage(
    server, staffed_project, files, isolated_cache, tmp_path
) -> None:
    pid = staffed_project["id"]
    copy = _new_scenario(server.url, pid, "援助员调整")
    before = _scenario(server.url, pid, copy["id"]).json()
    answer = _edit(
        server.url, pid, copy["id"], copy["version"], op="aides", station_id="S0", aides=4
    )
    assert answer.status_code == 200, answer.text
    edited = answer.json()
    assert edited["summary"]["staffing"]["aides"] == before["summary"]["staffing"]["aides"] + 3
    served = {row["id"]: row["served_weight"] for row in edited["changed"]["stations"]}
    old = {row["id"]: row["served_weight"] for row in before["stations"]}
    assert served["S0"] > old["S0"]  # its three new aides serve residents who waited
    assert edited["changed"]["communities"]  # whose residents moved, listed
    body = _scenario(server.url, pid, copy["id"]).json()
    stations = pd.read_csv(files["staffed"], dtype=str, keep_default_na=False)
    stations.loc[stations["编号"] == "S0", "就业援助员"] = "4"
    changed = tmp_path / "站点_改.csv"
    stations.to_csv(changed, index=False)
    _same_staffing(body, isolated_cache, files, changed, tmp_path)
    # a station added by hand opens with the project's aides for a new station (1)
    answer = _edit(server.url, pid, copy["id"], edited["version"], op="add", community_id="C010")
    assert answer.status_code == 200, answer.text
    added = {row["id"]: row for row in answer.json()["changed"]["stations"]}["C010"]
    assert added["aides"] == 1 and added["capacity"] == RATE


def test_capacity_settings_of_a_copy_are_checked_and_evaluated(server, staffed_project) -> None:
    pid, today = staffed_project["id"], staffed_project["scenarios"][0]["id"]
    url = f"{server.url}/api/projects/{pid}/scenarios"
    free = httpx.post(url, json={"name": "不限容量", "from": today, "residents_per_aide": 0})
    assert free.status_code == 201, free.text
    assert free.json()["settings"]["residents_per_aide"] is None
    assert "staffing" not in free.json()["figures"]
    body = _scenario(server.url, pid, free.json()["id"]).json()
    assert "over_capacity" not in {row["status"] for row in body["communities"]}
    looser = httpx.post(url, json={"name": "宽松", "from": today, "residents_per_aide": 50_000})
    assert looser.status_code == 201, looser.text
    tight = staffed_project["scenarios"][0]["figures"]["staffing"]["over_capacity"]
    assert looser.json()["figures"]["staffing"]["over_capacity"] < tight
    refused = httpx.post(url, json={"name": "坏", "from": today, "residents_per_aide": -5})
    assert refused.status_code == 422 and "residents_per_aide" in refused.text
    refused = httpx.post(url, json={"name": "坏", "from": today, "aides_new": 3, "max_aides": 2})
    assert refused.status_code == 422 and "max_aides" in refused.text


def test_capacitated_plan_equals_quarterhour_plan(
    server, staffed_project, files, isolated_cache, tmp_path
) -> None:
    pid, today = staffed_project["id"], staffed_project["scenarios"][0]["id"]
    state = _plan(server.url, pid, today, time_limit_s=60)
    planned = _scenario(server.url, pid, state["scenario"]).json()
    assert planned["settings"]["residents_per_aide"] == RATE
    out = tmp_path / "plan"
    _quarterhour_plan(
        isolated_cache,
        files,
        files["staffed"],
        out,
        "--residents-per-aide",
        str(RATE),
        "--max-aides",
        "3",
    )
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for key in ("n_existing", "n_new", "status_counts"):
        assert planned["summary"][key] == summary[key], key
    assert _but_splits(planned["summary"]["staffing"]) == _but_splits(summary["staffing"])
    assert all(row["served_weight"] <= row["aides"] * RATE + 1e-6 for row in planned["stations"])
    assert {row["aides"] for row in planned["stations"] if row["kind"] == "new"} <= {1, 2, 3}


def test_capacity_downloads_carry_the_staffing_the_page_shows(server, staffed_project) -> None:
    pid, today = staffed_project["id"], staffed_project["scenarios"][0]["id"]
    body = _scenario(server.url, pid, today).json()
    base = f"{server.url}/api/projects/{pid}/scenarios/{today}/files"
    summary = httpx.get(f"{base}/summary.json", timeout=60).json()
    assert summary["staffing"] == body["summary"]["staffing"]
    assert summary["capacity"]["residents_per_aide"] == RATE
    workbook = httpx.get(f"{base}/plan.xlsx", timeout=120)
    sheets = pd.read_excel(io.BytesIO(workbook.content), sheet_name=None, engine="openpyxl")
    staffing = [sheet for name, sheet in sheets.items() if "Staffing" in name]
    assert staffing, list(sheets)
    report = httpx.get(f"{base}/report.pdf", timeout=600)
    assert report.status_code == 200 and report.content.startswith(b"%PDF")


def test_bad_aides_column_or_capacity_is_refused_and_stores_nothing(
    server, project, files, workspace_dir, tmp_path
) -> None:
    stations = pd.read_csv(files["staffed"], dtype=str, keep_default_na=False)
    stations.loc[2, "就业援助员"] = "两人"
    bad = tmp_path / "站点_坏.csv"
    stations.to_csv(bad, index=False)
    before = _row_counts(workspace_dir)
    answer = _upload(server.url, files, existing=bad)
    assert answer.status_code == 422, answer.text
    assert "站点_坏.csv: rows 4: aides" in answer.text and "两人" in answer.text
    answer = _upload(server.url, files, existing=files["staffed"], residents_per_aide="0")
    assert answer.status_code == 422 and "residents_per_aide" in answer.text
    assert _row_counts(workspace_dir) == before
