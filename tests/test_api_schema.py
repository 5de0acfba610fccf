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
def base_url(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = create_app(
        data_dir / settings.default_osm,
        communities=data_dir / settings.default_communities,
        communities_crs="gcj02",
        limits=ApiLimits(max_plan_seconds=1.0),
        data_dir=tmp_path_factory.mktemp("workspace"),
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
WORKSPACE_OPERATIONS = [
    "POST /api/files/preview",
    "POST /api/projects",
    "GET /api/projects",
    "GET /api/projects/{pid}",
    "DELETE /api/projects/{pid}",
    "GET /api/projects/{pid}/scenarios",
    "POST /api/projects/{pid}/scenarios",
    "GET /api/projects/{pid}/scenarios/{sid}",
    "PATCH /api/projects/{pid}/scenarios/{sid}",
    "DELETE /api/projects/{pid}/scenarios/{sid}",
    "POST /api/projects/{pid}/scenarios/{sid}/edits",
    "POST /api/projects/{pid}/scenarios/{sid}/plan",
    "GET /api/projects/{pid}/scenarios/{sid}/files/{name}",
    "GET /api/projects/{pid}/compare",
    "GET /api/jobs/{jid}",
    "DELETE /api/jobs/{jid}",
    "GET /api/config",
]
"""The planners' workspace (random ids get 404, random files 422: never a 5xx)."""
EXAMPLES |= dict.fromkeys(WORKSPACE_OPERATIONS, 10)
ACCOUNT_OPERATIONS = [
    "POST /api/login",
    "POST /api/logout",
    "GET /api/me",
    "GET /api/projects/{pid}/members",
    "POST /api/projects/{pid}/members",
    "DELETE /api/projects/{pid}/members/{username}",
    "GET /api/projects/{pid}/links",
    "POST /api/projects/{pid}/links",
    "DELETE /api/projects/{pid}/links/{link_id}",
    "GET /api/projects/{pid}/changes",
]
"""Accounts (random logins get 401, then 429; random ids 404)."""
EXAMPLES |= dict.fromkeys(ACCOUNT_OPERATIONS, 10)
WORKSPACE_OPERATIONS += ACCOUNT_OPERATIONS


WITHOUT_PARAMETERS = {  # nothing to make invalid: no parameters, or only ids in the path
    "GET /health",
    "GET /api/projects",
    "GET /api/config",
    "POST /api/logout",
    "GET /api/me",
    "GET /api/projects/{pid}/members",
    "GET /api/projects/{pid}/links",
    "DELETE /api/projects/{pid}/members/{username}",
    "DELETE /api/projects/{pid}/links/{link_id}",
    "GET /api/projects/{pid}",
    "DELETE /api/projects/{pid}",
    "GET /api/projects/{pid}/scenarios",
    "GET /api/projects/{pid}/scenarios/{sid}",
    "DELETE /api/projects/{pid}/scenarios/{sid}",
    "GET /api/jobs/{jid}",
    "DELETE /api/jobs/{jid}",
}


@pytest.mark.parametrize(
    ("label", "mode"),
    [(label, GenerationMode.POSITIVE) for label in OPERATIONS + WORKSPACE_OPERATIONS]
    + [
        (label, GenerationMode.NEGATIVE)
        for label in OPERATIONS + WORKSPACE_OPERATIONS
        if label not in WITHOUT_PARAMETERS
    ],
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
    assert sorted(operations) == sorted(OPERATIONS + WORKSPACE_OPERATIONS)
