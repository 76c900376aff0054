"""After an API restart every resource is still there and running ones are reconciled."""

from __future__ import annotations

import pytest

from aifabric.datasets.milan_generator import GeneratorConfig, generate
from aifabric.runtime.process import pid_alive
from tests.conftest import register_bundle, wait_for

pytestmark = pytest.mark.integration

CSV = b"timestamp,series,value\n" + b"".join(
    f"2024-01-01T00:{m:02d}:00Z,cell-1,{m}\n".encode() for m in range(0, 60, 5)
)


@pytest.fixture(scope="module")
def milan(tmp_path_factory) -> list[tuple[str, bytes]]:
    report = generate(tmp_path_factory.mktemp("milan"), GeneratorConfig(squares=2, days=3, seed=5))
    return [(f.name, f.read_bytes()) for f in report.files]


def _settled(c, dep_id: str):
    body = c.get(f"/deployments/{dep_id}").json()
    op = body.get("operation") or {}
    return body if body["state"] != "pending" and op.get("state") != "running" else None


def test_restart_reconciles(api, stack, api_bundle, milan):
    name = f"restart-model-{api.settings.api.port}"
    register_bundle(stack, api_bundle, name, f"api/{name}/v1", "default", alias="champion")
    with api.client(api.admin_token) as c:
        assert (
            c.post("/datasets", data={"name": "small"}, files=[("files", ("small.csv", CSV))]).status_code
            == 201
        )
        col = c.post("/collections", json={"source": "core", "metrics": ["NUM_OF_UE"], "period_s": 5}).json()
        files = [("files", f) for f in milan]
        assert c.post("/datasets", data={"name": "milan"}, files=files).status_code == 201
        # long enough (TensorFlow, 50 epochs) to be still running at the restart
        run = c.post("/training", json={"dataset": "milan@1", "train_params": {"epochs": 50}}).json()
        dep = c.post("/deployments", json={"name": "survivor", "model": name, "alias": "champion",
                                           "topics": ["restart.in"]}).json()  # fmt: skip
        before = wait_for(lambda: _settled(c, dep["id"]), 120, "the deployment to be ready")
        assert before["state"] == "ready", before
    old_pids = [x["pid"] for x in before["components"]]

    api.restart()

    assert not any(pid_alive(p) for p in old_pids), "the API stop left deployment processes behind"
    with api.client(api.admin_token) as c:
        assert c.get("/datasets/small/versions/1").json()["row_count"] == 12
        assert c.get(f"/collections/{col['id']}").json()["id"] == col["id"]
        training = c.get(f"/training/{run['id']}").json()
        assert training["status"] == "failed" and "interrupted" in training["error"]
        after = wait_for(lambda: _settled(c, dep["id"]), 120, "the deployment to be restarted")
        assert after["state"] == "ready", (after["reason"], after["components"], after.get("operation"))
        assert after["operation"]["kind"] == "restart" and after["operation"]["state"] == "succeeded"
        assert after["model_version"] == before["model_version"]
        new_pids = [x["pid"] for x in after["components"]]
        assert all(pid_alive(p) for p in new_pids) and not set(new_pids) & set(old_pids)
        assert c.delete(f"/deployments/{dep['id']}").status_code == 204
