"""Plans in the background: one thread per plan, its state in SQLite for every worker to answer.

A plan holds one of the service's heavy-work slots (``Admission``) from its request to its end,
and its walk times are bounded by the memory budget's share (``max_pairs``), as ``POST /plan``.
It runs the CLI's own :func:`~quarterhour.siting.plan.run_plan`; its result becomes a new
scenario (the one it started from is not changed), unless the job was cancelled meanwhile: a
cancel (from any worker) stops its walk times, search and HiGHS within a fraction of a second
(:mod:`quarterhour.routing.stopping`) and frees its slot. A job whose worker died is reported
failed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quarterhour.api.http.errors import ApiError
from quarterhour.api.workspace import projects, store
from quarterhour.api.workspace.engine import CAPACITY_KEYS, capacity_of, station_aides_of
from quarterhour.api.workspace.incremental import Outcome
from quarterhour.geo.errors import QuarterhourError
from quarterhour.geo.points import PointSet, points_from_frame
from quarterhour.routing import stopping
from quarterhour.siting.plan import run_plan

if TYPE_CHECKING:
    import sqlite3

    from fastapi import FastAPI

    from quarterhour.api.workspace.schemas import PlanRequest
    from quarterhour.siting.capacity import Capacity

log = logging.getLogger("quarterhour")

FINAL_STATES = ("done", "failed", "cancelled")


def job_row(conn: sqlite3.Connection, job_id: str) -> sqlite3.Row:
    """A job, or 404."""
    row: sqlite3.Row | None = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        msg = f"no job {job_id!r}"
        raise ApiError(404, loc=("path", "jid"), msg=msg, kind="not_found")
    return row


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def job_json(conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, object]:
    """A job as the API gives it (a running job whose worker died is failed)."""
    state, error = row["state"], row["error"]
    if state not in FINAL_STATES and not _alive(row["pid"]):
        state, error = "failed", "the worker running the plan stopped; start the plan again"
        with store.transaction(conn):
            conn.execute(
                "UPDATE jobs SET state = ?, error = ?, updated_at = ? WHERE id = ? AND state = ?",
                (state, error, store.now(), row["id"], row["state"]),
            )
    request = store.loads(row["request"])
    progress = float(row["progress"])
    if state == "running":  # the search reports no steps: time spent of the time allowed
        started = float(request.get("started", time.time()))
        share = (time.time() - started) / float(request.get("time_limit_s") or 60.0)
        progress = max(progress, min(0.1 + 0.85 * share, 0.95))
    return {
        "id": row["id"],
        "project": row["project_id"],
        "from": row["scenario_id"],
        "state": state,
        "progress": 1.0 if state == "done" else round(progress, 3),
        "message": row["message"],
        "scenario": row["result_scenario"],
        "error": error,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _set(conn: sqlite3.Connection, job_id: str, **values: object) -> None:
    assignments = ", ".join(f"{key} = ?" for key in values)
    with store.transaction(conn):
        conn.execute(
            f"UPDATE jobs SET {assignments}, updated_at = ? WHERE id = ? AND state NOT IN "  # noqa: S608 - our own column names
            "('done', 'failed', 'cancelled')",
            (*values.values(), store.now(), job_id),
        )


def cancel(conn: sqlite3.Connection, job_id: str) -> None:
    """Cancel a job that has not finished: no scenario will be made from it."""
    _set(conn, job_id, state="cancelled", message="cancelled")


def start_plan(
    app: FastAPI,
    conn: sqlite3.Connection,
    project_id: str,
    row: sqlite3.Row,
    body: PlanRequest,
    *,
    actor: str,
) -> str:
    """Take a heavy-work slot (503 when none is free), record the job, start its thread."""
    stack = ExitStack()
    stack.enter_context(app.state.admission.background(loc=("body",)))
    try:
        job_id = store.new_id()
        request = body.model_dump() | {"started": time.time()}
        at = store.now()
        with store.transaction(conn):
            conn.execute(
                "INSERT INTO jobs (id, project_id, scenario_id, state, progress, message, request, "
                "pid, created_at, updated_at) VALUES (?, ?, ?, 'queued', 0, 'queued', ?, ?, ?, ?)",
                (job_id, project_id, row["id"], store.dumps(request), os.getpid(), at, at),
            )
        job = PlanJob(job_id, project_id, row["id"], body, actor)
        thread = threading.Thread(
            target=_run,
            args=(app, stack, job),
            name=f"plan-{job_id[:8]}",
            daemon=True,
        )
        thread.start()
    except BaseException:
        stack.close()
        raise
    return job_id


def _kept_points(
    files: projects.ProjectFiles, kept: list[dict[str, Any]], capacity: Capacity | None
) -> PointSet | None:
    """The stations a plan keeps, as its existing stations (the file's rows where unmoved).

    With capacity, their aides are the scenario's (edited by hand, or a plan's), so the points
    are built from the scenario with an ``aides`` column.
    """
    if not kept:
        return None
    existing = files.existing
    if (
        capacity is None
        and existing is not None
        and all(str(station.get("site") or "") == f"existing:{station['id']}" for station in kept)
    ):
        position = {str(identifier): k for k, identifier in enumerate(existing.ids)}
        return existing.subset(np.asarray([position[str(s["id"])] for s in kept], np.intp))
    columns = {
        "id": [str(station["id"]) for station in kept],
        "name": [str(station.get("name") or station["id"]) for station in kept],
        "lon": [float(station["lon"]) for station in kept],
        "lat": [float(station["lat"]) for station in kept],
    }
    if capacity is not None:
        columns["aides"] = station_aides_of(kept, capacity).astype(int).tolist()
    frame = pd.DataFrame(columns)
    return points_from_frame(frame, crs="wgs84", role="existing stations")


def _candidates(files: projects.ProjectFiles, excluded: list[str]) -> PointSet | None:
    points = files.candidates if files.candidates is not None else files.communities
    if not excluded:
        return files.candidates
    keep = ~np.isin(np.asarray(points.ids, dtype=object).astype(str), excluded)
    return points.subset(keep)


@dataclass(frozen=True)
class PlanJob:
    """One plan: its job, the scenario it starts from, the options and who asked."""

    job_id: str
    project_id: str
    scenario_id: str
    body: PlanRequest
    actor: str


def _run(app: FastAPI, stack: ExitStack, job: PlanJob) -> None:
    job_id = job.job_id
    with (
        stack,
        store.opened(app.state.workspace_dir) as conn,
        store.opened(app.state.workspace_dir) as watching,  # asked from the step's threads
    ):
        try:
            with stopping.stop_when(lambda: job_row(watching, job_id)["state"] == "cancelled"):
                _plan(app, conn, job)
        except stopping.Cancelled:
            log.info("plan job %s stopped: cancelled", job_id)
        except (ApiError, QuarterhourError) as error:
            message = error.msg if isinstance(error, ApiError) else str(error)
            _set(conn, job_id, state="failed", error=message, message="failed")
        except Exception as error:  # a plan must never leave its job running
            log.exception("plan job %s failed", job_id)
            _set(conn, job_id, state="failed", error=f"internal error: {error}", message="failed")


def _plan(app: FastAPI, conn: sqlite3.Connection, job: PlanJob) -> None:
    job_id, project_id, scenario_id = job.job_id, job.project_id, job.scenario_id
    body, actor = job.body, job.actor
    _set(conn, job_id, state="running", progress=0.05, message="reading the project")
    row = projects.scenario_row(conn, project_id, scenario_id)
    files = projects.project_files(conn, project_id)
    source_settings = store.loads(row["settings"])
    if body.minutes is not None or body.meters is not None:
        settings = {"minutes": body.minutes, "meters": body.meters}
    else:
        settings = {
            "minutes": source_settings.get("minutes"),
            "meters": source_settings.get("meters"),
        }
    settings["speed_kmh"] = body.speed_kmh or source_settings.get("speed_kmh")
    settings |= {key: source_settings.get(key) for key in CAPACITY_KEYS} | body.settings()
    capacity = capacity_of(settings)
    stations = store.loads(row["stations"])
    excluded = store.loads(row["excluded"])
    kept = [s for s in stations if s["kind"] == "existing" or s.get("locked")]
    _set(conn, job_id, progress=0.1, message="walk times and search")
    state = app.state.quarterhour
    engine = projects.engine_for(conn, project_id, settings, state)
    network = engine.network
    model = run_plan(
        network,
        files.communities,
        existing=_kept_points(files, kept, capacity),
        candidates=_candidates(files, excluded),
        minutes=settings["minutes"],
        speed_kmh=settings["speed_kmh"],
        meters=settings["meters"],
        boundary=files.boundary,
        budget=body.budget,
        effort=body.effort,
        time_limit=body.time_limit_s,
        max_pairs=app.state.admission.max_pairs,
        capacity=capacity,
        quiet=True,
    )
    result = model.result
    if result is None:  # solve() sets it; a model without one is a bug of ours
        msg = "the plan made no result"
        raise RuntimeError(msg)
    chosen_role = "candidates" if files.candidates is not None else "communities"
    new = [
        {
            "id": str(record["station_id"]),
            "name": str(record["name"]),
            "kind": "new",
            "lon": float(record["lon"]),
            "lat": float(record["lat"]),
            "locked": False,
            "site": f"{chosen_role}:{record['station_id']}",
        }
        | ({"aides": int(record["aides"])} if capacity is not None else {})
        for record in result.new_stations.to_dict(orient="records")
    ]
    table = result.assignments
    in_area = table["status"].astype(str).to_numpy() != "outside_boundary"
    uncoverable = np.flatnonzero(in_area & ~table["coverable"].to_numpy(bool))
    outcome: Outcome = {
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "method": result.method,
        "seconds": result.seconds,
        "stats": {key: value for key, value in result.stats.items() if _plain(value)},
        "budget": _count(result.params.get("budget")),
        "n_candidates": _count(result.params.get("n_candidates")),
        "uncoverable": uncoverable.tolist(),
    }
    new_stations = kept + new
    _set(conn, job_id, progress=0.9, message="saving the scenario")
    evaluation = engine.evaluate(new_stations, outcome, excluded=set(excluded), capacity=capacity)
    name = body.name or (
        f"规划 Plan {len(new)} new" if body.budget is None else f"规划 Plan budget {body.budget}"
    )
    new_id = store.new_id()
    with store.transaction(conn):
        if job_row(conn, job_id)["state"] == "cancelled":
            return
        projects.check_room(
            conn, project_id, max_scenarios=app.state.workspace_limits.max_scenarios
        )
        projects.insert_scenario(
            conn,
            project_id,
            new_id,
            name=name,
            parent=scenario_id,
            scenario_settings=settings,
            stations=new_stations,
            excluded=excluded,
            outcome=outcome,
            figures=projects.figures(evaluation),
        )
        store.record_change(
            conn,
            project_id=project_id,
            scenario_id=new_id,
            actor=actor,
            action="plan",
            detail=body.model_dump(exclude_none=True) | {"from": scenario_id, "job": job_id},
        )
        conn.execute(
            "UPDATE jobs SET state = 'done', progress = 1, message = 'done', result_scenario = ?, "
            "updated_at = ? WHERE id = ?",
            (new_id, store.now(), job_id),
        )
    engine.remember((new_id, 1), evaluation)


def _count(value: object) -> int | None:
    return int(value) if isinstance(value, (int, np.integer)) else None


def _plain(value: object) -> bool:
    return isinstance(value, (int, float, str, bool)) or value is None
