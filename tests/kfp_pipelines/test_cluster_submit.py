"""The cluster runner submits through ``kfp.Client`` what Kubeflow Pipelines expects.

No Kubeflow Pipelines API server can run here (it needs Kubernetes), so a loopback HTTP server
answers the few ``/apis/v2beta1`` calls ``kfp.Client`` makes and records them; the submitted
pipeline spec must parse as KFP IR and equal what ``aifabric pipeline compile`` writes, with our
configuration as the run's one parameter.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from aifabric.config import Settings
from aifabric.kfp_pipelines.config import PipelineConfig
from aifabric.kfp_pipelines.pipeline import compile_pipeline
from aifabric.kfp_pipelines.runner import submit_cluster


class _FakeKfp(BaseHTTPRequestHandler):
    calls: list[tuple[str, str, dict | None]]

    def _answer(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.calls.append((self.command, self.path, body))
        return body

    def do_GET(self) -> None:
        self._record()
        if self.path.startswith("/apis/v2beta1/experiments"):
            self._answer({})  # no experiment of that name yet
        elif self.path.startswith("/apis/v2beta1/healthz"):
            self._answer({"multi_user": False})
        else:
            self._answer({})

    def do_POST(self) -> None:
        body = self._record() or {}
        if self.path == "/apis/v2beta1/experiments":
            self._answer({"experiment_id": "exp-1", "display_name": body.get("display_name")})
        elif self.path == "/apis/v2beta1/runs":
            self._answer({"run_id": "run-42", "display_name": body.get("display_name"), "state": "PENDING"})
        else:
            self.send_error(404)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_kfp() -> Iterator[tuple[str, list]]:
    calls: list = []
    handler = type("Handler", (_FakeKfp,), {"calls": calls})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", calls
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_submit_sends_the_compiled_pipeline_with_our_config(fake_kfp, tmp_path) -> None:
    host, calls = fake_kfp
    settings = Settings(data_dir=tmp_path, kfp={"host": host})
    config = PipelineConfig(dataset="milan@3", tenant="operator-a", mlflow_run_id="0123ab", code_version="t")

    assert submit_cluster(settings, config) == "run-42"

    posted = {path: body for method, path, body in calls if method == "POST"}
    assert posted["/apis/v2beta1/experiments"]["display_name"] == config.experiment
    run = posted["/apis/v2beta1/runs"]
    assert run["experiment_id"] == "exp-1"
    spec = json_format.ParseDict(run["pipeline_spec"], pipeline_spec_pb2.PipelineSpec())  # valid IR
    compiled = yaml.safe_load(compile_pipeline(tmp_path / "p.yaml").read_text())
    assert run["pipeline_spec"]["root"] == compiled["root"]
    assert run["pipeline_spec"]["deploymentSpec"] == compiled["deploymentSpec"]
    assert set(spec.root.dag.tasks) == {"prepare-op", "train-op", "evaluate-op", "register-op"}
    sent = PipelineConfig.model_validate_json(run["runtime_config"]["parameters"]["config"])
    assert sent == config  # the MLflow run id travels, so the cluster's steps log into it


def test_submit_without_an_endpoint_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="no Kubeflow Pipelines endpoint"):
        submit_cluster(Settings(data_dir=tmp_path), PipelineConfig(dataset="d", mlflow_run_id="x"))
