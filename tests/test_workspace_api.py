"""The planners' workspace API on a real server: projects, scenarios, edits, plans, files.

Every test talks HTTP to ``quarterhour serve`` on loopback (two workers sharing one SQLite
database in a temporary data folder), with the planners' own kind of files: a GBK CSV and an
xlsx with Chinese headers in GCJ-02, made from the bundled AMap compounds. Numbers are checked
against ``quarterhour coverage`` and ``quarterhour plan`` run on the same files, their outputs
read independently with pandas.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from servers import start_server, stop_server

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
