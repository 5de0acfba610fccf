"""Request and response models of the HTTP API.

Every number is bounded and finite (NaN, infinity and huge values are 422). The large GeoJSON
answers (isochrones, network, communities) have no pydantic model on the way out: they are
serialised by orjson directly and only described in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

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


class PointIn(BaseModel):
    """One point: a community, a station or a candidate site."""

    model_config = _STRICT

    lon: Longitude
    lat: Latitude
    id: ShortText | None = Field(None, description="unique id (default: the position in the list)")
    name: Annotated[str, Field(max_length=200)] | None = None
    weight: Weight = 1.0


class WalkLimit(BaseModel):
    """A walk limit: minutes at a speed, or metres."""

    model_config = _STRICT

    minutes: Minutes = settings.walk_limit_minutes
    speed_kmh: Speed = settings.walk_speed_kmh
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


class PlanOut(BaseModel):
    """Proposed stations and the plan's figures."""

    stations: dict = Field(
        description="GeoJSON FeatureCollection of existing and new stations (kind, rank)"
    )
    summary: dict = Field(
        description="covered share, number of new stations, bound, gap, method ..."
    )
    covered_ids: list[str] = Field(description="ids of the communities a station covers")


class CoverageOut(BaseModel):
    """Audit of the loaded communities against the loaded stations."""

    summary: dict = Field(
        description="n_communities, covered, covered_share, covered_weight_share ..."
    )
    communities: list[dict] = Field(
        description="per community: nearest station, walk minutes, covered, reason"
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
}
