"""Benchmark of capacitated siting and of the shortest-walk tie-break (not a test).

    python benchmarks/bench_capacity.py [--part capacity tiebreak assign] [--time-limit 120]
                                        [--quick] [--assign-instance heidelberg-260 city]

``capacity``: capacitated minimum cover (``solve(capacity=...)``) on weighted instances, against
HiGHS' integer programme (scipy.optimize.milp, the formulation of
:mod:`quarterhour.siting.capacity`) within ``--time-limit`` seconds and, unless ``--quick``,
spopt's capacitated LSCP (CLSCP-SO, CBC) on the same matrix with every site at the same
capacity (``aides_new = max_aides``, so both count stations alone):

* ``heidelberg-260-10min`` -- the 260 of ``bench_siting``'s 4,000 Heidelberg street points
  nearest their median, 10 min, weights uniform in 100-9,500 residents (seed 260), 10,000
  residents per aide, at most 2 aides;
* ``heidelberg-near-N`` -- the same with the ``N`` points nearest the median;
* ``shanghai`` -- the bundled compounds inside the central Shanghai extract, 15 min, weight
  30,000 residents per km² of the compound's outline (at least 100), 10,000 per aide, at most 2.

``tiebreak``: the uncapacitated plan of the street instances, its time with and without the
1-for-1 swaps that shorten the weighted walk, and the mean walk before and after (the
capacitated plan's walk swaps are measured in ``capacity``, with every site at 2 aides).

``assign``: the capacitated assignment alone (``assign_within``: the most residents served, then
the least weighted walk, a least-cost maximum flow in numba) against the same two linear
programmes by HiGHS (``scipy.optimize.linprog``, what it replaced), median of the runs in the same
process, with capacity short (1 aide a station) and ample (10 aides):

* ``heidelberg-260`` -- ``capacity``'s 260 points, the stations of its plan with every site at
  2 aides (10,000 residents per aide);
* ``city`` -- ``bench_city``'s mosaic (20,000 street points, 200-5,000 residents each, as
  ``bench_workspace``'s list), the stations of their uncapacitated minimum cover at 15 min,
  20,000 residents per aide.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_siting import build_instance, timed

from quarterhour.siting import CoverageModel
from quarterhour.siting.capacity import Capacity, assign_within

from instances import shanghai_compounds

if TYPE_CHECKING:
    from collections.abc import Callable

RESIDENTS_PER_KM2 = 30_000.0
RUNS = 7
"""Timed runs of our plan; the median is reported."""
SPOPT_RUNS = 3
"""Timed runs of spopt's (each seconds long); the median is reported."""


def median_timed(function: Callable[[], object]) -> tuple[object, float]:
    """The answer of ``function`` and its median time over :data:`RUNS` runs."""
    runs = [timed(function) for _ in range(RUNS)]
    return runs[-1][0], float(np.median([seconds for _, seconds in runs]))


def weights_of(name: str, n: int) -> np.ndarray:
    """Residents per demand point of an instance."""
    if name == "shanghai":
        import shapely

        from quarterhour.geo.crs import gcj02_to_wgs84
        from quarterhour.geo.projection import LocalProjection

        table = shanghai_compounds()
        areas = []
        for outline in table["shape"].fillna(""):
            pairs = [p.split(",") for p in str(outline).split("_") if "," in p]
            if len(pairs) < 3:
                areas.append(0.0)
                continue
            lon, lat = gcj02_to_wgs84(*np.asarray(pairs, float).T)
            x, y = LocalProjection.for_lonlat(lon, lat).forward(lon, lat)
            areas.append(float(shapely.Polygon(np.c_[x, y]).area))
        return np.maximum(np.round(np.asarray(areas) * RESIDENTS_PER_KM2 / 1e6), 100.0)
    return np.random.default_rng(n).integers(100, 9_500, n).astype(float)


def spopt_clscp(cost, minutes: float, demand: np.ndarray, capacity: float, time_limit: float):
    """Stations spopt's capacitated LSCP picks with CBC, and whether CBC proved them optimal."""
    import pulp
    from spopt.locate import LSCP

    coo = cost.tocoo()
    dense = np.full(cost.shape, minutes * 10.0)
    dense[coo.row, coo.col] = coo.data
    model = LSCP.from_cost_matrix(
        dense,
        minutes,
        demand_quantity_arr=demand,
        facility_capacity_arr=np.full(cost.shape[1], capacity),
    ).solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit))
    stations = sum(1 for variable in model.fac_vars if variable.value() and variable.value() > 0.5)
    return stations, pulp.LpStatus[model.problem.status] == "Optimal"


def heidelberg_nearest(n: int = 260):
    """The walk times among the ``n`` of bench_siting's Heidelberg points nearest their median."""
    from quarterhour.routing.network import load_network
    from quarterhour.routing.walktimes import walk_time_matrix

    from instances import DATA
    from instances import street_points as points

    network = load_network(DATA / "heidelberg.osm.pbf")
    lon, lat = points(network, 4000, seed=4000)  # bench_siting's heidelberg-4000 points
    centre = np.array([np.median(lon), np.median(lat)])
    nearest = np.argsort(np.hypot(lon - centre[0], (lat - centre[1]) * 1.5))[:n]
    lon, lat = lon[np.sort(nearest)], lat[np.sort(nearest)]
    return walk_time_matrix(network, lon, lat, lon, lat, minutes=10.0, quiet=True).matrix


def capacity_run(name: str, options: argparse.Namespace) -> None:
    base = "heidelberg-260-10min" if name.startswith("heidelberg-260") else name
    if base == "heidelberg-260-10min":
        cost, minutes = heidelberg_nearest(), 10.0
    elif base.startswith("heidelberg-near-"):  # heidelberg-near-N: the N nearest, 10 min
        cost, minutes = heidelberg_nearest(int(base.split("-")[2])), 10.0
    else:
        cost, minutes = build_instance(base)
    weight = weights_of(base, cost.shape[0])
    model = CoverageModel.from_cost_matrix(cost, weights=weight, minutes=minutes)
    capacity = Capacity(10_000, aides_new=1, max_aides=2)
    fixed = Capacity(10_000, aides_new=2, max_aides=2)
    for warm in (capacity, fixed):  # kernels compiled (or loaded) before the timed runs
        model.solve(capacity=warm)
    plain, plain_seconds = timed(lambda: model.solve().summary)
    ours, seconds = median_timed(lambda: model.solve(capacity=capacity).summary)
    print(
        f"\n== {name}: {cost.shape[0]:,} points, {cost.nnz:,} pairs, {weight.sum():,.0f} residents"
    )
    print(f"uncapacitated: {plain['n_new']} stations in {plain_seconds:.2f} s")
    print(
        f"capacitated (max 2 aides): {ours['n_new']} stations, {ours['staffing']['aides']} aides, "
        f"bound {ours['lower_bound']:.2f}, {ours['method']}, {seconds:.3f} s (median of {RUNS}) "
        f"(LP bound {model.result.stats.get('lp_seconds', math.nan):.2f} s of it)"
    )
    exact, exact_seconds = timed(
        lambda: model.solve(capacity=capacity, exact=True, time_limit=options.time_limit).summary
    )
    print(
        f"HiGHS (exact, {options.time_limit:.0f} s): {exact['n_new']} stations, "
        f"{exact['staffing']['aides']} aides, bound {exact['lower_bound']:.2f}, {exact['method']}, "
        f"{exact_seconds:.1f} s; ours - HiGHS: {ours['n_new'] - exact['n_new']:+d}"
    )
    same, same_seconds = median_timed(lambda: model.solve(capacity=fixed).summary)
    stats = model.result.stats
    print(
        f"every site 2 aides: {same['n_new']} stations, bound {same['lower_bound']:.2f}, in "
        f"{same_seconds:.3f} s (median of {RUNS}; LP bound {stats.get('lp_seconds', math.nan):.2f} s, "
        f"{stats.get('swap_closed')} closed by swaps, walk swaps {stats.get('walk_seconds', 0):.2f} s)"
    )
    capacity_walks(model, fixed, weight)
    if not options.quick:
        coverable = model.pattern.getnnz(axis=1) > 0
        import pulp  # noqa: F401 (imported before spopt's timed runs, as ours are warm)
        import spopt.locate  # noqa: F401

        spopt_runs = [
            timed(
                spopt_clscp,
                cost[coverable],
                minutes,
                weight[coverable],
                20_000.0,
                options.time_limit,
            )
            for _ in range(SPOPT_RUNS)
        ]
        (stations, optimal), _ = spopt_runs[0]
        spopt_seconds = float(np.median([seconds for _, seconds in spopt_runs]))
        print(
            f"spopt CLSCP (CBC{' optimal' if optimal else ', stopped'}): {stations} stations in "
            f"{spopt_seconds:.2f} s (median of {SPOPT_RUNS}: "
            f"{', '.join(f'{seconds:.2f}' for _, seconds in spopt_runs)}): "
            f"{spopt_seconds / same_seconds:,.0f}x our time"
        )


def capacity_walks(model: CoverageModel, capacity: Capacity, weight: np.ndarray) -> None:
    """The capacitated plan with and without its walk swaps: time (median of 3) and mean walk."""
    from quarterhour.siting import model as model_module

    default = model_module.WALK_WORK_PER_PAIR_CAPACITY
    times: dict[int, float] = {}
    for work in (0, default):
        model_module.WALK_WORK_PER_PAIR_CAPACITY = work
        runs = [timed(lambda: model.solve(capacity=capacity).summary)[1] for _ in range(3)]
        times[work] = float(np.median(runs))
    model_module.WALK_WORK_PER_PAIR_CAPACITY = default
    stats = model.result.stats
    total = float(weight[model.pattern.getnnz(axis=1) > 0].sum())
    if stats.get("walk_after") is None:
        print(f"  walk swaps within capacity: none ({stats.get('walk_swaps')})")
        return
    print(
        f"  walk swaps within capacity: {stats['walk_swaps']} swaps, mean walk "
        f"{stats['walk_before'] / total:.2f} -> {stats['walk_after'] / total:.2f} min, plan "
        f"{times[0]:.3f} -> {times[default]:.3f} s (+{100 * (times[default] / times[0] - 1):.0f} %)"
    )


def tiebreak_run(name: str) -> None:
    cost, minutes = build_instance(name)
    model = CoverageModel.from_cost_matrix(cost, minutes=minutes)
    model.solve()  # warm up
    times, walks = [], []
    for _ in range(3):
        summary, seconds = timed(lambda: model.solve().summary)
        times.append(seconds)
        walks.append(model.result.stats["walk_seconds"])
    stats = model.result.stats
    n = int((model.pattern.getnnz(axis=1) > 0).sum())
    share = np.median(walks) / (np.median(times) - np.median(walks))
    print(
        f"{name}: {summary['n_new']} stations, plan {np.median(times):.3f} s of which swaps "
        f"{np.median(walks):.3f} s (+{100 * share:.0f} %), {stats['walk_swaps']} swaps, mean walk "
        f"{stats['walk_before'] / n:.2f} -> {summary['mean_walk_min']:.2f} min, longest "
        f"{summary['longest_walk_min']:.2f} min"
    )


def highs_assignment(cost: sp.csr_matrix, demand: np.ndarray, capacity: np.ndarray) -> float:
    """The assignment as it was: the most served (one LP), then the least walk (another); walk."""
    nnz = cost.nnz
    rows = sp.csr_matrix((np.ones(nnz), np.arange(nnz), cost.indptr), shape=(cost.shape[0], nnz))
    cols = sp.csr_matrix((np.ones(nnz), (cost.indices, np.arange(nnz))), shape=(cost.shape[1], nnz))
    upper = sp.vstack([rows, cols], format="csr")
    unit = max(float(capacity.max()), float(demand.max()), 1.0)
    limits = np.concatenate([demand, capacity]) / unit
    most = linprog(-np.ones(nnz), A_ub=upper, b_ub=limits, bounds=(0, None), method="highs")
    total = -most.fun
    every = sp.vstack([upper, -sp.csr_matrix(np.ones((1, nnz)))], format="csr")
    least = linprog(
        cost.data,
        A_ub=every,
        b_ub=np.concatenate([limits, [-(total - 1e-9 * max(total, 1.0))]]),
        bounds=(0, None),
        method="highs",
    )
    return float(least.fun) * unit


def assign_instance(name: str) -> tuple[sp.csr_matrix, np.ndarray, float, str]:
    """Communities x the stations of a plan, residents, residents per aide, and the plan said."""
    if name == "heidelberg-260":
        cost = heidelberg_nearest()
        weight = weights_of(name, cost.shape[0])
        model = CoverageModel.from_cost_matrix(cost, weights=weight, minutes=10.0)
        rate = 10_000.0
        model.solve(capacity=Capacity(rate, aides_new=2, max_aides=2))
    else:
        import pandas as pd
        from bench_city import mosaic, street_points

        from quarterhour.routing.network import load_network

        osm, _ = mosaic(Path.home() / ".cache" / "quarterhour-bench")
        network = load_network(osm)
        lon, lat = street_points(network, 20_000, seed=1)
        weight = np.random.default_rng(3).integers(200, 5000, lon.size).astype(float)
        homes = pd.DataFrame({"id": np.arange(lon.size).astype(str), "lon": lon, "lat": lat})
        model = CoverageModel.from_points(network, homes, minutes=15, crs="wgs84")
        rate = 20_000.0
        model.solve()
    columns = np.flatnonzero(np.isin(model.sites.ids, model.stations["station_id"]))
    cost = sp.csr_matrix(model.cost[:, columns])
    cost.sort_indices()
    return cost, weight, rate, f"{columns.size:,} stations of its plan"


def assign_run(name: str, repeats: int) -> None:
    cost, weight, rate, plan = assign_instance(name)
    print(
        f"\n== assign {name}: {cost.shape[0]:,} communities, {plan}, {cost.nnz:,} pairs, "
        f"{weight.sum():,.0f} residents, {rate:,.0f} per aide"
    )
    for label, aides in (("short", 1), ("ample", 10)):
        capacity = np.full(cost.shape[1], aides * rate)
        assign_within(cost, weight, capacity)  # compiled (or loaded) before the timed runs
        ours, highs = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            found = assign_within(cost, weight, capacity)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            walk = highs_assignment(cost, weight, capacity)
            highs.append(time.perf_counter() - started)
        ours_s, highs_s = float(np.median(ours)), float(np.median(highs))
        print(
            f"  {label} ({aides} aides, {found.unserved.sum():,.0f} unserved): flow "
            f"{1e3 * ours_s:.1f} ms, HiGHS' two LPs {1e3 * highs_s:.1f} ms: "
            f"{highs_s / ours_s:.1f}x; walk {found.walk:,.0f} vs {walk:,.0f} "
            f"(rel. {abs(found.walk - walk) / max(walk, 1.0):.1e})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", nargs="+", default=["capacity", "tiebreak"])
    parser.add_argument("--capacity-instance", nargs="+", default=["heidelberg-260-10min"])
    parser.add_argument(
        "--tiebreak-instance",
        nargs="+",
        default=["shanghai", "heidelberg-2000", "heidelberg-4000", "heidelberg-2000-10min"],
    )
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="skip spopt")
    parser.add_argument("--assign-instance", nargs="+", default=["heidelberg-260", "city"])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each assignment")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if "tiebreak" in options.part:
        for name in options.tiebreak_instance:
            tiebreak_run(name)
    if "capacity" in options.part:
        for name in options.capacity_instance:
            capacity_run(name, options)
    if "assign" in options.part:
        for name in options.assign_instance:
            assign_run(name, options.repeats)


if __name__ == "__main__":
    main()
