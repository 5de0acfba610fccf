"""Request bodies and limits of the workspace API (the answers are documented on each route)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from quarterhour.api.http.schemas import ErrorOut

CrsName = Literal["wgs84", "gcj02", "bd09"]
Lon = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Identifier = Annotated[str, Field(min_length=1, max_length=200)]


@dataclass(frozen=True)
class WorkspaceLimits:
    """Bounds of what a planner's upload and scenarios may hold.

    Attributes
    ----------
    max_file_bytes
        Largest uploaded file (the request body limit bounds them together too).
    max_rows
        Most rows of one uploaded point file.
    max_stations
        Most stations in one scenario.
    max_scenarios
        Most scenarios in one project.
    """

    max_file_bytes: int = 4 * 1024 * 1024
    max_rows: int = 50_000
    max_stations: int = 20_000
    max_scenarios: int = 200


WORKSPACE_ERRORS: dict[int | str, dict] = {
    400: {"model": ErrorOut, "description": "the request cannot be parsed, or an untrusted host"},
    401: {"model": ErrorOut, "description": "a session is needed (log in)"},
    403: {"model": ErrorOut, "description": "the caller's role on the project is too low"},
    404: {"model": ErrorOut, "description": "no such project, scenario, station, site or job"},
    409: {
        "model": ErrorOut,
        "description": "the scenario changed since the version sent in If-Match "
        "(type stale_version: reload it), or the change would leave a project without scenarios",
    },
    413: {"model": ErrorOut, "description": "a file or body over the limits (bytes, rows)"},
    422: {
        "model": ErrorOut,
        "description": "a bad field or file; loc and msg name the file, row, field",
    },
    428: {"model": ErrorOut, "description": "an edit without If-Match"},
    503: {
        "model": ErrorOut,
        "description": "busy with other heavy work (type busy; see Retry-After)",
    },
}
"""Error answers of every workspace path, in the service's one JSON shape."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


ResidentsPerAide = Annotated[
    float,
    Field(
        ge=0.0,
        le=1e12,
        allow_inf_nan=False,
        description="residents one aide serves: stations serve at most aides x this; "
        "0 turns capacity off",
    ),
]
AidesCount = Annotated[int, Field(ge=1, le=1_000)]


class CapacityFields(_Body):
    """Capacity settings a scenario may take (None: as the scenario it comes from)."""

    residents_per_aide: ResidentsPerAide | None = None
    aides_new: AidesCount | None = Field(None, description="aides a new station opens with")
    max_aides: AidesCount | None = Field(None, description="aides a new station may have at most")

    def settings(self) -> dict[str, float | None]:
        """The settings these fields change (residents per aide 0: capacity off)."""
        given = self.model_dump(include={"residents_per_aide", "aides_new", "max_aides"})
        changed: dict[str, float | None] = {
            key: value for key, value in given.items() if value is not None
        }
        if changed.get("residents_per_aide") == 0:
            changed["residents_per_aide"] = None
        return changed


class NewScenario(CapacityFields):
    """``POST /api/projects/{pid}/scenarios``: a copy of a scenario under a new name.

    Capacity settings given here replace the copied scenario's (``residents_per_aide`` 0 turns
    capacity off); the stations, their aides and everything else are copied.
    """

    name: Name = Field(description="the new scenario's name")
    from_: Identifier | None = Field(
        None,
        alias="from",
        description="the scenario to copy (default: the project's first, today's stations)",
    )


class Rename(_Body):
    """``PATCH /api/projects/{pid}/scenarios/{sid}``: a new name."""

    name: Name


class AddStation(_Body):
    """Add a new station at a point (``lon``, ``lat`` in ``crs``) or at a community."""

    op: Literal["add"]
    lon: Lon | None = None
    lat: Lat | None = None
    crs: CrsName = "wgs84"
    community_id: Identifier | None = Field(None, description="put it at this community")
    name: Name | None = None


class MoveStation(_Body):
    """Move a station to a point (``lon``, ``lat`` in ``crs``)."""

    op: Literal["move"]
    station_id: Identifier
    lon: Lon
    lat: Lat
    crs: CrsName = "wgs84"


class StationOp(_Body):
    """Remove, lock (kept by any re-plan) or unlock a station."""

    op: Literal["remove", "lock", "unlock"]
    station_id: Identifier


class StationAides(_Body):
    """Set a station's aides (its capacity is aides x the scenario's residents per aide)."""

    op: Literal["aides"]
    station_id: Identifier
    aides: AidesCount


class SiteOp(_Body):
    """Exclude a candidate site from plans, or include it again."""

    op: Literal["exclude", "include"]
    site_id: Identifier


Edit = Annotated[
    AddStation | MoveStation | StationOp | StationAides | SiteOp, Field(discriminator="op")
]


class PlanRequest(CapacityFields):
    """``POST /api/projects/{pid}/scenarios/{sid}/plan``: plan from a scenario into a new one.

    The scenario's existing and locked stations are kept (with their aides); its other new
    stations are planned again; excluded candidate sites are left out. With
    ``residents_per_aide`` (given here or the scenario's) the plan is capacitated, as
    ``quarterhour plan --residents-per-aide``.
    """

    name: Name | None = Field(None, description="the new scenario's name (default: 规划 ...)")
    budget: int | None = Field(
        None, ge=0, le=10_000, description="new stations (max cover); default: the fewest"
    )
    minutes: float | None = Field(
        None, gt=0.0, le=60.0, allow_inf_nan=False, description="walk limit in minutes"
    )
    meters: float | None = Field(
        None, gt=0.0, le=5_000.0, allow_inf_nan=False, description="walk limit in metres"
    )
    speed_kmh: float | None = Field(
        None, gt=0.0, le=20.0, allow_inf_nan=False, description="walking speed"
    )
    effort: (
        Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
        | Literal["fast", "default", "thorough"]
    ) = "default"
    time_limit_s: float = Field(
        30.0, gt=0.0, le=60.0, allow_inf_nan=False, description="seconds the plan may take"
    )
