"""Login, logout, members, read-only links and the record of changes (FastAPI, under ``/api``).

* ``POST /api/login`` ``{"username", "password"}`` -> the session cookie
  (``quarterhour_session``: HttpOnly, SameSite=Strict, Path=/, Max-Age, Secure over https);
  ``POST /api/logout``; ``GET /api/me`` (who is calling, whether a login is needed);
* ``GET|POST /api/projects/{pid}/members``, ``DELETE /api/projects/{pid}/members/{username}``;
* ``GET|POST /api/projects/{pid}/links``, ``DELETE /api/projects/{pid}/links/{id}``; a link's
  ``url`` (``/l/{token}``) opens the page read-only on its project or scenario;
* ``GET /api/projects/{pid}/changes`` (JSON, or CSV with ``?format=csv``);
* ``GET /login``: the login page.

:func:`install` adds them to an application and sets what access depends on.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from quarterhour import settings
from quarterhour.api.http.errors import ApiError
from quarterhour.api.http.responses import json_response
from quarterhour.api.http.schemas import ErrorOut
from quarterhour.api.workspace import auth, auth_store, store
from quarterhour.api.workspace.access import (
    LINK_COOKIE,
    SESSION_COOKIE,
    AccessConfig,
    Caller,
    check_same_origin,
    get_caller,
    is_loopback,
    require_role,
    whoami,
    workspace_dir,
)

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence

log = logging.getLogger("quarterhour")

STATIC_DIR = Path(__file__).resolve().parent / "static"
LINK_MAX_DAYS = 366

ACCOUNT_ERRORS: dict[int | str, dict] = {
    400: {"model": ErrorOut, "description": "the request cannot be parsed, or an untrusted host"},
    401: {"model": ErrorOut, "description": "a login is needed, or it was refused"},
    403: {
        "model": ErrorOut,
        "description": "the role is too low, a read-only link, or a change from another site",
    },
    404: {"model": ErrorOut, "description": "no such project (or one the caller may not see)"},
    409: {"model": ErrorOut, "description": "the change would leave a project without an owner"},
    422: {"model": ErrorOut, "description": "a bad field"},
    429: {"model": ErrorOut, "description": "too many failed logins: wait Retry-After seconds"},
}
"""Error answers of the accounts' paths, in the service's one JSON shape."""

PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'",
    "Referrer-Policy": "same-origin",
}
"""The login page may not be framed by another site (clickjacking) nor load anything foreign."""

router = APIRouter(tags=["accounts"], responses=ACCOUNT_ERRORS)
pages = APIRouter(include_in_schema=False)
CallerDep = Annotated[Caller, Depends(get_caller)]


class Login(BaseModel):
    """A login: username and password (never logged, stored or answered)."""

    username: str = Field(max_length=256)
    password: str = Field(max_length=1024)


class Member(BaseModel):
    """A role given to an account on a project."""

    username: str = Field(max_length=256)
    role: Literal["viewer", "editor", "owner"]


class NewLink(BaseModel):
    """A read-only link: of the whole project, or of one scenario; optionally expiring."""

    scenario: str | None = Field(default=None, max_length=64)
    expires: datetime | None = Field(
        default=None,
        description="when the link stops working (ISO 8601; without a zone: UTC); "
        f"at most {LINK_MAX_DAYS} days ahead; none: until revoked",
    )


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.post("/api/login", summary="Log in: set the session cookie")
def login(body: Login, request: Request) -> Response:
    """Check the password; on success set the session cookie and answer who is logged in.

    401 for an unknown account or a wrong password (the same answer, in the same time); 429
    with ``Retry-After`` after repeated failures of the account or of the address.
    """
    check_same_origin(request, required=False)
    with store.opened(workspace_dir(request)) as conn:
        outcome = auth.login(conn, body.username, body.password, address=_client(request))
        old = request.cookies.get(SESSION_COOKIE)
        if isinstance(outcome, str) and old:
            auth.end_session(conn, old)
    if isinstance(outcome, auth.LoginWait):
        msg = f"too many failed logins; try again in {outcome.retry_after_s} s"
        headers = {"Retry-After": str(outcome.retry_after_s)}
        raise ApiError(429, loc=("body",), msg=msg, kind="throttled", headers=headers)
    if outcome is None:
        msg = "unknown username or wrong password"
        raise ApiError(401, loc=("body",), msg=msg, kind="bad_credentials")
    response = json_response(
        {"user": auth.normalize_username(body.username)}, headers={"Cache-Control": "no-store"}
    )
    _cookie(response, request, SESSION_COOKIE, outcome, int(settings.session_max_s))
    return response


@router.post("/api/logout", summary="Log out: end the session")
def logout(request: Request) -> Response:
    """End the session of the cookie (if any) and clear the cookie."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        check_same_origin(request, required=True)
        with store.opened(workspace_dir(request)) as conn:
            auth.end_session(conn, session)
    response = json_response({"user": None})
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/api/me", summary="Who is calling, and whether the workspace needs a login")
def me(request: Request) -> Response:
    """``{"user", "via", "login_required", "link": {"project", "scenario"} | null}``.

    Answers without a login (``user`` null) so that the page knows to show the login.
    """
    return json_response(whoami(request))


def _named(caller: Caller, what: str) -> None:
    if caller.via == "link":
        msg = f"a read-only link does not show the {what}; log in to see them"
        raise ApiError(403, loc=("path", "pid"), msg=msg, kind="forbidden")


@router.get("/api/projects/{pid}/members", summary="The project's members and their roles")
def get_members(pid: str, request: Request, caller: CallerDep) -> Response:
    """Every member's username and role (viewer or more; not through a link)."""
    with store.opened(workspace_dir(request)) as conn:
        require_role(caller, conn, pid, "viewer")
        _named(caller, "members")
        return json_response({"members": auth_store.members(conn, pid)})


@router.post(
    "/api/projects/{pid}/members", status_code=201, summary="Give an account a role (owner only)"
)
def add_member(pid: str, body: Member, request: Request, caller: CallerDep) -> Response:
    """Give ``username`` the role (``viewer``, ``editor``, ``owner``), replacing its role."""
    with store.opened(workspace_dir(request)) as conn:
        require_role(caller, conn, pid, "owner")
        try:
            name = auth.normalize_username(body.username)
        except auth.AccountError as error:
            raise ApiError(
                422, loc=("body", "username"), msg=str(error), kind="value_error"
            ) from error
        with store.transaction(conn):
            if auth_store.password_hash(conn, name) is None:
                msg = f"no user {name!r} (accounts are made with quarterhour users add)"
                raise ApiError(422, loc=("body", "username"), msg=msg, kind="value_error")
            before = auth_store.role_of(conn, pid, name)
            if (
                before == "owner"
                and body.role != "owner"
                and auth_store.owner_count(conn, pid) == 1
            ):
                raise _last_owner()
            auth_store.add_member(conn, pid, name, body.role)
            _record(
                conn, caller, pid, "share", {"username": name, "role": body.role, "before": before}
            )
        return json_response({"members": auth_store.members(conn, pid)}, status=201)


def _record(
    conn: sqlite3.Connection,
    caller: Caller,
    pid: str,
    action: str,
    detail: dict[str, object],
    *,
    scenario_id: str | None = None,
) -> None:
    store.record_change(
        conn,
        project_id=pid,
        scenario_id=scenario_id,
        actor=caller.actor,
        action=action,
        detail=detail,
    )


def _last_owner() -> ApiError:
    msg = "a project keeps at least one owner: make another owner first"
    return ApiError(409, loc=("path", "username"), msg=msg, kind="last_owner")


@router.delete("/api/projects/{pid}/members/{username}", summary="Take a member's role away")
def remove_member(pid: str, username: str, request: Request, caller: CallerDep) -> Response:
    """Owners remove anyone; any member may leave. The last owner stays (409)."""
    with store.opened(workspace_dir(request)) as conn:
        try:
            name = auth.normalize_username(username)
        except auth.AccountError:
            name = username
        leaving = caller.username is not None and caller.username == name
        require_role(caller, conn, pid, "viewer" if leaving else "owner")
        with store.transaction(conn):
            role = auth_store.role_of(conn, pid, name)
            if role is None:
                msg = f"{name!r} is not a member of the project"
                raise ApiError(404, loc=("path", "username"), msg=msg, kind="not_found")
            if role == "owner" and auth_store.owner_count(conn, pid) == 1:
                raise _last_owner()
            conn.execute("DELETE FROM members WHERE project_id = ? AND username = ?", (pid, name))
            _record(conn, caller, pid, "unshare", {"username": name, "role": role})
        return json_response({"members": auth_store.members(conn, pid)})


def _link_json(row: dict[str, object]) -> dict[str, object]:
    return {
        **row,
        "created_at": auth.iso_time(row["created_at"]),
        "expires_at": auth.iso_time(row["expires_at"]),
        "revoked_at": auth.iso_time(row["revoked_at"]),
    }


@router.get("/api/projects/{pid}/links", summary="The project's read-only links (owner only)")
def get_links(pid: str, request: Request, caller: CallerDep) -> Response:
    """Every link's id, scenario, maker, times (never its token: it is shown only once)."""
    with store.opened(workspace_dir(request)) as conn:
        require_role(caller, conn, pid, "owner")
        return json_response({"links": [_link_json(row) for row in auth_store.links(conn, pid)]})


def _expiry(expires: datetime | None) -> float | None:
    if expires is None:
        return None
    moment = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
    seconds = moment.timestamp()
    if not time.time() < seconds <= time.time() + LINK_MAX_DAYS * 86400:
        msg = f"expires must be in the future and at most {LINK_MAX_DAYS} days ahead"
        raise ApiError(422, loc=("body", "expires"), msg=msg, kind="value_error")
    return seconds


@router.post(
    "/api/projects/{pid}/links", status_code=201, summary="Make a read-only link (owner only)"
)
def add_link(pid: str, body: NewLink, request: Request, caller: CallerDep) -> Response:
    """A link showing the project (or one ``scenario``) to anyone who has it, read only.

    Answers ``{"id", "url", "token", "scenario", "expires_at"}``: the token (256 random bits)
    is shown this once and stored only as its SHA-256.
    """
    with store.opened(workspace_dir(request)) as conn:
        require_role(caller, conn, pid, "owner")
        if body.scenario is not None and not auth_store.scenario_exists(conn, pid, body.scenario):
            msg = f"no scenario {body.scenario!r} in the project"
            raise ApiError(422, loc=("body", "scenario"), msg=msg, kind="value_error")
        expires_at = _expiry(body.expires)
        token = auth.new_secret()
        link_id = secrets.token_hex(8)
        with store.transaction(conn):
            conn.execute(
                "INSERT INTO links (id, token_hash, project_id, scenario_id, created_by, "
                "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    link_id,
                    auth.secret_hash(token),
                    pid,
                    body.scenario,
                    caller.actor,
                    time.time(),
                    expires_at,
                ),
            )
            _record(
                conn,
                caller,
                pid,
                "link",
                {"link": link_id, "expires_at": auth.iso_time(expires_at)},
                scenario_id=body.scenario,
            )
    url = f"{str(request.base_url).rstrip('/')}/l/{token}"
    answer = {
        "id": link_id,
        "url": url,
        "token": token,
        "scenario": body.scenario,
        "expires_at": auth.iso_time(expires_at),
    }
    return json_response(answer, status=201)


@router.delete(
    "/api/projects/{pid}/links/{link_id}", summary="Revoke a read-only link (owner only)"
)
def revoke_link(pid: str, link_id: str, request: Request, caller: CallerDep) -> Response:
    """Revoke the link: it stops working at its next request."""
    with store.opened(workspace_dir(request)) as conn:
        require_role(caller, conn, pid, "owner")
        with store.transaction(conn):
            changed = conn.execute(
                "UPDATE links SET revoked_at = ? WHERE id = ? AND project_id = ? "
                "AND revoked_at IS NULL",
                (time.time(), link_id, pid),
            ).rowcount
            if not changed:
                msg = f"no live link {link_id!r} in the project"
                raise ApiError(404, loc=("path", "link_id"), msg=msg, kind="not_found")
            _record(conn, caller, pid, "unlink", {"link": link_id})
        return json_response({"id": link_id, "revoked": True})


CHANGE_COLUMNS = ("id", "at", "actor", "action", "project_id", "scenario_id", "detail")


@router.get(
    "/api/projects/{pid}/changes",
    summary="The record of changes: who did what to which scenario, and when",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
def changes(
    pid: str,
    request: Request,
    caller: CallerDep,
    format: Annotated[Literal["json", "csv"], Query()] = "json",  # noqa: A002 - the API's name
) -> Response:
    """Every change of the project, oldest first (viewer or more; not through a link).

    JSON ``{"changes": [{"id", "at", "actor", "action", "project_id", "scenario_id",
    "detail"}]}``, or the same columns as CSV (UTF-8 with a byte-order mark, for Excel).
    """
    with store.opened(workspace_dir(request)) as conn:
        require_role(caller, conn, pid, "viewer")
        _named(caller, "record of changes")
        rows = conn.execute(
            f"SELECT {', '.join(CHANGE_COLUMNS)} FROM changes WHERE project_id = ? ORDER BY id",  # noqa: S608 - constant columns
            (pid,),
        ).fetchall()
    records = [dict(zip(CHANGE_COLUMNS, row, strict=True)) for row in rows]
    if format == "json":
        for record in records:
            record["detail"] = json.loads(record["detail"])
        return json_response({"changes": records})
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CHANGE_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(records)
    return Response(
        ("\ufeff" + text.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="changes-{pid}.csv"'},
    )


@pages.get("/l/{token}")
def open_link(token: str, request: Request) -> Response:
    """Open a read-only link: set its cookie and show the page on its project or scenario."""
    with store.opened(workspace_dir(request)) as conn:
        target = auth.link_target(conn, token)
    if target is None:
        msg = "this link is unknown, revoked or expired"
        raise ApiError(404, loc=("path", "token"), msg=msg, kind="not_found")
    _, project_id, scenario_id = target
    where = f"/?project={project_id}" + (f"&scenario={scenario_id}" if scenario_id else "")
    response = RedirectResponse(where, status_code=303)
    _cookie(response, request, LINK_COOKIE, token, LINK_MAX_DAYS * 86400)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@pages.get("/login")
def login_page() -> FileResponse:
    """The login page (Chinese first, English beside it)."""
    return FileResponse(STATIC_DIR / "login.html", headers=PAGE_HEADERS)


def install(app: FastAPI, *, allowed_hosts: Sequence[str]) -> None:
    """Add the accounts' routes to ``app`` and set what access depends on.

    Parameters
    ----------
    app
        The application (its ``state.workspace_dir`` set).
    allowed_hosts
        The names the service answers to: only loopback ones (and no ``*``) keep the
        workspace open to the local user while no account exists.
    """
    loopback_only = all(is_loopback(name) for name in allowed_hosts)
    app.state.access = AccessConfig(loopback_only=loopback_only)
    app.include_router(router)
    app.include_router(pages)
