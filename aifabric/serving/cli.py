"""``aifabric deployments ...``: talks to the fabric API (which owns the supervised processes).

Paths: POST/GET /api/v1/deployments, GET/DELETE /api/v1/deployments/{id},
POST /api/v1/deployments/{id}/redeploy, GET /api/v1/deployments/{id}/timings and /results.
The token is ``AIFABRIC_TOKEN`` or the embedded stack's ``<data_dir>/token``.
"""

from __future__ import annotations

import sys
import time

import httpx
import orjson
import typer

from aifabric.config import get_settings
from aifabric.errors import AifabricError
from aifabric.fabric_api.security import client_token

app = typer.Typer(help="Deploy models as predictor + Kafka-fed Data Consumer.", no_args_is_help=True)


def _call(method: str, path: str, **kw) -> None:
    settings = get_settings()
    headers = {"Authorization": f"Bearer {tok}"} if (tok := client_token(settings)) else {}
    try:
        resp = httpx.request(method, f"{settings.api_url}/api/v1{path}", headers=headers, timeout=300, **kw)
    except httpx.HTTPError as exc:
        raise AifabricError(
            f"the fabric API at {settings.api_url} does not answer ({exc}); run 'aifabric up'"
        ) from None
    if resp.status_code >= 400:
        raise AifabricError(f"{resp.status_code}: {resp.text[:500]}")
    if resp.status_code == 202 and (location := resp.headers.get("location")):
        resp = _follow(f"{settings.api_url}{location}", headers)
    if resp.content:
        sys.stdout.write(orjson.dumps(resp.json(), option=orjson.OPT_INDENT_2).decode() + "\n")


def _follow(url: str, headers: dict[str, str], timeout: float = 300.0) -> httpx.Response:
    """Poll a deployment accepted with 202 until its operation has ended (ready or failed)."""
    deadline = time.monotonic() + timeout
    while True:
        resp = httpx.get(url, headers=headers, timeout=30)
        body = resp.json() if resp.status_code == 200 else {}
        op = body.get("operation") or {}
        if resp.status_code != 200 or (op.get("state") != "running" and body.get("state") != "pending"):
            return resp
        if time.monotonic() > deadline:
            raise AifabricError(f"{url} still pending after {timeout:.0f}s")
        time.sleep(0.5)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="deployment name (DNS label)"),
    topics: list[str] = typer.Option(..., "--topic", "-t", help="input topic (repeatable)"),
    model: str = typer.Option(None, help="registered model name"),
    version: str = typer.Option(None, help="model version"),
    alias: str = typer.Option(None, help="model alias, e.g. champion"),
    model_uri: str = typer.Option(None, help="instead of --model: s3:// bundle or bundle directory"),
    metric: list[str] = typer.Option([], "--metric", help="metric id to score (repeatable; default all)"),
) -> None:
    """Deploy a model version on topics and wait until both components are ready."""
    body = {
        "name": name,
        "topics": topics,
        "model": model,
        "version": version,
        "alias": alias,
        "model_uri": model_uri,
        "metric_ids": metric,
    }
    _call("POST", "/deployments", json={k: v for k, v in body.items() if v not in (None, [])})


@app.command("list")
def list_() -> None:
    """List this tenant's deployments."""
    _call("GET", "/deployments")


@app.command("status")
def status(deployment_id: str) -> None:
    """State of each component (pending / ready / failed + reason)."""
    _call("GET", f"/deployments/{deployment_id}")


@app.command("timings")
def timings(deployment_id: str) -> None:
    """Request -> ready times (model, consumer, combined) of every deploy and redeploy."""
    _call("GET", f"/deployments/{deployment_id}/timings")


@app.command("results")
def results(deployment_id: str, limit: int = typer.Option(20, min=1, max=10000)) -> None:
    """The newest scores on the deployment's results topic."""
    _call("GET", f"/deployments/{deployment_id}/results", params={"limit": limit})


@app.command("redeploy")
def redeploy(
    deployment_id: str,
    model: str = typer.Option(None),
    version: str = typer.Option(None),
    alias: str = typer.Option(None),
    model_uri: str = typer.Option(None),
) -> None:
    """Switch to another model version; the consumer group's offsets carry over."""
    body = {"model": model, "version": version, "alias": alias, "model_uri": model_uri}
    _call("POST", f"/deployments/{deployment_id}/redeploy", json={k: v for k, v in body.items() if v})


@app.command("delete")
def delete(deployment_id: str) -> None:
    """Undeploy: stop both components (the results topic stays)."""
    _call("DELETE", f"/deployments/{deployment_id}")
