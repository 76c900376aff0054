"""Tenants, tokens and the problem format, through HTTP against a real API process."""

from __future__ import annotations

import stat

import httpx
import pytest
from sqlalchemy import select

from aifabric.fabric_api.security import hash_token
from aifabric.fabric_api.tenants import TokenRow
from aifabric.persistence import make_engine, session_factory

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


def assert_problem(resp: httpx.Response, status: int, detail_part: str = "") -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("urn:aifabric:problem:")
    assert body["instance"] == resp.request.url.path
    assert detail_part.lower() in body["detail"].lower()
    return body


def test_embedded_token_file_is_private_and_works(api):
    path = api.settings.data_dir / "token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with api.client(api.admin_token) as c:
        body = c.get(api.url + "/api/v1").json()
    assert body["tenant"] == "default"
    assert body["links"]["mlflow_ui"] == api.settings.mlflow.tracking_uri
    assert "kubeflow_dashboard" not in body["links"]


def test_missing_unknown_and_malformed_tokens_are_401(api):
    with api.client() as c:
        body = assert_problem(c.get("/datasets"), 401, "bearer token")
        assert "WWW-Authenticate" in c.get("/datasets").headers
    with api.client("afb_not-a-real-token") as c:
        assert_problem(c.get("/deployments"), 401, "unknown or revoked")
    resp = httpx.get(f"{api.url}/api/v1/datasets", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert_problem(resp, 401)
    assert body["detail"]


def test_revoked_token_is_refused(api):
    token = api.tenant_token("revocable")
    with api.client(token) as c:
        assert c.get("/datasets").status_code == 200
    with api.client(api.admin_token) as admin:
        tokens = admin.get("/admin/tokens").json()
        mine = [t for t in tokens if t["tenant"] == "revocable"]
        assert mine and all("token" not in t and "digest" not in t for t in tokens)
        resp = admin.post(f"/admin/tokens/{mine[0]['id']}/revoke")
        assert resp.status_code == 200 and resp.json()["revoked_at"]
    with api.client(token) as c:
        assert_problem(c.get("/datasets"), 401, "revoked")


def test_admin_routes_need_an_admin_token(api):
    token = api.tenant_token("plain")
    with api.client(token) as c:
        assert_problem(c.get("/admin/tenants"), 403, "admin")
        assert_problem(c.post("/admin/tokens", json={"tenant": "plain"}), 403)
    with api.client(api.admin_token) as admin:
        assert_problem(admin.post("/admin/tenants", json={"name": "plain"}), 409, "exists")
        assert_problem(admin.post("/admin/tenants", json={"name": "Not A Name"}), 422, "body.name")
        assert_problem(admin.post("/admin/tokens", json={"tenant": "nobody-here"}), 404, "nobody-here")
        names = [t["name"] for t in admin.get("/admin/tenants").json()]
        assert {"default", "plain"} <= set(names)


def test_only_digests_are_stored(api):
    token = api.tenant_token("digest-check")
    engine = make_engine(api.settings.resolved().sql.url.get_secret_value())
    try:
        with session_factory(engine)() as session:
            rows = session.scalars(select(TokenRow).where(TokenRow.tenant == "digest-check")).all()
    finally:
        engine.dispose()
    assert [r.digest for r in rows] == [hash_token(token)]
    assert all(token not in (r.digest, r.description) for r in rows)


def test_validation_unknown_route_and_method_are_problems(api):
    with api.client(api.admin_token) as c:
        body = assert_problem(c.post("/deployments", json={"name": "Bad Name"}), 422)
        assert body["errors"] and all({"loc", "msg", "type"} <= set(e) for e in body["errors"])
        assert_problem(c.get("/no-such-thing"), 404, "no such resource")
        assert_problem(c.get("/training?limit=0"), 422, "limit")
        assert_problem(c.put("/datasets"), 405)
        assert_problem(
            c.post("/training", content=b"{not json", headers={"content-type": "application/json"}), 422
        )


def test_health_and_metrics_need_no_token(api):
    health = httpx.get(f"{api.url}/health", timeout=30)
    assert health.status_code == 200, health.text
    assert {p["name"] for p in health.json()["parts"]} == {"broker", "s3", "sql", "mlflow"}
    assert httpx.get(f"{api.url}/api/v1/health", timeout=30).status_code == 200
    with api.client(api.admin_token) as c:
        c.get("/datasets")
    metrics = httpx.get(f"{api.url}/metrics", timeout=30)
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'aifabric_api_requests_total{method="GET",route="/api/v1/datasets",status="200"}' in text
    assert "aifabric_api_request_seconds_bucket" in text


def test_no_secret_in_the_log(api):
    token = api.tenant_token("log-check")
    with api.client(token) as c:
        c.get("/datasets")
        c.get("/deployments/" + "0" * 32)
    with api.client(token + "x") as c:
        c.get("/datasets")
    log = api.log_file.read_text(errors="replace")
    secrets = [
        token,
        api.admin_token,
        api.settings.s3.secret_key.get_secret_value(),
        hash_token(token),
    ]
    for secret in secrets:
        assert secret not in log
