"""The training pipeline end to end through kfp.local: MLflow registry, SeaweedFS artifacts, SQL.

Two trainings run at once in worker processes (as the API starts them): the paper's LSTM-AE and
a custom definition uploaded as a file (the plugin path).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import mlflow
import numpy as np
import pytest

from aifabric.datasets import service as datasets
from aifabric.kfp_pipelines import service, steps
from aifabric.kfp_pipelines.config import Gate, PipelineConfig
from aifabric.kfp_pipelines.service import TrainingCreate, TrainingRunRow
from aifabric.models.bundle import Scorer, ScoringBundle
from aifabric.models.catalog import onboard_definition
from aifabric.models.lstm_ae import SeasonalLSTMAutoencoder
from aifabric.registered_names import registry_name
from aifabric.storage import ObjectStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEFINITION_FILE = Path(__file__).parents[1] / "models" / "mean_window_definition.py"
TOKEN = secrets.token_hex(3)


@pytest.fixture(scope="module")
def trainings(stack, train_session, milan_version):
    """Start both trainings, wait for both (they run in parallel)."""
    onboard_definition(
        train_session,
        ObjectStore(stack),
        tenant="default",
        filename=DEFINITION_FILE.name,
        source=DEFINITION_FILE.read_bytes(),
    )
    lstm = service.start_training(
        train_session,
        stack,
        tenant="default",
        create=TrainingCreate(
            dataset=milan_version.ref,
            model_name=f"lstm-{TOKEN}",
            train_params={"epochs": 2},
            gate=Gate(metric="roc_auc", min=0.0),
        ),
    )
    custom = service.start_training(
        train_session,
        stack,
        tenant="default",
        create=TrainingCreate(
            dataset=milan_version.ref, definition="mean_window", model_name=f"mean-{TOKEN}"
        ),
    )
    assert lstm.status == "queued" and lstm.id != custom.id
    done = {
        t.id: service.wait_training(train_session, stack, tenant="default", training_id=t.id, timeout=420)
        for t in (lstm, custom)
    }
    return done[lstm.id], done[custom.id]


def _client(stack) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=stack.mlflow.tracking_uri)


def _fetch_bundle(stack, uri: str, into: Path) -> Path:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    store = ObjectStore(stack, bucket=bucket)
    keys = list(store.list(prefix + "/"))
    for key in keys:
        store.fget(key, into / Path(key).name)
    return into


def test_lstm_ae_version_is_registered_with_bundle_in_s3(
    stack, train_session, milan_version, trainings, tmp_path
):
    run, _ = trainings
    assert run.status == "succeeded", run.error
    assert (run.model_name, run.model_version, run.alias) == (f"lstm-{TOKEN}", "1", "champion")
    client = _client(stack)
    registered = registry_name("default", run.model_name)  # the tenant's name in MLflow
    version = client.get_model_version(registered, run.model_version)
    assert version.tags["dataset_version"] == milan_version.ref
    assert version.tags["code_version"].startswith("0.1.0")
    assert version.tags["bundle_uri"] == run.bundle_uri and run.bundle_uri.startswith("s3://mlflow/")
    assert client.get_model_version_by_alias(registered, "champion").version == "1"

    mlrun = client.get_run(run.mlflow_run_id)
    assert mlrun.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.mlflow_run_id, "loss")] == [0, 1]
    assert {"eval.roc_auc", "eval.pr_auc", "eval.f1", "baseline.seasonal_zscore.roc_auc"} <= set(
        mlrun.data.metrics
    )
    assert mlrun.data.metrics["onnx_max_rel_diff"] < steps.ONNX_TOLERANCE
    assert mlrun.data.params["train.epochs"] == "2"
    artifacts = {a.path for a in client.list_artifacts(run.mlflow_run_id, "plots")}
    assert {"plots/error_distribution.png", "plots/roc.png"} <= artifacts
    assert run.progress is not None and run.progress.epochs_done == 2 and run.progress.epochs_total == 2
    assert run.mlflow_url and run.mlflow_run_id in run.mlflow_url

    bundle_dir = _fetch_bundle(stack, run.bundle_uri, tmp_path)
    assert {"bundle.json", "model.onnx"} <= {p.name for p in bundle_dir.iterdir()}
    bundle = ScoringBundle.load(bundle_dir)
    assert bundle.definition == "aifabric.models.lstm_ae:SeasonalLSTMAutoencoder"  # the default
    assert bundle.features == [*SeasonalLSTMAutoencoder.features] and bundle.window == 12
    assert bundle.timezone == "Europe/Rome" and bundle.threshold == 0.99
    frame = datasets.read_version(ObjectStore(stack), milan_version)
    assert bundle.reference is not None and set(bundle.reference.profiles) == set(frame["series"].unique())
    square = str(frame["series"].iloc[0])
    assert bundle.reference_row(f"EDGE/internet/square={square}") >= 0  # live keys find their square
    windows = bundle.preprocess(frame["timestamp"].to_numpy(), frame["internet"].to_numpy(), series=square)
    scores = Scorer.from_dir(bundle_dir).score(windows)
    assert np.isfinite(scores.errors).all() and len(scores.errors) == len(frame) - 11
    assert ((scores.probabilities >= 0) & (scores.probabilities <= 1)).all()

    row = train_session.get(TrainingRunRow, run.id)
    assert (row.status, row.model_version, row.tenant) == ("succeeded", "1", "default")
    assert row.metrics["eval.roc_auc"] == pytest.approx(mlrun.data.metrics["eval.roc_auc"])
    with pytest.raises(ProcessLookupError):
        os.kill(row.pid, 0)  # the worker is gone


def test_custom_definition_trains_through_the_same_pipeline(stack, trainings, tmp_path):
    _, run = trainings
    assert run.status == "succeeded", run.error
    assert run.definition == "mean_window_definition:MeanWindow"
    bundle_dir = _fetch_bundle(stack, run.bundle_uri, tmp_path)
    assert (bundle_dir / DEFINITION_FILE.name).exists(), "the definition travels with the bundle"
    bundle = ScoringBundle.load(bundle_dir)
    assert (bundle.features, bundle.window) == (["hour", "value"], 6)
    scores = Scorer.from_dir(bundle_dir).score(np.zeros((3, 6, 2), np.float32))
    assert scores.errors.shape == (3,)
    version = _client(stack).get_model_version(registry_name("default", run.model_name), run.model_version)
    assert version.tags["definition"] == "mean_window_definition:MeanWindow"


def test_failed_gate_registers_but_keeps_the_alias(stack, trainings):
    """Re-register the LSTM-AE run's outputs with a gate that fails: a new version, alias unmoved."""
    run, _ = trainings
    root = stack.data_dir / "kfp-local" / run.id
    prep_dir = next(root.glob("*/prepare-op/prepared"))
    model_dir = next(root.glob("*/train-op/model"))
    eval_dir = next(root.glob("*/evaluate-op/evaluation"))
    evaluation = json.loads((eval_dir / steps.EVAL_JSON).read_text())
    evaluation |= {"gate_passed": False, "gate_reason": "roc_auc below 0.99"}
    (eval_dir / steps.EVAL_JSON).write_text(json.dumps(evaluation))
    config = PipelineConfig(dataset="x", model_name=run.model_name, mlflow_run_id=run.mlflow_run_id)
    result = steps.register(stack, config, prep_dir, model_dir, eval_dir)
    assert (result.model_version, result.alias) == ("2", None)
    client, registered = _client(stack), registry_name("default", run.model_name)
    assert client.get_model_version_by_alias(registered, "champion").version == "1"
    assert client.get_model_version(registered, "2").tags["gate"] == "failed"


def test_the_mlflow_model_is_the_onnx_export_with_signature_and_keras_beside_it(stack, trainings, tmp_path):
    """The registered version's MLflow model is the ONNX file serving runs (with its signature); the
    Keras model is a run artifact and reconstructs as the ONNX model does."""
    import keras

    run, _ = trainings
    client = _client(stack)
    version = client.get_model_version(registry_name("default", run.model_name), run.model_version)
    assert version.source.startswith("models:/m-")
    logged_model = client.get_logged_model(version.source.removeprefix("models:/"))
    assert logged_model.source_run_id == run.mlflow_run_id
    mlmodel = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{logged_model.artifact_location}/MLmodel",
        dst_path=str(tmp_path),
        tracking_uri=stack.mlflow.tracking_uri,
    )
    logged = mlflow.models.Model.load(mlmodel)
    assert "onnx" in logged.flavors and logged.signature is not None
    (tmp_path / "bundle").mkdir()
    bundle = ScoringBundle.load(_fetch_bundle(stack, run.bundle_uri, tmp_path / "bundle"))
    (spec,) = logged.signature.inputs.inputs
    assert spec.shape == (-1, bundle.window, len(bundle.features))

    assert "model.keras" in {a.path for a in client.list_artifacts(run.mlflow_run_id)}
    keras_file = client.download_artifacts(run.mlflow_run_id, "model.keras", str(tmp_path))
    shape = (16, bundle.window, len(bundle.features))
    windows = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    native = keras.saving.load_model(keras_file).predict(windows, verbose=0)
    onnx_rec = Scorer.from_dir(tmp_path / "bundle").reconstruct(windows)
    np.testing.assert_allclose(native, onnx_rec, rtol=1e-3, atol=1e-4)
