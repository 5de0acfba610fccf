"""Request bodies bounded before they are parsed: size, nesting depth, values and list lengths.

A JSON body is parsed into Python objects that take 30 to 60 times its bytes, and validated
into one error per bad element: a 4 MB body of two million zeros once made a 304 MB answer
and grew a worker by 3 GB. :class:`BodyGuardMiddleware` reads each body up to
``max_body_bytes`` (413 past it), then measures its shape with a few vectorised passes over the
bytes (:func:`json_shape`, no parsing) and answers before any parser runs:

* 413 if it holds more than ``max_body_values`` values in all, or a list or object longer than
  the longest point list allowed (``max_body_items``);
* 422 if it nests deeper than ``max_body_depth`` or writes a number longer than
  ``MAX_NUMBER_CHARS`` characters (Python's own parsers fail on these with RecursionError and
  ValueError).

Uploads of files (multipart forms, spreadsheets: ``NOT_JSON``) are sized but not measured.

A body larger than ``heavy_body_bytes`` is a heavy request: it holds one of the admission slots
of :class:`~quarterhour.api.http.guards.Admission` from here to its answer (503 with
``Retry-After`` when none is free), so that large bodies are parsed two at a time at most; it is
measured in a thread, and if it holds more than ``VALIDATE_ABOVE_VALUES`` values and its route's
model is known (``models``), validated there too, a few items at a time, so that the errors of a
large bad body (up to one per value) are counted while ``/health`` and isochrones answer.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, get_args, get_origin

import anyio.to_thread
import numpy as np
from pydantic import BaseModel, TypeAdapter, ValidationError

from quarterhour.api.http.errors import MAX_ERRORS, ApiError, error_response, summarised

if TYPE_CHECKING:
    from collections.abc import Mapping

    from starlette.types import ASGIApp, Message, Receive, Scope, Send
    from typing_extensions import TypeForm

    from quarterhour.api.http.guards import Admission
    from quarterhour.api.http.settings import ApiLimits

VALIDATE_ABOVE_VALUES = 50_000
"""Bodies with more values are validated in the thread first: a body with fewer makes fewer
errors than this, which FastAPI's own validation lists in a fraction of a second."""

VALIDATION_CHUNK = 200
"""Items of a long list validated at a time (the event loop runs between two)."""

MAX_NUMBER_CHARS = 100
"""Longest number a body may write (a double's shortest form takes at most 24 characters)."""

_NUMBER = np.zeros(256, dtype=bool)
_NUMBER[list(b"-+0123456789.eE")] = True

_OPEN = np.zeros(256, dtype=bool)
_OPEN[[ord("["), ord("{")]] = True
_CLOSE = np.zeros(256, dtype=bool)
_CLOSE[[ord("]"), ord("}")]] = True


@dataclass(frozen=True)
class JsonShape:
    """What parsing a JSON text would build, measured on its bytes.

    Attributes
    ----------
    depth
        Deepest nesting of lists and objects.
    values
        Values in all (every list item, object member and the top value; an empty list or
        object counts one).
    largest
        Items of the largest list or object.
    longest_number
        Characters of the longest number (0 if none).
    """

    depth: int
    values: int
    largest: int
    longest_number: int


def json_shape(body: bytes, *, limit_values: int = 10**9) -> JsonShape:
    """Measure the nesting, values and list lengths of a JSON text without parsing it.

    Strings are blanked first (a bracket or comma in a name counts for nothing). On text that
    is not JSON the figures are approximate, and the parser that runs afterwards reports it.

    Parameters
    ----------
    body
        The JSON text, UTF-8.
    limit_values
        Over this many values, the largest list and the longest number are not measured
        (both 0).
    """
    # Escaped backslashes, then escaped quotes, go: every quote left opens or closes a string.
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    codes = np.frombuffer(text, dtype=np.uint8)
    in_string = np.bitwise_xor.accumulate((codes == ord('"')).view(np.uint8))
    codes = codes * (in_string ^ 1)  # a string's bytes become 0: no bracket, comma or digit
    del in_string
    opens = np.flatnonzero(_OPEN[codes])
    closes = np.flatnonzero(_CLOSE[codes])
    commas = np.flatnonzero(codes == ord(","))
    values = 1 + len(commas) + len(opens)
    # The depth after each bracket opens: the brackets opened up to it, less those closed.
    open_depth = np.arange(1, len(opens) + 1) - np.searchsorted(closes, opens)
    largest = longest = 0
    if values <= limit_values:
        comma_depth = np.searchsorted(opens, commas) - np.searchsorted(closes, commas)
        largest = _largest_container(opens, open_depth, commas, comma_depth)
        longest = _longest_run(_NUMBER[codes])
    return JsonShape(
        depth=int(open_depth.max(initial=0)),
        values=int(values),
        largest=largest,
        longest_number=longest,
    )


def _longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in ``mask``."""
    edges = np.flatnonzero(mask[1:] != mask[:-1]) + 1
    if mask.size and mask[0]:
        edges = np.concatenate([[0], edges])
    if mask.size and mask[-1]:
        edges = np.concatenate([edges, [mask.size]])
    return int((edges[1::2] - edges[::2]).max(initial=0))


def _largest_container(
    opens: np.ndarray, open_depth: np.ndarray, commas: np.ndarray, comma_depth: np.ndarray
) -> int:
    """Items of the largest list or object: the commas of each container, plus one.

    A comma belongs to the last container opened before it at its own depth: sorting opens and
    commas by (depth, position) puts each comma right after its container's run.
    """
    if len(commas) == 0:
        return int(len(opens) > 0)
    positions = np.concatenate([opens, commas])
    levels = np.concatenate([open_depth, comma_depth])
    order = np.lexsort((positions, levels))
    is_open = np.zeros(len(positions), dtype=bool)
    is_open[: len(opens)] = True
    container = np.cumsum(is_open[order]) - 1  # the last container opened before, in order
    owners = container[~is_open[order]]
    owners = owners[owners >= 0]  # a comma outside every container (not JSON)
    if len(owners) == 0:
        return 1
    return int(np.bincount(owners).max()) + 1


def shape_error(shape: JsonShape, limits: ApiLimits) -> ApiError | None:
    """The error of a body whose shape is over ``limits``, or None."""
    if shape.depth > limits.max_body_depth:
        msg = (
            f"the body nests lists and objects {shape.depth:,} deep, over the limit of "
            f"{limits.max_body_depth}"
        )
        return ApiError(422, loc=("body",), msg=msg, kind="too_deep")
    if shape.longest_number > MAX_NUMBER_CHARS:
        msg = (
            f"the body writes a number of {shape.longest_number:,} characters, over the limit "
            f"of {MAX_NUMBER_CHARS}"
        )
        return ApiError(422, loc=("body",), msg=msg, kind="value_error")
    if shape.values > limits.max_body_values:
        msg = (
            f"the body holds {shape.values:,} values, over the limit of {limits.max_body_values:,}"
        )
        return ApiError(413, loc=("body",), msg=msg, kind="too_large")
    if shape.largest > limits.max_body_items:
        msg = (
            f"the body holds a list or object of {shape.largest:,} items, over the limit of "
            f"{limits.max_body_items:,}"
        )
        return ApiError(413, loc=("body",), msg=msg, kind="too_large")
    return None


def validation_error(model: type[BaseModel], body: bytes) -> ApiError | None:
    """The 422 of a body ``model`` does not validate (a few errors listed, all counted), or None.

    The body is read as FastAPI reads it (the standard JSON parser: NaN is a value, and its
    validation error names the field). Long lists are validated ``VALIDATION_CHUNK`` items at a
    time, keeping only the first errors: pydantic holds the interpreter while it validates, and
    200,000 bad fields at once held it (and ``/health``) for seconds and 300 MB.
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None  # FastAPI answers it, as for a small body
    errors = _ErrorTally()
    long_lists = {}
    if isinstance(document, dict):
        long_lists = {
            name: value
            for name, value in document.items()
            if isinstance(value, list)
            and len(value) > VALIDATION_CHUNK
            and _item_type(model, name) is not None
        }
        document = {**document, **{name: [] for name in long_lists}}
    errors.validate(_adapter(model), document, ("body",))
    for name, items in long_lists.items():
        adapter = _adapter(list[_item_type(model, name)])  # type: ignore[misc]
        for start in range(0, len(items), VALIDATION_CHUNK):
            chunk = items[start : start + VALIDATION_CHUNK]
            errors.validate(adapter, chunk, ("body", name), offset=start)
    return errors.error()


@cache
def _adapter(kind: TypeForm[Any]) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def _item_type(model: type[BaseModel], name: str) -> type | None:
    """The item type of field ``name`` of ``model`` if it is a list of models (or None)."""
    field = model.model_fields.get(name)
    if field is None:
        return None
    for option in (field.annotation, *get_args(field.annotation)):
        if get_origin(option) is list:
            (item,) = get_args(option)
            return item if isinstance(item, type) and issubclass(item, BaseModel) else None
    return None


class _ErrorTally:
    """The first ``MAX_ERRORS`` validation errors of a body, and how many there are."""

    def __init__(self) -> None:
        self.first: list[dict[str, object]] = []
        self.count = 0

    def validate(
        self, adapter: TypeAdapter, value: object, loc: tuple[str, ...], *, offset: int = 0
    ) -> None:
        try:
            adapter.validate_python(value)
        except ValidationError as invalid:
            self.count += invalid.error_count()
            room = MAX_ERRORS + 1 - len(self.first)
            for item in invalid.errors(
                include_url=False, include_context=False, include_input=False
            )[:room]:
                where = list(item["loc"])
                if offset and where and isinstance(where[0], int):
                    where[0] += offset
                self.first.append({**item, "loc": [*loc, *where]})

    def error(self) -> ApiError | None:
        if not self.count:
            return None
        listed = summarised(self.first, MAX_ERRORS, total=self.count)
        return ApiError(422, loc=(), msg="", kind="", details=listed)


NOT_JSON: tuple[str, ...] = (
    "multipart/",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "application/zip",
    "application/vnd.",
    "text/csv",
)
"""Content types of uploads that no route reads as JSON (files): sized, not measured."""


def _may_be_json(scope: Scope) -> bool:
    """Whether a route may read the body as JSON (FastAPI does without a content type)."""
    headers = dict(scope.get("headers") or ())
    content_type = headers.get(b"content-type", b"").decode("latin-1").strip().lower()
    return not content_type.startswith(NOT_JSON)


class BodyGuardMiddleware:
    """Bound request bodies before any parser sees them (see the module docstring).

    Parameters
    ----------
    app
        The ASGI application.
    limits
        ``max_body_bytes``, ``max_body_depth``, ``max_body_values``, ``max_body_items`` (the
        longest point list) and ``heavy_body_bytes`` are read.
    admission
        The admission of heavy requests, shared with the heavy routes.
    models
        The request model of each path that takes large bodies (``{"/plan": PlanRequest}``).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: ApiLimits,
        admission: Admission,
        models: Mapping[str, type[BaseModel]],
    ) -> None:
        self.app = app
        self.limits = limits
        self.admission = admission
        self.models = models

    async def _refuse(self, error: ApiError, scope: Scope, receive: Receive, send: Send) -> None:
        detail = error.details or [{"loc": error.loc, "msg": error.msg, "type": error.kind}]
        await error_response(error.status, detail, headers=error.headers)(scope, receive, send)

    def _check(self, body: bytes, model: type[BaseModel] | None) -> ApiError | None:
        shape = json_shape(body, limit_values=self.limits.max_body_values)
        error = shape_error(shape, self.limits)
        if error is None and model is not None and shape.values > VALIDATE_ABOVE_VALUES:
            error = validation_error(model, body)
        return error

    async def _read(self, scope: Scope, receive: Receive) -> bytes | ApiError | None:
        """The whole body; an error if it is over ``max_body_bytes``; None if the client left."""
        limit = self.limits.max_body_bytes
        too_large = ApiError(
            413,
            loc=("body",),
            msg=f"the request body is over the limit of {limit:,} bytes",
            kind="too_large",
        )
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client left (or the server closed its unfinished request)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer the body up to the limit, measure it, then replay it to the application."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        body = await self._read(scope, receive)
        if body is None:
            return
        if isinstance(body, ApiError):
            await self._refuse(body, scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        json_body = _may_be_json(scope)
        with ExitStack() as stack:
            if len(body) <= self.limits.heavy_body_bytes:
                error = None
                if json_body:
                    shape = json_shape(body, limit_values=self.limits.max_body_values)
                    error = shape_error(shape, self.limits)
            else:
                try:
                    stack.enter_context(self.admission.heavy(loc=("body",)))
                except ApiError as busy:
                    error = busy
                else:  # measured and validated in a thread: the event loop answers meanwhile
                    model = self.models.get(scope["path"])
                    error = (
                        await anyio.to_thread.run_sync(self._check, body, model)
                        if json_body
                        else None
                    )
            if error is not None:
                await self._refuse(error, scope, receive, send)
                return
            await self.app(scope, replay, send)
