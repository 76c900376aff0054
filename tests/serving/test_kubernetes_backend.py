"""The Kubernetes backend sends schema-valid objects through the real kubernetes client (no cluster:
the ApiClient's transport is replaced by a recorder that answers like an API server)."""

from __future__ import annotations

import json

import pytest
from kubernetes.client import ApiClient

from aifabric.config import Settings
from aifabric.k8s.validate import validate_objects
from aifabric.serving.backends.kubernetes import KubernetesBackend
from aifabric.serving.models import DeploymentSpec


class _Resp:
    def __init__(self, status: int, body: dict) -> None:
        self.status, self.reason, self.data = (
            status,
            "OK" if status < 400 else "Conflict",
            json.dumps(body).encode(),
        )

    def getheaders(self):
        return {"content-type": "application/json"}

    def getheader(self, name, default=None):
        return self.getheaders().get(name.lower(), default)


class RecordingApiClient(ApiClient):
    """Records every request; answers with a ready InferenceService and an available Deployment."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, dict | None]] = []

    def request(self, method, url, query_params=None, headers=None, post_params=None, body=None, **kw):
        self.sent.append((method, url, body))
        if method == "GET" and "inferenceservices" in url:
            return _Resp(
                200, {"status": {"url": "http://x", "conditions": [{"type": "Ready", "status": "True"}]}}
            )
        if method == "GET" and "deployments" in url:
            return _Resp(
                200,
                {"spec": {"replicas": 1, "selector": {}, "template": {}}, "status": {"availableReplicas": 1}},
            )
        return _Resp(201 if method == "POST" else 200, body or {})


SPEC = DeploymentSpec(
    deployment_id="d1",
    name="traffic",
    tenant="acme",
    model_uri="models:/traffic/3",
    model_name="traffic",
    model_version="3",
    topics=["cells.in"],
    results_topic="traffic.results",
    group_id="aifabric.acme.traffic",
)


def test_deploy_applies_valid_objects_and_reports_ready(specs_dir):
    api = RecordingApiClient()
    backend = KubernetesBackend(
        Settings(kafka={"bootstrap_servers": "kafka:9092"}), api_client=api, poll=0.01
    )
    outcome = backend.deploy(SPEC)
    posted = [body for method, _url, body in api.sent if method == "POST"]
    assert [o["kind"] for o in posted] == ["KafkaTopic", "InferenceService", "Deployment", "ScaledObject"]
    violations = validate_objects(posted, root=specs_dir)
    assert not violations, [str(v) for v in violations]
    isvc = posted[1]
    assert isvc["spec"]["predictor"]["minReplicas"] == 0
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    env = {e["name"]: e.get("value") for e in posted[2]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AIFABRIC_CONSUMER_TOPICS"] == "cells.in" and env["AIFABRIC_CONSUMER_GROUP"] == SPEC.group_id
    assert posted[3]["spec"]["triggers"][0]["metadata"]["consumerGroup"] == SPEC.group_id
    assert [c.state for c in outcome.components] == ["ready", "ready"]
    assert outcome.timing is not None and outcome.timing.combined_ms >= outcome.timing.model_ms


def test_undeploy_deletes_all_but_the_results_topic():
    api = RecordingApiClient()
    KubernetesBackend(Settings(kafka={"bootstrap_servers": "kafka:9092"}), api_client=api).undeploy(SPEC)
    deleted = [url for method, url, _ in api.sent if method == "DELETE"]
    assert len(deleted) == 3 and not any("kafkatopics" in u for u in deleted)


def test_bad_name_is_refused_before_anything_is_sent():
    api = RecordingApiClient()
    backend = KubernetesBackend(Settings(kafka={"bootstrap_servers": "kafka:9092"}), api_client=api)
    with pytest.raises(ValueError, match="DNS label"):
        backend.deploy(SPEC.model_copy(update={"name": "Bad_Name"}))
    assert api.sent == []
