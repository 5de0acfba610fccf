"""Benchmark of capacitated siting and of the shortest-walk tie-break (not a test).

    python benchmarks/bench_capacity.py [--part capacity tiebreak] [--time-limit 120] [--quick]

``capacity``: capacitated minimum cover (``solve(capacity=...)``) on weighted instances, against
HiGHS' integer programme (scipy.optimize.milp, the formulation of
:mod:`quarterhour.siting.capacity`) within ``--time-limit`` seconds and, unless ``--quick``,
spopt's capacitated LSCP (CLSCP-SO, CBC) on the same matrix with every site at the same
capacity (``aides_new = max_aides``, so both count stations alone):

* ``heidelberg-260-10min`` -- the 260 of ``bench_siting``'s 4,000 Heidelberg street points
  nearest their median, 10 min, weights uniform in 100-9,500 residents (seed 260), 10,000
  residents per aide, at most 2 aides;
* ``shanghai`` -- the bundled compounds inside the central Shanghai extract, 15 min, weight
  30,000 residents per km² of the compound's outline (at least 100), 10,000 per aide, at most 2.

``tiebreak``: the uncapacitated plan of the street instances, its time with and without the
1-for-1 swaps that shorten the weighted walk, and the mean walk before and after (the
capacitated plan's walk swaps are measured in ``capacity``, with every site at 2 aides).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_siting import build_instance, timed

from quarterhour.siting import CoverageModel
from quarterhour.siting.capacity import Capacity

from instances import shanghai_compounds

RESIDENTS_PER_KM2 = 30_000.0


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


def capacity_run(name: str, options: argparse.Namespace) -> None:
    base = "heidelberg-260-10min" if name.startswith("heidelberg-260") else name
    if base == "heidelberg-260-10min":
        from quarterhour.routing.network import load_network
        from quarterhour.routing.walktimes import walk_time_matrix

        from instances import DATA
        from instances import street_points as points

        network = load_network(DATA / "heidelberg.osm.pbf")
        lon, lat = points(network, 4000, seed=4000)  # bench_siting's heidelberg-4000 points
        centre = np.array([np.median(lon), np.median(lat)])
        nearest = np.argsort(np.hypot(lon - centre[0], (lat - centre[1]) * 1.5))[:260]
        lon, lat = lon[np.sort(nearest)], lat[np.sort(nearest)]
        cost = walk_time_matrix(network, lon, lat, lon, lat, minutes=10.0, quiet=True).matrix
        minutes = 10.0
    else:
        cost, minutes = build_instance(base)
    weight = weights_of(base, cost.shape[0])
    model = CoverageModel.from_cost_matrix(cost, weights=weight, minutes=minutes)
    capacity = Capacity(10_000, aides_new=1, max_aides=2)
    fixed = Capacity(10_000, aides_new=2, max_aides=2)
    for warm in (capacity, fixed):  # kernels compiled (or loaded) before the timed runs
        model.solve(capacity=warm)
    plain, plain_seconds = timed(lambda: model.solve().summary)
    ours, seconds = timed(lambda: model.solve(capacity=capacity).summary)
    print(
        f"\n== {name}: {cost.shape[0]:,} points, {cost.nnz:,} pairs, {weight.sum():,.0f} residents"
    )
    print(f"uncapacitated: {plain['n_new']} stations in {plain_seconds:.2f} s")
    print(
        f"capacitated (max 2 aides): {ours['n_new']} stations, {ours['staffing']['aides']} aides, "
        f"bound {ours['lower_bound']:.2f}, {ours['method']}, {seconds:.2f} s "
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
    same, same_seconds = timed(lambda: model.solve(capacity=fixed).summary)
    stats = model.result.stats
    print(
        f"every site 2 aides: {same['n_new']} stations, bound {same['lower_bound']:.2f}, in "
        f"{same_seconds:.2f} s (LP bound {stats.get('lp_seconds', math.nan):.2f} s, "
        f"{stats.get('swap_closed')} closed by swaps, walk swaps {stats.get('walk_seconds', 0):.2f} s)"
    )
    capacity_walks(model, fixed, weight)
    if not options.quick:
        coverable = model.pattern.getnnz(axis=1) > 0
        (stations, optimal), spopt_seconds = timed(
            spopt_clscp,
            cost[coverable],
            minutes,
            weight[coverable],
            20_000.0,
            options.time_limit,
        )
        print(
            f"spopt CLSCP (CBC{' optimal' if optimal else ', stopped'}): {stations} stations in "
            f"{spopt_seconds:.1f} s: {spopt_seconds / same_seconds:,.0f}x our time"
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
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if "tiebreak" in options.part:
        for name in options.tiebreak_instance:
            tiebreak_run(name)
    if "capacity" in options.part:
        for name in options.capacity_instance:
            capacity_run(name, options)


if __name__ == "__main__":
    main()
