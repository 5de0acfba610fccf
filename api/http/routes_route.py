"""Walking routes: ``GET /route`` (GeoJSON), ``POST /route`` (Valhalla's shape) and ``GET /nearest``.

``GET /route`` answers a GeoJSON Feature (a LineString with ``minutes`` and ``meters``), for web
maps. ``POST /route`` takes Valhalla's route request (two ``locations``, ``costing``
``pedestrian``, ``costing_options.pedestrian.walking_speed`` in km/h, ``units``) and answers
Valhalla's route response (``trip.legs[0].shape`` an encoded polyline of precision 6,
``trip.summary.time`` in seconds and ``length`` in kilometres or miles), so a Valhalla client
reads it. ``GET /nearest`` answers the stations the server was started with that are nearest a
resident by walking, with their routes: a resident's "where is my employment station" page.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import Response

from quarterhour.api.http.errors import ApiError, Location
from quarterhour.api.http.geojson import point_coordinates
from quarterhour.api.http.responses import json_response
from quarterhour.api.http.schemas import (
    ERROR_RESPONSES,
    FEATURE_COLLECTION_SCHEMA,
    NearestParams,
    RouteParams,
    ValhallaRouteOut,
    ValhallaRouteRequest,
)
from quarterhour.api.http.state import AppState, StateDep
from quarterhour.geo.crs import convert
from quarterhour.geo.errors import InputError, NetworkError, NoRouteError
from quarterhour.geo.points import PointSet
from quarterhour.routing.route import Route, nearest_routes, shortest_route
from quarterhour.routing.snapping import Snap, snap_points

router = APIRouter(tags=["routes"])

KM_PER_MILE = 1.609344

FEATURE_SCHEMA: dict = {
    "type": "object",
    "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"const": "Feature"},
        "geometry": {
            "type": "object",
            "required": ["type", "coordinates"],
            "properties": {"type": {"const": "LineString"}, "coordinates": {"type": "array"}},
        },
        "properties": {
            "type": "object",
            "required": ["minutes", "meters", "speed_kmh", "crs", "attribution"],
        },
    },
}
"""OpenAPI schema of the ``GET /route`` answer."""

ROUTE_DOC = (
    "GeoJSON Feature: the walk as a LineString (access leg, streets, access leg) with properties "
    "`minutes`, `meters`, `speed_kmh`, `kind` (`network`, `along_street` or `straight`), "
    "`access_m` (the off-street legs), `crs` and the OpenStreetMap attribution."
)
NEAREST_DOC = (
    "FeatureCollection of up to k stations, nearest first: each a LineString route from the point "
    "to the station with `rank`, `station_id`, `name`, `minutes`, `meters`, `station` (its "
    "coordinates) and the route's other properties."
)
NO_ROUTE_RESPONSE: dict[int | str, dict] = {
    404: {
        "model": ERROR_RESPONSES[404]["model"],
        "description": "a point farther than 500 m from a street (`off_network`), or no walk "
        "joins the points (`no_route`: separate parts of the network)",
    }
}


_STATION_SNAPS: weakref.WeakKeyDictionary[AppState, Snap] = weakref.WeakKeyDictionary()
"""Where each server's loaded stations join its network, computed on the first request."""


def stations_snap(state: AppState, stations: PointSet) -> Snap:
    """Return where the loaded stations join the network (snapped once per server)."""
    snap = _STATION_SNAPS.get(state)
    if snap is None:
        snap = snap_points(state.network, stations.lon, stations.lat)
        _STATION_SNAPS[state] = snap
    return snap


@contextmanager
def route_errors(fields: Mapping[str | None, tuple[Location, str]]) -> Iterator[None]:
    """Turn the library's errors inside the block into error answers at the request's fields.

    Parameters
    ----------
    fields
        Per library parameter (``"from_point"``, ``"speed_kmh"`` ..., None for the others),
        the location in the request and the name a message gives it.
    """
    try:
        yield
    except (InputError, NetworkError) as error:
        loc, name = fields.get(error.param, fields[None])
        msg = f"{name} {error.message}" if error.param in fields else str(error)
        if isinstance(error, NoRouteError):
            raise ApiError(404, loc=loc, msg=msg, kind="no_route") from error
        if isinstance(error, NetworkError):
            raise ApiError(404, loc=loc, msg=msg, kind="off_network") from error
        raise ApiError(422, loc=loc, msg=msg, kind="value_error") from error


def _wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    wgs_lon, wgs_lat = convert(lon, lat, src=crs, dst="wgs84")
    return float(wgs_lon), float(wgs_lat)


@router.get(
    "/route",
    response_class=Response,
    responses={
        200: {
            "description": ROUTE_DOC,
            "content": {"application/json": {"schema": FEATURE_SCHEMA}},
        },
        **ERROR_RESPONSES,
        **NO_ROUTE_RESPONSE,
    },
)
def get_route(params: Annotated[RouteParams, Query()], state: StateDep) -> Response:
    """The walking route between two points, as a GeoJSON Feature.

    `?from_lon=121.4737&from_lat=31.2304&to_lon=121.4800&to_lat=31.2250`; `crs=gcj02` for
    AMap coordinates (the answer is in `out_crs`, by default the same).
    """
    from_lon, from_lat = _wgs84(params.from_lon, params.from_lat, params.crs)
    to_lon, to_lat = _wgs84(params.to_lon, params.to_lat, params.crs)
    fields = {
        "from_point": (("query", "from_lon"), "the start point"),
        "to_point": (("query", "to_lon"), "the end point"),
        "speed_kmh": (("query", "speed_kmh"), "speed_kmh"),
        None: (("query",), ""),
    }
    with route_errors(fields):
        result = shortest_route(
            state.network, from_lon, from_lat, to_lon, to_lat, speed_kmh=params.speed_kmh
        )
    return json_response(result.to_geojson(crs=params.out_crs or params.crs))


def encode_polyline(lon: np.ndarray, lat: np.ndarray, *, precision: int = 6) -> str:
    """Encode a line in Google's polyline format (latitude first), as Valhalla does.

    Parameters
    ----------
    lon, lat
        Degrees.
    precision
        Decimal places kept: 6 for Valhalla's ``polyline6``, 5 for Google's.
    """
    scaled = np.round(np.column_stack([lat, lon]) * 10.0**precision).astype(np.int64)
    deltas = np.diff(scaled, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).ravel()
    chunks: list[str] = []
    for delta in deltas.tolist():
        value = ~(delta << 1) if delta < 0 else delta << 1
        while value >= 0x20:
            chunks.append(chr((0x20 | (value & 0x1F)) + 63))
            value >>= 5
        chunks.append(chr(value + 63))
    return "".join(chunks)


def valhalla_trip(
    result: Route,
    request: ValhallaRouteRequest,
    *,
    crs: str,
) -> dict:
    """Return a route as Valhalla's route answer (one leg, start and destination maneuvers).

    Parameters
    ----------
    result
        The route.
    request
        The Valhalla request it answers (locations, units, shape format, id).
    crs
        Coordinates of the shape and the bounding box.
    """
    units = request.units or (request.directions_options and request.directions_options.units)
    in_miles = units in ("miles", "mi")
    km = result.meters / 1000.0
    length = round(km / KM_PER_MILE if in_miles else km, 3)
    seconds = round(result.minutes * 60.0, 3)
    coordinates = result.coordinates(crs)
    lon, lat = coordinates[:, 0], coordinates[:, 1]
    if request.shape_format == "geojson":
        shape: str | dict = {
            "type": "LineString",
            "coordinates": np.round(coordinates, 6).tolist(),
        }
    else:
        shape = encode_polyline(lon, lat, precision=6 if request.shape_format == "polyline6" else 5)
    summary = {
        "time": seconds,
        "length": length,
        "cost": seconds,
        "min_lat": round(float(lat.min()), 6),
        "min_lon": round(float(lon.min()), 6),
        "max_lat": round(float(lat.max()), 6),
        "max_lon": round(float(lon.max()), 6),
        "has_time_restrictions": False,
        "has_toll": False,
        "has_highway": False,
        "has_ferry": False,
    }
    last = len(coordinates) - 1
    walk = {"travel_mode": "pedestrian", "travel_type": "foot"}
    maneuvers = [
        {
            "type": 1,  # kStart
            "instruction": f"Walk {result.meters:,.0f} m to the destination.",
            "time": seconds,
            "length": length,
            "cost": seconds,
            "begin_shape_index": 0,
            "end_shape_index": last,
            **walk,
        },
        {
            "type": 4,  # kDestination
            "instruction": "You have arrived at your destination.",
            "time": 0.0,
            "length": 0.0,
            "cost": 0.0,
            "begin_shape_index": last,
            "end_shape_index": last,
            **walk,
        },
    ]
    locations = [
        {"type": "break", "lon": round(float(x), 6), "lat": round(float(y), 6), "original_index": i}
        for i, (x, y) in enumerate(coordinates[[0, last]].tolist())
    ]
    answer: dict = {
        "trip": {
            "locations": locations,
            "legs": [{"maneuvers": maneuvers, "summary": summary, "shape": shape}],
            "summary": summary,
            "status_message": "Found route between points",
            "status": 0,
            "units": "miles" if in_miles else "kilometers",
            "language": "en-US",
        },
        "attribution": result.attribution,
    }
    if request.id is not None:
        answer["id"] = request.id
    return answer


@router.post(
    "/route",
    response_class=Response,
    responses={200: {"model": ValhallaRouteOut}, **ERROR_RESPONSES, **NO_ROUTE_RESPONSE},
)
def post_route(request: ValhallaRouteRequest, state: StateDep) -> Response:
    """The walking route between two points, in Valhalla's request and answer shape.

    Body: `{"locations": [{"lat": 31.2304, "lon": 121.4737}, {"lat": 31.225, "lon": 121.48}],
    "costing": "pedestrian", "costing_options": {"pedestrian": {"walking_speed": 4.5}}}`.
    The answer's `trip.legs[0].shape` is an encoded polyline of precision 6 (`shape_format`
    `polyline5` or `geojson` on request), `trip.summary.time` is in seconds and `length` in
    kilometres (`units` `miles` on request). No turn-by-turn narrative: one start and one
    destination maneuver. Walking speed defaults to 4.5 km/h (Valhalla's to 5.1 km/h).
    """
    start, end = request.locations
    from_lon, from_lat = _wgs84(start.lon, start.lat, request.crs)
    to_lon, to_lat = _wgs84(end.lon, end.lat, request.crs)
    pedestrian = request.costing_options.pedestrian if request.costing_options else None
    fields = {
        "from_point": (("body", "locations", 0), "locations[0]"),
        "to_point": (("body", "locations", 1), "locations[1]"),
        "speed_kmh": (
            ("body", "costing_options", "pedestrian", "walking_speed"),
            "walking_speed",
        ),
        None: (("body",), ""),
    }
    with route_errors(fields):
        result = shortest_route(
            state.network,
            from_lon,
            from_lat,
            to_lon,
            to_lat,
            speed_kmh=pedestrian.walking_speed if pedestrian else None,
        )
    return json_response(valhalla_trip(result, request, crs=request.out_crs or request.crs))


@router.get(
    "/nearest",
    response_class=Response,
    responses={
        200: {
            "description": NEAREST_DOC,
            "content": {"application/json": {"schema": FEATURE_COLLECTION_SCHEMA}},
        },
        **ERROR_RESPONSES,
        **NO_ROUTE_RESPONSE,
    },
)
def get_nearest(params: Annotated[NearestParams, Query()], state: StateDep) -> Response:
    """The k loaded stations nearest a point by walking, with their routes (nearest first).

    For a resident's "where is my employment station" page: `?lon=121.4737&lat=31.2304&k=3`.
    Uses the stations the server was started with (`--stations`); stations more than 500 m
    from a street, or on a part of the network the point cannot walk to, are left out.
    """
    stations = state.stations
    if stations is None or len(stations) == 0:
        msg = "no existing station was loaded (start the server with --stations)"
        raise ApiError(409, loc=("query",), msg=msg, kind="no_data")
    lon, lat = _wgs84(params.lon, params.lat, params.crs)
    fields = {
        "point": (("query", "lon"), "the point"),
        "k": (("query", "k"), "k"),
        "speed_kmh": (("query", "speed_kmh"), "speed_kmh"),
        None: (("query",), ""),
    }
    with route_errors(fields):
        found = nearest_routes(
            state.network,
            lon,
            lat,
            stations.lon,
            stations.lat,
            k=params.k,
            speed_kmh=params.speed_kmh,
            stations_snap=stations_snap(state, stations),
        )
    out_crs = params.out_crs or params.crs
    station_xy = point_coordinates(
        stations.lon[[t for t, _ in found]], stations.lat[[t for t, _ in found]], crs=out_crs
    )
    features = []
    for rank, ((t, result), xy) in enumerate(zip(found, station_xy, strict=True), start=1):
        feature = result.to_geojson(crs=out_crs)
        feature["properties"] = {
            "rank": rank,
            "station_id": str(stations.ids[t]),
            "name": str(stations.names[t]),
            "station": xy,
            **feature["properties"],
        }
        features.append(feature)
    return json_response(
        {
            "type": "FeatureCollection",
            "features": features,
            "point": point_coordinates(np.array([lon]), np.array([lat]), crs=out_crs)[0],
            "k": params.k,
            "n_stations": len(stations),
            "crs": out_crs,
            "attribution": state.network.attribution,
        }
    )
