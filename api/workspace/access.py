"""Who may see and change a project: callers, roles, and the same-origin check of writes.

A request's caller is, in this order:

1. ``Authorization: Bearer TOKEN``: the token's user (``via="token"``; an unknown or revoked
   token is 401, never a fall-back to anything else);
2. the session cookie: its user (``via="session"``);
3. a read-only link's cookie (set by ``GET /l/{token}``): ``via="link"``, only that project (or
   scenario), only reading;
4. nobody: the one local user (``Caller(None, "local")``, owner of everything) while no account
   exists and the service answers only on loopback addresses, else 401.

Everything is read from the database on every request (no cache): a removed user, an ended
session, a revoked token or link loses access at the next request, in every worker.

Writes (``POST``, ``PUT``, ``PATCH``, ``DELETE``) authenticated by a cookie need an ``Origin``
(or ``Referer``) naming the host the request was sent to: a page of another site cannot make a
planner's browser change anything (403 ``cross_site``). The session cookie is also
``SameSite=Strict``. Bearer tokens are not sent by browsers on their own, so they are exempt.
Without a cookie (the local user) a foreign ``Origin`` is refused as well; a missing one is
allowed (scripts on the machine).

Roles on a project: ``viewer`` reads, ``editor`` also uploads, edits, plans and makes scenarios,
``owner`` also shares (members, links) and deletes. A project the caller may not see answers
404, exactly as one that does not exist, so that ids cannot be probed; a project it may see but
not change answers 403.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fastapi import Request

from quarterhour.api.http.errors import ApiError
from quarterhour.api.workspace import auth, auth_store, store

if TYPE_CHECKING:
    import sqlite3
    from pathlib import Path


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
        The project (and scenario) a link opens: a visitor's (``via == "link"``), or one a
        logged-in user opened (read-only on a project it is not a member of).
    link_id
        For ``via == "link"``: the link's public id (``"link:<id>"`` in the record of changes).
    """

    username: str | None
    via: str
    link_project: str | None = None
    link_scenario: str | None = None
    link_id: str | None = None

    @property
    def actor(self) -> str:
        """The caller as the record of changes names it: username, ``local`` or ``link:<id>``."""
        if self.username is not None:
            return self.username
        return f"link:{self.link_id}" if self.via == "link" else "local"


ROLE_ORDER = {"viewer": 1, "editor": 2, "owner": 3}
"""Roles on a project, from the least to the most allowed."""

SESSION_COOKIE = "quarterhour_session"
LINK_COOKIE = "quarterhour_link"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class AccessConfig:
    """What access depends on besides the database (``app.state.access``).

    Attributes
    ----------
    loopback_only
        The service answers only to loopback names and addresses: then, while no account
        exists, the local user needs no login.
    """

    loopback_only: bool


def is_loopback(name: str) -> bool:
    """Whether a host name or address is this machine's loopback (``localhost``, 127/8, ::1)."""
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def access_config(request: Request) -> AccessConfig:
    """The application's :class:`AccessConfig` (set by ``routes_auth.install``)."""
    config: AccessConfig = request.app.state.access
    return config


def workspace_dir(request: Request) -> Path:
    """The workspace's folder (``serve --data-dir``), where its database is."""
    folder: Path = request.app.state.workspace_dir
    return folder


def _refuse(status: int, loc: tuple[str, ...], msg: str, kind: str) -> ApiError:
    headers = {"WWW-Authenticate": 'Bearer realm="quarterhour"'} if status == 401 else None
    return ApiError(status, loc=loc, msg=msg, kind=kind, headers=headers)


def request_origin(request: Request) -> str | None:
    """The ``host[:port]`` a request says it came from (``Origin``, else ``Referer``), lower case."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        origin = request.headers.get("referer")
    if not origin:
        return None
    return urlsplit(origin).netloc.lower() or "?"


def check_same_origin(request: Request, *, required: bool) -> None:
    """403 ``cross_site`` when a write's ``Origin``/``Referer`` is not the host it was sent to.

    Parameters
    ----------
    request
        The request (only writes are checked).
    required
        Whether a missing ``Origin`` and ``Referer`` is refused too (cookie-authenticated).
    """
    if request.method not in UNSAFE_METHODS:
        return
    origin = request_origin(request)
    host = request.headers.get("host", "").lower()
    if origin == host or (origin is None and not required):
        return
    msg = (
        f"a change sent from another site ({origin}) is refused"
        if origin
        else "a change needs an Origin or Referer header naming this site"
    )
    raise _refuse(403, ("header", "origin"), msg, "cross_site")


def caller_of(request: Request, conn: sqlite3.Connection) -> Caller:
    """The caller of ``request`` (see the module's description), 401/403 raised."""
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        user = auth.token_user(conn, token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            msg = "the API token is unknown or revoked (Authorization: Bearer TOKEN)"
            raise _refuse(401, ("header", "authorization"), msg, "not_authenticated")
        return Caller(user, "token")
    session = request.cookies.get(SESSION_COOKIE)
    user = auth.session_user(conn, session) if session else None
    link = request.cookies.get(LINK_COOKIE)
    target = auth.link_target(conn, link) if link else None
    if user is not None:
        check_same_origin(request, required=True)
        if target is not None:  # a link opened while logged in: its project, read-only, too
            link_id, project_id, scenario_id = target
            return Caller(user, "session", project_id, scenario_id, link_id)
        return Caller(user, "session")
    if target is not None:
        check_same_origin(request, required=True)
        if request.method in UNSAFE_METHODS:
            msg = "a read-only link may not change anything; log in to change it"
            raise _refuse(403, ("header", "cookie"), msg, "read_only")
        link_id, project_id, scenario_id = target
        return Caller(None, "link", project_id, scenario_id, link_id)
    if login_required(request, conn):
        msg = "log in first (POST /api/login, or Authorization: Bearer TOKEN)"
        raise _refuse(401, ("header", "cookie"), msg, "not_authenticated")
    check_same_origin(request, required=False)
    return Caller(None, "local")


def login_required(request: Request, conn: sqlite3.Connection) -> bool:
    """Whether the workspace needs a login: an account exists, or it is reachable from afar."""
    client = request.client.host if request.client else ""
    local = access_config(request).loopback_only and is_loopback(client)
    return not local or auth_store.user_count(conn) > 0


def get_caller(request: Request) -> Caller:
    """FastAPI dependency: the caller of a request (401 JSON where a session is needed)."""
    with store.opened(workspace_dir(request)) as conn:
        return caller_of(request, conn)


def whoami(request: Request) -> dict[str, object]:
    """``{"user", "via", "login_required", "link"}`` of a request, never refused (for the page)."""
    with store.opened(workspace_dir(request)) as conn:
        required = login_required(request, conn)
        try:
            caller: Caller | None = caller_of(request, conn)
        except ApiError:
            caller = None
    link = None
    if caller is not None and caller.via == "link":
        link = {"project": caller.link_project, "scenario": caller.link_scenario}
    return {
        "user": caller.username if caller else None,
        "via": caller.via if caller else None,
        "login_required": required,
        "link": link,
    }


def _not_found(project_id: str) -> ApiError:
    return ApiError(404, loc=("path", "pid"), msg=f"no project {project_id!r}", kind="not_found")


@dataclass(frozen=True)
class ProjectAccess:
    """What a caller may do with one project.

    Attributes
    ----------
    role
        ``viewer``, ``editor`` or ``owner``; None if the caller may not see the project.
    by_link
        Whether the role comes from a read-only link (not a membership).
    scenario
        Through a link to one scenario: that scenario, the only one the caller sees.
    """

    role: str | None
    by_link: bool = False
    scenario: str | None = None


def access_of(caller: Caller, conn: sqlite3.Connection, project_id: str) -> ProjectAccess:
    """The caller's access to a project that exists (one query of its membership at most)."""
    if caller.via == "local":
        return ProjectAccess("owner")
    member = (
        None
        if caller.via == "link"
        else auth_store.role_of(conn, project_id, caller.username or "")
    )
    if member is not None:
        return ProjectAccess(member)
    if caller.link_project == project_id:
        return ProjectAccess("viewer", by_link=True, scenario=caller.link_scenario)
    return ProjectAccess(None)


def require_role(
    caller: Caller,
    conn: sqlite3.Connection,
    project_id: str,
    role: str,
    *,
    scenario_id: str | None = None,
) -> ProjectAccess:
    """Return the caller's access to a project, or raise.

    404 when it may not see the project (or, through a link to one scenario, ``scenario_id``),
    403 when its role is too low.
    """
    if not auth_store.project_exists(conn, project_id):
        raise _not_found(project_id)
    held = access_of(caller, conn, project_id)
    if held.role is None:
        raise _not_found(project_id)
    if held.scenario is not None and scenario_id is not None and scenario_id != held.scenario:
        msg = f"no scenario {scenario_id!r}"
        raise ApiError(404, loc=("path", "sid"), msg=msg, kind="not_found")
    if ROLE_ORDER[held.role] < ROLE_ORDER[role]:
        msg = f"this needs the {role} role on the project; you are {held.role}"
        if held.by_link:
            msg = "a read-only link may not change anything; log in to change it"
        raise ApiError(403, loc=("path", "pid"), msg=msg, kind="forbidden")
    return held


def visible_project_ids(caller: Caller, conn: sqlite3.Connection) -> list[str] | None:
    """The projects the caller may see; None: all."""
    if caller.via == "local":
        return None
    if caller.via == "link":
        return [caller.link_project] if caller.link_project else []
    member = auth_store.member_projects(conn, caller.username or "")
    if caller.link_project and caller.link_project not in member:
        member = [*member, caller.link_project]
    return member


def on_project_created(caller: Caller, conn: sqlite3.Connection, project_id: str) -> None:
    """Called in the transaction that creates a project: its creator becomes its owner."""
    if caller.username is not None:
        auth_store.add_member(conn, project_id, caller.username, "owner")
