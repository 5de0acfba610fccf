"""The planners' file readers against plain pandas, on a 20,000-row list (not a test).

    python benchmarks/bench_readers.py [--rows 20000] [--rounds 3]

Builds a workbook and a CSV file of ``--rows`` rows from the bundled compounds (unique ids) and
times, in the same run, ``read_points`` (bounds checked, header found, numbers as typed, calamine
for the workbook) against ``pandas.read_excel`` with openpyxl (the reader before calamine) and
``pandas.read_csv`` (no checks at all), best of ``--rounds``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import pandas as pd

from quarterhour import settings
from quarterhour.geo.points import read_points


def best(function: object, rounds: int) -> float:
    """The best wall-clock time of ``rounds`` calls, in seconds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Build the files and print the times and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("quarterhour").setLevel(logging.WARNING)
    compounds = pd.read_csv(settings.default_communities_path(), dtype=str).drop(columns="shape")
    repeats = -(-args.rows // len(compounds))
    table = pd.concat([compounds] * repeats, ignore_index=True).head(args.rows)
    table["id"] = [f"P{k}" for k in range(len(table))]
    table["常住人口"] = [str(1000 + k % 5000) for k in range(len(table))]
    with tempfile.TemporaryDirectory() as folder:
        xlsx, csv = Path(folder) / "list.xlsx", Path(folder) / "list.csv"
        table.to_excel(xlsx, index=False)
        table.to_csv(csv, index=False)
        ours_xlsx = best(lambda: read_points(xlsx, crs="gcj02"), args.rounds)
        peer_xlsx = best(
            lambda: pd.read_excel(xlsx, dtype=str, keep_default_na=False, engine="openpyxl"),
            args.rounds,
        )
        ours_csv = best(lambda: read_points(csv, crs="gcj02"), args.rounds)
        peer_csv = best(lambda: pd.read_csv(csv, dtype=str, keep_default_na=False), args.rounds)
    print(f"{len(table):,} rows, best of {args.rounds}")
    print(
        f"xlsx: read_points {ours_xlsx:.2f} s, pandas.read_excel (openpyxl) {peer_xlsx:.2f} s: "
        f"{peer_xlsx / ours_xlsx:.1f}x faster"
    )
    print(
        f"csv:  read_points {ours_csv:.2f} s, pandas.read_csv {peer_csv:.2f} s: "
        f"{ours_csv / peer_csv:.1f}x the time of a bare parse"
    )


if __name__ == "__main__":
    main()
