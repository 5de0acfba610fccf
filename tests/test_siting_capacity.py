"""Capacitated siting, the assignment within capacities and staffing, against HiGHS (MILPs written
here, spopt's assignment-fraction formulation) and spopt's published CLSCP-SO cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse.csgraph import maximum_flow

from quarterhour.geo.errors import InputError
from quarterhour.geo.points import read_points
from quarterhour.siting import CoverageModel
from quarterhour.siting.capacity import Capacity, FlowCheck, assign_within, station_aides

RATE = 2000.0


def instance(seed: int, n: int = 24, limit: float = 0.3) -> tuple[sp.csr_matrix, np.ndarray]:
    """Random points in the unit square as communities and sites; pairs within ``limit``."""
    rng = np.random.default_rng(seed)
    points = rng.random((n, 2))
    distance = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    rows, cols = np.nonzero(distance <= limit)
    cost = sp.csr_matrix((distance[rows, cols], (rows, cols)), shape=(n, n))
    weight = rng.integers(100, 3000, n).astype(float)
    return cost, weight


def reaching_instance(
    seed: int, n: int = 24, limit: float = 0.3
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """:func:`instance` where a station on the spot reaches its own community: cost, weight,
    and the pairs in reach (walks shifted by 1e-3 so that none is a stored zero)."""
    cost, weight = instance(seed, n=n, limit=limit)
    reach = cost.toarray() > 0
    np.fill_diagonal(reach, val=True)
    return sp.csr_matrix(np.where(reach, cost.toarray() + 1e-3, 0)), weight, reach


def fraction_program(
    reach: np.ndarray, weight: np.ndarray, *, least: int, most: int
) -> tuple[int, np.ndarray, LinearConstraint, np.ndarray]:
    """Variables z_ij (share of i served by j, reach pairs), x_j, y_j; constraints but goal."""
    rows, cols = np.nonzero(reach)
    n_rows, n_cols = reach.shape
    pairs = rows.size
    n_var = pairs + 2 * n_cols
    x0, y0 = pairs, pairs + n_cols
    blocks, low, high = [], [], []
    share = sp.csr_matrix((np.ones(pairs), (rows, np.arange(pairs))), shape=(n_rows, n_var))
    blocks.append(share)
    low.append(np.zeros(n_rows))
    high.append(np.ones(n_rows))
    load = sp.lil_matrix((n_cols, n_var))
    for k in range(pairs):
        load[cols[k], k] = weight[rows[k]]
    for j in range(n_cols):
        load[j, y0 + j] = -RATE
    blocks.append(load.tocsr())
    low.append(np.full(n_cols, -np.inf))
    high.append(np.zeros(n_cols))
    opened = sp.lil_matrix((pairs + 2 * n_cols, n_var))
    for k in range(pairs):
        opened[k, k] = 1.0
        opened[k, x0 + cols[k]] = -1.0
    for j in range(n_cols):
        opened[pairs + j, y0 + j] = 1.0
        opened[pairs + j, x0 + j] = -least
        opened[pairs + n_cols + j, y0 + j] = 1.0
        opened[pairs + n_cols + j, x0 + j] = -most
    blocks.append(opened.tocsr())
    low.append(np.r_[np.full(pairs, -np.inf), np.zeros(n_cols), np.full(n_cols, -np.inf)])
    high.append(np.r_[np.zeros(pairs), np.full(n_cols, np.inf), np.zeros(n_cols)])
    constraint = LinearConstraint(sp.vstack(blocks), np.concatenate(low), np.concatenate(high))
    upper = np.r_[np.ones(pairs + n_cols), np.full(n_cols, most)]
    return pairs, upper, constraint, rows


def reference_cover(
    reach: np.ndarray, weight: np.ndarray, *, least: int, most: int
) -> tuple[int, int]:
    """Fewest stations serving every community whole, then fewest aides (two MILPs)."""
    pairs, upper, constraint, rows = fraction_program(reach, weight, least=least, most=most)
    n_cols = reach.shape[1]
    n_var = upper.size
    whole = LinearConstraint(
        sp.csr_matrix((np.ones(pairs), (rows, np.arange(pairs))), shape=(reach.shape[0], n_var)),
        1.0,
        1.0,
    )
    integral = np.r_[np.zeros(pairs), np.ones(2 * n_cols)]
    goal = np.r_[np.zeros(pairs), np.ones(n_cols), np.zeros(n_cols)]
    first = milp(
        goal, constraints=[constraint, whole], bounds=Bounds(0, upper), integrality=integral
    )
    assert first.status == 0
    stations = round(first.fun)
    fixed = LinearConstraint(goal[None, :], stations, stations)
    aides_goal = np.r_[np.zeros(pairs + n_cols), np.ones(n_cols)]
    second = milp(
        aides_goal,
        constraints=[constraint, whole, fixed],
        bounds=Bounds(0, upper),
        integrality=integral,
    )
    assert second.status == 0
    return stations, round(second.fun)


def reference_budget(
    reach: np.ndarray, weight: np.ndarray, budget: int, *, least: int, most: int
) -> float:
    """Most residents served with at most ``budget`` stations."""
    pairs, upper, constraint, rows = fraction_program(reach, weight, least=least, most=most)
    n_cols = reach.shape[1]
    count = LinearConstraint(np.r_[np.zeros(pairs), np.ones(n_cols), np.zeros(n_cols)], 0, budget)
    goal = np.r_[-weight[rows], np.zeros(2 * n_cols)]
    integral = np.r_[np.zeros(pairs), np.ones(2 * n_cols)]
    outcome = milp(
        goal, constraints=[constraint, count], bounds=Bounds(0, upper), integrality=integral
    )
    assert outcome.status == 0
    return -outcome.fun


def reference_assignment(
    cost: sp.csr_matrix, weight: np.ndarray, capacity: np.ndarray
) -> tuple[float, float]:
    """Most residents served within capacities, then least weighted walk: one LP, big-M goal."""
    coo = cost.tocoo()
    pairs = coo.nnz
    big = 2.0 * (cost.shape[0] + cost.shape[1]) * (coo.data.max() + 1.0)
    goal = (coo.data - big) * weight[coo.row]
    rows = sp.csr_matrix(
        (np.ones(pairs), (coo.row, np.arange(pairs))), shape=(cost.shape[0], pairs)
    )
    cols = sp.csr_matrix(
        (weight[coo.row], (coo.col, np.arange(pairs))), shape=(cost.shape[1], pairs)
    )
    outcome = milp(
        goal,
        constraints=[LinearConstraint(rows, 0, 1), LinearConstraint(cols, 0, capacity)],
        bounds=Bounds(0, 1),
    )
    assert outcome.status == 0
    served = float(outcome.x @ weight[coo.row])
    return served, float(outcome.x @ (coo.data * weight[coo.row]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_capacitated_cover_against_highs(seed: int) -> None:
    cost, weight, reach = reaching_instance(seed)
    capacity = Capacity(RATE, aides_new=1, max_aides=2)
    stations, aides = reference_cover(reach, weight, least=1, most=2)
    model = CoverageModel.from_cost_matrix(cost, weights=weight, minutes=1.0)

    exact = model.solve(capacity=capacity, exact=True).summary
    assert exact["n_new"] == stations
    assert exact["staffing"]["aides"] == aides
    assert exact["lower_bound"] <= stations + 1e-6

    found = model.solve(capacity=capacity).summary
    assert stations <= found["n_new"] <= stations + 1
    assert found["lower_bound"] <= stations + 1e-6
    table = model.stations
    assert (table["served_weight"] <= table["capacity"] * (1 + 1e-6)).all()
    assert table["aides"].between(1, 2).all()
    assert sum(found["status_counts"].values()) == found["communities_read"] == len(weight)
    assert found["status_counts"]["covered_new"] == len(weight)  # every one served whole
    served = model.assignments["served_weight"].to_numpy()
    np.testing.assert_allclose(served, weight, rtol=1e-6)
    assert found["staffing"]["shortfall"] == 0


@pytest.mark.parametrize("seed", [3, 4])
def test_capacitated_budget_against_highs(seed: int) -> None:
    cost, weight, reach = reaching_instance(seed)
    capacity = Capacity(RATE, aides_new=1, max_aides=2)
    best = reference_budget(reach, weight, 4, least=1, most=2)
    model = CoverageModel.from_cost_matrix(cost, weights=weight, minutes=1.0)
    exact = model.solve(capacity=capacity, budget=4, exact=True).summary
    assert exact["n_new"] <= 4
    assert exact["staffing"]["served_weight"] == pytest.approx(best, rel=1e-6)
    found = model.solve(capacity=capacity, budget=4).summary
    assert found["staffing"]["served_weight"] <= best * (1 + 1e-6)
    assert found["upper_bound"] >= best * (1 - 1e-9)
    assert (model.stations["served_weight"] <= model.stations["capacity"] * (1 + 1e-6)).all()
    counts = found["status_counts"]
    assert sum(counts.values()) == len(weight)
    assert counts["over_capacity"] + counts["over_budget"] > 0


@pytest.mark.parametrize("seed", [5, 6])
def test_assignment_against_highs(seed: int) -> None:
    cost, weight = instance(seed, n=40, limit=0.25)
    stations = np.arange(0, 40, 5)
    capacity = np.random.default_rng(seed).integers(1, 3, stations.size) * RATE / 2
    sub = sp.csr_matrix(cost[:, stations])
    served, walk = reference_assignment(sub, weight, capacity)
    ours = assign_within(sub, weight, capacity)
    assert ours.served.sum() == pytest.approx(served, rel=1e-7)
    assert ours.walk == pytest.approx(walk, rel=1e-6)
    assert (ours.station_served <= capacity * (1 + 1e-6)).all()
    assert (ours.served <= weight * (1 + 1e-6)).all()


def test_audit_over_capacity_and_shortfall() -> None:
    # one station with 1 aide (1,000 residents) in reach of two communities of 800
    cost = sp.csr_matrix(np.array([[2.0, 0.0], [5.0, 0.0], [0.0, 0.0], [0.0, 3.0]]))
    model = CoverageModel.from_cost_matrix(
        cost,
        community_ids=np.array(["a", "b", "c", "d"]),
        weights=np.array([800.0, 800.0, 50.0, 10.0]),
        site_ids=np.array(["s1", "s2"]),
        existing=np.array([True, True]),
        aides=np.array([1, 2]),
        minutes=15.0,
    )
    audit = model.audit(capacity=Capacity(1000))
    table = audit.communities.set_index("community_id")
    assert table.loc["a", "status"] == "covered_existing"  # the nearer one is served whole
    assert table.loc["b", "status"] == "over_capacity"
    assert table.loc["b", "station_id"] == "s1"
    assert table.loc["b", "walk_min"] == 5.0
    assert table.loc["b", "unserved_weight"] == pytest.approx(600.0)
    assert table.loc["b", "reason"] == "over_capacity"
    assert "full" in table.loc["b", "reason_text"]
    assert table.loc["c", "status"] == "uncoverable"
    stations = audit.stations.set_index("station_id")
    assert stations.loc["s1", "aides"] == 1
    assert stations.loc["s1", "demand_weight"] == pytest.approx(1600.0)
    assert stations.loc["s1", "aides_needed"] == 2
    assert stations.loc["s1", "shortfall"] == 1
    assert stations.loc["s2", "aides_needed"] == 1
    assert stations.loc["s2", "shortfall"] == 0
    staffing = audit.summary["staffing"]
    assert staffing["shortfall"] == 1
    assert staffing["over_capacity"] == 1
    assert audit.summary["status_counts"]["over_capacity"] == 1
    assert sum(audit.summary["status_counts"].values()) == 4


SPOPT_COST = np.array(
    [
        [12.603026009112472, 3.935986512910648],
        [13.100963467422142, 4.433923971220318],
        [6.9095461990552725, 4.242506702853448],
        [2.9819683174724774, 7.845812236061214],
        [7.500289197055226, 6.3280697505889165],
    ]
)
"""spopt's ``network_instance(5, 2)`` cost matrix (tests/conftest.py: a 10 x 10 spaghetti
lattice, clients and facilities simulated with its seeds), as its LSCP tests see it."""


@pytest.mark.parametrize(
    ("radius", "capacities", "stations", "assigned"),
    [
        (8, [5, 15], 1, ["1", "1", "1", "1", "1"]),
        (8, [15, 5], 2, None),
        (7, [8, 8], 2, None),
    ],
)
def test_spopt_clscp_so_cases(
    radius: float, capacities: list[int], stations: int, assigned: list[str] | None
) -> None:
    """spopt's test_clscp-so.py: demand 1..5, facility capacities, the optimal counts."""
    within = np.where(radius >= SPOPT_COST, SPOPT_COST, np.nan)
    rows, cols = np.nonzero(~np.isnan(within))
    cost = sp.csr_matrix((within[rows, cols], (rows, cols)), shape=SPOPT_COST.shape)
    model = CoverageModel.from_cost_matrix(
        cost, weights=np.arange(1, 6), minutes=radius, aides=np.array(capacities)
    )
    for exact in (False, True):
        summary = model.solve(capacity=Capacity(1, max_aides=20), exact=exact).summary
        assert summary["n_new"] == stations
        assert summary["status_counts"]["covered_new"] == 5
        table = model.stations
        assert (table["served_weight"] <= table["capacity"] * (1 + 1e-6)).all()
        if assigned is not None:
            assert model.assignments["station_id"].tolist() == assigned


def test_walk_tiebreak_keeps_the_cover_and_shortens_walks() -> None:
    from instances import milp_min_cover

    cost, weight = instance(7, n=60, limit=0.25)
    model = CoverageModel.from_cost_matrix(cost, weights=weight, minutes=1.0)
    summary = model.solve().summary
    stats = model.result.stats
    assert summary["n_new"] == milp_min_cover(cost)
    assert stats["walk_after"] <= stats["walk_before"]
    table = model.assignments
    covered = table["covered"].to_numpy()
    assert covered.sum() == (cost.getnnz(axis=1) > 0).sum()
    walk = table["walk_min"].to_numpy()[covered] @ table["weight"].to_numpy()[covered]
    assert walk == pytest.approx(stats["walk_after"], rel=1e-9)
    assert summary["mean_walk_min"] == pytest.approx(walk / weight[covered].sum())
    assert summary["longest_walk_min"] == pytest.approx(table["walk_min"][covered].max())


def test_capacity_parameters_are_checked() -> None:
    with pytest.raises(InputError, match="residents_per_aide"):
        Capacity(0)
    with pytest.raises(InputError, match="max_aides"):
        Capacity(1000, aides_new=3, max_aides=2)
    with pytest.raises(InputError, match="aides_new"):
        Capacity(1000, aides_new=0)
    assert Capacity(1000, aides_new=2).most_aides == 2
    with pytest.raises(InputError, match="up to 1,000,000,000,000"):
        Capacity(1e300)  # aides times this would overflow every capacity to infinity
    with pytest.raises(InputError, match="more than 1,000,000,000 aides"):
        Capacity(1e-300).needed(np.array([5_000.0]))  # not a count of int64 garbage
    assert Capacity(1e-3).needed(np.array([0.0, 2.5])).tolist() == [1, 2_500]


def test_station_aides_from_their_column(tmp_path) -> None:
    path = tmp_path / "stations.csv"
    pd.DataFrame(
        {
            "名称": ["甲", "乙", "丙"],
            "经度": [121.4, 121.5, 121.6],
            "纬度": [31.2] * 3,
            "就业援助员": [4, "", 2],
        }
    ).to_csv(path, index=False)
    points = read_points(path, crs="gcj02", role="existing stations")
    np.testing.assert_array_equal(station_aides(points), [4.0, 1.0, 2.0])
    counted = tmp_path / "counted.csv"
    pd.DataFrame({"经度": [121.4], "纬度": [31.2], "人数": [3]}).to_csv(counted, index=False)
    points = read_points(counted, crs="gcj02", role="existing stations")
    np.testing.assert_array_equal(station_aides(points), [3.0])
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"经度": [121.4, 121.5], "纬度": [31.2] * 2, "aides": [1, "two"]}).to_csv(
        bad, index=False
    )
    with pytest.raises(
        InputError, match=r"bad\.csv: rows 3: aides .* not 'two'"
    ):  # the sheet's row
        station_aides(read_points(bad, crs="gcj02", role="existing stations"))


def test_an_assignment_cut_by_the_time_limit_is_greedy_and_says_so() -> None:
    import time

    rng = np.random.default_rng(7)
    n_rows, n_cols = 3_000, 300
    dense = rng.random((n_rows, n_cols))
    dense[dense > 0.3] = 0.0  # about 270,000 pairs: HiGHS needs far more than 10 ms
    cost = sp.csr_matrix(dense * 15.0)
    demand = rng.integers(1, 50, n_rows).astype(float)
    capacity = rng.integers(50, 400, n_cols).astype(float)
    cut = assign_within(cost, demand, capacity, deadline=time.perf_counter() - 1.0)
    assert not cut.optimal
    flow = cut.flow.toarray()
    assert (flow >= 0).all()
    assert (flow[dense == 0] == 0).all()  # only pairs within the limit
    assert (flow.sum(axis=1) <= demand + 1e-9).all()
    assert (flow.sum(axis=0) <= capacity + 1e-9).all()
    # greedy by walk time: the shortest pair overall is filled as far as it can be
    first = np.unravel_index(np.argmin(np.where(dense > 0, dense, np.inf)), dense.shape)
    assert flow[first] == min(demand[first[0]], capacity[first[1]])
    assert assign_within(cost[:50, :20], demand[:50], capacity[:20]).optimal


def test_a_capacitated_plan_keeps_its_time_limit() -> None:
    import time

    cost, weight, _ = reaching_instance(11, n=1_500, limit=0.06)  # HiGHS takes about the 3 s
    model = CoverageModel.from_cost_matrix(cost, weights=weight, minutes=1.0)
    capacity = Capacity(RATE, aides_new=1, max_aides=2)
    started = time.perf_counter()
    summary = model.solve(capacity=capacity, exact=True, lp_bound=True, time_limit=3.0).summary
    seconds = time.perf_counter() - started
    assert seconds < 3.0 + 5.0  # the limit and a margin for a loaded machine
    assert summary["method"] in ("exact", "exact (time limit)")
    table = model.stations
    assert (table["served_weight"] <= table["capacity"] * (1 + 1e-6)).all()
    assert sum(summary["status_counts"].values()) == len(weight)


def _scipy_max_flow(pattern: sp.csr_matrix, units: np.ndarray, caps: np.ndarray) -> int:
    """Source -> rows (units) -> sites in reach -> sink (caps), built here, solved by SciPy."""
    n_rows, n_cols = pattern.shape
    coo = pattern.tocoo()
    sink = n_rows + n_cols + 1
    tails = np.concatenate([np.zeros(n_rows, int), 1 + coo.row, 1 + n_rows + np.arange(n_cols)])
    heads = np.concatenate([1 + np.arange(n_rows), 1 + n_rows + coo.col, np.full(n_cols, sink)])
    data = np.concatenate([units, units[coo.row], caps]).astype(np.int32)
    graph = sp.csr_matrix((data, (tails, heads)), shape=(sink + 1, sink + 1))
    return int(maximum_flow(graph, 0, sink).flow_value)


def random_flow(rng: np.random.Generator):
    """A random pattern, its flow check (5 residents per aide), aides and a maximum flow."""
    n_rows, n_cols = int(rng.integers(3, 30)), int(rng.integers(2, 12))
    pattern = sp.random(
        n_rows, n_cols, density=rng.uniform(0.1, 0.6), random_state=rng, format="csr"
    )
    pattern.data[:] = 1
    pattern.sort_indices()
    check = FlowCheck(pattern, rng.integers(1, 20, n_rows).astype(float), 5.0)
    aides = rng.integers(0, 4, n_cols)
    return pattern, check, aides, check.flow_state(aides)


@pytest.mark.parametrize("seed", range(6))
def test_lowered_capacities_keep_the_flow_as_scipy_says(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(40):
        pattern, check, aides, state = random_flow(rng)
        n_rows, n_cols = pattern.shape
        value = _scipy_max_flow(pattern, check.units, check.units_of(aides))
        assert state.value == value
        for _ in range(6):
            site = int(rng.integers(n_cols))
            lowered = aides.copy()
            lowered[site] = max(lowered[site] - int(rng.integers(1, 3)), 0)
            kept = state.lower(site, int(check.units_of(lowered)[site]))
            reference = _scipy_max_flow(pattern, check.units, check.units_of(lowered))
            assert kept == (reference == value)
            if kept:
                aides = lowered
            served = np.bincount(pattern.tocoo().row, state.pair_flow, minlength=n_rows)
            taken = np.bincount(pattern.tocoo().col, state.pair_flow, minlength=n_cols)
            assert (state.pair_flow >= 0).all() and served.sum() == value
            assert (served <= check.units).all() and (taken <= check.units_of(aides)).all()


def relaxation_reference(reach: np.ndarray, weight: np.ndarray, *, least: int, most: int) -> float:
    """The LP relaxation of the fraction programme (every community served whole), by HiGHS."""
    pairs, upper, constraint, rows = fraction_program(reach, weight, least=least, most=most)
    n_cols = reach.shape[1]
    whole = LinearConstraint(
        sp.csr_matrix(
            (np.ones(pairs), (rows, np.arange(pairs))), shape=(reach.shape[0], upper.size)
        ),
        1.0,
        1.0,
    )
    goal = np.r_[np.zeros(pairs), np.ones(n_cols), np.zeros(n_cols)]
    outcome = milp(goal, constraints=[constraint, whole], bounds=Bounds(0, upper))
    assert outcome.status == 0
    return float(outcome.fun)


def small_problem(seed: int, *, least: int = 1, most: int = 2):
    cost, weight, reach = reaching_instance(seed)
    model = CoverageModel.from_cost_matrix(cost, weights=weight, minutes=1.0)
    problem = model.capacity_problem(Capacity(RATE, aides_new=least, max_aides=most))
    return model, problem, reach, weight


@pytest.mark.parametrize("seed", [0, 1, 2, 8])
@pytest.mark.parametrize("method", ["simplex", "simplex, forked", "interior point"])
def test_lp_bound_is_the_relaxation_and_below_the_optimum(monkeypatch, seed, method) -> None:
    from quarterhour.siting import capacity as capacity_module

    if method != "simplex":  # in a forked process, as above 5,000 pairs
        monkeypatch.setattr(capacity_module, "IN_PROCESS_MAX_PAIRS", 0)
    if method == "interior point":  # without crossover, as on large instances
        monkeypatch.setattr(capacity_module, "SIMPLEX_MAX_PAIRS", 0)
    _, problem, reach, weight = small_problem(seed)
    relaxed = capacity_module.capacitated_highs(
        problem, target=float(weight.sum()), integral=False, time_limit=30.0
    )
    assert relaxed.optimal
    reference = relaxation_reference(reach, weight, least=1, most=2)
    stations, _ = reference_cover(reach, weight, least=1, most=2)
    assert relaxed.bound <= reference + 1e-9
    assert relaxed.bound == pytest.approx(reference, rel=1e-4)
    assert relaxed.bound <= stations


def _serves(problem, columns: np.ndarray) -> tuple[int, bool]:
    """Units SciPy's maximum flow serves with ``columns`` open at their most aides; covered."""
    check = FlowCheck(problem.pattern, problem.demand, problem.capacity.residents_per_aide)
    caps = check.units_of(problem.aides_with(columns, problem.most_aides[columns]))
    value = _scipy_max_flow(check.pattern, check.units, caps)
    reached = problem.pattern[:, problem.n_existing :][:, columns].getnnz(axis=1) > 0
    return value, bool(np.all(reached | ~problem.must_cover))


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_fewer_stations_by_swaps_serve_everyone_as_scipy_says(seed: int) -> None:
    from quarterhour.siting.capacity_swaps import fewer_stations

    _, problem, reach, weight = small_problem(seed)
    check = FlowCheck(problem.pattern, problem.demand, problem.capacity.residents_per_aide)
    every = np.arange(problem.n_candidates)
    needed, _ = _serves(problem, every)
    columns, counts = fewer_stations(problem, check, every, needed, work=10**9)
    value, covered = _serves(problem, columns)
    assert value == needed and covered
    stations, _ = reference_cover(reach, weight, least=1, most=2)
    assert stations <= columns.size == every.size - counts["closed"]


def test_a_two_for_one_swap_is_found() -> None:
    from quarterhour.siting.capacity_swaps import fewer_stations

    # a reaches community 0, b community 1, c both: {a, b} drops neither; {c} serves both
    cost = sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 2.0]]))
    model = CoverageModel.from_cost_matrix(cost, weights=np.array([3.0, 3.0]), minutes=5.0)
    problem = model.capacity_problem(Capacity(6))
    check = FlowCheck(problem.pattern, problem.demand, 6.0)
    columns, counts = fewer_stations(problem, check, np.array([0, 1]), 6, work=10**6)
    assert columns.tolist() == [2]
    assert counts == {"closed": 1, "repair_swaps": 1, "work": counts["work"]}
    assert model.solve(capacity=Capacity(6)).summary["n_new"] == 1


def test_walk_swaps_within_capacity_find_the_nearer_site() -> None:
    from quarterhour.siting.capacity_swaps import shorter_walks_within

    # communities 0-2 reach site 0 (far) and site 1 (near); site 2 alone serves community 3
    cost = sp.csr_matrix(
        np.array(
            [
                [9.0, 1.0, 0.0],
                [9.0, 2.0, 0.0],
                [9.0, 1.0, 0.0],
                [0.0, 0.0, 1.0],
            ]
        )
    )
    weight = np.array([2.0, 2.0, 2.0, 1.0])
    model = CoverageModel.from_cost_matrix(cost, weights=weight, minutes=10.0)
    problem = model.capacity_problem(Capacity(3, max_aides=2))
    pair_cost = sp.csr_matrix(problem.pattern.multiply(cost)).data
    columns, stats = shorter_walks_within(
        problem, pair_cost, np.array([0, 2]), np.array([2, 1]), work=10**6
    )
    assert columns.tolist() == [1, 2] and stats["walk_swaps"] == 1
    _, before = reference_assignment(sp.csr_matrix(cost[:, [0, 2]]), weight, np.array([6.0, 3.0]))
    _, after = reference_assignment(sp.csr_matrix(cost[:, [1, 2]]), weight, np.array([6.0, 3.0]))
    assert after < before


@pytest.mark.parametrize("seed", [0, 1, 2, 9])
def test_capacitated_walks_are_the_least_for_their_stations(seed: int) -> None:
    model, _, _, weight = small_problem(seed)
    summary = model.solve(capacity=Capacity(RATE, aides_new=1, max_aides=2)).summary
    stats = model.result.stats
    table = model.stations
    assert (table["served_weight"] <= table["capacity"] * (1 + 1e-6)).all()
    columns = table["station_id"].astype(int).to_numpy()
    cost = sp.csr_matrix(model.cost[:, columns])
    served, walk = reference_assignment(cost, weight, table["capacity"].to_numpy())
    ours = model.assignments
    assert ours["served_weight"].sum() == pytest.approx(served, rel=1e-7)
    dense = model.cost.toarray()
    table_walk = 0.0  # the published shares, walked
    for row, entry in ours.iterrows():
        shares = [part.split() for part in entry["stations"].split("; ") if part]
        if not shares:
            shares = [[entry["station_id"], entry["served_weight"]]]
        table_walk += sum(float(value) * dense[row, int(site)] for site, value in shares)
    assert table_walk >= walk * (1 - 1e-6)  # no assignment to these stations walks less
    assert table_walk == pytest.approx(walk, rel=1e-4)
    assert summary["n_new"] == len(columns)
    assert stats["walk_swaps"] > 0  # each of these seeds has swaps that shorten the walk
    # kept only when the least-walk assignments agree
    assert stats["walk_after"] == pytest.approx(walk, rel=1e-6)
    assert stats["walk_after"] < stats["walk_before"]


@pytest.mark.parametrize("seed", range(4))
def test_closing_and_opening_sites_keep_a_maximum_flow_as_scipy_says(seed: int) -> None:
    from quarterhour.siting.capacity_swaps import _shed, _source_fill

    rng = np.random.default_rng(seed)
    for _ in range(30):
        pattern, check, aides, state = random_flow(rng)
        n_rows, n_cols = pattern.shape
        for _ in range(6):
            site = int(rng.integers(n_cols))
            before = state.value
            if aides[site] and rng.random() < 0.5:
                aides[site] = 0
                lost = _shed(state.graph, state.arrays, site, 0)
                assert before - lost == state.value
            else:
                aides[site] += int(rng.integers(1, 3))
                state.caps[site] = check.units_of(aides)[site]
                gained = _source_fill(state.graph, state.arrays)
                assert before + gained == state.value
            assert state.value == _scipy_max_flow(pattern, check.units, check.units_of(aides))
            served = np.bincount(pattern.tocoo().row, state.pair_flow, minlength=n_rows)
            taken = np.bincount(pattern.tocoo().col, state.pair_flow, minlength=n_cols)
            assert (state.pair_flow >= 0).all() and (served == state.served).all()
            assert (served <= check.units).all() and (taken <= check.units_of(aides)).all()


def test_a_capacitated_plan_with_no_site_in_reach_says_so() -> None:
    """No pair within the limit (all candidates far away): every community uncoverable."""
    cost = sp.csr_matrix((4, 3))
    model = CoverageModel.from_cost_matrix(
        cost, weights=np.array([5.0, 1e8, 2.0, 3.0]), minutes=1.0
    )
    summary = model.solve(capacity=Capacity(8.9e11)).summary
    assert summary["n_new"] == 0
    assert summary["status_counts"]["uncoverable"] == 4 == summary["communities_read"]


def test_a_cover_short_of_capacity_says_how_many_residents_can_be_served() -> None:
    """Sites too small for the residents in reach: the warning gives SciPy's maximum flow."""
    cost, weight, reach = reaching_instance(5)
    model = CoverageModel.from_cost_matrix(cost, weights=weight, minutes=1.0)
    rate = 200.0  # every community has 100-3,000 residents; at most 2 aides a site
    summary = model.solve(capacity=Capacity(rate, max_aides=2)).summary
    assert summary["status_counts"]["over_capacity"] > 0
    every_site_at_two = np.full(reach.shape[1], int(2 * rate))
    most = _scipy_max_flow(sp.csr_matrix(reach), weight.astype(int), every_site_at_two)
    (warning,) = [w for w in summary["warnings"] if "over capacity" in w]
    assert f"at most {most:,.0f} of their {weight.sum():,.0f} residents" in warning


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("budget", [None, 1, 2])
def test_links_added_last_give_the_whole_lp(seed: int, budget: int | None) -> None:
    """The simplex without the strong links, then with them, ends at the whole LP's optimum.

    Half the residents per aide: with a budget the links bind (the LP without them serves
    everyone from a sliver of each site), so a step that left them out would fail.
    """
    from dataclasses import replace

    from scipy.optimize import linprog

    from quarterhour.siting.capacity import _links_last_simplex, _relaxation

    _, problem, _, weight = small_problem(seed)
    problem = replace(problem, capacity=Capacity(float(weight.sum()) / 2, max_aides=2))
    objective, matrix, limits, upper, links = _relaxation(
        problem, target=float(weight.sum()), budget=budget
    )
    assert links.stop - links.start == problem.pattern.nnz  # no existing stations here
    bounds = np.c_[np.zeros(upper.size), upper]
    whole = linprog(objective, A_ub=matrix, b_ub=limits, bounds=bounds)
    stepwise = _links_last_simplex(objective, matrix, limits, upper, links, time_limit=30.0)
    assert stepwise.status == 0 and whole.status == 0
    assert stepwise.fun == pytest.approx(whole.fun, rel=1e-9, abs=1e-9)
    assert np.all(matrix @ stepwise.x <= limits + 1e-7)
    weak = np.r_[np.arange(links.start), np.arange(links.stop, matrix.shape[0])]
    without = linprog(objective, A_ub=matrix[weak], b_ub=limits[weak], bounds=bounds)
    if budget is not None:
        assert without.fun < whole.fun - 0.1  # the links bind
