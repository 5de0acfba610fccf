"""Endpoints over the loaded data: ``/health``, ``/network``, ``/communities`` and ``/coverage``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from quarterhour.api.http.errors import ApiError, field_errors
from quarterhour.api.http.geojson import network_lines, point_features
from quarterhour.api.http.guards import Admission
from quarterhour.api.http.responses import json_response, raw_json_response
from quarterhour.api.http.schemas import (
    ERROR_RESPONSES,
    CommunitiesQuery,
    CoverageOut,
    CoverageQuery,
    CrsName,
    HealthOut,
    WalkLimit,
    geojson_responses,
)
from quarterhour.api.http.state import AdmissionDep, AppState, StateDep
from quarterhour.geo.points import PointSet
from quarterhour.siting.audit import CoverageAudit
from quarterhour.siting.capacity import Capacity
from quarterhour.siting.model import CoverageModel
from quarterhour.siting.plan import coverage_audit

router = APIRouter(tags=["data"])

CACHE_HEADERS = {"Cache-Control": "public, max-age=3600"}


@router.get("/health", response_model=HealthOut)
async def health(state: StateDep) -> HealthOut:
    """What the server has loaded."""
    network = state.network
    return HealthOut(
        status="ok",
        network=network.source,
        n_nodes=network.n_nodes,
        n_edges=network.n_edges,
        street_km=round(network.total_length_km, 3),
        n_communities=len(state.communities) if state.communities is not None else 0,
        n_stations=len(state.stations) if state.stations is not None else 0,
        attribution=network.attribution,
        communities_selection=state.communities_selection,
    )


@router.get(
    "/network",
    response_class=Response,
    responses=geojson_responses("the streets as one MultiLineString"),
)
def network_geojson(state: StateDep, crs: CrsName = "wgs84") -> Response:
    """The walking network as simplified GeoJSON lines, for drawing (cached)."""
    limits = state.config.limits

    def build() -> dict:
        return network_lines(
            state.network,
            crs=crs,
            tolerance_m=limits.network_simplify_m,
            precision=limits.network_precision,
        )

    return raw_json_response(state.cached_network_geojson(crs, build), headers=CACHE_HEADERS)


def _loaded_communities(state: AppState) -> PointSet:
    if state.communities is None:
        msg = (
            "no communities were loaded: start the server with --communities, or post them to /plan"
        )
        raise ApiError(409, loc=("query",), msg=msg, kind="no_data")
    return state.communities


def audit_of(
    state: AppState,
    admission: Admission,
    limit: WalkLimit,
    capacity: Capacity | None = None,
) -> CoverageAudit:
    """Return the (cached) coverage audit of the loaded communities and stations."""
    communities = _loaded_communities(state)
    key = (limit.minutes, limit.speed_kmh, limit.meters, capacity)
    bounds: dict[str, Any] = {
        "minutes": limit.minutes,
        "speed_kmh": limit.speed_kmh,
        "meters": limit.meters,
        "max_pairs": admission.max_pairs,
    }

    def build() -> CoverageAudit:
        with admission.heavy(loc=("query",)), field_errors("query"):
            if state.stations is None:
                return CoverageModel.from_points(
                    state.network, communities, candidates=PointSet.empty(), **bounds
                ).audit(capacity=capacity)
            return coverage_audit(
                state.network, communities, state.stations, capacity=capacity, **bounds
            )

    return state.cached_audit(key, build)


@router.get(
    "/communities", response_class=Response, responses=geojson_responses("the loaded communities")
)
def communities_geojson(
    state: StateDep, admission: AdmissionDep, query: Annotated[CommunitiesQuery, Query()]
) -> Response:
    """The loaded communities as GeoJSON points, each with `covered` by a loaded station."""
    communities = _loaded_communities(state)
    limit = WalkLimit(minutes=query.minutes, speed_kmh=query.speed_kmh, meters=query.meters)
    table = audit_of(state, admission, limit).communities.set_index("community_id")
    rows = table.loc[communities.ids.astype(str)]
    properties = [
        {"covered": bool(covered), "walk_min": walk, "station_id": station, "status": status}
        for covered, walk, station, status in zip(
            rows["covered"], rows["walk_min"], rows["station_id"], rows["status"], strict=True
        )
    ]
    return _collection(state, point_features(communities, crs=query.crs, properties=properties))


@router.get(
    "/stations",
    response_class=Response,
    responses=geojson_responses("the loaded existing stations"),
)
def stations_geojson(state: StateDep, crs: CrsName = "wgs84") -> Response:
    """The loaded existing stations as GeoJSON points (empty without --stations)."""
    stations = state.stations
    return _collection(state, point_features(stations, crs=crs) if stations is not None else [])


def _collection(state: AppState, features: list[dict]) -> Response:
    return json_response(
        {
            "type": "FeatureCollection",
            "features": features,
            "attribution": state.network.attribution,
        }
    )


@router.get(
    "/coverage", response_class=Response, responses={200: {"model": CoverageOut}, **ERROR_RESPONSES}
)
def coverage(
    state: StateDep, admission: AdmissionDep, query: Annotated[CoverageQuery, Query()]
) -> Response:
    """Coverage audit: which loaded communities reach a loaded station within the limit.

    With `residents_per_aide`, communities are assigned within the stations' capacities (their
    aides x that many residents): `over_capacity` communities, and `stations` with every
    station's aides needed and shortfall.
    """
    limit = WalkLimit(minutes=query.minutes, speed_kmh=query.speed_kmh, meters=query.meters)
    capacity = None
    if query.residents_per_aide is not None:
        capacity = Capacity(query.residents_per_aide)
    audit = audit_of(state, admission, limit, capacity)
    summary = audit.summary
    if state.communities_selection is not None:
        summary = {**summary, "selection": state.communities_selection}
    body = {"summary": summary, "communities": audit.communities.to_dict(orient="records")}
    if capacity is not None:
        body["stations"] = audit.stations.to_dict(orient="records")
    return json_response(body)
