"""Benchmark of the minimum-cover solvers on central Shanghai (not a test).

    python benchmarks/bench_siting.py [--matrix walk|straight] [--minutes 15] [--quick] [--time-limit 120]

Builds one coverage matrix (walk times on data/shanghai_center.osm.pbf, or straight lines), with
the real compounds inside the extract as communities and candidate sites, then runs on the same
matrix: plain greedy, greedy + pruning, our heuristic, the LP bound and the exact MILP (HiGHS via
scipy.optimize.milp) and spopt's LSCP with CBC (skipped with --quick). Prints stations and seconds.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo.crs import gcj02_to_wgs84  # noqa: E402
from siting import CoverageModel, cover  # noqa: E402
from siting.bounds import cover_highs  # noqa: E402
from siting.euclidean import straight_line_minutes  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
EXTRACT = (121.409, 121.552, 31.179, 31.279)


def compounds_in_extract() -> pd.DataFrame:
    table = pd.read_csv(DATA / "shanghai_compounds_amap_gcj02.csv", dtype={"id": str})
    lon, lat = gcj02_to_wgs84(table["lng"].to_numpy(), table["lat"].to_numpy())
    table = table.assign(lon=lon, lat=lat)
    west, east, south, north = EXTRACT
    inside = table["lon"].between(west, east) & table["lat"].between(south, north)
    return table[inside].drop_duplicates("id").sort_values("id").reset_index(drop=True)


def coverage_matrix(table: pd.DataFrame, kind: str, minutes: float) -> sp.csr_matrix:
    lon, lat = table["lon"].to_numpy(), table["lat"].to_numpy()
    if kind == "straight":
        return straight_line_minutes(lon, lat, lon, lat, minutes=minutes)
    from routing.network import load_network
    from routing.walktimes import walk_time_matrix

    network = load_network(DATA / "shanghai_center.osm.pbf")
    return walk_time_matrix(network, lon, lat, lon, lat, minutes=minutes, quiet=True).matrix


def timed(function, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - started


def spopt_lscp(cost: sp.csr_matrix, minutes: float) -> int:
    """Stations spopt's LSCP picks with CBC; every row of ``cost`` must be coverable."""
    import pulp
    from spopt.locate import LSCP

    coo = cost.tocoo()
    dense = np.full(cost.shape, minutes * 10.0)
    dense[coo.row, coo.col] = coo.data  # stored zeros stay zeros: covered
    model = LSCP.from_cost_matrix(dense, minutes).solve(pulp.PULP_CBC_CMD(msg=False))
    return int(sum(1 for variable in model.fac_vars if variable.value() and variable.value() > 0.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", choices=["walk", "straight"], default="walk")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="skip spopt")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    table = compounds_in_extract()
    cost, matrix_seconds = timed(coverage_matrix, table, options.matrix, options.minutes)
    model = CoverageModel.from_cost_matrix(cost, community_ids=table["id"].to_numpy(), minutes=options.minutes)
    pattern = model.pattern
    coverable = pattern.getnnz(axis=1) > 0
    arrays = cover.CoverArrays.from_pattern(pattern[coverable])
    print(f"{options.matrix} matrix {cost.shape[0]:,} x {cost.shape[1]:,}, {cost.nnz:,} pairs, "
          f"{(~coverable).sum():,} uncoverable, built in {matrix_seconds:.1f} s")
    cover.heuristic_cover(arrays)  # compile the kernels before timing

    rows: list[tuple[str, float, float]] = []
    picks, seconds = timed(cover.greedy_cover, arrays)
    rows.append(("plain greedy", picks.size, seconds))
    picks, seconds = timed(cover.greedy_cover, arrays, prune=True)
    rows.append(("greedy + pruning", picks.size, seconds))
    ours, ours_seconds = timed(lambda: model.solve().result)
    rows.append(("quarterhour heuristic", len(ours.new_stations), ours_seconds))
    rows.append(("  its lower bound", ours.bound, np.nan))
    lp, seconds = timed(cover_highs, pattern[coverable], integral=False, time_limit=options.time_limit)
    rows.append(("LP bound (HiGHS)", lp.bound, seconds))
    exact, exact_seconds = timed(cover_highs, pattern[coverable], integral=True, time_limit=options.time_limit)
    label = "exact MILP (HiGHS)" + ("" if exact.optimal else f" stopped, bound {exact.bound:.1f}")
    rows.append((label, exact.objective, exact_seconds))
    if not options.quick:
        stations, spopt_seconds = timed(spopt_lscp, cost[coverable], options.minutes)
        rows.append(("spopt LSCP (CBC)", stations, spopt_seconds))

    print(f"{'method':<45} {'stations':>9} {'seconds':>9}")
    for name, value, seconds in rows:
        print(f"{name:<45} {value:>9.2f} {seconds:>9.3f}")
    print(f"HiGHS exact time / ours: {exact_seconds / ours_seconds:,.0f}x")
    if not options.quick:
        print(f"spopt time / ours: {spopt_seconds / ours_seconds:,.0f}x")


if __name__ == "__main__":
    main()
