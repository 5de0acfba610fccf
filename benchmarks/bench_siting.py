"""Benchmark of the minimum-cover solvers on real instances (not a test).

    python benchmarks/bench_siting.py [--instance shanghai heidelberg-2000 ...] [--quick] [--time-limit 120]

Instances (candidate sites = the demand points themselves):

* ``shanghai`` -- the real compounds inside data/shanghai_center.osm.pbf, walk times, 15 min;
* ``heidelberg-2000``, ``heidelberg-4000`` -- 2,000 / 4,000 points spread along the streets of
  data/heidelberg.osm.pbf (length-weighted, fixed seed), walk times, 15 min;
* ``heidelberg-2000-10min``, ``heidelberg-4000-10min`` -- the same points at 10 min;
* ``straight`` -- the Shanghai compounds with straight-line times (x 1.25 detour), 15 min.

The default is every walk-time instance. On each, the same coverage matrix is given to: plain
greedy, greedy + pruning, our heuristic (``CoverageModel.solve``, the matrix excluded), the LP
bound and the exact MILP (HiGHS via scipy.optimize.milp) and spopt's LSCP with CBC (skipped with
--quick), the last two within ``--time-limit`` seconds.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from typing import TYPE_CHECKING

from quarterhour.siting import CoverageModel
from quarterhour.siting.bounds import cover_highs
from quarterhour.siting.kernels.pattern import CoverPattern
from quarterhour.siting.min_cover import greedy_cover, heuristic_cover

from instances import DATA, shanghai_compounds, straight_line_minutes, street_points

if TYPE_CHECKING:
    from collections.abc import Callable

    import scipy.sparse as sp

WALK_INSTANCES = [
    "shanghai",
    "heidelberg-2000",
    "heidelberg-4000",
    "heidelberg-2000-10min",
    "heidelberg-4000-10min",
]
INSTANCES = [*WALK_INSTANCES, "straight"]


def build_instance(name: str) -> tuple[sp.csr_matrix, float]:
    """The coverage matrix (minutes, demand points x the same points as sites) and its limit."""
    from quarterhour.routing.network import load_network
    from quarterhour.routing.walktimes import walk_time_matrix

    if name in ("shanghai", "straight"):
        table = shanghai_compounds()
        lon, lat = table["lon"].to_numpy(), table["lat"].to_numpy()
        if name == "straight":
            return straight_line_minutes(lon, lat, lon, lat, minutes=15.0), 15.0
        network = load_network(DATA / "shanghai_center.osm.pbf")
        return walk_time_matrix(network, lon, lat, lon, lat, minutes=15.0, quiet=True).matrix, 15.0
    parts = name.split("-")
    n = int(parts[1])
    minutes = float(parts[2].removesuffix("min")) if len(parts) > 2 else 15.0
    network = load_network(DATA / "heidelberg.osm.pbf")
    lon, lat = street_points(network, n, seed=n)
    return walk_time_matrix(
        network, lon, lat, lon, lat, minutes=minutes, quiet=True
    ).matrix, minutes


def timed(function: Callable[..., object], *args: object, **kwargs: object) -> tuple[object, float]:
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - started


def spopt_lscp(cost: sp.csr_matrix, minutes: float, time_limit: float) -> tuple[int, bool]:
    """Stations spopt's LSCP picks with CBC, and whether CBC proved them optimal."""
    import pulp
    from spopt.locate import LSCP

    coo = cost.tocoo()
    dense = np.full(cost.shape, minutes * 10.0)
    dense[coo.row, coo.col] = coo.data  # stored zeros stay zeros: covered
    model = LSCP.from_cost_matrix(dense, minutes).solve(
        pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit)
    )
    stations = sum(1 for variable in model.fac_vars if variable.value() and variable.value() > 0.5)
    return stations, pulp.LpStatus[
        model.problem.status
    ] == "Optimal" and model.problem.sol_status == 1


def run(name: str, options: argparse.Namespace) -> dict[str, float]:
    (cost, minutes), matrix_seconds = timed(build_instance, name)
    model = CoverageModel.from_cost_matrix(cost, minutes=minutes)
    pattern = model.pattern
    coverable = pattern.getnnz(axis=1) > 0
    arrays = CoverPattern.from_matrix(pattern[coverable])
    print(
        f"\n== {name}: {cost.shape[0]:,} x {cost.shape[1]:,}, {cost.nnz:,} pairs, "
        f"{(~coverable).sum():,} uncoverable, matrix built in {matrix_seconds:.1f} s"
    )
    heuristic_cover(arrays)  # compile the kernels before timing

    rows: list[tuple[str, float, float]] = []
    picks, seconds = timed(greedy_cover, arrays)
    rows.append(("plain greedy", picks.size, seconds))
    picks, seconds = timed(greedy_cover, arrays, prune=True)
    rows.append(("greedy + pruning", picks.size, seconds))
    ours, ours_seconds = timed(lambda: model.solve(effort=options.effort).result)
    n_ours = len(ours.new_stations)
    rows.append(("quarterhour heuristic", n_ours, ours_seconds))
    rows.append(("  its Lagrangian bound", ours.bound, math.nan))
    lp, seconds = timed(
        cover_highs, pattern[coverable], integral=False, time_limit=options.time_limit
    )
    rows.append(("LP bound (HiGHS)", lp.bound, seconds))
    exact, exact_seconds = timed(
        cover_highs, pattern[coverable], integral=True, time_limit=options.time_limit
    )
    label = "exact MILP (HiGHS)" + (
        " optimal" if exact.optimal else f" stopped, bound {exact.bound:.1f}"
    )
    rows.append((label, exact.objective, exact_seconds))
    figures = {
        "ours": n_ours,
        "ours_s": ours_seconds,
        "bound": ours.bound,
        "lp": lp.bound,
        "highs": exact.objective,
        "highs_s": exact_seconds,
        "highs_optimal": exact.optimal,
    }
    if not options.quick:
        (stations, optimal), spopt_seconds = timed(
            spopt_lscp, cost[coverable], minutes, options.time_limit
        )
        rows.append(
            ("spopt LSCP (CBC)" + (" optimal" if optimal else " stopped"), stations, spopt_seconds)
        )
        figures |= {"spopt": stations, "spopt_s": spopt_seconds}

    print(f"{'method':<45} {'stations':>9} {'seconds':>9}")
    for label, value, seconds in rows:
        print(f"{label:<45} {value:>9.2f} {seconds:>9.3f}")
    difference = f"{round(n_ours - exact.objective):+d}" if math.isfinite(exact.objective) else "?"
    print(
        f"ours - HiGHS: {difference} stations; HiGHS time / ours: {exact_seconds / ours_seconds:,.0f}x"
    )
    if not options.quick:
        print(f"spopt time / ours: {spopt_seconds / ours_seconds:,.0f}x")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", nargs="+", choices=INSTANCES, default=WALK_INSTANCES)
    parser.add_argument(
        "--time-limit", type=float, default=120.0, help="seconds for HiGHS and for CBC"
    )
    parser.add_argument("--quick", action="store_true", help="skip spopt")
    parser.add_argument("--effort", default=None, help="our search effort (0..1, fast/thorough)")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = {name: run(name, options) for name in options.instance}

    print(
        f"\n{'instance':<24} {'ours':>5} {'s':>7} {'bound':>7} {'LP':>7} {'HiGHS':>7} {'s':>7} "
        f"{'spopt':>6} {'s':>7} {'HiGHS/ours':>10} {'spopt/ours':>10}"
    )
    for name, f in results.items():
        highs = f"{f['highs']:.0f}" + ("" if f["highs_optimal"] else "*")
        spopt = f"{f['spopt']:.0f}" if "spopt" in f else "-"
        spopt_s = f"{f['spopt_s']:.1f}" if "spopt" in f else "-"
        spopt_ratio = f"{f['spopt_s'] / f['ours_s']:,.0f}x" if "spopt" in f else "-"
        print(
            f"{name:<24} {f['ours']:>5} {f['ours_s']:>7.3f} {f['bound']:>7.2f} {f['lp']:>7.2f} {highs:>7} "
            f"{f['highs_s']:>7.1f} {spopt:>6} {spopt_s:>7} "
            f"{f['highs_s'] / f['ours_s']:>9,.0f}x {spopt_ratio:>10}"
        )
    print("* HiGHS stopped at the time limit: best cover found, not proven optimal")


if __name__ == "__main__":
    main()
