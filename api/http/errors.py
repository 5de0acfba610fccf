"""Error answers in one JSON shape, and the request body size limit.

Every error the service answers has FastAPI's validation shape::

    {"detail": [{"loc": ["query", "lon"], "msg": "...", "type": "..."}]}

Our own ``InputError`` becomes 422 (``value_error``), ``NetworkError`` 404 (``off_network``),
an oversized body or point list 413 (``too_large``); Starlette's own HTTP errors (unknown path,
wrong method) keep their status and get the same shape. Nothing a client sends may cause a 500.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from quarterhour.api.http.responses import dumps, json_response
from quarterhour.geo.errors import (
    InputError,
    NetworkError,
    QuarterhourError,
    TimeLimitError,
    TooLargeError,
)

Location = Sequence[str | int]

MAX_ERRORS = 20
"""Errors an answer lists; the rest are counted in one last item (an answer stays a few KB)."""


class ApiError(Exception):
    """An error answer: HTTP status, where in the request, message and type.

    Parameters
    ----------
    status
        HTTP status code.
    loc
        Where in the request: ``("query", "lon")``, ``("body", "communities")`` ...
    msg
        A complete message a planner can act on.
    kind
        Machine-readable type (``value_error``, ``off_network``, ``too_large``, ``no_data``,
        ``busy``, ``time_limit``).
    headers
        Headers of the answer (``Retry-After``).
    details
        Several errors answered together (instead of ``loc``, ``msg`` and ``kind``).
    """

    def __init__(
        self,
        status: int,
        *,
        loc: Location,
        msg: str,
        kind: str,
        headers: dict[str, str] | None = None,
        details: list[dict[str, object]] | None = None,
    ) -> None:
        super().__init__(msg)
        self.status = status
        self.loc = list(loc)
        self.msg = msg
        self.kind = kind
        self.headers = headers
        self.details = details


def error_response(
    status: int, errors: list[dict[str, object]], *, headers: dict[str, str] | None = None
) -> Response:
    """Return ``{"detail": errors}`` as JSON with ``status``."""
    return json_response({"detail": errors}, status=status, headers=headers)


def _detail(loc: Location, msg: str, kind: str) -> dict[str, object]:
    return {"loc": list(loc), "msg": msg, "type": kind}


def error_body(loc: Location, msg: str, kind: str) -> bytes:
    """The JSON body of one error, ``{"detail": [{"loc": ..., "msg": ..., "type": ...}]}``.

    For the answers the server writes itself, before any request reaches the application
    (headers too large, a request too slow).
    """
    return dumps({"detail": [_detail(loc, msg, kind)]})


def too_large(loc: Location, msg: str) -> ApiError:
    """Return the 413 error of a body or point list over the limits."""
    return ApiError(413, loc=loc, msg=msg, kind="too_large")


@contextmanager
def field_errors(*loc: str | int) -> Iterator[None]:
    """Turn our ``QuarterhourError`` raised inside the block into an ``ApiError`` at ``loc``.

    ``InputError`` becomes 422 and ``NetworkError`` 404, with the error's own message; an error
    that names a library parameter is located at that field (``["body", "minutes"]``).
    """
    try:
        yield
    except InputError as error:
        where = (*loc[:1], error.param) if error.param and len(loc) == 1 else loc
        raise ApiError(422, loc=where, msg=str(error), kind="value_error") from error
    except NetworkError as error:
        raise ApiError(404, loc=loc, msg=str(error), kind="off_network") from error
    except TooLargeError as error:
        raise too_large(loc, str(error)) from error
    except TimeLimitError as error:
        headers = {"Retry-After": "10"}
        raise ApiError(503, loc=loc, msg=str(error), kind="time_limit", headers=headers) from error


def summarised(
    errors: Sequence[dict[str, Any]], max_errors: int = MAX_ERRORS, *, total: int | None = None
) -> list[dict[str, object]]:
    """The first ``max_errors`` errors, JSON-safe, and one item counting the rest.

    Pydantic puts the offending input (maybe NaN, bytes) and a ctx with exceptions in each
    error; only the location, message and type are kept. An answer lists a few errors, never
    one per element of a long list (its size stays within a few KB). ``total``: how many
    errors there are, if more than ``errors`` holds.
    """
    total = len(errors) if total is None else total
    listed = [
        _detail(error.get("loc", ()), str(error.get("msg", ""))[:500], str(error.get("type", "")))
        for error in errors[:max_errors]
    ]
    if total > max_errors:
        more = total - max_errors
        msg = f"and {more:,} more errors ({total:,} in all); the first {max_errors} are listed"
        listed.append(_detail((), msg, "more_errors"))
    return listed


def install_error_handlers(app: FastAPI) -> None:
    """Answer every known error in the one JSON shape (a few errors listed, the rest counted)."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> Response:
        detail = error.details or [_detail(error.loc, error.msg, error.kind)]
        return error_response(error.status, detail, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> Response:
        return error_response(422, summarised(error.errors()))

    @app.exception_handler(InputError)
    async def _input_error(_request: Request, error: InputError) -> Response:
        return error_response(422, [_detail(("request",), str(error), "value_error")])

    @app.exception_handler(NetworkError)
    async def _network_error(_request: Request, error: NetworkError) -> Response:
        return error_response(404, [_detail(("request",), str(error), "off_network")])

    @app.exception_handler(QuarterhourError)
    async def _other_error(_request: Request, error: QuarterhourError) -> Response:
        return error_response(422, [_detail(("request",), str(error), "value_error")])

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> Response:
        headers = dict(error.headers) if error.headers else None
        return error_response(
            error.status_code, [_detail((), str(error.detail), "http_error")], headers=headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _error: Exception) -> Response:
        # Logged with its traceback by the server; the client gets the one JSON shape.
        msg = "the server failed to answer this request; it is logged"
        return error_response(500, [_detail((), msg, "internal_error")])
