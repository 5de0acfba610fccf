"""``POST /plan``: propose new stations over the loaded or posted points."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from quarterhour.api.http.errors import ApiError, field_errors
from quarterhour.api.http.geojson import features_to_crs, posted_points
from quarterhour.api.http.guards import seconds_left
from quarterhour.api.http.responses import json_response
from quarterhour.api.http.schemas import ERROR_RESPONSES, PlanOut, PlanRequest, PointIn
from quarterhour.api.http.state import AdmissionDep, AppState, StateDep
from quarterhour.geo.points import PointSet
from quarterhour.siting.capacity import Capacity
from quarterhour.siting.plan import run_plan

router = APIRouter(tags=["siting"])


def _points_or_loaded(
    state: AppState, posted: list[PointIn] | None, loaded: PointSet | None, *, field: str, crs: str
) -> PointSet | None:
    """Posted points if given (an empty list means none), else the loaded ones."""
    if posted is None:
        return loaded
    if not posted:
        return None
    limit = state.config.limits.max_plan_points
    return posted_points(posted, crs=crs, loc=("body", field), role=field, max_points=limit)


@router.post(
    "/plan", response_class=Response, responses={200: {"model": PlanOut}, **ERROR_RESPONSES}
)
def plan(
    request: PlanRequest, http_request: Request, state: StateDep, admission: AdmissionDep
) -> Response:
    """Propose new stations so that communities walk to one within the limit.

    Without `budget`: the fewest new stations covering every coverable community (min cover).
    With `budget`: the most residents covered with that many new stations (max cover). Posted
    lists replace the loaded data (at most 10,000 points each; `existing: []` means none).
    `time_limit_s` (at most the server's limit) bounds the whole request: past it the best plan
    found is returned, or 503 if none is ready. A plan too large for the server's memory budget
    gets 413 before any work; when the server is busy with other plans, 503 with `Retry-After`.
    `effort` sets how long the search may run. `residents_per_aide` turns capacity on: a
    station serves its aides (posted `aides`, default 1) x that many residents, new stations get
    `aides` up to `max_aides`; the summary then has `staffing` and `staffing_by_area`.
    """
    communities = _points_or_loaded(
        state, request.communities, state.communities, field="communities", crs=request.crs
    )
    if communities is None:
        msg = "no communities: post them, or start the server with --communities"
        raise ApiError(409, loc=("body", "communities"), msg=msg, kind="no_data")
    existing = _points_or_loaded(
        state, request.existing, state.stations, field="existing", crs=request.crs
    )
    candidates = _points_or_loaded(
        state, request.candidates, None, field="candidates", crs=request.crs
    )
    with admission.heavy(loc=("body",)), field_errors("body"):
        capacity = (
            None
            if request.residents_per_aide is None
            else Capacity(request.residents_per_aide, request.aides, request.max_aides)
        )
        result = run_plan(
            state.network,
            communities,
            existing=existing,
            candidates=candidates,
            minutes=request.minutes,
            speed_kmh=request.speed_kmh,
            meters=request.meters,
            budget=request.budget,
            exact=request.exact,
            effort=request.effort,
            capacity=capacity,
            quiet=True,
            time_limit=seconds_left(
                http_request.scope,
                min(request.time_limit_s, state.config.limits.max_plan_seconds),
            ),
            max_pairs=admission.max_pairs,
        )._solved()
    covered = result.assignments.loc[result.assignments["covered"], "community_id"].astype(str)
    summary = result.summary
    if request.communities is None and state.communities_selection is not None:
        summary = {**summary, "selection": state.communities_selection}
    return json_response(
        {
            "stations": features_to_crs(result.to_geojson(), request.out_crs or request.crs),
            "summary": summary,
            "covered_ids": covered.tolist(),
        }
    )
