"""The Data Consumer's HTTP entrance (the KServe transformer contract) over real loopback HTTP.

Predictor and transformer run as separate processes forked by the serving fork server (so this
also checks that forked children are separate, supervised processes): raw records in ->
preprocess (the bundle's own featurize and scaler) -> the predictor -> results out, as a plain V1
``{"instances": [...]}`` body and as binary-mode CloudEvents, one record each (what a Knative
KafkaSource pushes).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from aifabric.models.bundle import Scorer, ScoringBundle
from aifabric.runtime.health import http_ok
from aifabric.runtime.process import ServiceSpec, pid_alive
from aifabric.serving.forkserver import ForkedProcess, ForkServer
from aifabric.serving.sample_bundle import write_sample_bundle
from tests.conftest import free_port_block

T0 = 1_700_000_000_000
STEP = 600_000


def _spec(name: str, module: str, args: list[str], port: int, model: str, log_dir: Path, env: dict):
    url = f"http://127.0.0.1:{port}/v2/models/{model}/ready"
    return ServiceSpec(
        name=name,
        argv=[sys.executable, "-m", module, "--model_name", model, "--http_port", str(port), *args],
        env=env,
        log_file=log_dir / f"{name}.log",
        endpoint=f"http://127.0.0.1:{port}",
        ready=lambda: http_ok(url, timeout=0.5),
        ready_timeout=60,
        stop_timeout=10,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(transformer URL, predictor process, transformer process, bundle dir, fork server pid)."""
    tmp = tmp_path_factory.mktemp("http")
    bundle_dir = write_sample_bundle(tmp / "bundle", model_name="traffic")
    env = {"AIFABRIC_DATA_DIR": str(tmp), "AIFABRIC_SERVING_HOST": "127.0.0.1"}
    server = ForkServer(tmp / "forkserver.log", tmp, env)
    p_port, t_port = free_port_block(), free_port_block()
    pred = ForkedProcess(
        _spec(
            "predictor",
            "aifabric.serving.predictor",
            [],
            p_port,
            "traffic",
            tmp,
            env | {"AIFABRIC_MODEL_URI": str(bundle_dir)},
        ),
        server,
    )
    trans = ForkedProcess(
        _spec(
            "transformer",
            "aifabric.transformers.consumer",
            ["--predictor_host", f"127.0.0.1:{p_port}", "--no_kafka"],
            t_port,
            "traffic",
            tmp,
            env,
        ),
        server,
    )
    try:
        pred.start()
        trans.start()
        pred.wait_ready()
        trans.wait_ready()
        yield f"http://127.0.0.1:{t_port}", pred, trans, bundle_dir, server.proc.pid
    finally:
        trans.stop()
        pred.stop()
        server.stop()


def _record(cell: str, i: int, value: float) -> dict:
    ts = datetime.fromtimestamp((T0 + STEP * i) / 1000, UTC).isoformat(timespec="milliseconds")
    return {
        "source": "NWDAF",
        "metric_id": "UPLINK_VOL",
        "labels": {"cell": cell},
        "timestamp": ts.replace("+00:00", "Z"),
        "value": value,
    }


def _expected(bundle_dir: Path, values: list[float]) -> np.ndarray:
    bundle = ScoringBundle.load(bundle_dir)
    ts = np.array([T0 + STEP * i for i in range(len(values))], dtype=np.int64)
    windows = bundle.preprocess(ts, np.asarray(values, dtype=np.float64))
    return Scorer.from_dir(bundle_dir).score(windows).probabilities


def test_forked_components_are_separate_supervised_processes(served):
    _url, pred, trans, _bundle, server_pid = served
    for proc in (pred, trans):
        assert proc.proc is None and proc.alive()  # forked, not a subprocess.Popen fallback
        assert os.getpgid(proc.pid) == proc.pid  # own process group: stop reaches its children
        assert (
            os.getppid() != proc.pid
            and int(Path(f"/proc/{proc.pid}/stat").read_text().split()[3]) == server_pid
        )
        assert proc.spec.log_file.stat().st_size > 0  # writes its own log


def test_v1_instances_of_raw_records_are_preprocessed_and_scored(served):
    url, *_rest, bundle_dir, _pid = served
    values = [100.0 + (i % 5) * 3 for i in range(15)]
    body = {"instances": [_record("v1", i, v) for i, v in enumerate(values)]}
    resp = httpx.post(f"{url}/v1/models/traffic:predict", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    preds = resp.json()["predictions"]
    assert len(preds) == 15 - 12 + 1  # one per complete window
    assert {p["series_key"] for p in preds} == {"NWDAF/UPLINK_VOL/cell=v1"}
    assert preds[-1]["window_end"].startswith(_record("v1", 14, 0)["timestamp"][:19])
    np.testing.assert_allclose(
        [p["anomaly_probability"] for p in preds], _expected(bundle_dir, values), rtol=1e-6
    )


def test_binary_cloudevents_one_record_each_like_a_kafkasource(served):
    url, *_rest, bundle_dir, _pid = served
    values = [90.0 + (i % 4) * 5 for i in range(14)]
    answers = []
    with httpx.Client(timeout=10) as client:
        for i, v in enumerate(values):
            resp = client.post(
                f"{url}/v1/models/traffic:predict",
                content=httpx.Request("POST", url, json=_record("ce", i, v)).content,
                headers={
                    "content-type": "application/json",
                    "ce-specversion": "1.0",
                    "ce-id": f"partition:0/offset:{i}",
                    "ce-source": "/apis/v1/namespaces/mlops/kafkasources/cells#cells.in",
                    "ce-type": "dev.knative.kafka.event",
                },
            )
            assert resp.status_code == 200, resp.text
            assert resp.headers["ce-specversion"] == "1.0"  # answered as a binary CloudEvent
            answers.append(resp.json()["predictions"])
    assert [len(a) for a in answers] == [0] * 11 + [1, 1, 1]  # a window needs 12 points
    probs = [a[0]["anomaly_probability"] for a in answers[11:]]
    np.testing.assert_allclose(probs, _expected(bundle_dir, values), rtol=1e-6)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"instances": []}, "expected a record"),
        ({"instances": [{"source": "x"}]}, "record [0]"),
        ({"instances": [dict(_record("bad", 0, 1.0), value="high")]}, "value"),
    ],
)
def test_bad_records_get_4xx_with_the_reason(served, body, reason):
    url = served[0]
    resp = httpx.post(f"{url}/v1/models/traffic:predict", json=body, timeout=10)
    assert 400 <= resp.status_code < 500 and reason in resp.json()["error"], resp.text


def test_stopped_children_are_gone_and_their_exit_is_reported(served, tmp_path):
    _url, pred, _trans, bundle_dir, _pid = served
    server = pred.server
    port = free_port_block()
    spec = _spec(
        "extra",
        "aifabric.serving.predictor",
        [],
        port,
        "traffic",
        tmp_path,
        {"AIFABRIC_DATA_DIR": str(tmp_path), "AIFABRIC_MODEL_URI": str(bundle_dir)},
    )
    proc = ForkedProcess(spec, server)
    proc.start()
    proc.wait_ready()
    pid = proc.pid
    proc.stop()
    assert not pid_alive(pid) and not proc.alive() and proc.returncode is not None
    proc.start()  # restartable: a new child with a new pid
    try:
        proc.wait_ready()
        assert proc.pid != pid and proc.alive()
    finally:
        proc.stop()
