"""The workspace's HTTP API under ``/api``: projects, scenarios, edits, plans, files, compare.

Every project path asks :mod:`~quarterhour.api.workspace.access` for the caller's role on the
project first (viewer to read; editor to edit, plan, add scenarios; owner to delete). Every
change is written with its record (``changes``) in one ``BEGIN IMMEDIATE`` transaction; an edit
carries the version it was made on (``If-Match``) and is refused with 409 when the scenario has
moved on since.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
import pandas as pd
import shapely
from fastapi import APIRouter, Body, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import Response

from quarterhour.api.http.errors import ApiError
from quarterhour.api.http.responses import json_response
from quarterhour.api.http.state import AppState
from quarterhour.api.workspace import access, downloads, jobs, projects, store
from quarterhour.api.workspace.access import Caller
from quarterhour.api.workspace.edits import apply_edit
from quarterhour.api.workspace.engine import ProjectEngine, ScenarioSettings, capacity_of
from quarterhour.api.workspace.incremental import Outcome, changed
from quarterhour.api.workspace.schemas import (
    WORKSPACE_ERRORS,
    CrsName,
    Edit,
    NewScenario,
    PlanRequest,
    Rename,
    WorkspaceLimits,
)
from quarterhour.geo.errors import InputError
from quarterhour.siting.capacity import Capacity
from quarterhour.siting.result import SitingResult

log = logging.getLogger("quarterhour")

router = APIRouter(prefix="/api", tags=["workspace"], responses=WORKSPACE_ERRORS)

T = TypeVar("T")

DEFAULT_SETTINGS: dict[str, float | None] = {"minutes": 15.0, "meters": None, "speed_kmh": 4.5}


def get_conn(request: Request) -> Iterator[sqlite3.Connection]:
    """FastAPI dependency: a connection to the workspace database, closed after the request."""
    with store.opened(request.app.state.workspace_dir) as conn:
        yield conn


Conn = Annotated[sqlite3.Connection, Depends(get_conn)]
CallerDep = Annotated[Caller, Depends(access.get_caller)]


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.quarterhour
    return state


def _limits(request: Request) -> WorkspaceLimits:
    limits: WorkspaceLimits = request.app.state.workspace_limits
    return limits


def actor(caller: Caller) -> str:
    """How the record of changes names the caller."""
    if caller.via == "link":
        return f"link:{caller.link_project}"
    return caller.username or "local"


def _record(
    conn: sqlite3.Connection,
    caller: Caller,
    project_id: str,
    scenario_id: str | None,
    action: str,
    detail: dict[str, object],
) -> None:
    """Record a change the caller made (inside the transaction that makes it)."""
    store.record_change(
        conn,
        project_id=project_id,
        scenario_id=scenario_id,
        actor=actor(caller),
        action=action,
        detail=detail,
    )


async def _upload(
    file: UploadFile | None, role: str, options: projects.UploadOptions, limits: WorkspaceLimits
) -> projects.Upload | None:
    if file is None or not file.filename:
        return None
    data = await file.read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        msg = f"{file.filename}: over the limit of {limits.max_file_bytes:,} bytes per file"
        raise ApiError(413, loc=("body", role), msg=msg, kind="too_large")
    if not data:
        msg = f"{file.filename}: the file is empty"
        raise ApiError(422, loc=("body", role), msg=msg, kind="value_error")
    clean: projects.UploadOptions = {}
    if options.get("crs"):
        clean["crs"] = options.get("crs")
    if options.get("sheet"):
        clean["sheet"] = options.get("sheet")
    if options.get("header_row"):
        clean["header_row"] = options.get("header_row")
    if options.get("columns"):
        clean["columns"] = options.get("columns", {})
    return projects.Upload(role, projects.safe_name(file.filename), data, clean)


# ---------------------------------------------------------------------- projects


@router.post("/files/preview")
async def preview_file(
    request: Request,
    caller: CallerDep,
    file: Annotated[
        UploadFile, File(description="a point file: CSV, xlsx (or xls), GeoJSON, GeoPackage")
    ],
    crs: Annotated[CrsName | None, Form()] = None,
    sheet: Annotated[str | None, Form()] = None,
    header_row: Annotated[int | None, Form(ge=1, le=1_000_000)] = None,
) -> Response:
    """What the reader makes of a file, without storing anything.

    Returns `rows`, the columns recognised for each field (`columns`: `{"lon": "经度", ...}`),
    every header, the first rows as read, the coordinate system, the `sheet` read and the
    `header_row` (its last row, for a header of two), and `read`: the rows skipped (totals and
    notes, by row number), the reader's warnings and notes. Without `crs` the columns
    are still recognised and `crs` is null: the planner must choose it.
    """
    del caller  # only who may upload may preview (accounts answer 401 to others)
    limits = _limits(request)
    options: projects.UploadOptions = {
        "crs": crs or "wgs84",
        "sheet": sheet,
        "header_row": header_row,
    }
    upload = await _upload(file, "communities", options, limits)
    if upload is None:
        raise ApiError(422, loc=("body", "file"), msg="no file", kind="value_error")
    files = await _run(lambda: projects.read_uploads([upload], max_rows=limits.max_rows))
    points = files.communities
    reading = points.reading
    first = points.table.head(5).astype(str).to_dict(orient="records")
    return json_response(
        {
            "file": upload.filename,
            "rows": len(points),
            "columns": dict(points.columns),
            "headers": [str(name) for name in points.table.columns],
            "first_rows": first,
            "crs": crs,
            "sheet": reading.sheet if reading else None,
            "header_row": reading.header_rows[-1] if reading and reading.header_rows else None,
            "read": projects.how_read(points),
        }
    )


@router.post("/projects", status_code=201)
async def create_project(  # noqa: PLR0917 - one form field each
    request: Request,
    conn: Conn,
    caller: CallerDep,
    communities: Annotated[UploadFile, File(description="the communities (demand points)")],
    crs: Annotated[CrsName, Form(description="coordinates of the point files; never guessed")],
    existing: Annotated[UploadFile | None, File(description="existing stations")] = None,
    candidates: Annotated[UploadFile | None, File(description="candidate sites")] = None,
    boundary: Annotated[UploadFile | None, File(description="district outline (GeoJSON)")] = None,
    name: Annotated[str | None, Form(max_length=200)] = None,
    sheet: Annotated[str | None, Form(max_length=200)] = None,
    header_row: Annotated[
        int | None,
        Form(ge=1, le=1_000_000, description="the communities' header row (default: found)"),
    ] = None,
    existing_crs: Annotated[CrsName | None, Form()] = None,
    candidates_crs: Annotated[CrsName | None, Form()] = None,
    boundary_crs: Annotated[
        CrsName | None,
        Form(description="the outline's coordinates; required for an outline in China"),
    ] = None,
    id_col: Annotated[str | None, Form(max_length=200)] = None,
    name_col: Annotated[str | None, Form(max_length=200)] = None,
    weight_col: Annotated[str | None, Form(max_length=200)] = None,
    town_col: Annotated[str | None, Form(max_length=200)] = None,
    lon_col: Annotated[str | None, Form(max_length=200)] = None,
    lat_col: Annotated[str | None, Form(max_length=200)] = None,
    minutes: Annotated[float | None, Form(gt=0, le=60)] = None,
    meters: Annotated[float | None, Form(gt=0, le=5000)] = None,
    speed_kmh: Annotated[float | None, Form(gt=0, le=20)] = None,
    residents_per_aide: Annotated[
        float | None,
        Form(
            gt=0,
            le=1e12,
            description="capacity: residents one aide serves (stations serve aides x this); "
            "none: stations serve without limit",
        ),
    ] = None,
    aides_new: Annotated[
        int | None, Form(ge=1, le=1_000, description="aides a new station opens with (1)")
    ] = None,
    max_aides: Annotated[
        int | None, Form(ge=1, le=1_000, description="aides a new station may have at most")
    ] = None,
    aides_col: Annotated[
        str | None,
        Form(max_length=200, description="the existing stations' column of aides (default: found)"),
    ] = None,
) -> Response:
    """Create a project from the planner's files (as `quarterhour plan` reads them).

    `crs` (gcj02, bd09 or wgs84) is required: it is never guessed. Column overrides name the
    communities' column for a field when the headers' guess is wrong; `sheet` and `header_row`
    are the community list's (the other files' are found as `quarterhour plan` finds them).
    Answers 201 with the
    project's `id`, its first scenario (现状, today's stations) and what was read from each file;
    422 with `detail` naming the file, row and field; 413 for a file over the limits. Nothing
    is stored from a refused upload.
    """
    limits = _limits(request)
    columns = {
        key: value
        for key, value in {
            "id": id_col,
            "name": name_col,
            "weight": weight_col,
            "town": town_col,
            "lon": lon_col,
            "lat": lat_col,
        }.items()
        if value
    }
    uploads = [
        await _upload(
            communities,
            "communities",
            {"crs": crs, "sheet": sheet, "header_row": header_row, "columns": columns},
            limits,
        ),
        # sheet and header row are the community list's: the other files' are found
        await _upload(
            existing,
            "existing",
            {"crs": existing_crs or crs, "columns": {"aides": aides_col} if aides_col else {}},
            limits,
        ),
        await _upload(candidates, "candidates", {"crs": candidates_crs or crs}, limits),
        await _upload(boundary, "boundary", {"crs": boundary_crs}, limits),
    ]
    if uploads[0] is None:
        msg = "the communities file is missing"
        raise ApiError(422, loc=("body", "communities"), msg=msg, kind="value_error")
    given = [upload for upload in uploads if upload is not None]
    scenario_settings: dict[str, float | None] = {
        "minutes": minutes,
        "meters": meters,
        "speed_kmh": speed_kmh,
    }
    if minutes is None and meters is None:
        scenario_settings["minutes"] = DEFAULT_SETTINGS["minutes"]
    if speed_kmh is None:
        scenario_settings["speed_kmh"] = DEFAULT_SETTINGS["speed_kmh"]
    scenario_settings |= {
        "residents_per_aide": residents_per_aide,
        "aides_new": aides_new,
        "max_aides": max_aides,
    }
    body = await _run(
        lambda: _create_project(
            conn,
            caller,
            request,
            given,
            name=name or given[0].filename,
            crs=crs,
            scenario_settings=scenario_settings,
        ),
    )
    return json_response(body, status=201)


def checked_capacity(scenario_settings: ScenarioSettings) -> Capacity | None:
    """The capacity of a scenario's settings, or 422 naming the setting that is wrong."""
    try:
        return capacity_of(scenario_settings)
    except InputError as error:
        where = error.param or "residents_per_aide"
        raise ApiError(422, loc=("body", where), msg=str(error), kind="value_error") from None


async def _run(work: Callable[[], T]) -> T:
    """Run blocking work in a thread (the event loop keeps answering)."""
    import anyio.to_thread

    return await anyio.to_thread.run_sync(work)


def _create_project(
    conn: sqlite3.Connection,
    caller: Caller,
    request: Request,
    uploads: list[projects.Upload],
    *,
    name: str,
    crs: str,
    scenario_settings: ScenarioSettings,
) -> dict[str, object]:
    from quarterhour.api.workspace.engine import ENGINES, limit_of, release_freed_memory
    from quarterhour.siting.points import missed_network_message

    limits = _limits(request)
    files = projects.read_uploads(uploads, max_rows=limits.max_rows)
    try:
        limit = limit_of(scenario_settings)
    except InputError as error:
        raise ApiError(422, loc=("body", "minutes"), msg=str(error), kind="value_error") from None
    capacity = checked_capacity(scenario_settings)
    state = _state(request)
    engine = ProjectEngine(
        projects.network_for(state, files, limit),
        files,
        limit,
        network_path=state.config.network_path,
    )
    if engine.targets.size == 0:
        msg = missed_network_message(engine.network, files.communities, engine.communities.in_area)
        raise ApiError(422, loc=("body", "communities"), msg=msg, kind="value_error")
    stations = projects.today_stations(files)
    outcome: Outcome = {"objective": "audit"}
    result = engine.evaluate(stations, outcome, capacity=capacity)
    reading = projects.reading_report(files, uploads)
    project_id, scenario_id, at = store.new_id(), store.new_id(), store.now()
    with store.transaction(conn):
        conn.execute(
            "INSERT INTO projects (id, name, crs, reading, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (project_id, name, crs, store.dumps(reading), at, at),
        )
        for upload in uploads:
            rows = reading.get(upload.role, {}).get("rows", 0)
            conn.execute(
                "INSERT INTO project_files (project_id, role, filename, options, data, n_rows) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    project_id,
                    upload.role,
                    upload.filename,
                    store.dumps(upload.options),
                    upload.data,
                    rows,
                ),
            )
        projects.insert_scenario(
            conn,
            project_id,
            scenario_id,
            name=projects.TODAY,
            parent=None,
            scenario_settings=scenario_settings,
            stations=stations,
            excluded=[],
            outcome=outcome,
            figures=projects.figures(result),
        )
        access.on_project_created(caller, conn, project_id)
        _record(
            conn,
            caller,
            project_id,
            scenario_id,
            "upload",
            {"name": name, "files": {u.role: u.filename for u in uploads}},
        )
    key = (project_id, limit.value, limit.metric, limit.speed_kmh)
    ENGINES.put(key, engine).remember((scenario_id, 1), result)
    projects.keep_files(project_id, engine.packed)
    log.info(
        "workspace: project %s from %s (%s communities, %s stations)",
        project_id,
        uploads[0].filename,
        f"{len(files.communities):,}",
        f"{len(stations):,}",
    )
    del files, result
    release_freed_memory()  # the reading's cells and the walks' buffers, handed back
    return {
        "id": project_id,
        "name": name,
        "reading": reading,
        "scenarios": [
            projects.scenario_brief(projects.scenario_row(conn, project_id, scenario_id))
        ],
    }


def _project_json(
    conn: sqlite3.Connection, row: sqlite3.Row, only: str | None
) -> dict[str, object]:
    scenarios = _visible_scenarios(conn, row["id"], only)
    files = conn.execute(
        "SELECT role, filename, n_rows, length(data) AS bytes FROM project_files "
        "WHERE project_id = ?",
        (row["id"],),
    ).fetchall()
    return {
        "id": row["id"],
        "name": row["name"],
        "crs": row["crs"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "reading": store.loads(row["reading"]),
        "files": [dict(item) for item in files],
        "scenarios": [projects.scenario_brief(item) for item in scenarios],
    }


@router.get("/projects")
def list_projects(conn: Conn, caller: CallerDep) -> Response:
    """The projects the caller may see, newest change first, with their scenarios' figures."""
    visible = access.visible_project_ids(caller, conn)
    rows = conn.execute("SELECT * FROM projects ORDER BY updated_at DESC, rowid DESC").fetchall()
    if visible is not None:
        rows = [row for row in rows if row["id"] in set(visible)]
    listed = [
        _project_json(
            conn,
            row,
            access.access_of(caller, conn, row["id"]).scenario
            if row["id"] == caller.link_project  # only a link limits the scenarios seen
            else None,
        )
        for row in rows
    ]
    return json_response({"projects": listed})


@router.get("/projects/{pid}")
def get_project(pid: str, conn: Conn, caller: CallerDep) -> Response:
    """One project: its files, what was read from them, its scenarios with their figures.

    Also `boundary`, the district outline as a GeoJSON geometry in WGS84 (null without one), and
    `candidate_sites`, the sites of the candidates file (`id`, `name`, `lon`, `lat` in WGS84;
    empty when the communities themselves are the sites): what the edits `exclude` and `include`
    name by `site_id`.
    """
    seen = access.require_role(caller, conn, pid, "viewer")
    row = conn.execute("SELECT * FROM projects WHERE id = ?", (pid,)).fetchone()
    files = projects.project_files(conn, pid)
    sites = files.candidates
    body = _project_json(conn, row, seen.scenario) | {
        "boundary": None
        if files.boundary is None
        else json.loads(shapely.to_geojson(files.boundary)),
        "candidate_sites": []
        if sites is None
        else [
            {"id": str(site_id), "name": str(name), "lon": float(lon), "lat": float(lat)}
            for site_id, name, lon, lat in zip(
                sites.ids, sites.names, sites.lon, sites.lat, strict=True
            )
        ],
    }
    return json_response(body)


@router.delete("/projects/{pid}", status_code=204)
def delete_project(pid: str, conn: Conn, caller: CallerDep) -> Response:
    """Delete a project with its files, scenarios and jobs (owners only)."""
    access.require_role(caller, conn, pid, "owner")
    with store.transaction(conn):
        name = conn.execute("SELECT name FROM projects WHERE id = ?", (pid,)).fetchone()
        conn.execute("DELETE FROM projects WHERE id = ?", (pid,))
        _record(conn, caller, pid, None, "delete", {"name": name["name"] if name else None})
    projects.forget_project(pid)
    return Response(status_code=204)


# ---------------------------------------------------------------------- scenarios


@router.get("/projects/{pid}/scenarios")
def list_scenarios(pid: str, conn: Conn, caller: CallerDep) -> Response:
    """A project's scenarios with their figures (stations, covered, uncoverable, walks)."""
    seen = access.require_role(caller, conn, pid, "viewer")
    rows = _visible_scenarios(conn, pid, seen.scenario)
    return json_response({"scenarios": [projects.scenario_brief(row) for row in rows]})


def _visible_scenarios(conn: sqlite3.Connection, pid: str, only: str | None) -> list[sqlite3.Row]:
    """A project's scenarios, oldest first; ``only`` one (a link to one scenario) if given."""
    rows: list[sqlite3.Row] = conn.execute(
        "SELECT * FROM scenarios WHERE project_id = ? ORDER BY created_at, rowid", (pid,)
    ).fetchall()
    return [row for row in rows if only in (None, row["id"])]


@router.post("/projects/{pid}/scenarios", status_code=201)
def create_scenario(
    pid: str, body: NewScenario, request: Request, conn: Conn, caller: CallerDep
) -> Response:
    """A new scenario: a copy of `from` (default: the first, today's stations) named `name`.

    `residents_per_aide`, `aides_new`, `max_aides` replace the copy's capacity settings
    (`residents_per_aide` 0: stations serve without limit); its figures are evaluated again.
    """
    access.require_role(caller, conn, pid, "editor")
    with store.transaction(conn):
        projects.check_room(conn, pid, max_scenarios=_limits(request).max_scenarios)
        if body.from_ is None:
            source = conn.execute(
                "SELECT * FROM scenarios WHERE project_id = ? ORDER BY created_at, rowid LIMIT 1",
                (pid,),
            ).fetchone()
        else:
            source = projects.scenario_row(conn, pid, body.from_)
        scenario_id = store.new_id()
        settings = store.loads(source["settings"])
        stations, excluded = store.loads(source["stations"]), store.loads(source["excluded"])
        outcome, figures = store.loads(source["outcome"]), store.loads(source["figures"])
        copied_settings = settings | body.settings()
        if copied_settings != settings:  # another capacity: the copy's figures change
            engine = projects.engine_for(conn, pid, copied_settings, _state(request))
            evaluation = engine.evaluate(
                stations,
                outcome,
                excluded=set(excluded),
                capacity=checked_capacity(copied_settings),
            )
            figures = projects.figures(evaluation)
            engine.remember((scenario_id, 1), evaluation)
        projects.insert_scenario(
            conn,
            pid,
            scenario_id,
            name=body.name,
            parent=source["id"],
            scenario_settings=copied_settings,
            stations=stations,
            excluded=excluded,
            outcome=outcome,
            figures=figures,
        )
        _record(
            conn,
            caller,
            pid,
            scenario_id,
            "create_scenario",
            {"name": body.name, "from": source["id"]},
        )
        row = projects.scenario_row(conn, pid, scenario_id)
    return json_response(projects.scenario_brief(row), status=201)


def _rounded(station: dict[str, Any]) -> tuple[float, float]:
    """A stored station's WGS84 point to 7 decimals (about 1 cm)."""
    return round(float(station["lon"]), 7), round(float(station["lat"]), 7)


def _evaluated(
    request: Request, conn: sqlite3.Connection, pid: str, row: sqlite3.Row
) -> tuple[ProjectEngine, SitingResult, list[dict[str, object]]]:
    """The engine and the evaluation of a stored scenario (cached by scenario and version)."""
    scenario_settings = store.loads(row["settings"])
    engine = projects.engine_for(conn, pid, scenario_settings, _state(request))
    stations = store.loads(row["stations"])
    key = (row["id"], row["version"])
    cached = engine.evaluation(key)
    if cached is None:
        cached = engine.evaluate(
            stations,
            store.loads(row["outcome"]),
            excluded=set(store.loads(row["excluded"])),
            capacity=checked_capacity(scenario_settings),
        )
        engine.remember(key, cached)
    return engine, cached, stations


def _etag(version: int, *, started: float | None = None, what: str = "app") -> dict[str, str]:
    """The version as an ETag and, from ``started``, the server's time (``Server-Timing``)."""
    headers = {"ETag": f'"{version}"'}
    if started is not None:
        headers["Server-Timing"] = f"{what};dur={1e3 * (time.perf_counter() - started):.2f}"
    return headers


@router.get("/projects/{pid}/scenarios/{sid}")
def get_scenario(pid: str, sid: str, request: Request, conn: Conn, caller: CallerDep) -> Response:
    """A scenario: its stations, every community's status and walk time, the summary, version.

    `communities` has one entry per row of the communities' file, in its order (`status` one of
    covered_existing, covered_new, uncoverable, off_network, outside_boundary, over_budget; WGS84
    `lon`, `lat`); `summary` has summary.json's shape. The `ETag` header carries the version to
    send back as `If-Match` with an edit.
    """
    started = time.perf_counter()
    access.require_role(caller, conn, pid, "viewer", scenario_id=sid)
    row = projects.scenario_row(conn, pid, sid)
    engine, result, stations = _evaluated(request, conn, pid, row)
    body = projects.scenario_brief(row) | {
        "excluded": store.loads(row["excluded"]),
        "stations": projects.station_rows(result, stations),
        "communities": projects.community_rows(result, engine),
        "summary": result.summary,
    }
    return json_response(body, headers=_etag(row["version"], started=started, what="scenario"))


@router.patch("/projects/{pid}/scenarios/{sid}")
def rename_scenario(pid: str, sid: str, body: Rename, conn: Conn, caller: CallerDep) -> Response:
    """Rename a scenario (the version is unchanged)."""
    access.require_role(caller, conn, pid, "editor", scenario_id=sid)
    with store.transaction(conn):
        row = projects.scenario_row(conn, pid, sid)
        conn.execute("UPDATE scenarios SET name = ? WHERE id = ?", (body.name, sid))
        _record(conn, caller, pid, sid, "rename", {"from": row["name"], "to": body.name})
        row = projects.scenario_row(conn, pid, sid)
    return json_response(projects.scenario_brief(row))


@router.delete("/projects/{pid}/scenarios/{sid}", status_code=204)
def delete_scenario(pid: str, sid: str, conn: Conn, caller: CallerDep) -> Response:
    """Delete a scenario (editors; a project keeps at least one)."""
    access.require_role(caller, conn, pid, "editor", scenario_id=sid)
    with store.transaction(conn):
        row = projects.scenario_row(conn, pid, sid)
        (count,) = conn.execute(
            "SELECT count(*) FROM scenarios WHERE project_id = ?", (pid,)
        ).fetchone()
        if count <= 1:
            msg = "a project keeps at least one scenario"
            raise ApiError(409, loc=("path", "sid"), msg=msg, kind="conflict")
        conn.execute("DELETE FROM scenarios WHERE id = ?", (sid,))
        _record(conn, caller, pid, sid, "delete", {"scenario": row["name"]})
    return Response(status_code=204)


def _if_match(header: str | None) -> int:
    if header is None:
        msg = "send the scenario's version in If-Match (its ETag)"
        raise ApiError(428, loc=("header", "if-match"), msg=msg, kind="precondition_required")
    text = header.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        msg = f"If-Match must be the scenario's version, got {header!r}"
        raise ApiError(422, loc=("header", "if-match"), msg=msg, kind="value_error")
    return int(text)


@router.post("/projects/{pid}/scenarios/{sid}/edits")
def edit_scenario(
    pid: str,
    sid: str,
    edit: Annotated[Edit, Body()],
    request: Request,
    conn: Conn,
    caller: CallerDep,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Edit a scenario's stations by hand; every community's status follows at once.

    Bodies: `{"op": "add", "lon", "lat", "crs", "name"?}` or `{"op": "add", "community_id"}`;
    `{"op": "move", "station_id", "lon", "lat", "crs"}`; `{"op": "remove" | "lock" | "unlock",
    "station_id"}`; `{"op": "exclude" | "include", "site_id"}` (candidate sites left out of
    plans). `If-Match` must carry the version the edit was made on: 409 when the scenario has
    changed since (reload it), 428 without it. Answers the new `version`, what `changed`
    (stations, and the communities whose status, station or walk time changed) and the
    `summary`.
    """
    started = time.perf_counter()
    access.require_role(caller, conn, pid, "editor", scenario_id=sid)
    expected = _if_match(if_match)
    limits = _limits(request)
    with store.transaction(conn):
        row = projects.scenario_row(conn, pid, sid)
        if row["version"] != expected:
            msg = (
                f"the scenario is at version {row['version']}, not {expected}: someone changed "
                "it since; reload it and edit again"
            )
            raise ApiError(
                409,
                loc=("header", "if-match"),
                msg=msg,
                kind="stale_version",
                headers=_etag(row["version"]),
            )
        scenario_settings = store.loads(row["settings"])
        capacity = checked_capacity(scenario_settings)
        if capacity is not None:
            return _edit_capacitated(request, conn, caller, row, edit, capacity, started)
        engine = projects.engine_for(conn, pid, scenario_settings, _state(request))
        stored = store.loads(row["stations"])
        before = engine.version((sid, row["version"]), stored, store.loads(row["outcome"]))
        stations, excluded, touched = apply_edit(
            engine,
            stored,
            store.loads(row["excluded"]),
            edit,
            max_stations=limits.max_stations,
        )
        outcome = edited_outcome(store.loads(row["outcome"]))
        after, summary = engine.edited(before, stations, touched, outcome)
        figures = projects.figures_of(summary, after.arrays["walk_min"], after.arrays["covered"])
        version = _save_edit(conn, caller, row, edit, stations, excluded, outcome, figures)
    engine.keep((sid, version), after)
    rows = changed(before.arrays, after.arrays)
    where = engine.site_lonlat(after.state, outcome, set(excluded))
    return json_response(
        {
            "version": version,
            "changed": {
                "stations": projects.touched_stations(after, stations, touched, engine),
                "communities": after.state.community_rows(engine, after.arrays, rows, where),
            },
            "summary": summary,
        },
        headers=_etag(version, started=started, what="edit"),
    )


def edited_outcome(outcome: Outcome) -> Outcome:
    """A plan's outcome once edited by hand: its gap no longer holds."""
    if outcome.get("objective") != "audit" and "edited" not in outcome:
        outcome = outcome | {"edited": True, "gap": None}
        outcome["method"] = f"{outcome.get('method', 'plan')}, edited by hand"
    return outcome


def _save_edit(
    conn: sqlite3.Connection,
    caller: Caller,
    row: sqlite3.Row,
    edit: Edit,
    stations: list[dict[str, object]],
    excluded: list[str],
    outcome: Outcome,
    figures: dict[str, object],
) -> int:
    """Store an edited scenario as its next version, with the record of the edit; the version."""
    version = int(row["version"]) + 1
    conn.execute(
        "UPDATE scenarios SET version = ?, stations = ?, excluded = ?, outcome = ?, "
        "figures = ?, updated_at = ? WHERE id = ?",
        (
            version,
            store.dumps(stations),
            store.dumps(excluded),
            store.dumps(outcome),
            store.dumps(figures),
            store.now(),
            row["id"],
        ),
    )
    detail = edit.model_dump(exclude_none=True) | {"version": version}
    _record(conn, caller, row["project_id"], row["id"], "edit", detail)
    return version


CAPACITY_CHANGE_KEYS: tuple[str, ...] = (
    "status",
    "station_id",
    "walk_min",
    "served_weight",
    "unserved_weight",
    "stations",
)
"""A community's columns whose change an edit of a capacitated scenario answers with."""


def _edit_capacitated(
    request: Request,
    conn: sqlite3.Connection,
    caller: Caller,
    row: sqlite3.Row,
    edit: Edit,
    capacity: Capacity,
    started: float,
) -> Response:
    """An edit of a capacitated scenario: the whole evaluation again (inside the transaction).

    Any station's edit can move residents between stations in reach of each other, so the
    capacitated assignment (an LP) is solved again for the whole scenario, as
    ``quarterhour coverage --residents-per-aide`` solves it; the answer lists every station
    and the communities whose status, station, walk or residents served changed.
    """
    pid, sid = row["project_id"], row["id"]
    engine, before, stored = _evaluated(request, conn, pid, row)
    stations, excluded, touched = apply_edit(
        engine,
        stored,
        store.loads(row["excluded"]),
        edit,
        max_stations=_limits(request).max_stations,
    )
    outcome = edited_outcome(store.loads(row["outcome"]))
    after = engine.evaluate(stations, outcome, excluded=set(excluded), capacity=capacity)
    version = _save_edit(
        conn, caller, row, edit, stations, excluded, outcome, projects.figures(after)
    )
    engine.remember((sid, version), after)
    old, new = before.assignments, after.assignments
    differs = np.zeros(len(new), bool)
    for key in CAPACITY_CHANGE_KEYS:
        a, b = old[key].to_numpy(dtype=object), new[key].to_numpy(dtype=object)
        differs |= ~((a == b) | (pd.isna(a) & pd.isna(b)))
    present = {str(station["id"]) for station in stations}
    removed = [{"id": key, "removed": True} for key in touched if key not in present]
    return json_response(
        {
            "version": version,
            "changed": {
                "stations": projects.station_rows(after, stations) + removed,
                "communities": projects.community_rows(after, engine, np.flatnonzero(differs)),
            },
            "summary": after.summary,
        },
        headers=_etag(version, started=started, what="edit"),
    )


# ---------------------------------------------------------------------- plans and jobs


@router.post("/projects/{pid}/scenarios/{sid}/plan", status_code=202)
def plan_scenario(
    pid: str, sid: str, body: PlanRequest, request: Request, conn: Conn, caller: CallerDep
) -> Response:
    """Plan new stations from a scenario into a new scenario, in the background.

    The scenario's existing and locked stations are kept (with their aides); excluded candidate
    sites are left out; without `budget` the fewest new stations covering every coverable
    community, with it the most residents covered by that many. With `residents_per_aide` (the
    body's, else the scenario's) stations serve at most their aides x it, as
    `quarterhour plan --residents-per-aide` plans. Answers 202 `{"job": id}`: follow it with
    `GET /api/jobs/{id}` (progress; when done, `scenario` is the new scenario's id) and cancel it
    with `DELETE /api/jobs/{id}`. The scenario planned from is not changed. 503 `busy` when the
    service's heavy-work slots are all taken.
    """
    access.require_role(caller, conn, pid, "editor", scenario_id=sid)
    row = projects.scenario_row(conn, pid, sid)
    if body.minutes is not None and body.meters is not None:
        msg = "give minutes or meters, not both"
        raise ApiError(422, loc=("body", "meters"), msg=msg, kind="value_error")
    checked_capacity(store.loads(row["settings"]) | body.settings())  # 422 now, not a failed job
    job_id = jobs.start_plan(request.app, conn, pid, row, body, actor=actor(caller))
    return json_response({"job": job_id}, status=202)


@router.get("/jobs/{jid}")
def get_job(jid: str, conn: Conn, caller: CallerDep) -> Response:
    """A plan's state, progress and, when done, its new scenario.

    `state` is `queued`, `running`, `done`, `failed` or `cancelled`; `progress` 0 to 1;
    `scenario` the new scenario's id once done; `error` why it failed.
    """
    row = jobs.job_row(conn, jid)
    access.require_role(caller, conn, row["project_id"], "viewer")
    return json_response(jobs.job_json(conn, row))


@router.delete("/jobs/{jid}")
def cancel_job(jid: str, conn: Conn, caller: CallerDep) -> Response:
    """Cancel a plan: it stops (walk times, search, HiGHS) and no scenario is made from it.

    Answers the job: `cancelled`, or as it was if it had already finished (`done`: its scenario
    stays; delete it if it is not wanted).
    """
    row = jobs.job_row(conn, jid)
    access.require_role(caller, conn, row["project_id"], "editor")
    jobs.cancel(conn, jid)
    return json_response(jobs.job_json(conn, jobs.job_row(conn, jid)))


# ---------------------------------------------------------------------- files and compare


@router.get(
    "/projects/{pid}/scenarios/{sid}/files/{name}",
    response_class=Response,
    responses={200: {"content": {media: {} for media in downloads.MEDIA_TYPES.values()}}},
)
def download(
    pid: str,
    sid: str,
    name: Literal[
        "plan.xlsx",
        "assignments.csv",
        "stations.geojson",
        "summary.json",
        "report.pdf",
        "plan.zip",
    ],
    request: Request,
    conn: Conn,
    caller: CallerDep,
    out_crs: Annotated[CrsName, Query(description="coordinates of stations.geojson")] = "wgs84",
) -> Response:
    """The files `quarterhour plan` writes for this scenario, the bureau's report, or all.

    `plan.zip` holds the plan folder with the uploaded files beside it, so that
    `quarterhour report` runs on it once unpacked. `report.pdf` needs the `report` extra.
    """
    access.require_role(caller, conn, pid, "viewer", scenario_id=sid)
    row = projects.scenario_row(conn, pid, sid)
    engine, result, _ = _evaluated(request, conn, pid, row)
    uploads = projects.stored_uploads(conn, pid)
    if name == "report.pdf":
        with request.app.state.admission.heavy(loc=("path", "name")):
            data = downloads.report_pdf(result, engine, uploads, out_crs=out_crs)
    else:
        data = downloads.plan_file(result, engine, uploads, name, out_crs=out_crs)
    filename = f"{row['name']}-{name}"
    return Response(
        data,
        media_type=downloads.MEDIA_TYPES[name],
        headers={
            "Content-Disposition": downloads.content_disposition(filename),
            **_etag(row["version"]),
        },
    )


@router.get("/projects/{pid}/compare")
def compare(
    pid: str,
    request: Request,
    conn: Conn,
    caller: CallerDep,
    a: Annotated[str, Query(description="scenario A")],
    b: Annotated[str, Query(description="scenario B")],
) -> Response:
    """Two scenarios side by side.

    Stations only in A, only in B and in both (same id and place); the communities whose status
    differs, with both statuses and walk times; both summaries.
    """
    for sid in (a, b):  # a link to one scenario compares it only with itself
        access.require_role(caller, conn, pid, "viewer", scenario_id=sid)
    row_a, row_b = projects.scenario_row(conn, pid, a), projects.scenario_row(conn, pid, b)
    engine_a, result_a, stations_a = _evaluated(request, conn, pid, row_a)
    engine_b, result_b, stations_b = _evaluated(request, conn, pid, row_b)
    where_a = {str(s["id"]): _rounded(s) for s in stations_a}
    where_b = {str(s["id"]): _rounded(s) for s in stations_b}
    both = [key for key in where_a if where_b.get(key) == where_a[key]]
    only_a = [key for key in where_a if where_b.get(key) != where_a[key]]
    only_b = [key for key in where_b if where_a.get(key) != where_b[key]]
    table_a, table_b = result_a.assignments, result_b.assignments
    status_a = table_a["status"].astype(str).to_numpy()
    status_b = table_b["status"].astype(str).to_numpy()
    rows = np.flatnonzero(status_a != status_b)
    walk_a = table_a["walk_min"].to_numpy(float)
    walk_b = table_b["walk_min"].to_numpy(float)
    ids = table_a["community_id"].astype(str).to_numpy()
    names = table_a["community_name"].astype(str).to_numpy()
    differ = [
        {
            "community_id": ids[k],
            "community_name": names[k],
            "lon": round(float(engine_a.homes.lon[k]), 7),
            "lat": round(float(engine_a.homes.lat[k]), 7),
            "status_a": status_a[k],
            "status_b": status_b[k],
            "walk_min_a": None if np.isnan(walk_a[k]) else float(walk_a[k]),
            "walk_min_b": None if np.isnan(walk_b[k]) else float(walk_b[k]),
        }
        for k in rows
    ]
    del engine_b
    return json_response(
        {
            "a": projects.scenario_brief(row_a),
            "b": projects.scenario_brief(row_b),
            "stations": {"only_a": only_a, "only_b": only_b, "both": both},
            "communities": differ,
            "summary_a": result_a.summary,
            "summary_b": result_b.summary,
        }
    )


@router.get("/config")
def config(request: Request) -> Response:
    """The page's settings.

    Base map tiles and their CRS, the network's extent and attribution, who is logged in and
    whether a login is needed, the limits of uploads, the default walk limit.
    """
    state = request.app.state.quarterhour
    network = state.network
    lon, lat = network.node_lonlat
    limits = _limits(request)
    tiles = getattr(request.app.state, "workspace_tiles", None) or {}
    return json_response(
        {
            "tiles": tiles.get("url"),
            "tiles_crs": tiles.get("crs", "wgs84"),
            "network": {
                "source": network.source,
                "bbox": [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())],
                "attribution": network.attribution,
            },
            **access.whoami(request),
            "limits": {
                "max_file_bytes": limits.max_file_bytes,
                "max_rows": limits.max_rows,
                "max_stations": limits.max_stations,
                "max_body_bytes": state.config.limits.max_body_bytes,
            },
            "defaults": DEFAULT_SETTINGS,
        }
    )


__all__ = ["router"]
