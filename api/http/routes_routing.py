"""Routing endpoints: ``GET``/``POST /isochrone`` and ``POST /walktimes``.

``/isochrone`` is the busiest path, so :class:`IsochroneFastPath` answers it as a plain ASGI
handler in front of FastAPI's routing: the query or body is validated by the same pydantic
models FastAPI documents, the isochrone is computed as arrays and serialised once by orjson,
and the answer is sent with no thread hop (a walk area of more than 2.5 km goes to a thread, so
it does not hold up the other connections of its worker). The FastAPI routes below describe it
in the OpenAPI document and answer the same way when the fast path is not installed.

Valhalla's request shape is accepted too (``locations``, ``costing: pedestrian``,
``contours: [{"time": 15}]``, ``polygons``, ``denoise``, ``generalize``, ``show_locations``,
``id``), posted or as ``GET /isochrone?json=...``, and answered as Valhalla answers it.

``/walktimes`` handlers are plain ``def`` functions: FastAPI runs them in its thread pool, and
the numba kernels release the GIL, so concurrent requests use every core.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

import anyio.to_thread
import numpy as np
import orjson
from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from quarterhour import settings
from quarterhour.api.http.errors import ApiError, field_errors, summarised
from quarterhour.api.http.geojson import posted_points
from quarterhour.api.http.responses import JSON_MEDIA_TYPE, dumps, json_response
from quarterhour.api.http.schemas import (
    ERROR_RESPONSES,
    VALHALLA_JSON_MAX,
    IsochroneParams,
    IsochroneQuery,
    ValhallaIsochroneRequest,
    WalkTimesOut,
    WalkTimesRequest,
    geojson_responses,
)
from quarterhour.api.http.state import AdmissionDep, AppState, StateDep
from quarterhour.geo.crs import convert
from quarterhour.routing.graph import WalkNetwork
from quarterhour.routing.isochrone import Isochrone, isochrone, to_geojson
from quarterhour.routing.walktimes import walk_time_matrix

router = APIRouter(tags=["routing"])

ISOCHRONE_DOC = (
    "Valhalla-compatible FeatureCollection, largest contour first: one feature per contour with "
    "properties `contour` and `metric` and a Polygon or MultiPolygon (a LineString for Valhalla's "
    "`polygons: false`), plus `speed_kmh`, `buffer_m`, `crs`, colours and the OpenStreetMap "
    "attribution."
)
LIST_FIELDS = frozenset({"contours", "meters"})
"""Query parameters that may repeat (or hold comma-separated values)."""
THREAD_ABOVE_M = 2500.0
"""Walk areas reaching farther than this are computed in a thread, not on the event loop."""


class InvalidRequestError(Exception):
    """A 422 with every validation error of a request, in FastAPI's shape.

    Parameters
    ----------
    errors
        ``{"loc", "msg", "type"}`` items.
    """

    def __init__(self, errors: list[dict[str, object]]) -> None:
        super().__init__(errors)
        self.errors = errors

    @classmethod
    def of(cls, error: ValidationError, *prefix: str | int) -> InvalidRequestError:
        """The errors of a pydantic ``ValidationError`` (a few), their locations under ``prefix``."""
        items = error.errors(include_url=False, include_context=False, include_input=False)
        return cls(summarised([{**item, "loc": [*prefix, *item["loc"]]} for item in items]))


@dataclass(frozen=True)
class IsochroneAsk:
    """One isochrone request, validated and in one shape, whichever shape it came in.

    Attributes
    ----------
    lon, lat
        The point, in ``crs``.
    crs, out_crs
        Coordinates of the point and of the answer.
    minutes, meters
        Time contours, or distance contours in metres.
    speed_kmh, buffer_m, denoise, generalize
        Options of :func:`~quarterhour.routing.isochrone.isochrone` and ``to_geojson``.
    polygons
        Polygons, or Valhalla's LineStrings.
    contour_values, colours
        What the ``contour`` properties say (Valhalla: kilometres) and the colours asked for.
    request_id
        Valhalla's ``id``, echoed.
    show_locations
        Add Valhalla's ``snapped`` and ``input`` point features.
    location
        Where the request's fields are, for errors: ``("query",)`` or ``("body",)``.
    point_location
        Where the point is, for errors.
    """

    lon: float
    lat: float
    crs: str = "wgs84"
    out_crs: str = "wgs84"
    minutes: tuple[float, ...] | None = None
    meters: tuple[float, ...] | None = None
    speed_kmh: float = settings.walk_speed_kmh
    buffer_m: float = settings.isochrone_buffer_m
    denoise: float = 0.0
    generalize: float | None = None
    polygons: bool = True
    contour_values: tuple[float, ...] | None = None
    colours: tuple[str | None, ...] | None = None
    request_id: str | int | None = None
    show_locations: bool = False
    location: tuple[str | int, ...] = ("query",)
    point_location: tuple[str | int, ...] = ("query", "lon")

    @classmethod
    def of_params(cls, params: IsochroneParams, *, location: str) -> IsochroneAsk:
        """The ask of quarterhour's own parameters."""
        return cls(
            lon=params.lon,
            lat=params.lat,
            crs=params.crs,
            out_crs=params.out_crs or params.crs,
            minutes=None if params.meters is not None else tuple(params.contours),
            meters=tuple(params.meters) if params.meters is not None else None,
            speed_kmh=params.speed_kmh,
            buffer_m=params.buffer_m,
            denoise=params.denoise,
            generalize=params.generalize,
            location=(location,),
            point_location=(location, "lon"),
        )

    @classmethod
    def of_valhalla(
        cls,
        request: ValhallaIsochroneRequest,
        *,
        location: tuple[str | int, ...],
        request_id: str | int | None = None,
    ) -> IsochroneAsk:
        """The ask of a Valhalla request: contours sorted as Valhalla sorts them."""
        contours = sorted(request.contours, key=lambda c: c.time or c.distance or 0.0)
        by_time = contours[0].time is not None
        values = tuple(float(c.time if by_time else c.distance) for c in contours)  # type: ignore[arg-type]  # one metric per request: ValhallaIsochroneRequest checks it
        return cls(
            lon=request.locations[0].lon,
            lat=request.locations[0].lat,
            minutes=values if by_time else None,
            meters=None if by_time else tuple(1000.0 * value for value in values),
            speed_kmh=request.costing_options.pedestrian.walking_speed,
            denoise=request.denoise,
            generalize=request.generalize,
            polygons=request.polygons,
            contour_values=values,
            colours=tuple(f"#{c.color.lower()}" if c.color else None for c in contours),
            request_id=request.id if request.id is not None else request_id,
            show_locations=request.show_locations,
            location=location,
            point_location=(*location, "locations", 0),
        )

    @property
    def reach_m(self) -> float:
        """How far the largest contour walks, in metres."""
        if self.meters is not None:
            return max(self.meters)
        return max(self.minutes or settings.isochrone_contours) * self.speed_kmh * 1000 / 60


def _valhalla(document: object, loc: tuple[str | int, ...]) -> ValhallaIsochroneRequest:
    try:
        return ValhallaIsochroneRequest.model_validate(document)
    except ValidationError as error:
        raise InvalidRequestError.of(error, *loc) from None


def ask_of_query(query_string: str) -> IsochroneAsk:
    """Validate the query string of ``GET /isochrone`` (ours, or Valhalla's ``?json=``).

    Raises
    ------
    InvalidRequestError
        422, locations under ``query``.
    """
    data: dict[str, Any] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        if key in LIST_FIELDS:
            data.setdefault(key, []).append(value)
        else:
            data[key] = value
    if "json" in data:
        others = set(data) - {"json", "id"}
        if others:
            msg = (
                f"give either json (Valhalla's form) or our parameters, not both: {sorted(others)}"
            )
            raise InvalidRequestError(
                [{"loc": ["query", "json"], "msg": msg, "type": "value_error"}]
            )
        text = str(data["json"])
        if len(text) > VALHALLA_JSON_MAX:
            msg = f"String should have at most {VALHALLA_JSON_MAX} characters"
            raise InvalidRequestError(
                [{"loc": ["query", "json"], "msg": msg, "type": "string_too_long"}]
            )
        document = _parse_json(text.encode(), ("query", "json"))
        request = _valhalla(document, ("query", "json"))
        return IsochroneAsk.of_valhalla(
            request, location=("query", "json"), request_id=data.get("id")
        )
    try:
        params = IsochroneParams.model_validate(data)
    except ValidationError as error:
        raise InvalidRequestError.of(error, "query") from None
    return IsochroneAsk.of_params(params, location="query")


def _parse_json(body: bytes, loc: tuple[str | int, ...]) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        # The standard parser reads NaN and Infinity, so that validation names the field.
        return json.loads(body)
    except UnicodeDecodeError:
        raise ApiError(
            400, loc=(), msg="There was an error parsing the body", kind="http_error"
        ) from None
    except json.JSONDecodeError as error:
        raise InvalidRequestError(
            [{"loc": [*loc, error.pos], "msg": "JSON decode error", "type": "json_invalid"}]
        ) from None
    except (ValueError, RecursionError) as error:
        # Numbers of thousands of digits, nesting deeper than the interpreter's stack (the body
        # guard refuses these first; a query's json= comes here).
        msg = f"the JSON cannot be read ({str(error)[:200]})"
        raise InvalidRequestError(
            [{"loc": list(loc), "msg": msg, "type": "json_invalid"}]
        ) from None


def ask_of_body(body: bytes) -> IsochroneAsk:
    """Validate the JSON body of ``POST /isochrone``: ours, or Valhalla's if it has ``locations``.

    Raises
    ------
    InvalidRequestError
        422, locations under ``body``.
    ApiError
        400 if the body is not UTF-8.
    """
    if not body.strip():
        raise InvalidRequestError([{"loc": ["body"], "msg": "Field required", "type": "missing"}])
    document = _parse_json(body, ("body",))
    if isinstance(document, dict) and "locations" in document:
        return IsochroneAsk.of_valhalla(_valhalla(document, ("body",)), location=("body",))
    try:
        params = IsochroneParams.model_validate(document)
    except ValidationError as error:
        raise InvalidRequestError.of(error, "body") from None
    return IsochroneAsk.of_params(params, location="body")


def isochrone_json(state: AppState, ask: IsochroneAsk) -> bytes:
    """Compute the isochrone of ``ask`` and serialise it: the whole work of a request.

    Raises
    ------
    quarterhour.api.http.errors.ApiError
        422 for bad options, 404 for a point farther than the snapping limit from any street.
    """
    network = state.network
    lon, lat = (
        (ask.lon, ask.lat)
        if ask.crs == "wgs84"
        else (float(v) for v in convert(ask.lon, ask.lat, src=ask.crs, dst="wgs84"))
    )
    with field_errors(*ask.point_location):
        result = isochrone(
            network,
            float(lon),
            float(lat),
            minutes=ask.minutes,
            meters=ask.meters,
            speed_kmh=ask.speed_kmh,
            buffer_m=ask.buffer_m,
        )
    with field_errors(*ask.location):
        collection = to_geojson(
            result,
            network,
            crs=ask.out_crs,
            generalize_m=ask.generalize,
            denoise=ask.denoise,
            polygons=ask.polygons,
            contour_values=ask.contour_values,
            colours=ask.colours,
            arrays=True,
        )
    collection["snap"] = {"access_m": round(float(result.snap.access_m[0]), 1)}
    if ask.show_locations:
        collection["features"] += _location_features(network, result, ask)
    if ask.request_id is not None:
        collection["id"] = ask.request_id
    return dumps(collection)


def _location_features(network: WalkNetwork, result: Isochrone, ask: IsochroneAsk) -> list[dict]:
    """Valhalla's ``show_locations`` features: where the point joined the network, and the input."""
    at_x, at_y = result.snapped_xy
    lon, lat = network.projection.inverse(np.array([at_x]), np.array([at_y]))
    lon, lat = convert(lon, lat, src="wgs84", dst=ask.out_crs)
    in_lon, in_lat = convert(ask.lon, ask.lat, src=ask.crs, dst=ask.out_crs)
    return [
        {
            "type": "Feature",
            "properties": {"type": "snapped", "location_index": 0},
            "geometry": {
                "type": "MultiPoint",
                "coordinates": [[round(float(lon[0]), 6), round(float(lat[0]), 6)]],
            },
        },
        {
            "type": "Feature",
            "properties": {"type": "input", "location_index": 0},
            "geometry": {
                "type": "Point",
                "coordinates": [round(float(in_lon), 6), round(float(in_lat), 6)],
            },
        },
    ]


async def answer_isochrone(state: AppState, ask: IsochroneAsk) -> tuple[int, bytes]:
    """Status and JSON body of ``ask``: on the event loop, or in a thread for a large area."""
    try:
        if ask.reach_m > THREAD_ABOVE_M:
            return 200, await anyio.to_thread.run_sync(isochrone_json, state, ask)
        return 200, isochrone_json(state, ask)
    except ApiError as error:
        return error.status, _error_body([{"loc": error.loc, "msg": error.msg, "type": error.kind}])


def _error_body(errors: list[dict[str, object]]) -> bytes:
    return dumps({"detail": errors})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class IsochroneFastPath:
    """ASGI middleware: answer ``GET``/``POST /isochrone`` directly (see the module docstring).

    Parameters
    ----------
    app
        The rest of the application (everything else goes there unchanged).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer an isochrone request, or pass the request on."""
        if (
            scope["type"] != "http"
            or scope["path"] != "/isochrone"
            or scope["method"] not in ("GET", "POST")
        ):
            await self.app(scope, receive, send)
            return
        state = getattr(scope["app"].state, "quarterhour", None)
        if state is None:  # not started: let FastAPI answer
            await self.app(scope, receive, send)
            return
        try:
            if scope["method"] == "GET":
                ask = ask_of_query(scope["query_string"].decode("latin-1"))
            else:
                ask = ask_of_body(await _read_body(receive))
            status, body = await answer_isochrone(state, ask)
        except InvalidRequestError as error:
            status, body = 422, _error_body(error.errors)
        except ApiError as error:
            status = error.status
            body = _error_body([{"loc": error.loc, "msg": error.msg, "type": error.kind}])
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", JSON_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _route_answer(
    state: AppState, ask_of: Callable[..., IsochroneAsk], *args: object
) -> Response:
    try:
        ask = ask_of(*args)
    except InvalidRequestError as error:
        return Response(_error_body(error.errors), status_code=422, media_type=JSON_MEDIA_TYPE)
    status, body = await answer_isochrone(state, ask)
    return Response(body, status_code=status, media_type=JSON_MEDIA_TYPE)


@router.get("/isochrone", response_class=Response, responses=geojson_responses(ISOCHRONE_DOC))
async def get_isochrone(
    _params: Annotated[IsochroneQuery, Query()], request: Request, state: StateDep
) -> Response:
    """Walking areas (5/10/15 minutes by default) around one point.

    Several limits: `contours=5,10,15`, or repeat `contours`. Valhalla's GET form works too:
    `?json={"locations":[{"lat":31.23,"lon":121.47}],"costing":"pedestrian","contours":[{"time":15}]}`.
    """
    return await _route_answer(state, ask_of_query, request.url.query)


@router.post("/isochrone", response_class=Response, responses=geojson_responses(ISOCHRONE_DOC))
async def post_isochrone(
    _params: Annotated[
        IsochroneParams | ValhallaIsochroneRequest, Body(title="quarterhour or Valhalla request")
    ],
    request: Request,
    state: StateDep,
) -> Response:
    """Walking areas around one point: our parameters, or Valhalla's request, as a JSON body.

    Valhalla's body (`locations`, `costing: pedestrian`, `contours: [{"time": 15}]`, `polygons`,
    `denoise`, `generalize`, `show_locations`, `id`) is answered as Valhalla answers it:
    LineStrings unless `polygons` is true, the largest polygon only unless `denoise` < 1.
    """
    return await _route_answer(state, ask_of_body, await request.body())


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
