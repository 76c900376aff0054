"""Schemathesis against the live OpenAPI document: generated requests never get a 5xx.

Each operation gets a bounded number of examples (valid and invalid inputs the schema allows),
sent with an admin token so the handlers run, not just the auth check.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 5
SLOW = {"POST /api/v1/models/definitions": 2}  # each example imports the upload in a fresh interpreter


def test_openapi_document_is_complete(api):
    import httpx

    doc = httpx.get(f"{api.url}/openapi.json", timeout=30).json()
    assert {"Problem", "ValidationIssue"} <= set(doc["components"]["schemas"])
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if not path.startswith("/api/v1") or path == "/api/v1/health":
                continue
            assert "401" in op["responses"], f"{method} {path} does not document 401"
            problem = op["responses"]["401"]["content"]["application/problem+json"]["schema"]
            assert problem == {"$ref": "#/components/schemas/Problem"}


def _fuzz(operation, base_url: str, headers: dict[str, str], failures: list[str]) -> int:
    """Send this operation's examples; record any 5xx other than 503 (a part down). Returns the count."""
    label = f"{operation.method.upper()} {operation.path}"
    sent = 0

    @settings(
        max_examples=SLOW.get(label, MAX_EXAMPLES),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case) -> None:
        nonlocal sent
        response = case.call(base_url=base_url, headers=headers, timeout=60)
        sent += 1
        if response.status_code >= 500 and response.status_code != 503:
            failures.append(f"{label} -> {response.status_code}: {response.text[:300]}")

    run()
    return sent


def test_no_server_errors(api):
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    headers = {"Authorization": f"Bearer {api.admin_token}"}
    failures: list[str] = []
    count = sum(_fuzz(r.ok(), api.url, headers, failures) for r in schema.get_all_operations())
    assert count > 100
    assert not failures, "\n".join(failures[:20])
