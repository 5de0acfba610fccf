"""Scenario comparison: the same plan rerun at other walking speeds and walk limits."""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from quarterhour.api.report.inputs import PlanInputs

log = logging.getLogger("quarterhour")

SPEEDS_KMH: tuple[float, ...] = (3.6, 4.5, 5.1)
"""Elderly pace, this project's default, Valhalla's default pedestrian speed."""

LIMITS_MIN: tuple[float, ...] = (10.0, 15.0, 20.0)
"""Walk limits compared, in minutes."""


DISTANCES_M: tuple[float, ...] = (800.0, 1000.0, 1200.0)
"""Walk limits compared in distance mode, in metres (GB 50180-2018: 800-1,000 m)."""


@dataclass(frozen=True)
class Scenario:
    """One rerun of the plan.

    Attributes
    ----------
    axis
        ``"speed"``, ``"minutes"`` or ``"meters"``: what the scenario varies.
    speed_kmh, minutes, meters
        Its walking speed and limit (minutes, or metres in distance mode).
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
    minutes: float | None
    meters: float | None
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
    distances_m: tuple[float, ...] = DISTANCES_M,
) -> list[Scenario]:
    """Rerun the plan at every speed (at its limit) and every limit (at its speed).

    A plan in minutes is rerun at ``speeds_kmh`` and ``limits_min``; a plan in metres at
    ``distances_m`` (and its own distance). Each distinct scenario is solved once, with the plan's
    inputs, boundary and budget, by the heuristic (a few seconds each on the bundled data).

    Parameters
    ----------
    data
        The plan and its inputs.
    speeds_kmh
        Walking speeds to compare, at the plan's limit.
    limits_min
        Walk limits to compare, in minutes, at the plan's speed.
    distances_m
        Walk limits to compare in distance mode, in metres.
    """
    from quarterhour.siting.plan import run_plan

    summary = data.summary
    speed = data.speed_kmh
    budget = summary.get("budget")
    plan_meters = summary.get("meters")
    pairs: list[tuple[str, float, float | None, float | None]]
    if plan_meters is None:
        minutes = data.minutes
        pairs = [("speed", s, minutes, None) for s in speeds_kmh]
        pairs += [("minutes", speed, m, None) for m in limits_min]
    else:
        distances = sorted({*distances_m, float(plan_meters)})
        pairs = [("meters", speed, None, m) for m in distances]
    solved: dict[tuple[float, float | None, float | None], dict[str, Any]] = {}
    scenarios = []
    for axis, pair_speed, pair_minutes, pair_meters in pairs:
        key = (pair_speed, pair_minutes, pair_meters)
        if key not in solved:
            with quiet_solver_log():
                model = run_plan(
                    data.network,
                    data.communities,
                    existing=data.existing,
                    candidates=data.candidates,
                    minutes=pair_minutes,
                    meters=pair_meters,
                    speed_kmh=pair_speed,
                    boundary=data.plan_boundary,
                    stations_inside_boundary=not summary.get(
                        "stations_outside_boundary_serve", False
                    ),
                    budget=budget,
                    quiet=True,
                )
            solved[key] = model.summary
            figures = solved[key]
            bound = figures["lower_bound"] if budget is None else figures["upper_bound"]
            log.info(
                "scenario %s: %s new stations (%s bound %.1f), %s uncoverable",
                f"{pair_meters:g} m"
                if pair_meters is not None
                else f"{pair_speed:g} km/h, {pair_minutes:g} min",
                figures["n_new"],
                "lower" if budget is None else "upper",
                float(bound),
                figures["uncoverable"],
            )
        figures = solved[key]
        is_plan = (
            math.isclose(pair_meters, plan_meters)  # type: ignore[arg-type]  # a plan in metres pairs metres
            if plan_meters is not None
            else math.isclose(pair_speed, speed) and math.isclose(pair_minutes, data.minutes)  # type: ignore[arg-type]  # and one in minutes, minutes
        )
        scenarios.append(
            Scenario(
                axis=axis,
                speed_kmh=pair_speed,
                minutes=pair_minutes,
                meters=pair_meters,
                n_new=int(figures["n_new"]),
                lower_bound=figures["lower_bound"],
                covered=int(figures["covered"]),
                n_communities=int(figures["n_communities"]),
                uncoverable=int(figures["uncoverable"]),
                is_plan=is_plan,
            )
        )
    return scenarios
