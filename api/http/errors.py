"""Error answers in one JSON shape, and the request body size limit.

Every error the service answers has FastAPI's validation shape::

    {"detail": [{"loc": ["query", "lon"], "msg": "...", "type": "..."}]}

Our own ``InputError`` becomes 422 (``value_error``), ``NetworkError`` 404 (``off_network``),
an oversized body or point list 413 (``too_large``); Starlette's own HTTP errors (unknown path,
wrong method) keep their status and get the same shape. Nothing a client sends may cause a 500.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quarterhour.api.http.responses import dumps, json_response
from quarterhour.geo.errors import (
    InputError,
    NetworkError,
    QuarterhourError,
    TimeLimitError,
    TooLargeError,
)

Location = Sequence[str | int]


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
    """

    def __init__(
        self,
        status: int,
        *,
        loc: Location,
        msg: str,
        kind: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(msg)
        self.status = status
        self.loc = list(loc)
        self.msg = msg
        self.kind = kind
        self.headers = headers


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


def _json_safe(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, object]]:
    # Pydantic puts the offending input (maybe NaN, bytes) and a ctx with exceptions in each
    # error; keep only what is JSON-safe and useful.
    return [
        _detail(error.get("loc", ()), str(error.get("msg", "")), str(error.get("type", "")))
        for error in errors
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Answer every known error in the one JSON shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> Response:
        detail = [_detail(error.loc, error.msg, error.kind)]
        return error_response(error.status, detail, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> Response:
        return error_response(422, _json_safe(error.errors()))

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


class BodyLimitMiddleware:
    """Answer 413 to request bodies over ``max_bytes``, by Content-Length or as they stream in.

    Parameters
    ----------
    app
        The ASGI application.
    max_bytes
        Largest accepted body.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _reject(self) -> Response:
        msg = f"the request body is over the limit of {self.max_bytes:,} bytes"
        return error_response(413, [_detail(("body",), msg, "too_large")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then buffer the body up to the limit and replay it."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject()(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left (or the server closed its unfinished request)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject()(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
