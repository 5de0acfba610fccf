"""One call for the command line and the API: a plan (build and solve a model) or an audit."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from quarterhour.geo.points import PointSet, as_point_set
from quarterhour.routing import stopping
from quarterhour.siting.inputs import check_budget, check_effort, check_ids, check_time_limit
from quarterhour.siting.model import CoverageModel

if TYPE_CHECKING:
    import shapely

    from quarterhour.routing.graph import WalkNetwork
    from quarterhour.siting.audit import CoverageAudit
    from quarterhour.siting.capacity import Capacity
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
    boundary: shapely.Geometry | None = None,
    stations_inside_boundary: bool = False,
    budget: int | None = None,
    exact: bool = False,
    time_limit: float | None = None,
    lp_bound: bool = False,
    max_pairs: int | None = None,
    effort: float | str | None = None,
    capacity: Capacity | None = None,
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
    boundary
        The planning area (WGS84): points outside it are counted and kept, not planned.
    stations_inside_boundary
        Only existing stations inside ``boundary`` serve (default: those within walking reach
        of it too).
    budget
        None for the fewest stations covering every coverable community; a number of new stations
        to cover the most weight with.
    exact
        Solve the integer programme with HiGHS (within the time left).
    time_limit
        Seconds the whole plan may take (walk times, search, ``lp_bound`` and ``exact``); past
        it the best plan found so far is returned (``TimeLimitError`` if the walk times are not
        done in time to build the model from them). Default: no limit beyond ``effort``'s own,
        and 60 s for HiGHS in ``exact``.
    lp_bound
        Also compute the LP-relaxation bound with HiGHS.
    max_pairs
        Refuse walk times expected to hold more pairs within the limit (a bound on memory).
    effort
        Search effort, 0 to 1 or ``"fast"``, ``"default"`` (0.5), ``"thorough"``.
    capacity
        Stations serve at most aides x residents per aide (existing stations' aides from their
        file): the capacitated plan, with staffing.
    quiet
        Hide progress bars (of the network build, the walk times and the search).

    Returns
    -------
    CoverageModel
        The solved model (its ``result``, ``stations``, ``assignments`` and ``summary``).
    """
    budget = check_budget(budget)  # fail before the walk times are computed
    check_time_limit(time_limit)
    check_effort(effort)
    deadline = None if time_limit is None else time.monotonic() + time_limit
    model = CoverageModel.from_points(
        network,
        communities,
        existing=existing,
        candidates=candidates,
        minutes=minutes,
        speed_kmh=speed_kmh,
        meters=meters,
        boundary=boundary,
        stations_inside_boundary=stations_inside_boundary,
        max_pairs=max_pairs,
        deadline=deadline,
        quiet=quiet,
    )
    stopping.check()
    remaining = None if deadline is None else max(deadline - time.monotonic(), 0.1)
    return model.solve(
        budget=budget,
        exact=exact,
        time_limit=remaining,
        lp_bound=lp_bound,
        effort=effort,
        capacity=capacity,
        quiet=quiet,
    )


def coverage_audit(
    network: WalkNetwork | str,
    communities: PointsLike,
    stations: PointsLike,
    *,
    minutes: float | None = None,
    speed_kmh: float | None = None,
    meters: float | None = None,
    boundary: shapely.Geometry | None = None,
    stations_inside_boundary: bool = False,
    crs: str | None = None,
    max_pairs: int | None = None,
    capacity: Capacity | None = None,
    quiet: bool = True,
) -> CoverageAudit:
    """Audit how well existing ``stations`` cover ``communities`` on a walking ``network``.

    Parameters
    ----------
    network
        A walking network, or the path of an OSM file to load it from.
    communities
        Demand points (with weights).
    stations
        Existing stations.
    minutes, speed_kmh, meters
        Walk limit in minutes at ``speed_kmh``, or in metres with ``meters``.
    boundary
        The planning area (WGS84): points outside it are counted and kept, not audited.
    stations_inside_boundary
        Only stations inside ``boundary`` serve (default: those within walking reach of it too).
    crs
        Coordinate system of frames given without one.
    max_pairs
        Refuse walk times expected to hold more pairs within the limit (a bound on memory).
    capacity
        Assign communities within the stations' capacities: ``over_capacity`` communities and
        every station's aides needed and shortfall.
    quiet
        Hide progress bars (of the network build and of the walk times).
    """
    stations = as_point_set(stations, crs=crs, role="stations")
    if len(stations) or not stations.unlocated:  # all without coordinates: kept, listed
        check_ids(stations.ids, "stations")  # the model would call them existing stations
    model = CoverageModel.from_points(
        network,
        communities,
        existing=stations,
        candidates=PointSet.empty(),
        minutes=minutes,
        speed_kmh=speed_kmh,
        meters=meters,
        boundary=boundary,
        stations_inside_boundary=stations_inside_boundary,
        crs=crs,
        max_pairs=max_pairs,
        quiet=quiet,
    )
    return model.audit(capacity=capacity)
