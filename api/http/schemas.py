"""Request and response models of the HTTP API.

Every number is bounded and finite (NaN, infinity and huge values are 422). The large GeoJSON
answers (isochrones, network, communities) have no pydantic model on the way out: they are
serialised by orjson directly and only described in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from quarterhour import settings

CrsName = Literal["wgs84", "gcj02", "bd09"]

Longitude = Annotated[
    float, Field(ge=-180.0, le=180.0, allow_inf_nan=False, description="longitude, degrees")
]
Latitude = Annotated[
    float, Field(ge=-90.0, le=90.0, allow_inf_nan=False, description="latitude, degrees")
]
Minutes = Annotated[
    float, Field(gt=0.0, le=60.0, allow_inf_nan=False, description="minutes walked")
]
Metres = Annotated[
    float, Field(gt=0.0, le=5000.0, allow_inf_nan=False, description="metres walked")
]
Speed = Annotated[
    float,
    Field(
        ge=0.5,
        le=20.0,
        allow_inf_nan=False,
        description="walking speed, km/h (4.5 km/h is 75 m a minute)",
    ),
]
Weight = Annotated[
    float, Field(ge=0.0, le=1e9, allow_inf_nan=False, description="residents or other demand")
]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]

_STRICT = ConfigDict(extra="forbid")


class IsochroneParams(BaseModel):
    """Where and how far: the parameters of ``GET``/``POST /isochrone``."""

    model_config = _STRICT

    lon: Longitude
    lat: Latitude
    crs: CrsName = Field("wgs84", description="coordinates of lon/lat (AMap lists are gcj02)")
    out_crs: CrsName | None = Field(None, description="coordinates of the answer (default: crs)")
    contours: list[Minutes] = Field(
        default_factory=lambda: list(settings.isochrone_contours),
        min_length=1,
        max_length=4,
        description="time contours in minutes (1 to 4, each at most 60)",
    )
    meters: list[Metres] | None = Field(
        None,
        min_length=1,
        max_length=4,
        description="distance contours in metres walked, instead of minutes",
    )
    speed_kmh: Speed = settings.walk_speed_kmh
    denoise: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="drop pieces smaller than this share of the largest "
        "(Valhalla's denoise; 1 keeps the largest)",
    )
    generalize: float | None = Field(
        None,
        ge=0.0,
        le=500.0,
        allow_inf_nan=False,
        description="simplify outlines to this many metres "
        "(default a quarter grid cell; 0 keeps every vertex)",
    )
    buffer_m: float = Field(
        settings.isochrone_buffer_m,
        ge=0.0,
        le=500.0,
        allow_inf_nan=False,
        description="how far off a reached street the area reaches, metres",
    )

    @field_validator("contours", "meters", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        """Accept ``contours=5,10,15`` as well as repeated parameters."""
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list) and any(isinstance(item, str) and "," in item for item in value):
            return [
                part.strip()
                for item in value
                for part in (item.split(",") if isinstance(item, str) else [item])
            ]
        return value


VALHALLA_JSON_MAX = 2000
"""Longest ``GET /isochrone?json=`` request (Valhalla's isochrone requests take about 200)."""


class IsochroneQuery(IsochroneParams):
    """``GET /isochrone``: our parameters, or Valhalla's ``?json={...}&id=...`` form."""

    lon: Longitude | None = None  # type: ignore[assignment]  # optional here: ?json= may give it
    lat: Latitude | None = None  # type: ignore[assignment]  # (as lon)
    json_: str | None = Field(
        None,
        alias="json",
        max_length=VALHALLA_JSON_MAX,
        description="Valhalla's GET form: the request as JSON (`locations`, `costing`, "
        "`contours` ...), instead of the other parameters",
    )
    id: str | None = Field(None, max_length=200, description="echoed as `id` (Valhalla)")


ValhallaId = Annotated[str, Field(max_length=200)] | Annotated[int, Field(ge=-(2**53), le=2**53)]
"""A request's ``id``, echoed: a short text or an integer JSON readers keep exactly."""


class ValhallaLocation(BaseModel):
    """A Valhalla location; its other options (``type``, ``radius`` ...) are accepted and unused."""

    model_config = ConfigDict(extra="ignore")

    lat: Latitude
    lon: Longitude


class ValhallaContour(BaseModel):
    """One Valhalla contour: ``time`` in minutes or ``distance`` in kilometres, and a colour."""

    model_config = _STRICT

    time: float | None = Field(
        None, gt=0.0, le=60.0, allow_inf_nan=False, description="minutes walked"
    )
    distance: float | None = Field(
        None, gt=0.0, le=5.0, allow_inf_nan=False, description="kilometres walked"
    )
    color: str | None = Field(
        None, pattern="^[0-9a-fA-F]{6}$", description="hex colour without '#', e.g. ff0000"
    )

    @model_validator(mode="after")
    def _one_metric(self) -> ValhallaContour:
        if (self.time is None) == (self.distance is None):
            msg = "give either time (minutes) or distance (kilometres)"
            raise ValueError(msg)
        return self


class ValhallaPedestrian(BaseModel):
    """Pedestrian costing options: the walking speed (another option would change the walk: 422)."""

    model_config = _STRICT

    walking_speed: Speed = Field(default_factory=lambda: settings.walk_speed_kmh)


class ValhallaCostingOptions(BaseModel):
    """Costing options; those of other costings are ignored, as Valhalla does."""

    model_config = ConfigDict(extra="ignore")

    pedestrian: ValhallaPedestrian = Field(default_factory=ValhallaPedestrian)


class ValhallaIsochroneRequest(BaseModel):
    """Valhalla's isochrone request (``POST /isochrone`` or ``GET /isochrone?json=``).

    Valhalla's defaults apply: ``polygons`` false (LineStrings) and ``denoise`` 1 (the largest
    polygon of each contour). Keys that only other costings or services read are ignored, as
    Valhalla ignores them.
    """

    model_config = ConfigDict(extra="ignore")

    locations: list[ValhallaLocation] = Field(min_length=1, max_length=1)
    costing: Literal["pedestrian"] = Field(description="only walking: pedestrian")
    costing_options: ValhallaCostingOptions = Field(default_factory=ValhallaCostingOptions)
    contours: list[ValhallaContour] = Field(min_length=1, max_length=4)
    polygons: bool = Field(
        default=False, description="polygons, or (false, Valhalla's default) LineStrings"
    )
    denoise: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="drop polygons smaller than this share of the largest (1: only the largest)",
    )
    generalize: float | None = Field(
        None, ge=0.0, le=500.0, allow_inf_nan=False, description="Douglas-Peucker tolerance, m"
    )
    show_locations: bool = Field(
        default=False, description="add the input point and where it joined the network"
    )
    id: ValhallaId | None = Field(None, description="echoed as `id`")
    format: Literal["json"] = Field("json", description="only GeoJSON (json)")
    reverse: bool = Field(
        default=False, description="walking is the same both ways: the same areas"
    )

    @field_validator("contours")
    @classmethod
    def _one_metric(cls, contours: list[ValhallaContour]) -> list[ValhallaContour]:
        if len({contour.time is None for contour in contours}) > 1:
            msg = "give every contour in one metric: all time or all distance"
            raise ValueError(msg)
        return contours


class PointIn(BaseModel):
    """One point: a community, a station or a candidate site."""

    model_config = _STRICT

    lon: Longitude
    lat: Latitude
    id: ShortText | None = Field(None, description="unique id (default: the position in the list)")
    name: Annotated[str, Field(max_length=200)] | None = None
    weight: Weight = 1.0
    aides: int | None = Field(
        None, ge=0, le=1_000, description="an existing station's employment aides (default 1)"
    )


class WalkLimit(BaseModel):
    """A walk limit: minutes at a speed, or metres."""

    model_config = _STRICT

    minutes: Minutes = Field(default_factory=lambda: settings.walk_limit_minutes)
    speed_kmh: Speed = Field(default_factory=lambda: settings.walk_speed_kmh)
    meters: Metres | None = Field(
        None, description="distance limit in metres walked, instead of minutes"
    )


class CommunitiesQuery(WalkLimit):
    """Parameters of ``GET /communities``: the walk limit of the covered flag and the output crs."""

    crs: CrsName = Field("wgs84", description="coordinates of the answer")


class WalkTimesRequest(WalkLimit):
    """Sources and targets of ``POST /walktimes``."""

    sources: list[PointIn] = Field(min_length=1, description="origins (at most 2,000)")
    targets: list[PointIn] = Field(min_length=1, description="destinations (at most 2,000)")
    crs: CrsName = "wgs84"


class WalkTimesOut(BaseModel):
    """The pairs within the limit, as three parallel columns (sparse, like a COO matrix)."""

    source: list[int] = Field(description="position of the source in the request")
    target: list[int] = Field(description="position of the target in the request")
    value: list[float] = Field(description="walk minutes (metric time) or metres (metric distance)")
    metric: Literal["time", "distance"]
    unit: Literal["min", "m"]
    limit: float
    speed_kmh: float
    sources_unreachable: list[int] = Field(description="sources more than 500 m from any street")
    targets_unreachable: list[int] = Field(description="targets more than 500 m from any street")
    attribution: str


class PlanRequest(WalkLimit):
    """Inputs of ``POST /plan``; every list defaults to the data the server was started with."""

    communities: list[PointIn] | None = Field(
        None, description="demand points (default: the loaded communities)"
    )
    existing: list[PointIn] | None = Field(
        None, description="existing stations, kept (default: the loaded stations)"
    )
    candidates: list[PointIn] | None = Field(
        None, description="candidate sites (default: the communities)"
    )
    crs: CrsName = Field("wgs84", description="coordinates of the posted points")
    out_crs: CrsName | None = Field(None, description="coordinates of the answer (default: crs)")
    budget: int | None = Field(
        None,
        ge=0,
        le=10_000,
        description="number of new stations (max cover); default: the fewest covering all",
    )
    exact: bool = Field(default=False, description="solve the integer programme exactly with HiGHS")
    time_limit_s: float = Field(
        10.0,
        gt=0.0,
        le=60.0,
        allow_inf_nan=False,
        description="seconds the solve may take (search, exact solver); at most the server's limit",
    )
    effort: (
        Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
        | Literal["fast", "default", "thorough"]
    ) = Field(
        "default",
        description="search effort, 0 to 1 or fast (0) / default (0.5, at most about 8 s) / "
        "thorough (1)",
    )
    residents_per_aide: float | None = Field(
        None,
        gt=0.0,
        allow_inf_nan=False,
        description="residents one aide serves: turns capacity on (a station serves aides x "
        "this); the summary then has staffing and the stations aides needed and shortfall",
    )
    aides: int = Field(1, ge=1, le=1_000, description="aides of a new station (with capacity)")
    max_aides: int | None = Field(
        None, ge=1, le=1_000, description="most aides a new station may get (default: aides)"
    )


class PlanOut(BaseModel):
    """Proposed stations and the plan's figures."""

    stations: dict = Field(
        description="GeoJSON FeatureCollection of existing and new stations (kind, rank)"
    )
    summary: dict = Field(
        description=(
            "covered share, number of new stations, bound, gap, method ...; with the loaded "
            "communities clipped to the network's area, selection: how many were left out "
            "(as in /health)"
        )
    )
    covered_ids: list[str] = Field(description="ids of the communities a station covers")


class CoverageQuery(WalkLimit):
    """Parameters of ``GET /coverage``: the walk limit and, optionally, the capacity."""

    residents_per_aide: float | None = Field(
        None,
        gt=0.0,
        allow_inf_nan=False,
        description="residents one aide serves: assign within the stations' capacities "
        "(over_capacity communities, staffing per station)",
    )


class CoverageOut(BaseModel):
    """Audit of the loaded communities against the loaded stations."""

    summary: dict = Field(
        description=(
            "n_communities, covered, covered_share, covered_weight_share ...; selection: the "
            "loaded communities left out of the network's area (as in /health)"
        )
    )
    communities: list[dict] = Field(
        description="per community: nearest station, walk minutes, covered, reason"
    )
    stations: list[dict] | None = Field(
        None,
        description="with residents_per_aide: per station aides, capacity, served and demand "
        "weight, aides needed and shortfall",
    )


class HealthOut(BaseModel):
    """What the server has loaded."""

    status: Literal["ok"]
    network: str
    n_nodes: int
    n_edges: int
    street_km: float
    n_communities: int
    n_stations: int
    attribution: str
    communities_selection: dict[str, int] | None = Field(
        default=None,
        description=(
            "when the loaded communities were clipped to the network's area: rows read "
            "(read), kept (in_area), left out outside its bounding box (outside_box) or farther "
            "than snap_max_m metres from every street (off_streets)"
        ),
    )


class ErrorItem(BaseModel):
    """One error: where in the request, message and type."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every error answer has this shape."""

    detail: list[ErrorItem]


FEATURE_COLLECTION_SCHEMA: dict = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {"type": "array", "items": {"type": "object"}},
        "attribution": {"type": "string"},
    },
}
"""OpenAPI schema of the GeoJSON answers (validated by the tests, not at run time)."""


def geojson_responses(description: str) -> dict[int | str, dict]:
    """OpenAPI ``responses`` of a GeoJSON endpoint, with the error shape."""
    return {
        200: {
            "description": description,
            "content": {"application/json": {"schema": FEATURE_COLLECTION_SCHEMA}},
        },
        **ERROR_RESPONSES,
    }


ERROR_RESPONSES: dict[int | str, dict] = {
    400: {"model": ErrorOut, "description": "the body cannot be parsed (not UTF-8 JSON)"},
    404: {
        "model": ErrorOut,
        "description": "off the network (point farther than 500 m from a street)",
    },
    409: {
        "model": ErrorOut,
        "description": "the server was started without the data the request needs",
    },
    413: {"model": ErrorOut, "description": "body or point list over the limits"},
    422: {"model": ErrorOut, "description": "a bad field; loc names it"},
    503: {
        "model": ErrorOut,
        "description": "busy with other heavy requests, or out of time before any answer "
        "(type busy or time_limit; see Retry-After)",
    },
}


# Routes (GET/POST /route, GET /nearest) -----------------------------------------------------

MAX_NEAREST = 10
"""Most stations one ``GET /nearest`` returns."""

OptionalSpeed = Annotated[
    Speed | None,
    Field(description="walking speed, km/h (default 4.5, quarterhour.settings.walk_speed_kmh)"),
]


class RouteParams(BaseModel):
    """Two points: the parameters of ``GET /route``."""

    model_config = _STRICT

    from_lon: Longitude
    from_lat: Latitude
    to_lon: Longitude
    to_lat: Latitude
    crs: CrsName = Field("wgs84", description="coordinates of the points (AMap lists are gcj02)")
    out_crs: CrsName | None = Field(None, description="coordinates of the answer (default: crs)")
    speed_kmh: OptionalSpeed = None


class NearestParams(BaseModel):
    """A resident's point and how many stations: the parameters of ``GET /nearest``."""

    model_config = _STRICT

    lon: Longitude
    lat: Latitude
    k: int = Field(3, ge=1, le=MAX_NEAREST, description="how many stations (1 to 10)")
    crs: CrsName = Field("wgs84", description="coordinates of lon/lat (AMap lists are gcj02)")
    out_crs: CrsName | None = Field(None, description="coordinates of the answer (default: crs)")
    speed_kmh: OptionalSpeed = None


ValhallaUnits = Literal["kilometers", "km", "miles", "mi"]

_VALHALLA_OPTIONS = ConfigDict(extra="ignore")
"""Valhalla's location and costing options that do not apply to a walk are accepted and ignored."""


class ValhallaDirectionsOptions(BaseModel):
    """Valhalla's ``directions_options``; only ``units`` applies (no narrative is written)."""

    model_config = _VALHALLA_OPTIONS

    units: ValhallaUnits | None = None


class ValhallaRouteRequest(BaseModel):
    """The body of ``POST /route``: Valhalla's route request for one walk between two points."""

    model_config = _STRICT

    locations: list[ValhallaLocation] = Field(
        min_length=2, max_length=2, description="start and end, [{lat, lon}, {lat, lon}]"
    )
    costing: Literal["pedestrian"] = Field(description="only pedestrian")
    costing_options: ValhallaCostingOptions | None = None
    units: ValhallaUnits | None = Field(None, description="units of length (default kilometers)")
    directions_options: ValhallaDirectionsOptions | None = None
    shape_format: Literal["polyline6", "polyline5", "geojson"] = Field(
        "polyline6", description="encoding of trip.legs[].shape"
    )
    id: ValhallaId | None = Field(None, description="echoed in the answer")
    narrative: bool | None = Field(None, description="accepted; no narrative is written")
    language: Annotated[str, Field(max_length=20)] | None = None
    directions_type: Literal["none", "maneuvers", "instructions"] | None = None
    crs: CrsName = Field("wgs84", description="quarterhour extension: coordinates of the locations")
    out_crs: CrsName | None = Field(
        None, description="quarterhour extension: coordinates of the shape (default: crs)"
    )


class ValhallaSummary(BaseModel):
    """Time (seconds), length (in the trip's units) and bounding box of a trip or a leg."""

    time: float
    length: float
    cost: float
    min_lat: float
    min_lon: float
    max_lat: float
    max_lon: float
    has_time_restrictions: bool
    has_toll: bool
    has_highway: bool
    has_ferry: bool


class ValhallaManeuver(BaseModel):
    """One maneuver (start or destination; no turn-by-turn instructions)."""

    type: int
    instruction: str
    time: float
    length: float
    cost: float
    begin_shape_index: int
    end_shape_index: int
    travel_mode: str
    travel_type: str


class ValhallaLeg(BaseModel):
    """One leg: its maneuvers, summary and shape."""

    maneuvers: list[ValhallaManeuver]
    summary: ValhallaSummary
    shape: str | dict


class ValhallaTrip(BaseModel):
    """Valhalla's trip."""

    locations: list[dict]
    legs: list[ValhallaLeg]
    summary: ValhallaSummary
    status_message: str
    status: int
    units: Literal["kilometers", "miles"]
    language: str


class ValhallaRouteOut(BaseModel):
    """Valhalla's route answer, plus the OpenStreetMap attribution."""

    trip: ValhallaTrip
    id: str | int | None = None
    attribution: str
