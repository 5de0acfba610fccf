"""Who may see and change a project: the contract between the workspace and accounts.

This placeholder serves one local user: every caller is ``Caller(None, "local")`` and may do
everything with every project that exists. The accounts module replaces the bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from quarterhour.api.http.errors import ApiError

if TYPE_CHECKING:
    import sqlite3


@dataclass(frozen=True)
class Caller:
    """Who makes a request.

    Attributes
    ----------
    username
        None for the single local user or a link visitor.
    via
        ``"local"``, ``"session"``, ``"token"`` or ``"link"``.
    link_project, link_scenario
        For ``via == "link"``: the project (and scenario) the link opens.
    """

    username: str | None
    via: str
    link_project: str | None = None
    link_scenario: str | None = None


ROLE_ORDER = {"viewer": 1, "editor": 2, "owner": 3}
"""Roles on a project, from the least to the most allowed."""


def get_caller(request: Request) -> Caller:  # noqa: ARG001 - accounts read the request
    """FastAPI dependency: the caller of a request (401 JSON where a session is needed)."""
    return Caller(None, "local")


def require_role(
    caller: Caller,  # noqa: ARG001 - accounts check it
    conn: sqlite3.Connection,
    project_id: str,
    role: str,  # noqa: ARG001
    *,
    scenario_id: str | None = None,  # noqa: ARG001
) -> None:
    """Raise 404 when the caller may not see the project at all, 403 when its role is too low."""
    row = conn.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone()
    if row is None:
        msg = f"no project {project_id!r}"
        raise ApiError(404, loc=("path", "pid"), msg=msg, kind="not_found")


def visible_project_ids(caller: Caller, conn: sqlite3.Connection) -> list[str] | None:  # noqa: ARG001
    """The projects the caller may see; None: all."""
    return None


def on_project_created(caller: Caller, conn: sqlite3.Connection, project_id: str) -> None:
    """Called in the transaction that creates a project (accounts: the creator becomes owner)."""
