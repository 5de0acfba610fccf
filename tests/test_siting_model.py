"""Siting on small real instances, checked against exact MILPs solved independently with HiGHS."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from quarterhour.geo.errors import InputError
from quarterhour.siting import CoverageModel

from instances import milp_min_cover, straight_line_minutes

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def compounds() -> pd.DataFrame:
    """About 300 real compounds of central Shanghai (Jing'an / Huangpu), sorted by id."""
    table = pd.read_csv(DATA / "shanghai_compounds_amap_gcj02.csv", dtype={"id": str})
    box = table["lng"].between(121.44, 121.48) & table["lat"].between(31.21, 31.245)
    return table[box].sort_values("id").reset_index(drop=True)


def instance(table: pd.DataFrame, minutes: float = 8.0) -> sp.csr_matrix:
    lon, lat = table["lng"].to_numpy(), table["lat"].to_numpy()
    return straight_line_minutes(lon, lat, lon, lat, minutes=minutes)


def model_of(table: pd.DataFrame, cost: sp.csr_matrix, **options: object) -> CoverageModel:
    return CoverageModel.from_cost_matrix(
        cost,
        community_ids=table["id"].to_numpy(),
        community_names=table["name"].to_numpy(),
        site_ids=table["id"].to_numpy(),
        minutes=8.0,
        **options,
    )


def milp_max_cover(cost: sp.csr_matrix, weight: np.ndarray, budget: int) -> float:
    pattern = sp.csr_matrix((np.ones(cost.nnz), cost.indices, cost.indptr), shape=cost.shape)
    n_rows, n_cols = pattern.shape
    link = sp.hstack([-pattern, sp.identity(n_rows)])
    count = sp.hstack([sp.csr_matrix(np.ones((1, n_cols))), sp.csr_matrix((1, n_rows))])
    solution = milp(
        np.r_[np.zeros(n_cols), -weight],
        constraints=[LinearConstraint(link, ub=0), LinearConstraint(count, ub=budget)],
        integrality=np.r_[np.ones(n_cols), np.zeros(n_rows)],
        bounds=Bounds(0, 1),
    )
    assert solution.status == 0
    return -solution.fun


def plain_greedy_weight(cost: sp.csr_matrix, weight: np.ndarray, budget: int) -> float:
    """Textbook greedy in plain Python, the reference MCLP must never fall below."""
    columns = [set(cost.tocsc()[:, j].indices) for j in range(cost.shape[1])]
    covered: set[int] = set()
    for _ in range(budget):
        gains = [sum(weight[i] for i in col - covered) for col in columns]
        best = int(np.argmax(gains))
        if gains[best] <= 0:
            break
        covered |= columns[best]
    return float(sum(weight[i] for i in covered))


def check_assignments(
    result_table: pd.DataFrame, cost: sp.csr_matrix, ids: np.ndarray, station_ids: set[str]
) -> None:
    """Every covered community is within the limit of its station, which is truly the nearest."""
    dense = np.full(cost.shape, np.inf)
    coo = cost.tocoo()
    dense[coo.row, coo.col] = coo.data
    position = {value: index for index, value in enumerate(ids)}
    station_cols = [position[value] for value in station_ids]
    for row in result_table.itertuples(index=False):
        i = position[row.community_id]
        reachable = dense[i, station_cols]
        if row.covered:
            j = position[row.station_id]
            assert row.station_id in station_ids
            assert np.isfinite(dense[i, j]) and dense[i, j] <= 8.0
            assert math.isclose(row.walk_min, dense[i, j], abs_tol=1e-9)
            assert math.isclose(row.walk_min, reachable.min(), abs_tol=1e-9)
        else:
            assert not np.isfinite(reachable).any()


@pytest.mark.parametrize(("minutes", "sample"), [(8.0, 1.0), (6.0, 1.0), (8.0, 0.5)])
def test_min_cover_matches_milp(compounds: pd.DataFrame, minutes: float, sample: float) -> None:
    table = compounds.sample(frac=sample, random_state=1) if sample < 1 else compounds
    cost = instance(table, minutes)
    result = model_of(table, cost, existing=None).solve().result
    optimum = milp_min_cover(cost)
    n_new = len(result.new_stations)
    assert n_new == optimum
    assert result.bound <= optimum + 1e-6
    assert result.assignments["covered"].all()  # every community is its own candidate
    check_assignments(
        result.assignments, cost, table["id"].to_numpy(), set(result.new_stations["station_id"])
    )


def test_exact_mode_reports_optimum(compounds: pd.DataFrame) -> None:
    cost = instance(compounds, 6.0)
    result = model_of(compounds, cost).solve(exact=True, time_limit=30).result
    assert len(result.new_stations) == milp_min_cover(cost)
    assert result.gap == 0.0 and result.method == "exact"


def test_lp_bound_is_below_optimum_and_tighter(compounds: pd.DataFrame) -> None:
    cost = instance(compounds)
    lagrangian = model_of(compounds, cost).solve().result
    with_lp = model_of(compounds, cost).solve(lp_bound=True).result
    optimum = milp_min_cover(cost)
    assert lagrangian.bound <= with_lp.bound + 1e-6 <= optimum + 1e-6
    assert with_lp.gap == pytest.approx(
        (len(with_lp.new_stations) - math.ceil(with_lp.bound - 1e-6)) / len(with_lp.new_stations)
    )


def test_existing_stations_are_kept_and_not_recovered(compounds: pd.DataFrame) -> None:
    cost = instance(compounds)
    existing = np.zeros(len(compounds), bool)
    existing[[3, 50, 120, 200, 260]] = True
    result = model_of(compounds, cost, existing=existing).solve().result
    kept = result.stations[result.stations["kind"] == "existing"]
    assert set(kept["station_id"]) == set(compounds["id"].to_numpy()[existing])
    assert result.summary["n_existing"] == 5
    assert len(result.new_stations) == milp_min_cover(cost, fixed=np.flatnonzero(existing))
    # communities the existing stations cover are not counted again by any new station
    by_existing = set(compounds["id"].to_numpy()[cost[:, existing].getnnz(axis=1) > 0])
    assert kept["new_communities"].sum() == len(by_existing)
    assert result.stations["new_communities"].sum() == len(compounds)
    check_assignments(
        result.assignments, cost, compounds["id"].to_numpy(), set(result.stations["station_id"])
    )


def test_uncoverable_communities_are_reported(compounds: pd.DataFrame) -> None:
    lonely = [0, 7]
    cost = instance(compounds)
    pairs = cost.tocoo()
    drop = np.isin(pairs.row, lonely)  # nobody can reach these two, not even their own site
    cost = sp.csr_matrix(
        (pairs.data[~drop], (pairs.row[~drop], pairs.col[~drop])), shape=cost.shape
    )
    nearest = np.full(len(compounds), 10.0)
    nearest[lonely] = [2500.0, 3100.0]
    access = np.zeros(len(compounds))
    access[7] = 900.0
    result = model_of(compounds, cost, nearest_site_m=nearest, access_m=access).solve().result
    report = result.uncoverable
    assert list(report["community_id"]) == list(compounds["id"].to_numpy()[lonely])
    assert list(report["reason"]) == ["no_site_in_reach", "off_network"]
    assert "2,500 m" in report["reason_text"].iloc[0]
    assert "off the walking network" in report["reason_text"].iloc[1]
    assert result.summary["uncoverable"] == 2
    assert result.warnings
    # all other communities still covered by as few stations as the MILP needs
    assert len(result.new_stations) == milp_min_cover(cost)


def test_all_uncoverable_warns() -> None:
    cost = sp.csr_matrix((3, 2))
    result = CoverageModel.from_cost_matrix(cost).solve().result
    assert len(result.new_stations) == 0
    assert "none of the 3 communities" in result.warnings[0]
    assert not result.assignments["covered"].any()


@pytest.mark.parametrize("budget", [1, 4, 10])
def test_max_cover_between_greedy_and_bound(compounds: pd.DataFrame, budget: int) -> None:
    cost = instance(compounds, 6.0)
    weight = np.random.default_rng(7).integers(50, 3000, len(compounds)).astype(float)
    result = model_of(compounds, cost, weights=weight).solve(budget=budget).result
    covered = result.summary["covered_weight"]
    optimum = milp_max_cover(cost, weight, budget)
    assert len(result.new_stations) <= budget
    assert covered >= plain_greedy_weight(cost, weight, budget) - 1e-6
    assert covered <= optimum + 1e-6 <= result.bound + 1e-6
    assert covered >= 0.98 * optimum
    check_assignments(
        result.assignments, cost, compounds["id"].to_numpy(), set(result.new_stations["station_id"])
    )


def test_max_cover_with_existing_counts_their_weight(compounds: pd.DataFrame) -> None:
    cost = instance(compounds, 6.0)
    existing = np.zeros(len(compounds), bool)
    existing[[10, 90]] = True
    result = model_of(compounds, cost, existing=existing).solve(budget=3).result
    pattern_rows = cost[:, existing].getnnz(axis=1) > 0
    assert result.summary["covered"] >= pattern_rows.sum()
    assert result.summary["n_existing"] == 2 and result.summary["n_new"] <= 3
    # the existing stations' weight (1 per community) counts in the answer and in the bound
    optimum = pattern_rows.sum() + milp_max_cover(
        cost[~pattern_rows], np.ones((~pattern_rows).sum()), 3
    )
    assert result.summary["covered_weight"] <= optimum + 1e-6 <= result.bound + 1e-6
    assert result.summary["covered_weight"] >= 0.98 * optimum


def test_deterministic_and_order_independent(compounds: pd.DataFrame) -> None:
    cost = instance(compounds)
    first = model_of(compounds, cost).solve().result
    second = model_of(compounds, cost).solve().result
    assert list(first.new_stations["station_id"]) == list(second.new_stations["station_id"])
    order = np.random.default_rng(3).permutation(len(compounds))
    shuffled = compounds.iloc[order].reset_index(drop=True)
    third = model_of(shuffled, cost[order][:, order]).solve().result
    assert set(third.new_stations["station_id"]) == set(first.new_stations["station_id"])
    assert list(third.assignments["community_id"]) == list(shuffled["id"])  # input order
    by_id = third.assignments.set_index("community_id").loc[first.assignments["community_id"]]
    pd.testing.assert_frame_equal(by_id.reset_index(), first.assignments)


def test_bad_input_raises_clear_errors(compounds: pd.DataFrame) -> None:
    cost = instance(compounds)
    ids = compounds["id"].to_numpy().copy()
    ids[5] = ids[4]
    with pytest.raises(InputError, match="duplicate ids"):
        CoverageModel.from_cost_matrix(cost, community_ids=ids)
    with pytest.raises(InputError, match="communities are empty"):
        CoverageModel.from_cost_matrix(sp.csr_matrix((0, 3)))
    with pytest.raises(InputError, match="no station sites"):
        CoverageModel.from_cost_matrix(sp.csr_matrix((3, 0)))
    with pytest.raises(InputError, match="budget"):
        model_of(compounds, cost).solve(budget=-1)
    with pytest.raises(InputError, match="weights"):
        model_of(compounds, cost, weights=-np.ones(len(compounds)))
    assert issubclass(InputError, ValueError)
