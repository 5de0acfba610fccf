"""Scenario comparison: the same plan rerun at other walking speeds and walk limits."""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from quarterhour.api.report.inputs import PlanInputs

log = logging.getLogger("quarterhour")

SPEEDS_KMH: tuple[float, ...] = (3.6, 4.5, 5.1)
"""Elderly pace, this project's default, Valhalla's default pedestrian speed."""

LIMITS_MIN: tuple[float, ...] = (10.0, 15.0, 20.0)
"""Walk limits compared, in minutes."""


@dataclass(frozen=True)
class Scenario:
    """One rerun of the plan.

    Attributes
    ----------
    axis
        ``"speed"`` or ``"minutes"``: what the scenario varies.
    speed_kmh, minutes
        Its walking speed and limit.
    n_new
        New stations it needs.
    lower_bound
        Its lower bound on new stations (``None`` for a budget plan).
    covered, n_communities, uncoverable
        Communities covered, in all, and with no station site within the limit.
    is_plan
        Whether these are the plan's own speed and limit.
    """

    axis: str
    speed_kmh: float
    minutes: float
    n_new: int
    lower_bound: float | None
    covered: int
    n_communities: int
    uncoverable: int
    is_plan: bool

    @property
    def bound_ceil(self) -> int | None:
        """The bound rounded up to whole stations."""
        return None if self.lower_bound is None else math.ceil(self.lower_bound - 1e-6)


@contextmanager
def quiet_solver_log() -> Iterator[None]:
    """Hold back the solver's log lines (its warnings concern a scenario, not the plan)."""
    level = log.level
    log.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        log.setLevel(level)


def run_scenarios(
    data: PlanInputs,
    *,
    speeds_kmh: tuple[float, ...] = SPEEDS_KMH,
    limits_min: tuple[float, ...] = LIMITS_MIN,
) -> list[Scenario]:
    """Rerun the plan at every speed (at its limit) and every limit (at its speed).

    Each distinct (speed, limit) pair is solved once, with the plan's inputs and budget, by the
    heuristic (a few seconds each on the bundled data).

    Parameters
    ----------
    data
        The plan and its inputs.
    speeds_kmh
        Walking speeds to compare, at the plan's limit.
    limits_min
        Walk limits to compare, in minutes, at the plan's speed.
    """
    from quarterhour.siting.plan import run_plan

    summary = data.summary
    speed, minutes = data.speed_kmh, data.minutes
    budget = summary.get("budget")
    pairs = [("speed", s, minutes) for s in speeds_kmh] + [
        ("minutes", speed, m) for m in limits_min
    ]
    solved: dict[tuple[float, float], dict[str, object]] = {}
    scenarios = []
    for axis, pair_speed, pair_minutes in pairs:
        key = (pair_speed, pair_minutes)
        if key not in solved:
            with quiet_solver_log():
                result = run_plan(
                    data.network,
                    data.communities,
                    existing=data.existing,
                    candidates=data.candidates,
                    minutes=pair_minutes,
                    speed_kmh=pair_speed,
                    budget=budget,
                    quiet=True,  # type: ignore[arg-type]
                ).result
            solved[key] = result.summary
            log.info(
                "scenario %g km/h, %g min: %s new stations (bound %.1f), %s uncoverable",
                pair_speed,
                pair_minutes,
                solved[key]["n_new"],
                solved[key]["lower_bound"] or float("nan"),
                solved[key]["uncoverable"],
            )
        figures = solved[key]
        scenarios.append(
            Scenario(
                axis=axis,
                speed_kmh=pair_speed,
                minutes=pair_minutes,
                n_new=int(figures["n_new"]),
                lower_bound=figures["lower_bound"],
                covered=int(figures["covered"]),  # type: ignore[arg-type]
                n_communities=int(figures["n_communities"]),
                uncoverable=int(figures["uncoverable"]),
                is_plan=summary.get("meters") is None
                and math.isclose(pair_speed, speed)
                and math.isclose(pair_minutes, minutes),
            )
        )
    return scenarios
