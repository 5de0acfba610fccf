"""Minimum cover on Beasley's OR-Library set-covering instances, solved as unicost problems.

    python benchmarks/bench_orlib.py [--instance scp41 scpnrg1 ...] [--series 4 nre cyc ...]
                                     [--effort 0.5] [--runs N] [--time-limit S] [--highs S]
                                     [--csv out.csv]

The 83 instances of data/orlib (series 4, 5, 6, A-E, NRE-NRH, CYC, CLR, rail; provenance and
best-known values in data/README.md) go through the public entry, as a planner's matrix would:
``CoverageModel.from_cost_matrix(A).solve()`` on the 0/1 matrix (rows to cover x columns), every
column costing one station. Each answer is checked (every row covered, the lower bound at most
the best known), and the table gives per instance and per series our value and seconds, the
best known, the gap to it and the bound-based gap (an upper limit on the true gap). With
``--highs S``, HiGHS (``scipy.optimize.milp``) solves the same MILP within S seconds in the same
run as the peer.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from quarterhour import settings
from quarterhour.siting import CoverageModel
from quarterhour.siting.bounds import cover_highs

from instances import orlib_best_known, orlib_instance

SERIES_ORDER = ["4", "5", "6", "a", "b", "c", "d", "e", "nre", "nrf", "nrg", "nrh", "cyc", "clr"]
SERIES_ORDER += ["rail"]


def run(name: str, best_known: int, options: argparse.Namespace) -> dict[str, object]:
    matrix = orlib_instance(name)
    model = CoverageModel.from_cost_matrix(matrix)
    started = time.perf_counter()
    result = model.solve(effort=options.effort, time_limit=options.time_limit).result
    seconds = time.perf_counter() - started
    columns = result.new_stations["station_id"].astype(int).to_numpy()
    covered = matrix[:, columns].getnnz(axis=1) > 0
    if not covered.all():
        msg = f"{name}: {int((~covered).sum())} rows left uncovered"
        raise AssertionError(msg)
    if result.bound > best_known + 1e-6:
        msg = f"{name}: lower bound {result.bound:.3f} above the best known {best_known}"
        raise AssertionError(msg)
    value = int(columns.size)
    row: dict[str, object] = {
        "instance": name,
        "rows": matrix.shape[0],
        "columns": matrix.shape[1],
        "ours": value,
        "seconds": seconds,
        "best_known": best_known,
        "gap": (value - best_known) / best_known,
        "bound": result.bound,
        "bound_gap": result.gap,
        "stop": result.stats.get("search_stop", "-"),
        "steps": result.stats.get("search_steps", 0),
        "best_step": result.stats.get("search_best_step", 0),
    }
    if options.highs:
        outcome = cover_highs(matrix, integral=True, time_limit=options.highs)
        row |= {
            "highs": round(outcome.objective) if math.isfinite(outcome.objective) else math.nan,
            "highs_seconds": outcome.seconds,
            "highs_optimal": outcome.optimal,
        }
    return row


def summary(label: str, rows: list[dict[str, object]]) -> str:
    gaps = [float(row["gap"]) for row in rows]
    seconds = [float(row["seconds"]) for row in rows]
    at_best = sum(row["ours"] <= row["best_known"] for row in rows)
    return (
        f"{label:<8} {at_best:>3} of {len(rows):<3} at best known, mean gap {100 * np.mean(gaps):5.2f} %, "
        f"worst {100 * max(gaps):5.2f} %, median {statistics.median(seconds):5.2f} s, "
        f"slowest {max(seconds):5.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", nargs="+", help="instance names (default: all 83)")
    parser.add_argument("--series", nargs="+", choices=SERIES_ORDER, help="only these series")
    parser.add_argument("--effort", default=None, help="effort 0..1 or fast/default/thorough")
    parser.add_argument(
        "--runs", type=int, default=None, help="searches side by side (default: one per core)"
    )
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per instance")
    parser.add_argument("--highs", type=float, default=0.0, help="also run HiGHS, S seconds each")
    parser.add_argument("--csv", type=Path, help="write the per-instance table here")
    options = parser.parse_args()
    settings.search_runs = options.runs
    logging.basicConfig(level=logging.WARNING)
    known = orlib_best_known()
    names = options.instance or list(known)
    if options.series:
        names = [name for name in names if known[name][0] in options.series]
    CoverageModel.from_cost_matrix(orlib_instance("scpe1")).solve(effort="fast")  # compile

    rows = []
    header = (
        f"{'instance':<10} {'rows':>6} {'cols':>6} {'ours':>5} {'s':>6} {'best':>5} {'gap%':>6} "
        f"{'bound':>8} {'bgap%':>6} {'stop':>10} {'steps':>9} {'found at':>9}"
    )
    if options.highs:
        header += f" {'HiGHS':>7} {'s':>6}"
    print(header)
    for name in names:
        row = run(name, known[name][1], options)
        rows.append(row)
        line = (
            f"{name:<10} {row['rows']:>6} {row['columns']:>6} {row['ours']:>5} "
            f"{row['seconds']:>6.2f} {row['best_known']:>5} {100 * row['gap']:>6.2f} "
            f"{row['bound']:>8.2f} {100 * row['bound_gap']:>6.1f} {row['stop']:>10} "
            f"{row['steps']:>9} {row['best_step']:>9}"
        )
        if options.highs:
            value = row["highs"]
            text = "-" if not math.isfinite(value) else f"{value:.0f}"
            text += "" if row["highs_optimal"] else "*"
            line += f" {text:>7} {row['highs_seconds']:>6.1f}"
        print(line, flush=True)

    print()
    by_series: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_series.setdefault(known[row["instance"]][0], []).append(row)
    for series in SERIES_ORDER:
        if series in by_series:
            print(summary(series, by_series[series]))
    print(summary("all", rows))
    bound_gaps = [float(row["bound_gap"]) for row in rows]
    rounded = [math.ceil(float(row["bound"]) - 1e-6) / int(row["best_known"]) for row in rows]
    print(
        f"bound-based gap (an upper limit on the true gap): mean {100 * np.mean(bound_gaps):.1f} %;"
        f" rounded bound / best known: mean {np.mean(rounded):.2f}"
    )
    if options.highs:
        highs_rows = [row for row in rows if math.isfinite(row["highs"])]
        better = sum(row["ours"] < row["highs"] for row in highs_rows)
        equal = sum(row["ours"] == row["highs"] for row in highs_rows)
        worse = sum(row["ours"] > row["highs"] for row in highs_rows)
        proven = sum(bool(row["highs_optimal"]) for row in rows)
        print(
            f"HiGHS ({options.highs:g} s each): proves {proven} of {len(rows)}; ours better on "
            f"{better}, equal on {equal}, worse on {worse} (no HiGHS cover: "
            f"{len(rows) - len(highs_rows)})"
        )
    if options.csv:
        with options.csv.open("w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
