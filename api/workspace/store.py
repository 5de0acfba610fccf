"""The workspace's SQLite database: projects, their files, scenarios, plan jobs, changes.

One file, ``DATA_DIR/workspace.sqlite3``, opened by every server worker: WAL mode (readers never
wait for a writer), a busy timeout, foreign keys on, and every write in a ``BEGIN IMMEDIATE``
transaction (:func:`transaction`), so that two workers editing one scenario are serialised and
the version check inside the transaction loses no edit. A ``kill -9`` during a write leaves the
last committed state (SQLite's journal).

Other modules add their tables by appending a function to :data:`SCHEMAS` when imported
(``SCHEMAS.append(ensure_schema)``); :func:`connect` applies every one.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("quarterhour")

DATABASE = "workspace.sqlite3"
BUSY_TIMEOUT_MS = 30_000

ACTIONS = frozenset(
    {
        "upload",
        "create_scenario",
        "edit",
        "plan",
        "rename",
        "delete",
        "share",
        "unshare",
        "link",
        "unlink",
    }
)
"""What a record of change may say was done."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    crs TEXT NOT NULL,
    reading TEXT NOT NULL,          -- JSON: per file its name, options and what was recognised
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS project_files (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    role TEXT NOT NULL,             -- communities | existing | candidates | boundary
    filename TEXT NOT NULL,
    options TEXT NOT NULL,          -- JSON: crs, sheet, columns
    data BLOB NOT NULL,             -- the uploaded bytes, as sent
    n_rows INTEGER NOT NULL,
    PRIMARY KEY (project_id, role)
);
CREATE TABLE IF NOT EXISTS scenarios (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    parent_id TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    settings TEXT NOT NULL,         -- JSON: minutes or meters, speed_kmh
    stations TEXT NOT NULL,         -- JSON list of stations (see engine.Station)
    excluded TEXT NOT NULL,         -- JSON list of excluded candidate site ids
    outcome TEXT NOT NULL,          -- JSON: how the stations were chosen (a plan's bound ...)
    figures TEXT NOT NULL DEFAULT '{}', -- JSON: the scenario's headline figures, for lists
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scenarios_project ON scenarios(project_id);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    scenario_id TEXT NOT NULL,
    state TEXT NOT NULL,            -- queued | running | done | failed | cancelled
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    request TEXT NOT NULL,          -- JSON: the plan's options
    result_scenario TEXT,
    error TEXT,
    pid INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    project_id TEXT,
    scenario_id TEXT,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_project ON changes(project_id);
"""


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the workspace's tables if missing."""
    conn.executescript(SCHEMA)


SCHEMAS: list[Callable[[sqlite3.Connection], None]] = [ensure_schema]
"""Functions creating every module's tables; a module adds its own on import."""

_READY: set[tuple[str, int]] = set()
_READY_LOCK = threading.Lock()


def now() -> str:
    """The time now, UTC, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_id() -> str:
    """A new random id (128 bits, hex)."""
    return uuid.uuid4().hex


def connect(data_dir: str | Path) -> sqlite3.Connection:
    """Open the workspace database in ``data_dir`` (created with its schema if missing).

    Parameters
    ----------
    data_dir
        The data folder (``serve --data-dir``).

    Returns
    -------
    sqlite3.Connection
        In autocommit mode (writes go through :func:`transaction`), rows as ``sqlite3.Row``.
    """
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DATABASE
    # One connection per request, used by one thread at a time (FastAPI may open it in one
    # thread of its pool and run the route in another).
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    key = (str(path.resolve()), len(SCHEMAS))
    with _READY_LOCK:
        if key not in _READY:
            conn.execute("PRAGMA journal_mode = WAL")
            for create in SCHEMAS:  # idempotent (IF NOT EXISTS); executescript commits itself
                create(conn)
            _READY.add(key)
            log.info("workspace database %s", path)
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


@contextmanager
def opened(data_dir: str | Path) -> Iterator[sqlite3.Connection]:
    """A connection to the workspace database, closed after the block."""
    conn = connect(data_dir)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error): one writer at a time."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def record_change(
    conn: sqlite3.Connection,
    *,
    project_id: str | None,
    scenario_id: str | None,
    actor: str,
    action: str,
    detail: dict[str, object],
) -> None:
    """Write one record of change (call it inside the transaction that makes the change).

    Parameters
    ----------
    conn
        The connection, in a transaction.
    project_id, scenario_id
        What was changed.
    actor
        A username, ``"local"`` or ``"link:<id>"``.
    action
        One of :data:`ACTIONS`.
    detail
        What exactly (JSON-ready).
    """
    if action not in ACTIONS:
        msg = f"unknown action {action!r}"
        raise ValueError(msg)
    conn.execute(
        "INSERT INTO changes (at, actor, project_id, scenario_id, action, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (now(), actor, project_id, scenario_id, action, dumps(detail)),
    )


def loads(text: str | bytes | None) -> Any:  # noqa: ANN401 - a JSON column's shape is its column's
    """A JSON column's value (None for NULL): the caller knows the column's shape."""
    return None if text is None else orjson.loads(text)


def dumps(value: object) -> str:
    """A value for a JSON column (UTF-8 text; NaN as null)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode("utf-8")
