"""Linear-programming bounds and exact solutions through HiGHS (``scipy.optimize.milp``).

Set covering (LSCP)::

    min  sum_j x_j   s.t.  sum_{j in N_i} x_j >= 1  for every row i,   x_j in {0, 1}

Maximal covering (MCLP)::

    max  sum_i w_i y_i   s.t.  y_i <= sum_{j in N_i} x_j,   sum_j x_j <= N,   x_j, y_i in {0, 1}

With ``integral=False`` the same models are solved as linear programmes: the optimum is then a
bound (a lower bound for LSCP, an upper bound for MCLP).

HiGHS reads its time limit only now and then (not during a long presolve: a 1-second limit took
36 s on a dense model), so it runs in a forked process that is killed ``KILL_GRACE_S`` after the
limit: the limit holds, and a killed run counts as stopped by it.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, OptimizeResult, milp

from quarterhour.routing import stopping

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection

log = logging.getLogger("quarterhour")

KILL_GRACE_S = 0.3
"""Seconds past its time limit after which a HiGHS run is killed."""


@dataclass(frozen=True)
class HighsOutcome:
    """What HiGHS returned: the chosen columns (if any), its objective, its bound and status."""

    columns: np.ndarray | None
    objective: float
    bound: float
    optimal: bool
    seconds: float
    message: str


def _run(
    cost: np.ndarray,
    constraints: list[LinearConstraint],
    n_integer: int,
    *,
    integral: bool,
    time_limit: float,
) -> tuple[OptimizeResult | SimpleNamespace, float]:
    integrality = np.zeros(cost.size)
    if integral:
        integrality[:n_integer] = 1
    options: dict[str, object] = {"time_limit": float(time_limit), "presolve": True}
    arguments: dict[str, Any] = {
        "constraints": constraints,
        "integrality": integrality,
        "bounds": Bounds(0.0, 1.0),
        "options": options,
    }
    return solve_within(lambda: milp(cost, **arguments), time_limit)


def solve_within(
    solve: Callable[[], OptimizeResult | SimpleNamespace], time_limit: float
) -> tuple[OptimizeResult | SimpleNamespace, float]:
    """Run a HiGHS call in a forked process killed ``KILL_GRACE_S`` after ``time_limit``.

    Returns its answer (an object with ``status=1, x=None`` when killed) and the seconds taken.
    A cancelled step (:mod:`quarterhour.routing.stopping`) kills it and raises ``Cancelled``.
    """
    started = time.perf_counter()
    if "fork" not in multiprocessing.get_all_start_methods():  # pragma: no cover - not Linux
        return solve(), time.perf_counter() - started
    fork = multiprocessing.get_context("fork")
    receiver, sender = fork.Pipe(duplex=False)
    child = fork.Process(target=_solve, args=(sender, solve), daemon=True)
    child.start()
    sender.close()
    until = started + time_limit + KILL_GRACE_S
    try:
        while not receiver.poll(min(stopping.CHECK_EVERY_S, max(until - time.perf_counter(), 0))):
            stopping.check()  # the finally below kills HiGHS
            if time.perf_counter() >= until:
                break
        else:
            answer = receiver.recv()
            if isinstance(answer, Exception):
                raise answer
            return answer, time.perf_counter() - started
    except EOFError:  # the child died without an answer
        msg = "HiGHS died without an answer"
        raise RuntimeError(msg) from None
    finally:
        child.kill()
        child.join()
        receiver.close()
    log.info("HiGHS did not stop at its time limit of %.1f s: stopped it", time_limit)
    stopped = SimpleNamespace(
        status=1, x=None, fun=None, mip_dual_bound=None, message="stopped at the time limit"
    )
    return stopped, time.perf_counter() - started


def _solve(sender: Connection, solve: Callable[[], OptimizeResult | SimpleNamespace]) -> None:
    """Solve in the forked child and send the result (or the error) back."""
    try:
        answer: object = solve()
    except Exception as error:  # noqa: BLE001 (sent to the parent, which raises it)
        answer = error
    sender.send(answer)


def _unit_matrix(pattern: sp.csr_matrix) -> sp.csr_matrix:
    """The pattern with every stored entry (a stored zero too) as 1.0."""
    return sp.csr_matrix(
        (np.ones(pattern.nnz), pattern.indices, pattern.indptr), shape=pattern.shape
    )


def cover_highs(
    pattern: sp.csr_matrix, *, integral: bool, time_limit: float = 60.0
) -> HighsOutcome:
    """Solve the set-covering model of ``pattern`` (rows to cover x columns) with HiGHS.

    Returns the optimal columns (``integral=True``) or the LP optimum as the bound.
    """
    n_rows, n_cols = pattern.shape
    constraint = LinearConstraint(
        _unit_matrix(pattern), lb=np.ones(n_rows), ub=np.full(n_rows, np.inf)
    )
    solution, seconds = _run(
        np.ones(n_cols), [constraint], n_cols, integral=integral, time_limit=time_limit
    )
    return _outcome(solution, seconds, n_cols, integral=integral, sense=1.0)


def max_cover_highs(
    pattern: sp.csr_matrix,
    weight: np.ndarray,
    budget: int,
    *,
    integral: bool,
    time_limit: float = 60.0,
) -> HighsOutcome:
    """Solve the maximal-covering model of ``pattern`` with ``budget`` columns with HiGHS.

    Variables are the columns ``x`` then the rows ``y``; the objective is reported as covered weight.
    """
    n_rows, n_cols = pattern.shape
    link = sp.hstack(
        [-_unit_matrix(pattern), sp.identity(n_rows, format="csr")], format="csr"
    )  # y_i - sum x_j <= 0
    count = sp.hstack(
        [sp.csr_matrix(np.ones((1, n_cols))), sp.csr_matrix((1, n_rows))], format="csr"
    )
    constraints = [
        LinearConstraint(link, lb=np.full(n_rows, -np.inf), ub=np.zeros(n_rows)),
        LinearConstraint(count, lb=-np.inf, ub=float(budget)),
    ]
    cost = np.concatenate([np.zeros(n_cols), -np.asarray(weight, float)])
    solution, seconds = _run(cost, constraints, n_cols, integral=integral, time_limit=time_limit)
    return _outcome(solution, seconds, n_cols, integral=integral, sense=-1.0)


def _outcome(
    solution: Any,  # noqa: ANN401 (milp's OptimizeResult, or the stand-in stopped at the limit)
    seconds: float,
    n_cols: int,
    *,
    integral: bool,
    sense: float,
) -> HighsOutcome:
    status = int(solution.status)  # 0 optimal, 1 iteration, node or time limit
    x = solution.x
    if status not in (0, 1) and x is None and getattr(solution, "mip_dual_bound", None) is None:
        msg = f"HiGHS failed: {solution.message}"
        raise RuntimeError(msg)
    objective = np.nan if solution.fun is None else sense * float(solution.fun)
    if integral:
        dual = getattr(solution, "mip_dual_bound", None)
        bound = objective if status == 0 else (np.nan if dual is None else sense * float(dual))
        columns = (
            None if x is None else np.flatnonzero(np.asarray(x[:n_cols]) > 0.5).astype(np.int64)
        )
    else:
        bound = objective
        columns = None
    log.debug(
        "HiGHS %s: %s after %.2f s (%s)",
        "MILP" if integral else "LP",
        "optimal" if status == 0 else "stopped",
        seconds,
        solution.message,
    )
    return HighsOutcome(columns, objective, bound, status == 0, seconds, str(solution.message))
