"""The first run of a fresh install: ``quarterhour plan`` on the bundled data, as a whole process.

    python benchmarks/bench_first_run.py [--rounds 3]

Each round runs, with an empty numba cache (``NUMBA_CACHE_DIR``) and an empty network cache
(``QUARTERHOUR_CACHE``), so that nothing is left from an earlier run:

* ``compiled``: the kernels compiled at install (the default);
* ``jit``: ``QUARTERHOUR_AOT=0``, numba compiling them during the run (a machine without a C
  compiler at install);
* ``warm``: a second run of ``compiled`` with the caches it filled (every later run);
* ``import``: ``python -c "import quarterhour.api.cli.main"`` (the floor of any command).

It prints the wall time of each, their medians, and the ratio of the first run to the goal of 5 s
and to the JIT's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 5.0


def timed(args: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one process; fails loudly if it fails."""
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        msg = f"{' '.join(args)} failed:\n{done.stderr}"
        raise RuntimeError(msg)
    return elapsed


def one_round() -> dict[str, float]:
    """Wall seconds of each kind of run, from empty caches."""
    plan = [sys.executable, "-m", "quarterhour", "plan", "-q", "-o"]
    times: dict[str, float] = {}
    for kind in ("compiled", "jit"):
        with tempfile.TemporaryDirectory() as folder:
            env = {
                **os.environ,
                "NUMBA_CACHE_DIR": str(Path(folder) / "numba"),
                "QUARTERHOUR_CACHE": str(Path(folder) / "networks"),
                "QUARTERHOUR_AOT": "0" if kind == "jit" else "1",
            }
            times[kind] = timed([*plan, str(Path(folder) / "plan")], env)
            if kind == "compiled":
                times["warm"] = timed([*plan, str(Path(folder) / "plan")], env)
    times["import"] = timed([sys.executable, "-c", "import quarterhour.api.cli.main"], os.environ)
    return times


def main() -> None:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from quarterhour.routing import jit

    if jit.compiled_module() is None:
        print("no current compiled kernels: reinstall (pip install -e .) first", file=sys.stderr)
        raise SystemExit(1)
    rounds = [one_round() for _ in range(args.rounds)]
    print(
        f"{'run':<10} "
        + " ".join(f"{f'round {i + 1}':>9}" for i in range(args.rounds))
        + "   median"
    )
    medians = {}
    for kind in ("compiled", "jit", "warm", "import"):
        values = [r[kind] for r in rounds]
        medians[kind] = statistics.median(values)
        print(f"{kind:<10} " + " ".join(f"{v:>8.2f}s" for v in values) + f"   {medians[kind]:.2f}s")
    print(
        f"first plan, compiled at install: {medians['compiled']:.2f} s "
        f"({medians['compiled'] / GOAL_S:.2f} of the {GOAL_S:.0f} s goal; "
        f"{medians['jit'] / medians['compiled']:.1f}x faster than compiling at run time)"
    )


if __name__ == "__main__":
    main()
