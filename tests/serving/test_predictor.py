"""The predictor: V1 and V2 answers, input validation (4xx with the reason), OIP schema conformance."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
import yaml
from kserve import InferRequest
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput

from aifabric.config import Settings
from aifabric.models.bundle import Scorer
from aifabric.runtime.process import stop_pid
from aifabric.serving.predictor import AnomalyPredictor, decode_scores
from tests.conftest import free_port_block


@pytest.fixture(scope="module")
def predictor(bundle_dir, tmp_path_factory) -> AnomalyPredictor:
    model = AnomalyPredictor(
        "traffic", str(bundle_dir), settings=Settings(data_dir=tmp_path_factory.mktemp("d"))
    )
    assert model.load() and model.ready
    return model


def _windows(n: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 12, 4)).astype(np.float32)


def test_v1_scores_equal_the_bundle_scorer(predictor, bundle_dir):
    x = _windows(5)
    out = asyncio.run(predictor.predict({"instances": x.tolist()}))["predictions"]
    ref = Scorer.from_dir(bundle_dir).score(x)
    np.testing.assert_allclose([p["reconstruction_error"] for p in out], ref.errors, rtol=1e-6)
    np.testing.assert_allclose([p["anomaly_probability"] for p in out], ref.probabilities, rtol=1e-6)
    assert [p["anomaly"] for p in out] == ref.anomalies.tolist()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"instances": []}, "empty batch"),
        ({"instances": [[[1.0, 2.0]] * 12]}, "shape"),
        ({"instances": [[["a", "b", "c", "d"]] * 12]}, "numbers"),
        ({"rows": []}, "instances"),
    ],
)
def test_v1_bad_input_is_refused_with_reason(predictor, payload, reason):
    with pytest.raises(InvalidInput, match=reason):
        asyncio.run(predictor.predict(payload))


def _v2(x: np.ndarray, datatype: str = "FP32") -> InferRequest:
    inp = InferInput("windows", list(x.shape), datatype)
    inp.set_data_from_numpy(x, binary_data=False)
    return InferRequest(model_name="traffic", infer_inputs=[inp])


def test_v2_bad_dtype_and_empty_batch_are_refused(predictor):
    with pytest.raises(InvalidInput, match="datatype FP32"):
        asyncio.run(predictor.predict(_v2(np.zeros((1, 12, 4), np.int32), "INT32")))
    with pytest.raises(InvalidInput, match="empty batch"):
        asyncio.run(predictor.predict(_v2(np.zeros((0, 12, 4), np.float32))))


@pytest.fixture(scope="module")
def server(bundle_dir, tmp_path_factory):
    """The predictor as its own process (``python -m aifabric.serving.predictor``) on loopback."""
    port = free_port_block()
    log = tmp_path_factory.mktemp("log") / "predictor.log"
    env = os.environ | {"AIFABRIC_MODEL_URI": str(bundle_dir), "AIFABRIC_DATA_DIR": str(log.parent)}
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aifabric.serving.predictor",
                "--model_name",
                "traffic",
                "--http_port",
                str(port),
            ],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/v2/models/traffic/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    yield base
    stop_pid(proc.pid, 10)
    proc.wait(5)


def _oip_validator(specs_dir, name: str):
    from jsonschema import Draft202012Validator

    doc = yaml.safe_load((specs_dir / "kserve" / "open_inference_rest.yaml").read_text())
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return Draft202012Validator(schema)


def test_v2_rest_bodies_conform_to_the_open_inference_protocol(server, specs_dir):
    x = _windows(3)
    request = {
        "inputs": [{"name": "windows", "shape": [3, 12, 4], "datatype": "FP32", "data": x.ravel().tolist()}]
    }
    assert not list(_oip_validator(specs_dir, "inference_request").iter_errors(request))
    resp = httpx.post(f"{server}/v2/models/traffic/infer", json=request, timeout=10)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    errors = list(_oip_validator(specs_dir, "inference_response").iter_errors(body))
    assert not errors, errors
    outputs = {o["name"]: o for o in body["outputs"]}
    assert set(outputs) == {"reconstruction_error", "anomaly_probability", "anomaly"}
    assert outputs["anomaly_probability"]["shape"] == [3]
    # (KServe's own metadata body sends "versions": null, which the OIP schema refuses: not ours.)
    meta = httpx.get(f"{server}/v2/models/traffic", timeout=5).json()
    assert meta["inputs"][0]["shape"] == [-1, 12, 4]


def test_http_errors_are_4xx_with_reason(server, specs_dir):
    bad_shape = {"inputs": [{"name": "windows", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0]}]}
    resp = httpx.post(f"{server}/v2/models/traffic/infer", json=bad_shape, timeout=10)
    assert resp.status_code == 400 and "shape" in resp.json()["error"]
    assert not list(_oip_validator(specs_dir, "inference_error_response").iter_errors(resp.json()))
    resp = httpx.post(f"{server}/v1/models/traffic:predict", json={"instances": []}, timeout=10)
    assert resp.status_code == 400 and "empty batch" in resp.json()["error"]


def test_binary_score_route_matches_v1(server):
    x = _windows(4)
    resp = httpx.post(
        f"{server}/aifabric/models/traffic/score",
        content=x.tobytes(),
        headers={"x-shape": "4,12,4"},
        timeout=10,
    )
    _errors, probs, _flags = decode_scores(resp.content, 4)
    v1 = httpx.post(f"{server}/v1/models/traffic:predict", json={"instances": x.tolist()}, timeout=10).json()
    np.testing.assert_allclose(probs, [p["anomaly_probability"] for p in v1["predictions"]], rtol=1e-9)
    assert (
        httpx.post(
            f"{server}/aifabric/models/traffic/score",
            content=b"\0" * 8,
            headers={"x-shape": "4,12,4"},
            timeout=10,
        ).status_code
        == 400
    )
