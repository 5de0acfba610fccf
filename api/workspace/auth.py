"""Accounts: passwords, sessions, API tokens, read-only link tokens and login throttling.

* Passwords are hashed with argon2id (``argon2-cffi``'s defaults, RFC 9106's low-memory
  profile: 64 MiB, 3 passes); at most two hashes run at once in a process, so that a burst of
  logins cannot take the server's memory. A password is never logged, stored or answered.
* A session id, an API token and a link token are 256 random bits (``secrets.token_urlsafe(32)``),
  handed out once and stored only as their SHA-256.
* A session ends after ``settings.session_idle_s`` without a request, ``settings.session_max_s``
  after its login, at logout, when the user's password changes or when the user is removed.
* Failed logins are counted per account and per address in the database (every worker shares
  the counts); past ``settings.login_free_failures`` each further try must wait (429 with
  ``Retry-After``), the wait doubling up to ``settings.login_max_wait_s``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
import threading
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from quarterhour import settings
from quarterhour.api.workspace import auth_store
from quarterhour.api.workspace.store import transaction

log = logging.getLogger("quarterhour")

PASSWORD_MAX_LENGTH = 128
"""Longest password accepted (ASVS 2.1.2: at least 64 allowed, over 128 refused)."""

USERNAME_MAX_LENGTH = 64

TOKEN_PREFIX = "qh_"  # noqa: S105 - a prefix, not a secret
"""API tokens start with it, so that a leaked one is recognisable (secret scanners)."""

_HASHER = argon2.PasswordHasher()
_HASHING = threading.BoundedSemaphore(2)
_DUMMY_HASH = _HASHER.hash("not a password of anyone: equal time for unknown accounts")


class AccountError(ValueError):
    """A username, password or account that cannot be used; the message says why."""


@dataclass(frozen=True)
class LoginWait:
    """A login refused before its password was checked: too many recent failures."""

    retry_after_s: int


def normalize_username(name: str) -> str:
    """The stored form of a username: NFKC, lower case, stripped; checked for its characters.

    Raises
    ------
    AccountError
        Empty, longer than 64 characters, or with characters other than letters, digits and
        ``. _ - @``.
    """
    text = unicodedata.normalize("NFKC", name).strip().lower()
    if not text or len(text) > USERNAME_MAX_LENGTH:
        msg = f"a username has 1 to {USERNAME_MAX_LENGTH} characters"
        raise AccountError(msg)
    if not all(char.isalnum() or char in "._-@" for char in text):
        msg = "a username has only letters, digits and . _ - @"
        raise AccountError(msg)
    return text


def check_new_password(password: str) -> None:
    """Raise :class:`AccountError` if ``password`` is too short or too long (never echoing it)."""
    if len(password) < settings.password_min_length:
        msg = f"the password is shorter than {settings.password_min_length} characters"
        raise AccountError(msg)
    if len(password) > PASSWORD_MAX_LENGTH:
        msg = f"the password is longer than {PASSWORD_MAX_LENGTH} characters"
        raise AccountError(msg)


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (with its own salt and parameters)."""
    with _HASHING:
        return _HASHER.hash(password)


def _verify(stored: str, password: str) -> bool:
    with _HASHING:
        try:
            return _HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def iso_time(seconds: object) -> str | None:
    """A stored time (UTC seconds) as ISO 8601 to the second; None for none."""
    if not isinstance(seconds, float | int):
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def secret_hash(secret: str) -> str:
    """SHA-256 of a random secret (session id, API token, link token), hexadecimal."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


# -- users -----------------------------------------------------------------------------------


def add_user(conn: sqlite3.Connection, username: str, password: str) -> str:
    """Create an account; return its stored username.

    Raises
    ------
    AccountError
        A bad username or password, or an account of that name exists.
    """
    name = normalize_username(username)
    check_new_password(password)
    digest = hash_password(password)
    now = time.time()
    try:
        with transaction(conn):
            first = auth_store.user_count(conn) == 0
            conn.execute(
                "INSERT INTO users (username, password_hash, created_at, password_changed_at) "
                "VALUES (?, ?, ?, ?)",
                (name, digest, now, now),
            )
            adopted = auth_store.adopt_ownerless(conn, name) if first else []
    except sqlite3.IntegrityError as error:
        msg = f"a user {name!r} exists"
        raise AccountError(msg) from error
    log.info("user %s added (owner of %d projects made before any account)", name, len(adopted))
    return name


def set_password(conn: sqlite3.Connection, username: str, password: str) -> int:
    """Change a user's password and end its sessions; return how many sessions ended."""
    name = _existing(conn, username)
    check_new_password(password)
    digest = hash_password(password)
    with transaction(conn):
        conn.execute(
            "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE username = ?",
            (digest, time.time(), name),
        )
        ended = conn.execute("DELETE FROM sessions WHERE username = ?", (name,)).rowcount
    log.info("password of %s changed, %d sessions ended", name, ended)
    return ended


def remove_user(conn: sqlite3.Connection, username: str) -> list[str]:
    """Remove a user with its sessions, tokens and roles; return the projects left ownerless."""
    name = _existing(conn, username)
    with transaction(conn):
        ownerless = [
            row[0]
            for row in conn.execute(
                "SELECT project_id FROM members m WHERE username = ? AND role = 'owner' AND NOT "
                "EXISTS (SELECT 1 FROM members o WHERE o.project_id = m.project_id "
                "AND o.role = 'owner' AND o.username != m.username)",
                (name,),
            )
        ]
        conn.execute("DELETE FROM users WHERE username = ?", (name,))
    log.info("user %s removed", name)
    return ownerless


class UserSummary(TypedDict):
    """An account as ``users list`` shows it (times in UTC seconds)."""

    username: str
    created_at: float
    sessions: int
    tokens: int
    projects: int


def list_users(conn: sqlite3.Connection) -> list[UserSummary]:
    """Every account with its counts of live sessions, tokens and projects."""
    rows = conn.execute(
        "SELECT u.username, u.created_at, "
        "(SELECT count(*) FROM sessions s WHERE s.username = u.username), "
        "(SELECT count(*) FROM tokens t WHERE t.username = u.username AND t.revoked_at IS NULL), "
        "(SELECT count(*) FROM members m WHERE m.username = u.username) "
        "FROM users u ORDER BY u.username"
    )
    return [
        UserSummary(
            username=name, created_at=created, sessions=sessions, tokens=tokens, projects=projects
        )
        for name, created, sessions, tokens, projects in rows
    ]


def _existing(conn: sqlite3.Connection, username: str) -> str:
    name = normalize_username(username)
    if auth_store.password_hash(conn, name) is None:
        msg = f"no user {name!r}"
        raise AccountError(msg)
    return name


# -- login and sessions ----------------------------------------------------------------------


def _wait_s(failures: int, free: int) -> float:
    if failures < free:
        return 0.0
    return min(float(2 ** (failures - free)), settings.login_max_wait_s)


def _throttle_keys(username: str, address: str) -> dict[str, int]:
    return {
        f"user:{username}": settings.login_free_failures,
        f"addr:{address}": settings.login_free_failures * 10,
    }


def login_wait(conn: sqlite3.Connection, username: str, address: str) -> LoginWait | None:
    """How long this account or address must still wait before its next try; None: go ahead."""
    now = time.time()
    waits = [0.0]
    for key, free in _throttle_keys(username, address).items():
        row = conn.execute(
            "SELECT failures, last_at FROM login_failures WHERE key = ? AND last_at > ?",
            (key, now - settings.login_failure_window_s),
        ).fetchone()
        if row:
            waits.append(row[1] + _wait_s(row[0], free) - now)
    wait = max(waits)
    return LoginWait(int(wait) + 1) if wait > 0 else None


def _note_failure(conn: sqlite3.Connection, username: str, address: str) -> None:
    now = time.time()
    with transaction(conn):
        conn.execute(
            "DELETE FROM login_failures WHERE last_at < ?", (now - settings.login_failure_window_s,)
        )
        for key in _throttle_keys(username, address):
            conn.execute(
                "INSERT INTO login_failures (key, failures, last_at) VALUES (?, 1, ?) "
                "ON CONFLICT(key) DO UPDATE SET failures = failures + 1, last_at = excluded.last_at",
                (key, now),
            )


def login(
    conn: sqlite3.Connection, username: str, password: str, *, address: str
) -> str | LoginWait | None:
    """Check a login; return a new session id, a :class:`LoginWait`, or None if refused.

    The same time is spent on an unknown account as on a wrong password, and both count as a
    failure of that name and address.
    """
    try:
        name = normalize_username(username)
    except AccountError:
        name = "(invalid)"
    wait = login_wait(conn, name, address)
    if wait is not None:
        log.warning("login throttled from %s (%d s)", address, wait.retry_after_s)
        return wait
    stored = auth_store.password_hash(conn, name)
    valid = _verify(stored or _DUMMY_HASH, password[:PASSWORD_MAX_LENGTH])
    if stored is None or not valid:
        _note_failure(conn, name, address)
        who = name if stored is not None else "an unknown account"
        log.warning("login failed for %s from %s", who, address)
        return None
    session = new_secret()
    now = time.time()
    with transaction(conn):
        conn.execute("DELETE FROM login_failures WHERE key = ?", (f"user:{name}",))
        conn.execute(
            "DELETE FROM sessions WHERE username = ? AND (last_seen < ? OR created_at < ?)",
            (name, now - settings.session_idle_s, now - settings.session_max_s),
        )
        conn.execute(
            "INSERT INTO sessions (id_hash, username, created_at, last_seen, ip) "
            "VALUES (?, ?, ?, ?, ?)",
            (secret_hash(session), name, now, now, address),
        )
    if _HASHER.check_needs_rehash(stored):
        with transaction(conn):
            conn.execute(
                "UPDATE users SET password_hash = ? WHERE username = ?",
                (hash_password(password), name),
            )
    log.info("login of %s from %s", name, address)
    return session


SEEN_EVERY_S = 60.0
"""A session's last request is written at most this often (not one write per request)."""


def session_user(conn: sqlite3.Connection, session: str) -> str | None:
    """The user of a live session (its idle clock restarted); None if unknown or expired."""
    now = time.time()
    row = conn.execute(
        "SELECT username, created_at, last_seen FROM sessions WHERE id_hash = ?",
        (secret_hash(session),),
    ).fetchone()
    if row is None:
        return None
    username: str
    created_at: float
    last_seen: float
    username, created_at, last_seen = row
    if now - last_seen > settings.session_idle_s or now - created_at > settings.session_max_s:
        with transaction(conn):
            conn.execute("DELETE FROM sessions WHERE id_hash = ?", (secret_hash(session),))
        return None
    if now - last_seen > SEEN_EVERY_S:
        with transaction(conn):
            conn.execute(
                "UPDATE sessions SET last_seen = ? WHERE id_hash = ?", (now, secret_hash(session))
            )
    return username


def end_session(conn: sqlite3.Connection, session: str) -> bool:
    """Log out: forget the session; return whether it existed."""
    with transaction(conn):
        return (
            conn.execute("DELETE FROM sessions WHERE id_hash = ?", (secret_hash(session),)).rowcount
            > 0
        )


# -- API tokens ------------------------------------------------------------------------------


def new_token(conn: sqlite3.Connection, username: str) -> tuple[int, str]:
    """A new API token of ``username``: its id and the token (shown once, stored as a hash)."""
    name = _existing(conn, username)
    token = TOKEN_PREFIX + new_secret()
    with transaction(conn):
        cursor = conn.execute(
            "INSERT INTO tokens (username, token_hash, created_at) VALUES (?, ?, ?)",
            (name, secret_hash(token), time.time()),
        )
    log.info("API token %d of %s created", cursor.lastrowid, name)
    return int(cursor.lastrowid or 0), token


def revoke_token(conn: sqlite3.Connection, username: str, token_id: int) -> None:
    """Revoke one of ``username``'s tokens (effective at the next request)."""
    name = _existing(conn, username)
    with transaction(conn):
        changed = conn.execute(
            "UPDATE tokens SET revoked_at = ? WHERE id = ? AND username = ? AND revoked_at IS NULL",
            (time.time(), token_id, name),
        ).rowcount
    if not changed:
        msg = f"{name} has no live token {token_id}"
        raise AccountError(msg)
    log.info("API token %d of %s revoked", token_id, name)


class TokenSummary(TypedDict):
    """An API token as ``users token --list`` shows it (never the token; UTC seconds)."""

    id: int
    created_at: float
    last_used: float | None
    revoked_at: float | None


def list_tokens(conn: sqlite3.Connection, username: str) -> list[TokenSummary]:
    """``username``'s tokens: id, created, last used, revoked (never the token)."""
    name = _existing(conn, username)
    rows = conn.execute(
        "SELECT id, created_at, last_used, revoked_at FROM tokens WHERE username = ? ORDER BY id",
        (name,),
    )
    return [
        TokenSummary(id=token_id, created_at=created, last_used=used, revoked_at=revoked)
        for token_id, created, used, revoked in rows
    ]


def token_user(conn: sqlite3.Connection, token: str) -> str | None:
    """The user of a live API token; None if unknown or revoked."""
    row = conn.execute(
        "SELECT id, username, last_used FROM tokens WHERE token_hash = ? AND revoked_at IS NULL",
        (secret_hash(token),),
    ).fetchone()
    if row is None:
        return None
    now = time.time()
    if row[2] is None or now - row[2] > SEEN_EVERY_S:
        with transaction(conn):
            conn.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (now, row[0]))
    username: str = row[1]
    return username


# -- read-only links -------------------------------------------------------------------------


def link_target(conn: sqlite3.Connection, token: str) -> tuple[str, str, str | None] | None:
    """A live link's (id, project, scenario); None if unknown, revoked or expired."""
    row = conn.execute(
        "SELECT id, project_id, scenario_id FROM links WHERE token_hash = ? "
        "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
        (secret_hash(token), time.time()),
    ).fetchone()
    return (row[0], row[1], row[2]) if row else None


__all__ = [
    "AccountError",
    "LoginWait",
    "TokenSummary",
    "UserSummary",
    "add_user",
    "check_new_password",
    "end_session",
    "hash_password",
    "iso_time",
    "link_target",
    "list_tokens",
    "list_users",
    "login",
    "login_wait",
    "new_secret",
    "new_token",
    "normalize_username",
    "remove_user",
    "revoke_token",
    "secret_hash",
    "session_user",
    "set_password",
    "token_user",
]
