"""The planners' workspace API on a real server: projects, scenarios, edits, plans, files.

Every test talks HTTP to ``quarterhour serve`` on loopback (two workers sharing one SQLite
database in a temporary data folder), with the planners' own kind of files: a GBK CSV and an
xlsx with Chinese headers in GCJ-02, made from the bundled AMap compounds. Numbers are checked
against ``quarterhour coverage`` and ``quarterhour plan`` run on the same files, their outputs
read independently with pandas.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from servers import server_env, start_server, stop_server

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
    }
    communities.to_csv(paths["csv"], index=False, encoding="gbk")
    communities.to_excel(paths["xlsx"], index=False)
    stations.to_csv(paths["stations"], index=False, encoding="utf-8")
    return paths


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


def _upload(url: str, files: dict[str, Path], *, communities: str = "csv", **form: str):
    sent = {"communities": (files[communities].name, files[communities].read_bytes())}
    sent["existing"] = (files["stations"].name, files["stations"].read_bytes())
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


def _cli(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "quarterhour", *args, "-q", "--osm", str(OSM)],
        env=server_env(cache),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


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
    out = tmp_path / "coverage.csv"
    _cli(
        isolated_cache,
        "coverage",
        "--communities",
        str(files["csv"]),
        "--crs",
        "gcj02",
        "--stations",
        str(files["stations"]),
        "-o",
        str(out),
    )
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
    args = ["--existing", str(files["stations"]), "-o", str(out)]
    if budget is not None:
        args += ["--budget", str(budget)]
    _cli(isolated_cache, "plan", "--communities", str(files["csv"]), "--crs", "gcj02", *args)
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
    out = tmp_path / "coverage.csv"
    _cli(
        isolated_cache,
        "coverage",
        "--communities",
        str(files["csv"]),
        "--crs",
        "gcj02",
        "--stations",
        str(tmp_path / "edited.csv"),
        "--stations-crs",
        "wgs84",
        "-o",
        str(out),
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
