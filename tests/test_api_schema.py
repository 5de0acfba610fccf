"""Property-based tests of every endpoint against the OpenAPI document (schemathesis): no 5xx.

Valid and invalid requests generated from the served ``/openapi.json`` go over real HTTP to
uvicorn; every answer must be a non-5xx response that conforms to the documented schemas and
status codes. The number of examples is small to keep the run under a minute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from quarterhour import settings
from quarterhour.api.http.app import create_app
from quarterhour.api.http.serving import serve_in_thread
from quarterhour.api.http.settings import ApiLimits

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from schemathesis import GenerationMode, checks  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@schemathesis.check
def no_crash(_ctx: object, response: object, case: object) -> None:
    """No 5xx, but the documented 503 of a busy service or of a spent time limit (JSON)."""
    if response.status_code < 500:
        return
    if response.status_code == 503:
        kind = response.json()["detail"][0]["type"]
        assert kind in ("busy", "time_limit"), response.text
        return
    msg = f"{case.operation.label}: {response.status_code} {response.text[:300]}"
    raise AssertionError(msg)


CHECKS = [
    no_crash,
    checks.response_schema_conformance,
    checks.status_code_conformance,
    checks.content_type_conformance,
]
EXAMPLES = {"POST /plan": 12, "POST /walktimes": 20}
DEFAULT_EXAMPLES = 40


@pytest.fixture(scope="module")
def base_url(data_dir: Path) -> Iterator[str]:
    app = create_app(
        data_dir / settings.default_osm,
        communities=data_dir / settings.default_communities,
        communities_crs="gcj02",
        limits=ApiLimits(max_plan_seconds=1.0),
    )
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def operations(base_url: str) -> dict[str, object]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    return {result.ok().label: result.ok() for result in schema.get_all_operations()}


OPERATIONS = [
    "GET /isochrone",
    "POST /isochrone",
    "POST /walktimes",
    "GET /route",
    "POST /route",
    "GET /nearest",
    "GET /health",
    "GET /network",
    "GET /communities",
    "GET /stations",
    "GET /coverage",
    "POST /plan",
]


WITHOUT_PARAMETERS = {"GET /health"}  # nothing to make invalid


@pytest.mark.parametrize(
    ("label", "mode"),
    [(label, GenerationMode.POSITIVE) for label in OPERATIONS]
    + [(label, GenerationMode.NEGATIVE) for label in OPERATIONS if label not in WITHOUT_PARAMETERS],
    ids=lambda value: value.value if isinstance(value, GenerationMode) else value,
)
def test_no_server_error(operations: dict[str, object], label: str, mode: GenerationMode) -> None:
    operation = operations[label]
    n_examples = EXAMPLES.get(label, DEFAULT_EXAMPLES)

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=n_examples if mode is GenerationMode.POSITIVE else max(n_examples // 2, 5),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:
        case.call_and_validate(checks=CHECKS, timeout=60)

    check()


def test_every_operation_is_tested(operations: dict[str, object]) -> None:
    assert sorted(operations) == sorted(OPERATIONS)
