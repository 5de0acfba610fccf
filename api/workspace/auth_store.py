"""The accounts' tables in the workspace database: users, sessions, tokens, members, links.

``ensure_schema(conn)`` creates them if missing; this module adds it to ``store.SCHEMAS`` when
imported, so that :func:`quarterhour.api.workspace.store.connect` applies it in every server
worker and in the ``quarterhour users`` command.
Secrets are never stored: a password as its argon2 hash, a session id, an API token and a link
token as their SHA-256 (they are 256 random bits, so a fast hash is enough). Times are UTC
seconds since the epoch (``REAL``), compared in SQL.

* ``users`` (username, password_hash, created_at, password_changed_at);
* ``sessions`` (id_hash, username, created_at, last_seen, ip): ended by logout, by a new
  password, by removing the user (``ON DELETE CASCADE``), or by age (see ``settings``);
* ``tokens`` (id, username, token_hash, created_at, last_used, revoked_at);
* ``members`` (project_id, username, role): roles per project;
* ``links`` (id, token_hash, project_id, scenario_id, created_by, created_at, expires_at,
  revoked_at): read-only links;
* ``login_failures`` (key, failures, last_at): ``user:NAME`` and ``addr:IP`` counters shared by
  every worker (they are rows, not memory).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from quarterhour.api.workspace import store

if TYPE_CHECKING:
    import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    password_changed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL,
    ip TEXT
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(username);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    last_used REAL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS members (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'owner')),
    added_at REAL NOT NULL,
    PRIMARY KEY (project_id, username)
);
CREATE INDEX IF NOT EXISTS members_user ON members(username);
CREATE TABLE IF NOT EXISTS links (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    scenario_id TEXT,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS links_project ON links(project_id);
CREATE TABLE IF NOT EXISTS login_failures (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_at REAL NOT NULL
);
"""


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the accounts' tables and indexes if they are missing; make the file owner-only.

    The database holds password hashes and the districts' unpublished plans: mode 0600 (its
    ``-wal`` and ``-shm`` files take the same mode from it).
    """
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main" and file:
            Path(file).chmod(0o600)
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


store.SCHEMAS.append(ensure_schema)


def user_count(conn: sqlite3.Connection) -> int:
    """How many accounts exist (none: the workspace may be open on a loopback address)."""
    count: int = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    return count


def password_hash(conn: sqlite3.Connection, username: str) -> str | None:
    """The stored argon2 hash of ``username``'s password; None if there is no such user."""
    row = conn.execute("SELECT password_hash FROM users WHERE username = ?", (username,)).fetchone()
    return row[0] if row else None


def role_of(conn: sqlite3.Connection, project_id: str, username: str) -> str | None:
    """``username``'s role on the project; None if it is not a member."""
    row = conn.execute(
        "SELECT role FROM members WHERE project_id = ? AND username = ?", (project_id, username)
    ).fetchone()
    return row[0] if row else None


def project_exists(conn: sqlite3.Connection, project_id: str) -> bool:
    """Whether the project is stored."""
    return conn.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone() is not None


def member_projects(conn: sqlite3.Connection, username: str) -> list[str]:
    """The projects ``username`` has a role on."""
    rows = conn.execute(
        "SELECT project_id FROM members WHERE username = ? ORDER BY project_id", (username,)
    )
    return [row[0] for row in rows]


def add_member(conn: sqlite3.Connection, project_id: str, username: str, role: str) -> None:
    """Give ``username`` ``role`` on the project (replacing a role it had); inside a transaction."""
    conn.execute(
        "INSERT INTO members (project_id, username, role, added_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(project_id, username) DO UPDATE SET role = excluded.role",
        (project_id, username, role, time.time()),
    )


def members(conn: sqlite3.Connection, project_id: str) -> list[dict[str, object]]:
    """The project's members: username and role, owners first."""
    rows = conn.execute(
        "SELECT username, role FROM members WHERE project_id = ? "
        "ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'editor' THEN 1 ELSE 2 END, username",
        (project_id,),
    )
    return [{"username": row[0], "role": row[1]} for row in rows]


def owner_count(conn: sqlite3.Connection, project_id: str) -> int:
    """How many owners the project has."""
    count: int = conn.execute(
        "SELECT count(*) FROM members WHERE project_id = ? AND role = 'owner'", (project_id,)
    ).fetchone()[0]
    return count


def adopt_ownerless(conn: sqlite3.Connection, username: str) -> list[str]:
    """Make ``username`` the owner of every project without one (made before any account)."""
    rows = conn.execute(
        "SELECT id FROM projects WHERE id NOT IN (SELECT project_id FROM members WHERE role = 'owner')"
    ).fetchall()
    for row in rows:
        add_member(conn, row[0], username, "owner")
    return [row[0] for row in rows]


def links(conn: sqlite3.Connection, project_id: str) -> list[dict[str, object]]:
    """The project's read-only links (never their tokens), newest first."""
    rows = conn.execute(
        "SELECT id, scenario_id, created_by, created_at, expires_at, revoked_at FROM links "
        "WHERE project_id = ? ORDER BY created_at DESC",
        (project_id,),
    )
    keys = ("id", "scenario", "created_by", "created_at", "expires_at", "revoked_at")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def scenario_exists(conn: sqlite3.Connection, project_id: str, scenario_id: str) -> bool:
    """Whether the scenario is stored in the project."""
    return (
        conn.execute(
            "SELECT 1 FROM scenarios WHERE id = ? AND project_id = ?", (scenario_id, project_id)
        ).fetchone()
        is not None
    )


__all__ = [
    "SCHEMA",
    "add_member",
    "adopt_ownerless",
    "ensure_schema",
    "links",
    "member_projects",
    "members",
    "owner_count",
    "password_hash",
    "project_exists",
    "role_of",
    "scenario_exists",
    "user_count",
]
