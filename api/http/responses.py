"""JSON answers serialised by orjson (numpy arrays and scalars included, NaN as null)."""

from __future__ import annotations

import numpy as np
import orjson
from fastapi.responses import Response

from quarterhour.siting.result import json_scalar

JSON_MEDIA_TYPE = "application/json"


def _plain(value: object) -> object:
    return json_scalar(value) if isinstance(value, np.generic) else str(value)


def dumps(content: object) -> bytes:
    """Serialise ``content`` to JSON bytes with orjson (NaN and infinity become null)."""
    return orjson.dumps(content, default=_plain, option=orjson.OPT_SERIALIZE_NUMPY)


def json_response(
    content: object, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Return ``content`` as a JSON response, serialised by orjson."""
    return Response(dumps(content), status_code=status, media_type=JSON_MEDIA_TYPE, headers=headers)


def raw_json_response(body: bytes, *, headers: dict[str, str] | None = None) -> Response:
    """Return JSON bytes serialised earlier (cached answers)."""
    return Response(body, media_type=JSON_MEDIA_TYPE, headers=headers)
