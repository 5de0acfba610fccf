"""Capacity through the command line (coverage CSVs, plan.xlsx) and the HTTP API on loopback."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx
import pandas as pd
import pytest

from quarterhour import settings
from quarterhour.api.cli.main import main
from quarterhour.api.http.app import create_app
from quarterhour.api.http.serving import serve_in_thread
from quarterhour.api.http.settings import ApiLimits

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

COMMUNITIES = [
    ("c1", 121.4720, 31.2290, 1200),
    ("c2", 121.4760, 31.2230, 1200),
    ("c3", 121.4650, 31.2350, 1200),
    ("c4", 121.4850, 31.2150, 1200),
    ("c5", 121.4420, 31.2050, 1200),
]
STATION = ("s1", 121.4706, 31.2317)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("capacity")
    communities = folder / "communities.csv"
    pd.DataFrame(COMMUNITIES, columns=["id", "lon", "lat", "常住人口"]).to_csv(
        communities, index=False
    )
    stations = folder / "stations.csv"
    pd.DataFrame([(*STATION, 2)], columns=["id", "lon", "lat", "就业援助员"]).to_csv(
        stations, index=False
    )
    return {"communities": communities, "stations": stations}


def test_coverage_with_capacity_states_over_capacity_and_shortfall(
    files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "coverage.csv"
    argv = ["coverage", "--communities", str(files["communities"]), "--crs", "wgs84"]
    argv += ["--stations", str(files["stations"]), "-o", str(out), "-q"]
    assert main([*argv, "--residents-per-aide", "1000"]) == 0
    table = pd.read_csv(out, dtype={"community_id": str, "station_id": str})
    stations = pd.read_csv(tmp_path / "coverage.stations.csv", dtype={"station_id": str})
    reached = table["station_id"].eq("s1") & table["status"].ne("uncoverable")
    assert int(reached.sum()) == 2  # 2,400 residents in reach of 2 aides x 1,000
    assert table["served_weight"].sum() == pytest.approx(2000.0)
    assert (table["status"] == "over_capacity").sum() == 1
    assert table["unserved_weight"].sum() == pytest.approx(400.0)
    assert len(table) == len(COMMUNITIES)
    row = stations.iloc[0]
    assert row["aides"] == 2
    assert row["capacity"] == 2000.0
    assert row["aides_needed"] == 3
    assert row["shortfall"] == 1
    meta = json.loads((tmp_path / "coverage.meta.json").read_text(encoding="utf-8"))
    assert meta["staffing"]["shortfall"] == row["shortfall"]
    # the aides options need the policy figure
    assert main([*argv, "--aides-col", "就业援助员"]) == 2


@pytest.fixture(scope="module")
def capacity_plan(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("capacity_plan") / "plan"
    argv = ["plan", "--communities", str(files["communities"]), "--crs", "wgs84", "-q"]
    argv += ["--existing", str(files["stations"]), "-o", str(out)]
    argv += ["--residents-per-aide", "1000", "--max-aides", "2"]
    assert main(argv) == 0
    return out


def test_plan_with_capacity_writes_a_staffing_sheet(capacity_plan: Path) -> None:
    out = capacity_plan
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["status_counts"]["over_capacity"] == 0
    assert summary["capacity"] == {"residents_per_aide": 1000.0, "aides_new": 1, "max_aides": 2}
    sheets = pd.read_excel(out / "plan.xlsx", sheet_name=None, engine="openpyxl")
    staffing = sheets["人员配置 Staffing"]
    assert staffing["援助员 aides"].sum() == summary["staffing"]["aides"]
    assert staffing["服务人口 served weight"].sum() == pytest.approx(
        summary["staffing"]["served_weight"]
    )
    assert (staffing["服务人口 served weight"] <= staffing["可服务人数 capacity"] + 1e-6).all()
    assert summary["mean_walk_min"] <= summary["longest_walk_min"] <= 15.0


def test_report_staffing_equals_the_summary(capacity_plan: Path, tmp_path: Path) -> None:
    import re

    from quarterhour.api.report import build_report

    html = build_report(capacity_plan, tmp_path / "report.pdf", scenarios=False).html
    page = html.read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 2  # the overview and the shortfall map
    assert 'alt="援助员缺口图"' in page
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    staffing = json.loads((capacity_plan / "summary.json").read_text(encoding="utf-8"))["staffing"]
    total = text[text.index("人员配置") :].split("合计", 1)[1].split()[:6]
    assert total == [
        str(staffing["stations"]),
        str(staffing["aides"]),
        str(staffing["aides_needed"]),
        str(staffing["shortfall"]),
        f"{round(staffing['served_weight']):,}",
        str(staffing["over_capacity"]),
    ]


@pytest.fixture(scope="module")
def client(data_dir: Path, files: dict[str, Path]) -> Iterator[httpx.Client]:
    app = create_app(
        data_dir / settings.default_osm,
        communities=files["communities"],
        communities_crs="wgs84",
        stations=files["stations"],
        stations_crs="wgs84",
        limits=ApiLimits(max_body_bytes=1_000_000, max_plan_points=1_000),
    )
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=120) as session:
        yield session


def test_http_plan_and_coverage_with_capacity(client: httpx.Client) -> None:
    coverage = client.get("/coverage", params={"residents_per_aide": 1000})
    assert coverage.status_code == 200
    body = coverage.json()
    assert body["stations"][0]["aides"] == 2
    assert body["summary"]["staffing"]["over_capacity"] >= 1
    assert "stations" not in client.get("/coverage").json()
    posted = [
        {"id": cid, "lon": lon, "lat": lat, "weight": weight}
        for cid, lon, lat, weight in COMMUNITIES
    ]
    existing = [{"id": "s1", "lon": STATION[1], "lat": STATION[2], "aides": 1}]
    request = {"communities": posted, "existing": existing, "residents_per_aide": 1000}
    request["max_aides"] = 2
    plan = client.post("/plan", json=request)
    assert plan.status_code == 200
    summary = plan.json()["summary"]
    assert summary["n_existing"] + summary["n_new"] <= summary["staffing"]["aides"]
    assert summary["status_counts"]["over_capacity"] == 0
    bad = client.post("/plan", json={**request, "residents_per_aide": 0})
    assert bad.status_code == 422
    too_few = client.post("/plan", json={**request, "aides": 3, "max_aides": 2})
    assert too_few.status_code in (400, 422)
    assert "max_aides" in too_few.text
