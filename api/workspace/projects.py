"""Projects and scenarios between the database and the engine.

An uploaded file is read by the same reader as ``quarterhour plan`` (``geo.points.read_points``,
from a temporary file with the upload's own suffix) and checked as the siting model checks its
inputs, before anything is stored. The stored bytes are read again the same way when a worker
first needs a project (:func:`project_files`), so the reading is reproduced exactly.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import pandas as pd

from quarterhour.api.http.errors import ApiError
from quarterhour.api.workspace import store
from quarterhour.api.workspace.engine import (
    ENGINES,
    ProjectEngine,
    ProjectFiles,
    ScenarioSettings,
    limit_of,
)
from quarterhour.geo.errors import InputError
from quarterhour.geo.points import PointSet, read_points
from quarterhour.siting.capacity import station_aides
from quarterhour.siting.model import _point_sets
from quarterhour.siting.result import RESULT_COLUMNS, SitingResult, json_scalar

if TYPE_CHECKING:
    import sqlite3

    import shapely

    from quarterhour.api.http.state import AppState
    from quarterhour.api.workspace.incremental import Outcome, Version
    from quarterhour.routing.graph import WalkNetwork
    from quarterhour.siting.tables import WalkLimit

log = logging.getLogger("quarterhour")

MAX_CLIPPED = 4
"""Networks clipped to a project's outline kept per worker (memory-mapped from the cache)."""

POINT_ROLES: tuple[str, ...] = ("communities", "existing", "candidates")
ROLES: tuple[str, ...] = (*POINT_ROLES, "boundary")
ROLE_WORDS = {
    "communities": "communities",
    "existing": "existing stations",
    "candidates": "candidate sites",
}
TODAY = "现状 Today"
"""The name of a new project's first scenario: today's stations."""


class UploadOptions(TypedDict, total=False):
    """How to read one upload: its coordinate system, sheet, header row and column overrides."""

    crs: str | None
    sheet: str | None
    header_row: int | None
    columns: dict[str, str]


@dataclass(frozen=True)
class Upload:
    """One uploaded file and how to read it."""

    role: str
    filename: str
    data: bytes
    options: UploadOptions


def safe_name(filename: str) -> str:
    """The file's own name, without folders or characters a file system dislikes."""
    name = Path(filename.replace("\\", "/")).name.strip() or "upload"
    return re.sub(r"[\x00-\x1f/:*?\"<>|]", "_", name)[:120]


def read_upload(upload: Upload, folder: Path) -> PointSet | shapely.Geometry:
    """Read one upload as ``quarterhour plan`` reads its file (points, or a boundary geometry).

    Raises
    ------
    ApiError
        422 naming the file, row and field of the first problem.
    """
    from quarterhour.geo.boundary import read_boundary_crs

    path = folder / upload.role / safe_name(upload.filename)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(upload.data)
    options = upload.options
    try:
        if upload.role == "boundary":
            outline, options["crs"] = read_boundary_crs(
                path, crs=options.get("crs"), crs_param="boundary_crs"
            )  # the system it was read in, for the plan's record (an unstated one outside China)
            return outline
        return read_points(
            path,
            crs=options.get("crs"),
            role=ROLE_WORDS[upload.role],
            sheet=options.get("sheet"),
            header_row=options.get("header_row"),
            columns=options.get("columns") or None,
        )
    except InputError as error:
        raise ApiError(422, loc=("body", upload.role), msg=str(error), kind="value_error") from None
    except Exception as error:  # noqa: BLE001 - a file no reader expected must not crash a worker
        log.warning("%s: unreadable %s upload: %r", upload.filename, upload.role, error)
        what = ROLE_WORDS.get(upload.role, upload.role)
        msg = f"{safe_name(upload.filename)}: cannot be read as {what}: {error}"
        raise ApiError(422, loc=("body", upload.role), msg=msg, kind="value_error") from None


def read_uploads(uploads: list[Upload], *, max_rows: int) -> ProjectFiles:
    """Read and check a project's files; nothing is stored.

    Raises
    ------
    ApiError
        422 for a file that cannot be read or points the model refuses (duplicate ids ...), 413
        for a file over ``max_rows``.
    """
    read: dict[str, PointSet] = {}
    boundary: shapely.Geometry | None = None
    with tempfile.TemporaryDirectory(prefix="quarterhour-upload-") as folder:
        for upload in uploads:
            value = read_upload(upload, Path(folder))
            if not isinstance(value, PointSet):
                boundary = value
                continue
            if len(value) > max_rows:
                msg = (
                    f"{safe_name(upload.filename)}: {len(value):,} rows, over the limit of "
                    f"{max_rows:,} rows per file"
                )
                raise ApiError(413, loc=("body", upload.role), msg=msg, kind="too_large")
            read[upload.role] = value
    try:
        homes, stations, candidates = _point_sets(
            read["communities"], read.get("existing"), read.get("candidates"), crs=None
        )
    except InputError as error:
        raise ApiError(422, loc=("body",), msg=str(error), kind="value_error") from None
    if stations is not None:
        try:  # checked as `quarterhour plan` checks them, whether capacity is on or not
            station_aides(stations)
        except InputError as error:
            raise ApiError(
                422, loc=("body", "existing"), msg=str(error), kind="value_error"
            ) from None
    return ProjectFiles(
        communities=homes,
        existing=stations,
        candidates=None if read.get("candidates") is None else candidates,
        boundary=boundary,
    )


MAX_SKIPPED_LISTED = 50
"""Skipped rows (totals, notes) a reading lists one by one; blank rows are only counted."""


def how_read(points: PointSet) -> dict[str, object]:
    """What the reader decided that the planner should see: header, skipped rows, warnings.

    ``skipped`` lists the totals and notes rows (row number as the sheet shows it, reason,
    first text), ``skipped_counts`` counts every reason (blank rows too), ``warnings`` are the
    reader's lines naming rows (duplicates, approximate or missing weights, rows without
    coordinates) and ``notes`` what else it decided (a CSV's delimiter, merged cells filled).
    """
    reading = points.reading
    if reading is None:
        return {}
    shown = [row for row in reading.skipped if row.reason != "blank"]
    return {
        "sheet": reading.sheet,
        "header_rows": list(reading.header_rows),
        "header_reason": reading.header_reason,
        "encoding": reading.encoding,
        "skipped": [
            {"row": row.row, "reason": row.reason, "text": row.text}
            for row in shown[:MAX_SKIPPED_LISTED]
        ],
        "skipped_counts": reading.skipped_counts(),
        "warnings": reading.warnings(),
        "notes": list(reading.notes),
    }


def reading_report(files: ProjectFiles, uploads: list[Upload]) -> dict[str, dict[str, object]]:
    """What was read from each file: rows, columns, coordinate system, how (:func:`how_read`)."""
    report: dict[str, dict[str, object]] = {}
    for upload in uploads:
        entry: dict[str, object] = {"file": safe_name(upload.filename), **upload.options}
        points = getattr(files, upload.role) if upload.role in POINT_ROLES else None
        if points is not None:
            entry |= {
                "rows": len(points),
                "columns": dict(points.columns),
                "headers": [str(name) for name in points.table.columns],
                "crs": points.crs,
                "read": how_read(points),
            }
        report[upload.role] = entry
    return report


def check_room(conn: sqlite3.Connection, project_id: str, *, max_scenarios: int) -> None:
    """Refuse (422) a new scenario in a project that holds ``max_scenarios`` already."""
    (count,) = conn.execute(
        "SELECT count(*) FROM scenarios WHERE project_id = ?", (project_id,)
    ).fetchone()
    if count >= max_scenarios:
        msg = f"a project holds at most {max_scenarios:,} scenarios: delete some first"
        raise ApiError(422, loc=("body", "name"), msg=msg, kind="value_error")


def insert_scenario(
    conn: sqlite3.Connection,
    project_id: str,
    scenario_id: str,
    *,
    name: str,
    parent: str | None,
    scenario_settings: ScenarioSettings,
    stations: list[dict[str, object]],
    excluded: list[str],
    outcome: Outcome,
    figures: dict[str, object],
) -> None:
    """Insert a scenario at version 1 (inside the caller's transaction)."""
    at = store.now()
    conn.execute(
        "INSERT INTO scenarios (id, project_id, name, parent_id, version, settings, stations, "
        "excluded, outcome, figures, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)",
        (
            scenario_id,
            project_id,
            name,
            parent,
            store.dumps(scenario_settings),
            store.dumps(stations),
            store.dumps(excluded),
            store.dumps(outcome),
            store.dumps(figures),
            at,
            at,
        ),
    )
    conn.execute("UPDATE projects SET updated_at = ? WHERE id = ?", (at, project_id))


def stored_uploads(conn: sqlite3.Connection, project_id: str) -> list[Upload]:
    """A project's uploads as stored."""
    rows = conn.execute(
        "SELECT role, filename, options, data FROM project_files WHERE project_id = ?",
        (project_id,),
    ).fetchall()
    order = {role: k for k, role in enumerate(ROLES)}
    uploads = [
        Upload(row["role"], row["filename"], bytes(row["data"]), store.loads(row["options"]))
        for row in rows
    ]
    return sorted(uploads, key=lambda upload: order[upload.role])


_FILES: dict[str, ProjectFiles] = {}


def project_files(conn: sqlite3.Connection, project_id: str) -> ProjectFiles:
    """A project's files, read again from the stored bytes (once per worker)."""
    files = _FILES.get(project_id)
    if files is None:
        files = read_uploads(stored_uploads(conn, project_id), max_rows=10**9)
    keep_files(project_id, files)
    return files


def keep_files(project_id: str, files: ProjectFiles) -> None:
    """Keep a project's files, and only those of projects whose engines are kept besides.

    The files hold the planner's tables (frames, the bulk of a project's memory): kept past
    their engines' eviction, they would escape the memory budget that bounds the engines.
    """
    _FILES[project_id] = files
    kept = ENGINES.project_ids() | {project_id}
    for other in [other for other in _FILES if other not in kept]:
        del _FILES[other]


_CLIPPED: dict[bytes, WalkNetwork] = {}


def network_for(state: AppState, files: ProjectFiles, limit: WalkLimit) -> WalkNetwork:
    """The server's network, clipped as ``--boundary`` clips it: to where stations serve.

    That is the outline grown by the walk limit (:func:`~quarterhour.siting.inputs.
    station_area`), so that existing stations just outside it serve the communities inside.
    """
    import shapely

    from quarterhour.routing.network import load_network
    from quarterhour.siting.inputs import station_area

    path = state.config.network_path
    if files.boundary is None or state.config.boundary is not None or not Path(path).exists():
        return state.network
    area = station_area(files.boundary, limit_m=limit.metres_walked, inside_only=False)
    if area is None:  # only without a boundary
        return state.network
    key = shapely.to_wkb(area)
    network = _CLIPPED.get(key)
    if network is None:
        network = load_network(path, boundary=area, use_cache=state.config.use_cache)
        _CLIPPED[key] = network
        while len(_CLIPPED) > MAX_CLIPPED:
            _CLIPPED.pop(next(iter(_CLIPPED)))
    return network


def engine_for(
    conn: sqlite3.Connection,
    project_id: str,
    scenario_settings: ScenarioSettings,
    state: AppState,
) -> ProjectEngine:
    """The engine of a project at a scenario's walk limit (built once per worker)."""
    limit = limit_of(scenario_settings)
    key = (project_id, limit.value, limit.metric, limit.speed_kmh)
    engine = ENGINES.get(key)
    if engine is None:
        files = project_files(conn, project_id)
        engine = ProjectEngine(
            network_for(state, files, limit), files, limit, network_path=state.config.network_path
        )
        engine = ENGINES.put(key, engine)
        keep_files(project_id, files)
    return engine


def forget_project(project_id: str) -> None:
    """Drop a deleted project's cached files and engines."""
    _FILES.pop(project_id, None)
    ENGINES.drop_project(project_id)


# ---------------------------------------------------------------------- scenarios


def today_stations(files: ProjectFiles) -> list[dict[str, object]]:
    """The stations of a new project's first scenario: the existing stations' file."""
    points = files.existing
    if points is None:
        return []
    return [
        {
            "id": str(identifier),
            "name": str(name),
            "kind": "existing",
            "lon": float(lon),
            "lat": float(lat),
            "locked": False,
            "site": f"existing:{identifier}",
            "aides": int(aides),
        }
        for identifier, name, lon, lat, aides in zip(
            points.ids, points.names, points.lon, points.lat, station_aides(points), strict=True
        )
    ]


def scenario_row(conn: sqlite3.Connection, project_id: str, scenario_id: str) -> sqlite3.Row:
    """A scenario of a project, or 404."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM scenarios WHERE id = ? AND project_id = ?", (scenario_id, project_id)
    ).fetchone()
    if row is None:
        msg = f"no scenario {scenario_id!r} in project {project_id!r}"
        raise ApiError(404, loc=("path", "sid"), msg=msg, kind="not_found")
    return row


HEADLINE_KEYS: tuple[str, ...] = (
    "n_existing",
    "n_new",
    "n_communities",
    "covered",
    "covered_weight",
    "covered_share",
    "covered_weight_share",
    "total_weight",
    "uncoverable",
    "status_counts",
)


def figures(result: SitingResult) -> dict[str, object]:
    """A scenario's figures for lists: stations, communities and residents covered, walks."""
    table = result.assignments
    return figures_of(
        result.summary, table["walk_min"].to_numpy(float), table["covered"].to_numpy(bool)
    )


def figures_of(
    summary: dict[str, object], walk_min: np.ndarray, covered: np.ndarray
) -> dict[str, object]:
    """A scenario's figures from its summary and every community's walk and coverage."""
    walk = walk_min[covered]
    n_existing, n_new = summary["n_existing"], summary["n_new"]
    if not isinstance(n_existing, int) or not isinstance(n_new, int):
        msg = f"a summary counts stations as integers, not {n_existing!r} and {n_new!r}"
        raise TypeError(msg)
    n_stations = n_existing + n_new
    staffing = summary.get("staffing")
    return (
        {key: summary[key] for key in HEADLINE_KEYS}
        | {
            "n_stations": n_stations,
            "mean_walk_min": json_scalar(float(walk.mean())) if walk.size else None,
            "max_walk_min": json_scalar(float(walk.max())) if walk.size else None,
        }
        | ({"staffing": staffing} if isinstance(staffing, dict) else {})
    )


def scenario_brief(row: sqlite3.Row) -> dict[str, object]:
    """A scenario as lists show it."""
    return {
        "id": row["id"],
        "name": row["name"],
        "parent": row["parent_id"],
        "version": row["version"],
        "settings": store.loads(row["settings"]),
        "objective": store.loads(row["outcome"]).get("objective"),
        "figures": store.loads(row["figures"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


COMMUNITY_KEYS: tuple[str, ...] = tuple(
    key
    for key in RESULT_COLUMNS
    if key not in ("covered_today", "coverable", "access_m", "nearest_site_m")
)
"""A community's columns in the API (of the plan's; WGS84 ``lon``, ``lat`` are added)."""

CAPACITY_COMMUNITY_KEYS: tuple[str, ...] = ("served_weight", "unserved_weight", "stations")
"""A community's further columns in a capacitated scenario (residents served and not, and
every station serving it when it is split)."""


def community_rows(
    result: SitingResult, engine: ProjectEngine, rows: np.ndarray | None = None
) -> list[dict[str, object]]:
    """Communities as the API gives them: the result's columns and WGS84 ``lon``, ``lat``."""
    table = result.assignments
    picked = np.arange(len(table)) if rows is None else np.asarray(rows, np.int64)
    columns: dict[str, list[object]] = {}
    present = [key for key in CAPACITY_COMMUNITY_KEYS if key in table.columns]
    for key in (*COMMUNITY_KEYS, *present):
        values = table[key].to_numpy(dtype=object)[picked]
        if key in ("status", "reason"):  # missing codes (NaN) are null
            values[pd.isna(values)] = None
        columns[key] = values.tolist()
    columns["lon"] = np.round(engine.homes.lon[picked], 7).tolist()
    columns["lat"] = np.round(engine.homes.lat[picked], 7).tolist()
    keys = list(columns)
    # orjson writes NaN (a walk time where there is none) as null
    return [dict(zip(keys, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def station_rows(
    result: SitingResult, stations: list[dict[str, object]]
) -> list[dict[str, object]]:
    """Stations as the API gives them: the result's columns and the scenario's own fields."""
    by_id = {str(station["id"]): station for station in stations}
    out = []
    for record in result.stations.to_dict(orient="records"):
        own = by_id.get(str(record["station_id"]), {})
        row = {str(key): json_scalar(value) for key, value in record.items()}
        row["id"] = row.pop("station_id")
        row["locked"] = bool(own.get("locked", False))
        row["site"] = own.get("site")
        row.setdefault("aides", own.get("aides"))  # the staffing's, else the scenario's own
        out.append(row)
    return out


def touched_stations(
    version: Version,
    stations: list[dict[str, Any]],
    touched: list[str],
    engine: ProjectEngine,
) -> list[dict[str, object]]:
    """The stations an edit touched, as the API gives them (``removed`` for removed ones)."""
    by_id = {str(station["id"]): station for station in stations}
    arrays = version.arrays
    covered = arrays["covered"]
    weight = engine.communities.weight
    out: list[dict[str, object]] = []
    for identifier in touched:
        own = by_id.get(identifier)
        if own is None:
            out.append({"id": identifier, "removed": True})
            continue
        station = version.state.stations[identifier]
        served = covered & (arrays["station"] == identifier)
        out.append(
            {
                "id": identifier,
                "name": station.name,
                "kind": station.kind,
                "status": station.status,
                "lon": station.lon,
                "lat": station.lat,
                "input_lon": (own.get("input") or [None])[0],
                "input_lat": (own.get("input") or [None, None])[1],
                "input_crs": (own.get("input") or [None, None, None])[2],
                "district": station.district,
                "town": station.town,
                "served_communities": int(served.sum()),
                "served_weight": float(weight[served].sum()),
                "locked": bool(own.get("locked", False)),
                "site": own.get("site"),
            }
        )
    return out
