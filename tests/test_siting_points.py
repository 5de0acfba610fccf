"""Siting from points on a real walking network, the audit, the exports and input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from quarterhour.geo.errors import InputError
from quarterhour.geo.points import points_from_frame
from quarterhour.siting import CoverageModel, coverage_audit, run_plan
from quarterhour.siting.files import Provenance, read_plan, write_plan
from quarterhour.siting.result import RESULT_COLUMNS

from instances import milp_min_cover, street_points

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def network():
    from quarterhour.routing.network import load_network

    return load_network(DATA / "shanghai_center.osm.pbf")


@pytest.fixture(scope="module")
def communities():
    table = pd.read_csv(DATA / "shanghai_compounds_amap_gcj02.csv", dtype={"id": str})
    box = table["lng"].between(121.45, 121.48) & table["lat"].between(31.215, 31.24)
    frame = (
        table[box]
        .rename(columns={"lng": "lon"})[["id", "name", "lon", "lat"]]
        .reset_index(drop=True)
    )
    frame["weight"] = np.arange(len(frame)) % 7 + 1.0
    return points_from_frame(frame, crs="gcj02", role="communities")


def test_plan_on_network_is_valid_and_exported(network, communities, tmp_path: Path) -> None:
    result = run_plan(network, communities, quiet=True).result
    from quarterhour.routing.walktimes import walk_time_matrix

    walk = walk_time_matrix(
        network, communities.lon, communities.lat, communities.lon, communities.lat, quiet=True
    )
    coverable = walk.matrix.getnnz(axis=1) > 0
    table = result.assignments
    assert list(table["community_id"]) == list(communities.ids)  # one row per input, in order
    assert (table["covered"].to_numpy() == coverable).all()
    position = {value: index for index, value in enumerate(communities.ids)}
    dense = walk.matrix.toarray()
    present = np.zeros(walk.matrix.shape, bool)
    coo = walk.matrix.tocoo()  # stored zeros are pairs too
    present[coo.row, coo.col] = True
    for row in table[table["covered"]].itertuples(index=False):
        i, j = position[row.community_id], position[row.station_id]
        assert present[i, j] and dense[i, j] <= 15.0 + 1e-9
    paths = write_plan(
        result,
        tmp_path / "plan",
        provenance=Provenance(osm="shanghai_center.osm.pbf", communities="c.csv"),
    )
    assert {path.name for path in paths.values()} == {
        "stations.geojson",
        "assignments.csv",
        "plan.xlsx",
        "summary.json",
    }
    plan = read_plan(tmp_path / "plan")
    summary = plan.summary
    for key in (
        "n_communities",
        "n_existing",
        "n_new",
        "covered",
        "covered_share",
        "covered_weight_share",
        "uncoverable",
        "lower_bound",
        "gap",
        "method",
        "minutes",
        "speed_kmh",
        "metric",
        "attribution",
    ):
        assert key in summary
    assert summary["attribution"].startswith("©")
    assert summary["inputs"]["osm"] == "shanghai_center.osm.pbf"
    assert plan.provenance.communities == "c.csv"
    assert list(plan.assignments.columns[-len(RESULT_COLUMNS) :]) == RESULT_COLUMNS
    assert list(plan.assignments["community_id"]) == list(table["community_id"])
    features = plan.stations["features"]
    assert len(features) == summary["n_new"]
    assert [f["properties"]["rank"] for f in features] == list(range(1, summary["n_new"] + 1))
    assert not list((tmp_path / "plan").glob(".*.tmp"))


@pytest.mark.parametrize(("n", "minutes"), [(700, 10.0), (700, 15.0)])
def test_min_cover_on_heidelberg_streets_matches_milp(network_of, n: int, minutes: float) -> None:
    """Demand spread along Heidelberg's streets: the heuristic finds the MILP optimum, deterministically."""
    from quarterhour.routing.walktimes import walk_time_matrix

    heidelberg = network_of("heidelberg")
    lon, lat = street_points(heidelberg, n, seed=n)
    cost = walk_time_matrix(heidelberg, lon, lat, lon, lat, minutes=minutes, quiet=True).matrix
    first = CoverageModel.from_cost_matrix(cost, minutes=minutes).solve().result
    second = CoverageModel.from_cost_matrix(cost, minutes=minutes).solve().result
    assert len(first.new_stations) == milp_min_cover(cost)
    assert first.bound <= len(first.new_stations)
    assert first.assignments["covered"].all()
    assert list(first.new_stations["station_id"]) == list(second.new_stations["station_id"])


def test_audit_counts_nearest_station(network, communities) -> None:
    stations = communities.subset(np.arange(0, len(communities), 15))
    audit = coverage_audit(
        network, communities, stations, minutes=10.0, speed_kmh=4.5, meters=None, quiet=True
    )
    assert audit.summary["n_stations"] == len(stations)
    assert audit.summary["covered"] == int(audit.communities["covered"].sum())
    assert audit.stations["communities"].sum() == audit.summary["covered"]
    assert audit.communities.loc[audit.communities["covered"], "walk_min"].le(10.0).all()


def test_audit_errors_name_the_stations(network, communities) -> None:
    stations = communities.subset([0, 1, 1])
    with pytest.raises(InputError, match=r"^stations: duplicate ids") as raised:
        coverage_audit(network, communities, stations, quiet=True)
    assert "candidate" not in str(raised.value)
    with pytest.raises(InputError, match="the stations are empty"):
        coverage_audit(
            network, communities, communities.subset(np.zeros(len(communities), bool)), quiet=True
        )


def test_points_input_errors(network, communities) -> None:
    existing = communities.subset([0, 1])
    with pytest.raises(InputError, match="share the ids"):
        CoverageModel.from_points(network, communities, existing=existing)
    with pytest.raises(InputError, match="budget"):
        run_plan(network, communities, budget=-2)
    with pytest.raises(InputError, match="empty"):
        CoverageModel.from_points(network, communities.subset(np.zeros(len(communities), bool)))
    far = pd.DataFrame(
        {"id": ["a", "b"], "name": ["x", "y"], "lon": [100.0, 100.1], "lat": [30.0, 30.1]}
    )
    with pytest.raises(InputError, match="within 500 m of a street") as raised:
        CoverageModel.from_points(network, points_from_frame(far, crs="wgs84"))
    message = str(raised.value)
    assert (
        "the streets cover lon 121.4" in message
        and "the communities lon 100.000..100.100" in message
    )
    assert "--osm" in message and "geofabrik" in message


def test_distance_mode_reports_minutes_at_speed() -> None:
    cost = sp.csr_matrix(np.array([[0.0, 600.0], [900.0, 0.0]]))
    result = (
        CoverageModel.from_cost_matrix(cost, meters=1000.0, speed_kmh=4.5).solve(budget=1).result
    )
    assert result.summary["metric"] == "distance"
    assert result.assignments["walk_min"].max() <= 1000.0 / 75.0 + 1e-9
    assert result.assignments["walk_min"].max() == pytest.approx(900.0 / 75.0)  # 900 m at 75 m/min
