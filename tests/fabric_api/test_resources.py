"""Every endpoint's happy path and main failures, and cross-tenant isolation, through HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from aifabric.datasets.milan_generator import GeneratorConfig, generate
from tests.conftest import register_bundle, wait_for
from tests.fabric_api.test_auth import assert_problem

pytestmark = pytest.mark.integration

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture(scope="module")
def milan_files(tmp_path_factory) -> list[tuple[str, bytes]]:
    report = generate(
        tmp_path_factory.mktemp("milan"), GeneratorConfig(squares=2, days=2, anomaly_rate=1.0, seed=3)
    )
    return [(f.name, f.read_bytes()) for f in report.files] + [
        ("labels.csv", report.labels_file.read_bytes())
    ]


@pytest.fixture(scope="module")
def tokens(api) -> dict[str, str]:
    return {"a": api.admin_token, "b": api.tenant_token("tenant-b")}


@pytest.fixture(scope="module")
def dataset(api, tokens, milan_files) -> dict:
    files = [("files", (n, data)) for n, data in milan_files if n != "labels.csv"]
    labels = next(data for n, data in milan_files if n == "labels.csv")
    with api.client(tokens["a"]) as c:
        resp = c.post("/datasets", data={"name": "milan"}, files=[*files, ("labels", ("labels.csv", labels))])
    assert resp.status_code == 201, resp.text
    assert resp.headers["location"] == "/api/v1/datasets/milan/versions/1"
    return resp.json()


def test_datasets(api, tokens, dataset, milan_files):
    assert dataset["ref"] == "milan@1" and dataset["series_count"] == 2 and dataset["labelled_rows"] > 0
    with api.client(tokens["a"]) as c:
        again = c.post("/datasets", data={"name": "milan"}, files=[("files", milan_files[0])])
        assert again.status_code == 201 and again.json()["version"] == 2  # one day only: new content
        same = c.post("/datasets", data={"name": "milan"}, files=[("files", milan_files[0])])
        assert same.status_code == 200 and same.json()["created"] is False
        assert [d["name"] for d in c.get("/datasets").json()["data"]] == ["milan"]
        assert [v["version"] for v in c.get("/datasets/milan/versions").json()] == [1, 2]
        assert c.get("/datasets/milan").json()["latest_version"] == 2
        assert c.get("/datasets/milan/versions/latest").json()["version"] == 2
        preview = c.get("/datasets/milan/versions/1/preview", params={"limit": 5}).json()
        assert len(preview["rows"]) == 5 and set(preview["columns"]) >= {"series", "timestamp"}
        assert_problem(c.get("/datasets/nope"), 404, "nope")
        assert_problem(c.get("/datasets/milan/versions/9"), 404)
        bad = c.post("/datasets", data={"name": "broken"}, files=[("files", ("x.csv", b"a,b\n1,2\n"))])
        assert_problem(bad, 422, "x.csv")
        assert_problem(c.post("/datasets", data={"name": "../etc"}, files=[("files", milan_files[0])]), 422)
        assert_problem(c.get("/datasets/broken"), 404)  # nothing half-written
    with api.client(tokens["b"]) as c:
        assert c.get("/datasets").json()["count"] == 0
        assert_problem(c.get("/datasets/milan"), 404)
        assert_problem(c.get("/datasets/milan/versions/1/preview"), 404)


@pytest.fixture(scope="module")
def model(api, stack, api_bundle, tokens) -> tuple[str, str]:
    """A registered model version owned by tenant ``default`` (tenant a), alias ``champion``."""
    name = f"fabric-traffic-{api.settings.api.port}"
    v1 = register_bundle(stack, api_bundle, name, f"api/{name}/v1", "default", metrics={"eval.roc_auc": 0.7})
    v2 = register_bundle(stack, api_bundle, name, f"api/{name}/v2", "default", alias="champion",
                         metrics={"eval.roc_auc": 0.9})  # fmt: skip
    # tenant b trains a model of the same name: its own versions and its own champion alias
    b1 = register_bundle(
        stack, api_bundle, name, f"api/{name}/b", "tenant-b", alias="champion", metrics={"eval.roc_auc": 0.99}
    )
    assert (v1, v2, b1) == ("1", "2", "1")
    return name, v2


def test_model_catalog(api, tokens, model):
    name, version = model
    with api.client(tokens["a"]) as c:
        listed = {m["name"]: m for m in c.get("/models").json()["data"]}
        assert listed[name]["aliases"] == {"champion": version}
        assert len(listed[name]["versions"]) == 2  # not the other tenant's version
        detail = c.get(f"/models/{name}").json()
        assert detail["name"] == name and detail["links"]["mlflow_ui"].endswith(f"/#/models/default.{name}")
        one = c.get(f"/models/{name}/versions/champion").json()
        assert one["version"] == version and one["aliases"] == ["champion"]
        assert one["input_schema"]["features"] == ["weekday", "hour", "minute", "value"]
        assert one["input_schema"]["window"] == 12
        assert one["dataset_version"] == "milan@1" and "tenant" not in one["tags"]
        best = c.get(f"/models/{name}/best").json()
        assert best["version"] == version and best["metrics"]["eval.roc_auc"] == pytest.approx(0.9)
        assert_problem(c.get(f"/models/{name}/versions/77"), 404)
        assert_problem(c.get(f"/models/{name}/best", params={"metric": "eval.nope"}), 404)
        assert_problem(c.get("/models/no-such-model"), 404)
    with api.client(tokens["b"]) as c:
        mine = c.get(f"/models/{name}").json()  # same name, tenant b's model: one version, its alias
        assert [v["version"] for v in mine["versions"]] == ["1"] and mine["aliases"] == {"champion": "1"}
        assert mine["versions"][0]["metrics"]["eval.roc_auc"] == pytest.approx(0.99)
        assert_problem(c.get(f"/models/{name}/versions/2"), 404)  # tenant a's version 2


def test_model_definitions(api, tokens):
    source = (MODELS_DIR / "mean_window_definition.py").read_bytes()
    with api.client(tokens["b"]) as c:
        assert_problem(
            c.post("/models/definitions", files={"file": ("mean_window_definition.py", source)}), 403
        )
    with api.client(tokens["a"]) as c:
        resp = c.post("/models/definitions", files={"file": ("mean_window_definition.py", source)})
        assert resp.status_code == 201, resp.text
        assert resp.json()["name"] == "mean_window" and resp.json()["window"] == 6
        assert [d["name"] for d in c.get("/models/definitions").json()] == ["mean_window"]
        assert c.get("/models/definitions/mean_window").json()["class_path"].endswith(":MeanWindow")
        assert_problem(c.get("/models/definitions/nope"), 404)
        bad = c.post("/models/definitions", files={"file": ("broken.py", b"raise SystemExit(3)\n")})
        assert_problem(bad, 422, "broken.py")
    with api.client(tokens["b"]) as c:
        assert c.get("/models/definitions").json() == []


def test_training_start_status_cancel(api, tokens, dataset):
    with api.client(tokens["a"]) as c:
        assert_problem(c.post("/training", json={"dataset": "nope@1"}), 404, "nope")
        assert_problem(
            c.post("/training", json={"dataset": "milan@1", "val_fraction": 2}), 422, "val_fraction"
        )
        assert_problem(
            c.post("/training", json={"dataset": "milan@1", "definition": "no_such"}), 404, "no_such"
        )
        resp = c.post("/training", json={"dataset": "milan@1", "train_params": {"epochs": 1}})
        assert resp.status_code == 202, resp.text
        run = resp.json()
        assert resp.headers["location"] == f"/api/v1/training/{run['id']}"
        assert (
            run["status"] == "queued"
            and run["links"]["dataset_version"] == "/api/v1/datasets/milan/versions/1"
        )
        assert run["links"]["mlflow_ui"] == api.settings.mlflow.tracking_uri
        status = c.get(resp.headers["location"].removeprefix("/api/v1")).json()
        assert status["status"] in ("queued", "running")
        assert c.get(f"/training/{run['id']}/metrics").json()["id"] == run["id"]
        assert run["id"] in [r["id"] for r in c.get("/training").json()["data"]]
    with api.client(tokens["b"]) as c:
        assert_problem(c.get(f"/training/{run['id']}"), 404)
        assert_problem(c.post(f"/training/{run['id']}/cancel"), 404)
        assert_problem(c.post("/training", json={"dataset": "milan@1"}), 404)
    with api.client(tokens["a"]) as c:
        stopped = c.post(f"/training/{run['id']}/cancel")
        assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
        assert_problem(c.post(f"/training/{run['id']}/cancel"), 409, "stopped")
        assert_problem(c.get("/training/" + "0" * 32), 404)


def _ready(c, location: str):
    body = c.get(location.removeprefix("/api/v1")).json()
    op = body.get("operation") or {}
    return body if body["state"] != "pending" and op.get("state") != "running" else None


def test_deployments(api, tokens, model):
    name, version = model
    body = {"name": "traffic", "model": name, "alias": "champion", "topics": ["api.traffic.in"]}
    with api.client(tokens["a"]) as c:
        assert_problem(c.post("/deployments", json={**body, "model": "no-such-model"}), 404)
        assert_problem(c.post("/deployments", json={**body, "alias": None}), 422, "version or alias")
        assert_problem(
            c.post("/deployments", json={**body, "model": None, "alias": None, "model_uri": "/etc"}), 404
        )
        resp = c.post("/deployments", json=body)
        assert resp.status_code == 202, resp.text
        location = resp.headers["location"]
        dep = resp.json()
        assert dep["model_version"] == version and dep["requested"] == f"models:/{name}@champion"
        assert_problem(c.post("/deployments", json=body), 409, "exists")
        ready = wait_for(lambda: _ready(c, location), 120, "the deployment to be ready")
        assert ready["state"] == "ready", ready
        assert {x["component"]: x["state"] for x in ready["components"]} == {
            "predictor": "ready",
            "consumer": "ready",
        }
        assert [d["id"] for d in c.get("/deployments").json()["data"]] == [dep["id"]]
        timings = c.get(f"/deployments/{dep['id']}/timings").json()
        assert len(timings) == 1 and timings[0]["combined_ms"] >= timings[0]["consumer_ms"] > 0
        assert c.get(f"/deployments/{dep['id']}/results", params={"limit": 5}).json() == []
        assert_problem(c.get(f"/deployments/{dep['id']}/results", params={"limit": 0}), 422)
    with api.client(tokens["b"]) as c:
        for call in (
            lambda: c.get(f"/deployments/{dep['id']}"),
            lambda: c.get(f"/deployments/{dep['id']}/timings"),
            lambda: c.get(f"/deployments/{dep['id']}/results"),
            lambda: c.post(f"/deployments/{dep['id']}/redeploy", json={"model": name, "version": "1"}),
            lambda: c.delete(f"/deployments/{dep['id']}"),
            lambda: c.get("/topics/traffic.results/peek"),
        ):
            assert_problem(call(), 404)
        # tenant b's model of the same name has no version 2: a's version 2 is out of its reach
        assert_problem(c.post("/deployments", json={**body, "alias": None, "version": version}), 404)
        assert c.get("/deployments").json()["count"] == 0
    with api.client(tokens["a"]) as c:
        assert c.get("/topics/traffic.results/peek").status_code == 200
        first = str(int(version) - 1)
        assert_problem(
            c.post(f"/deployments/{dep['id']}/redeploy", json={"model": "other", "version": "1"}), 422
        )
        resp = c.post(f"/deployments/{dep['id']}/redeploy", json={"model": name, "version": first})
        assert resp.status_code == 202, resp.text
        done = wait_for(lambda: _ready(c, location), 120, "the redeploy to finish")
        assert done["state"] == "ready" and done["model_version"] == first
        assert done["operation"]["kind"] == "redeploy" and done["operation"]["state"] == "succeeded"
        assert [t["kind"] for t in c.get(f"/deployments/{dep['id']}/timings").json()] == [
            "deploy",
            "redeploy",
        ]
        assert c.delete(f"/deployments/{dep['id']}").status_code == 204
        assert_problem(c.get(f"/deployments/{dep['id']}"), 404)
        assert_problem(c.delete(f"/deployments/{dep['id']}"), 404)


def test_collections_and_topics(api, tokens):
    body = {"name": "cells", "source": "core", "metrics": ["NUM_OF_UE"], "period_s": 5}
    with api.client(tokens["a"]) as c:
        assert_problem(
            c.post("/collections", json={**body, "metrics": ["NO_SUCH_METRIC"]}), 422, "NO_SUCH_METRIC"
        )
        assert_problem(c.post("/collections", json={**body, "period_s": -1}), 422)
        assert_problem(c.post("/collections", json={**body, "aggregation": "median"}), 422, "aggregation")
        resp = c.post("/collections", json=body)
        assert resp.status_code == 201, resp.text
        col = resp.json()
        assert resp.headers["location"] == f"/api/v1/collections/{col['id']}"
        assert col["topic"].startswith("dataops.") and col["state"] == "pending"
        assert [x["id"] for x in c.get("/collections").json()["data"]] == [col["id"]]
        assert c.get(f"/collections/{col['id']}").json()["topic"] == col["topic"]
        view = c.get(f"/collections/{col['id']}/topic").json()
        assert view["topic"] == col["topic"] and view["records"] == []
        assert col["topic"] in {t["name"] for t in c.get("/topics").json()["data"]}
        assert c.get(f"/topics/{col['topic']}/peek").json()["topic"] == col["topic"]
        assert_problem(c.get("/topics/not-a-topic/peek"), 404)
        persist = c.post(f"/collections/{col['id']}/persist", json={"dataset": "from-cells"})
        assert_problem(persist, 422, "no records")
    with api.client(tokens["b"]) as c:
        assert c.get("/collections").json()["count"] == 0
        assert_problem(c.get(f"/collections/{col['id']}"), 404)
        assert_problem(c.post(f"/collections/{col['id']}/stop"), 404)
        assert_problem(c.get(f"/collections/{col['id']}/topic"), 404)
        assert_problem(c.post(f"/collections/{col['id']}/persist", json={"dataset": "x"}), 404)
        assert c.get(f"/topics/{col['topic']}/peek").status_code == 200  # shared data
    with api.client(tokens["a"]) as c:
        stopped = c.post(f"/collections/{col['id']}/stop").json()
        assert stopped["state"] == "stopped"
        assert c.get("/collections", params={"state": "stopped"}).json()["count"] == 1
