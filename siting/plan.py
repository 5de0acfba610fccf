"""One call for the command line and the API: build the model, solve it, return the result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from quarterhour.siting.inputs import check_budget, check_effort, check_time_limit
from quarterhour.siting.model import CoverageModel

if TYPE_CHECKING:
    from quarterhour.routing.graph import WalkNetwork
    from quarterhour.siting.model import PointsLike


def run_plan(
    network: WalkNetwork | str,
    communities: PointsLike,
    *,
    existing: PointsLike | None = None,
    candidates: PointsLike | None = None,
    minutes: float | None = None,
    speed_kmh: float | None = None,
    meters: float | None = None,
    budget: int | None = None,
    exact: bool = False,
    time_limit: float | None = None,
    lp_bound: bool = False,
    effort: float | str | None = None,
    quiet: bool = True,
) -> CoverageModel:
    """Plan new stations so that communities reach one within the walk limit.

    Parameters
    ----------
    network
        A walking network, or the path of an OSM file to load it from.
    communities
        Demand points (weights: residents, registered unemployed ...).
    existing
        Existing stations, kept.
    candidates
        Candidate sites; by default the communities themselves.
    minutes, speed_kmh, meters
        Walk limit in minutes at ``speed_kmh``, or in metres with ``meters``.
    budget
        None for the fewest stations covering every coverable community; a number of new stations
        to cover the most weight with.
    exact
        Solve the integer programme with HiGHS (within the time left).
    time_limit
        Seconds the solve may take (heuristic, ``lp_bound`` and ``exact``; the walk times are
        computed before); default none beyond ``effort``'s own, and 60 s for HiGHS in ``exact``.
    lp_bound
        Also compute the LP-relaxation bound with HiGHS.
    effort
        Search effort, 0 to 1 or ``"fast"``, ``"default"`` (0.5), ``"thorough"``.
    quiet
        Hide progress bars (of the network build and of the walk times).

    Returns
    -------
    CoverageModel
        The solved model (its ``result``, ``stations``, ``assignments`` and ``summary``).
    """
    budget = check_budget(budget)  # fail before the walk times are computed
    check_time_limit(time_limit)
    check_effort(effort)
    model = CoverageModel.from_points(
        network,
        communities,
        existing=existing,
        candidates=candidates,
        minutes=minutes,
        speed_kmh=speed_kmh,
        meters=meters,
        quiet=quiet,
    )
    return model.solve(
        budget=budget, exact=exact, time_limit=time_limit, lp_bound=lp_bound, effort=effort
    )
