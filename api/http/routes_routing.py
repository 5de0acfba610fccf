"""Routing endpoints: ``GET``/``POST /isochrone`` and ``POST /walktimes``.

The handlers are plain ``def`` functions: FastAPI runs them in its thread pool, and the numba
kernels release the GIL, so concurrent requests use every core.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import Response

from quarterhour.api.http.errors import field_errors
from quarterhour.api.http.geojson import posted_points
from quarterhour.api.http.responses import json_response
from quarterhour.api.http.schemas import (
    ERROR_RESPONSES,
    IsochroneParams,
    WalkTimesOut,
    WalkTimesRequest,
    geojson_responses,
)
from quarterhour.api.http.state import AdmissionDep, AppState, StateDep
from quarterhour.geo.crs import convert
from quarterhour.routing.isochrone import isochrone, to_geojson
from quarterhour.routing.walktimes import walk_time_matrix

router = APIRouter(tags=["routing"])

ISOCHRONE_DOC = (
    "Valhalla-compatible FeatureCollection, largest contour first: one feature per contour with "
    "properties `contour` and `metric` and a Polygon or MultiPolygon, plus `speed_kmh`, `buffer_m`, "
    "`crs`, colours and the OpenStreetMap attribution."
)


def isochrone_collection(state: AppState, params: IsochroneParams, *, location: str) -> dict:
    """Compute the isochrone of ``params`` as a GeoJSON FeatureCollection.

    Parameters
    ----------
    state
        The server state (its network).
    params
        Validated request parameters.
    location
        ``"query"`` or ``"body"``, for error locations.

    Raises
    ------
    quarterhour.api.http.errors.ApiError
        422 for bad options, 404 for a point farther than the snapping limit from any street.
    """
    lon, lat = convert(params.lon, params.lat, src=params.crs, dst="wgs84")
    with field_errors(location, "lon"):
        result = isochrone(
            state.network,
            float(lon),
            float(lat),
            minutes=None if params.meters is not None else params.contours,
            meters=params.meters,
            speed_kmh=params.speed_kmh,
            buffer_m=params.buffer_m,
        )
    with field_errors(location):
        collection = to_geojson(
            result,
            state.network,
            crs=params.out_crs or params.crs,
            generalize_m=params.generalize,
            denoise=params.denoise,
        )
    collection["snap"] = {"access_m": round(float(result.snap.access_m[0]), 1)}
    return collection


@router.get("/isochrone", response_class=Response, responses=geojson_responses(ISOCHRONE_DOC))
def get_isochrone(params: Annotated[IsochroneParams, Query()], state: StateDep) -> Response:
    """Walking areas (5/10/15 minutes by default) around one point.

    Repeat `contours` for several limits: `?lon=121.47&lat=31.23&contours=5&contours=10`.
    """
    return json_response(isochrone_collection(state, params, location="query"))


@router.post("/isochrone", response_class=Response, responses=geojson_responses(ISOCHRONE_DOC))
def post_isochrone(params: IsochroneParams, state: StateDep) -> Response:
    """Walking areas around one point, parameters as a JSON body."""
    return json_response(isochrone_collection(state, params, location="body"))


@router.post(
    "/walktimes",
    response_class=Response,
    responses={200: {"model": WalkTimesOut}, **ERROR_RESPONSES},
)
def post_walktimes(request: WalkTimesRequest, state: StateDep, admission: AdmissionDep) -> Response:
    """Walk minutes (or metres) from every source to every target within the limit.

    Only the pairs within the limit are returned, as parallel columns `source`, `target`,
    `value` (positions in the request). At most 2,000 sources and 2,000 targets.
    """
    limit = state.config.limits.max_walktime_points
    sources = posted_points(
        request.sources, crs=request.crs, loc=("body", "sources"), role="sources", max_points=limit
    )
    targets = posted_points(
        request.targets, crs=request.crs, loc=("body", "targets"), role="targets", max_points=limit
    )
    with admission.heavy(loc=("body",)), field_errors("body"):
        times = walk_time_matrix(
            state.network,
            sources.lon,
            sources.lat,
            targets.lon,
            targets.lat,
            minutes=request.minutes,
            speed_kmh=request.speed_kmh,
            meters=request.meters,
            quiet=True,
        )
    pairs = times.matrix.tocoo()
    return json_response(
        {
            "source": pairs.row.astype(np.int64),
            "target": pairs.col.astype(np.int64),
            "value": np.round(pairs.data, 4),
            "metric": times.metric,
            "unit": times.unit,
            "limit": times.limit,
            "speed_kmh": times.speed_kmh,
            "sources_unreachable": np.flatnonzero(~times.src_snap.reachable),
            "targets_unreachable": np.flatnonzero(~times.dst_snap.reachable),
            "attribution": state.network.attribution,
        }
    )
