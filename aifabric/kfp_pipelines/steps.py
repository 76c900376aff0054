"""The pipeline's logic as plain functions; KFP components (``components.py``) are thin wrappers.

prepare  -> load a dataset version from S3, features, windows, chronological split, scaler
train    -> fit the model definition, per-epoch metrics to MLflow, ONNX export checked against the
            in-memory model, the native model file (e.g. ``model.keras``)
evaluate -> calibrate on validation errors, write the scoring bundle, error distribution, and on
            labelled data ROC-AUC / PR-AUC / F1 against the seasonal z-score and IsolationForest;
            meanwhile the MLflow model (the ONNX export with its signature)
register -> native model and bundle artifacts, a new registered model version with tags, the
            alias if the gate passes

Each step reads and writes a directory (a KFP artifact) and logs to the one MLflow run the runner
created. Each step is a fresh process (a container on a cluster; locally a child forked from the
pre-warmed :mod:`~aifabric.kfp_pipelines.stepserver`), so imports are step overhead: only
``train`` imports TensorFlow (through the definition), only ``evaluate`` imports ``mlflow`` (to log
the MLflow model), prepare alone imports pandas; everything else talks to MLflow over REST
(:mod:`aifabric.kfp_pipelines.tracking`).

Windows and labels: each series is put on its full slot grid (a missing slot is zero activity,
as in the Milan data), split by time into train / validation / test segments, and windowed inside
each segment, so no window straddles two segments. A window is labelled anomalous when any of its
slots is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from pydantic import BaseModel

from aifabric.config import Settings
from aifabric.errors import InvalidRequest
from aifabric.kfp_pipelines.config import PipelineConfig
from aifabric.models.base import ModelDefinition, sliding_windows
from aifabric.models.bundle import Scorer, ScoringBundle
from aifabric.models.calibration import fit_calibration
from aifabric.models.reference import SeasonalReference
from aifabric.models.registry import load_definition
from aifabric.registered_names import registry_name

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "EvalResult",
    "PrepareResult",
    "RegisterResult",
    "TrainResult",
    "code_version",
    "evaluate",
    "prepare",
    "register",
    "train",
]

PREP_JSON, TRAIN_JSON, EVAL_JSON = "prepare.json", "train.json", "evaluate.json"
DATA_FILE = "windows.npz"
ONNX_FILE = "model.onnx"
ONNX_TOLERANCE = 1e-3  # max relative difference of reconstruction errors, ONNX vs native model


class PrepareResult(BaseModel):
    model_config = {"protected_namespaces": ()}

    dataset_ref: str
    dataset_version_id: str
    dataset_checksum: str
    metric: str
    series: list[str]
    definition: str
    definition_file: str | None
    features: list[str]
    window: int
    timezone: str
    scaler_mean: list[float]
    scaler_scale: list[float]
    reference: SeasonalReference | None = None
    train_windows: int
    val_windows: int
    test_windows: int
    test_anomalous_windows: int
    has_labels: bool


class TrainResult(BaseModel):
    epochs: int
    train_seconds: float
    history: dict[str, list[float]]
    onnx_input: str
    onnx_output: str
    onnx_max_rel_diff: float
    native_file: str | None = None  # the definition's own format (e.g. model.keras), beside the ONNX
    step_seconds: dict[str, float] = {}


class EvalResult(BaseModel):
    model_config = {"protected_namespaces": ()}

    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    gate_passed: bool
    gate_reason: str
    model_uri: str | None = None  # the MLflow model evaluate logged (``models:/<model_id>``)


class RegisterResult(BaseModel):
    model_config = {"protected_namespaces": ()}

    model_name: str
    model_version: str
    model_uri: str
    bundle_uri: str
    alias: str | None


def code_version() -> str:
    """The aifabric version, plus the git commit when running from a checkout."""
    version = metadata.version("aifabric")
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        return f"{version}+g{sha}" if sha else version
    except (OSError, subprocess.SubprocessError):
        return version


def _definition(prep: PrepareResult, prep_dir: Path) -> ModelDefinition:
    file = prep_dir / prep.definition_file if prep.definition_file else None
    return load_definition(prep.definition, file=file)(timezone=prep.timezone)


# -- prepare ----------------------------------------------------------------------------------


def _series_grid(group: pd.DataFrame, metric: str, slot_ms: int) -> pd.DataFrame:
    from aifabric.datasets.frame import LABEL, TIMESTAMP

    ts = group[TIMESTAMP].to_numpy()
    grid = np.arange(ts.min(), ts.max() + 1, slot_ms, dtype=np.int64)
    cols = [metric, *([LABEL] if LABEL in group.columns else [])]
    full = group.set_index(TIMESTAMP)[cols].reindex(grid, fill_value=0)
    return full.rename_axis(TIMESTAMP).reset_index()


def windows_from_frame(
    frame: pd.DataFrame, definition: ModelDefinition, metric: str, slot_ms: int, cuts: tuple[int, int]
) -> tuple[dict[str, dict[str, np.ndarray]], SeasonalReference | None]:
    """Per segment (train/val/test): raw features, windows of raw points, labels, series index; and
    the seasonal reference fitted on the train segment when the definition uses one."""
    from aifabric.datasets.frame import LABEL, SERIES, TIMESTAMP

    out: dict[str, dict[str, list[np.ndarray]]] = {
        seg: {k: [] for k in ("features", "ts", "values", "labels", "series")}
        for seg in ("train", "val", "test")
    }
    series = []
    for name, group in frame.groupby(SERIES, sort=True):
        full = _series_grid(group, metric, slot_ms)
        ts = full[TIMESTAMP].to_numpy()
        labels = full[LABEL].to_numpy() if LABEL in full.columns else np.zeros(ts.size, dtype=np.int8)
        series.append((str(name), ts, full[metric].to_numpy(dtype=np.float64), labels))
    reference = None
    if definition.uses_reference:
        train_points = ((name, ts[ts < cuts[0]], values[ts < cuts[0]]) for name, ts, values, _ in series)
        reference = SeasonalReference.fit(train_points, definition.timezone, slot_ms // 60_000)
    for idx, (name, ts, values, labels) in enumerate(series):
        if reference is None:
            feats = definition.featurize(ts, values)
        else:
            feats = definition.featurize(ts, values, reference.expected(name, ts))
        segments = {"train": ts < cuts[0], "val": (ts >= cuts[0]) & (ts < cuts[1]), "test": ts >= cuts[1]}
        for seg, mask in segments.items():
            if mask.sum() < definition.window:
                continue
            part = out[seg]
            part["features"].append(feats[mask])
            part["ts"].append(sliding_windows(ts[mask, None], definition.window, None)[..., 0])
            part["values"].append(sliding_windows(values[mask, None], definition.window, None)[..., 0])
            part["labels"].append(
                sliding_windows(labels[mask, None], definition.window, None)[..., 0].max(axis=1)
            )
            part["series"].append(np.full(mask.sum() - definition.window + 1, idx, dtype=np.int64))
    segments = {
        seg: {k: (np.concatenate(v) if v else np.empty(0)) for k, v in parts.items()}
        for seg, parts in out.items()
    }
    return segments, reference


class PreparedArrays(NamedTuple):
    """Scaled and raw windows per split, the scaler, and the seasonal reference if the definition uses one."""

    arrays: dict[str, np.ndarray]
    mean: np.ndarray
    scale: np.ndarray
    reference: SeasonalReference | None


def prepare_arrays(
    frame: pd.DataFrame,
    definition: ModelDefinition,
    metric: str,
    slot_ms: int,
    val_fraction: float,
    test_fraction: float,
) -> PreparedArrays:
    """Canonical table -> scaled windows and raw windows per split, the scaler and the reference."""
    from aifabric.datasets.frame import TIMESTAMP

    ts = frame[TIMESTAMP].to_numpy()
    start, end = int(ts.min()), int(ts.max())
    span = end - start
    cuts = (
        int(start + span * (1 - val_fraction - test_fraction)),
        int(start + span * (1 - test_fraction)),
    )
    parts, reference = windows_from_frame(frame, definition, metric, slot_ms, cuts)
    if parts["train"]["features"].size == 0 or parts["val"]["features"].size == 0:
        raise InvalidRequest(
            f"the data is too short for windows of {definition.window} in both the train and validation "
            "splits; use more days or smaller fractions"
        )
    # StandardScaler semantics (population std, a constant feature scales by 1) without importing
    # scikit-learn, which costs the step about 2 s
    train_feats = parts["train"]["features"].astype(np.float64)
    mean = train_feats.mean(axis=0)
    scale = train_feats.std(axis=0)
    scale[scale == 0] = 1.0

    def scaled_windows(seg: str) -> np.ndarray:
        feats = parts[seg]["features"]
        if feats.size == 0:
            return np.empty((0, definition.window, len(definition.features)), dtype=np.float32)
        # window each series' segment separately, exactly as sliding over ts/values above
        chunks, start_row = [], 0
        for series_idx in np.unique(parts[seg]["series"]):
            n_windows = int((parts[seg]["series"] == series_idx).sum())
            rows = n_windows + definition.window - 1
            chunk = (feats[start_row : start_row + rows] - mean) / scale
            chunks.append(sliding_windows(chunk, definition.window))
            start_row += rows
        return np.concatenate(chunks)

    arrays = {f"{seg}_windows": scaled_windows(seg) for seg in ("train", "val", "test")}
    for seg in ("train", "val", "test"):
        for key in ("ts", "values", "labels", "series"):
            arrays[f"{seg}_{key}"] = parts[seg][key]
    return PreparedArrays(arrays, mean, scale, reference)


def prepare(settings: Settings, config: PipelineConfig, out_dir: Path) -> PrepareResult:
    """Load the dataset version, build scaled windows, split, fit the scaler; write ``out_dir``."""
    from aifabric.datasets.frame import SERIES
    from aifabric.datasets.service import get_version, read_version
    from aifabric.persistence import make_engine, session_factory
    from aifabric.storage import ObjectStore

    out_dir.mkdir(parents=True, exist_ok=True)
    resolved = settings.resolved()
    store = ObjectStore(resolved)
    engine = make_engine(resolved.sql.url.get_secret_value())
    try:
        with session_factory(engine)() as session:
            version = get_version(session, tenant=config.tenant, ref=config.dataset)
    finally:
        engine.dispose()
    frame = read_version(store, version)
    schema = version.dataset_schema
    metric = config.metric or schema.default_metric
    if metric not in schema.metrics:
        raise InvalidRequest(f"dataset {version.ref} has no metric {metric!r} (metrics: {schema.metrics})")
    if config.series:
        missing = sorted(set(config.series) - set(frame[SERIES].unique()))
        if missing:
            raise InvalidRequest(f"dataset {version.ref} has no series {missing[:5]}")
        frame = frame[frame[SERIES].isin(config.series)]

    definition_file = None
    if config.definition_uri:
        bucket, _, key = config.definition_uri.removeprefix("s3://").partition("/")
        definition_file = Path(key).name
        ObjectStore(resolved, bucket=bucket).fget(key, out_dir / definition_file)
    definition = load_definition(
        config.definition, file=out_dir / definition_file if definition_file else None
    )(timezone=schema.timezone)

    arrays, mean, scale, reference = prepare_arrays(
        frame, definition, metric, version.slot_ms or 600_000, config.val_fraction, config.test_fraction
    )
    np.savez(out_dir / DATA_FILE, **arrays)
    result = PrepareResult(
        dataset_ref=version.ref,
        dataset_version_id=version.id,
        dataset_checksum=version.checksum,
        metric=metric,
        series=sorted(frame[SERIES].unique().tolist()),
        definition=config.definition if ":" in config.definition else definition_path_of(definition),
        definition_file=definition_file,
        features=list(definition.features),
        window=definition.window,
        timezone=schema.timezone,
        scaler_mean=mean.tolist(),
        scaler_scale=scale.tolist(),
        reference=reference,
        train_windows=len(arrays["train_windows"]),
        val_windows=len(arrays["val_windows"]),
        test_windows=len(arrays["test_windows"]),
        test_anomalous_windows=int(arrays["test_labels"].sum()) if arrays["test_labels"].size else 0,
        has_labels=schema.has_labels,
    )
    (out_dir / PREP_JSON).write_text(result.model_dump_json(indent=2))
    return result


def definition_path_of(definition: ModelDefinition) -> str:
    cls = type(definition)
    return f"{cls.__module__}:{cls.__qualname__}"


def _load_prep(prep_dir: Path) -> tuple[PrepareResult, dict[str, np.ndarray]]:
    prep = PrepareResult.model_validate_json((prep_dir / PREP_JSON).read_text())
    with np.load(prep_dir / DATA_FILE) as data:
        return prep, {k: data[k] for k in data.files}


# -- train ------------------------------------------------------------------------------------


def train(settings: Settings, config: PipelineConfig, prep_dir: Path, out_dir: Path) -> TrainResult:
    """Fit, log per-epoch metrics, export and check ONNX, save the native model.

    Talks to MLflow over REST: without ``import mlflow`` the step starts as soon as TensorFlow is
    imported; evaluate logs the MLflow model (the ONNX export with its signature).
    """
    from aifabric.kfp_pipelines.tracking import MlflowRest

    out_dir.mkdir(parents=True, exist_ok=True)
    prep, data = _load_prep(prep_dir)
    definition = _definition(prep, prep_dir)
    params = definition.params(config.train_params)
    run_id = config.mlflow_run_id
    client = MlflowRest(settings)
    history: dict[str, list[float]] = {}

    def on_epoch(epoch: int, logs: dict[str, float]) -> None:
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        if run_id:
            client.log_batch(run_id, metrics=logs, step=epoch)

    with client:
        if run_id:
            client.log_batch(run_id, params={f"train.{k}": v for k, v in params.items()})
        started = time.perf_counter()
        model = definition.fit(data["train_windows"], data["val_windows"], params, on_epoch)
        train_seconds = time.perf_counter() - started
        sample = data["val_windows"][:2048]
        result = _check_and_save(definition, model, sample, out_dir, train_seconds, history)
        if run_id:
            metrics = {"train_seconds": train_seconds, "onnx_max_rel_diff": result.onnx_max_rel_diff}
            client.log_batch(run_id, metrics=metrics)
    (out_dir / TRAIN_JSON).write_text(result.model_dump_json(indent=2))
    return result


def _check_and_save(
    definition: ModelDefinition,
    model: Any,
    sample: np.ndarray,
    out_dir: Path,
    train_seconds: float,
    history: dict[str, list[float]],
) -> TrainResult:
    """Export ONNX, fail if it scores differently from the trained object, save the native model."""
    import onnxruntime as ort

    timings = {"fit": train_seconds}
    mark = time.perf_counter()
    onnx_path = out_dir / ONNX_FILE
    definition.export_onnx(model, onnx_path)
    timings["export_onnx"] = time.perf_counter() - mark
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_in, onnx_out = session.get_inputs()[0].name, session.get_outputs()[0].name
    native = definition.reconstruct(model, sample)
    onnx_rec = session.run([onnx_out], {onnx_in: sample})[0]
    err_native = definition.reconstruction_error(sample, native)
    err_onnx = definition.reconstruction_error(sample, onnx_rec)
    rel_diff = float(np.max(np.abs(err_onnx - err_native) / np.maximum(np.abs(err_native), 1e-9)))
    if rel_diff > ONNX_TOLERANCE:
        raise RuntimeError(
            f"ONNX export differs from the trained model: max relative error diff {rel_diff:.2e}"
        )

    mark = time.perf_counter()
    native_file = definition.save_native_model(model, out_dir)
    timings["save_native"] = time.perf_counter() - mark
    return TrainResult(
        epochs=len(next(iter(history.values()), [])),
        train_seconds=train_seconds,
        history=history,
        onnx_input=onnx_in,
        onnx_output=onnx_out,
        onnx_max_rel_diff=rel_diff,
        native_file=native_file.name if native_file else None,
        step_seconds=timings,
    )


# -- evaluate ---------------------------------------------------------------------------------


def _classification(labels: np.ndarray, scores: np.ndarray, flags: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, f1_score, precision_recall_curve, roc_auc_score

    precision, recall, _ = precision_recall_curve(labels, scores)
    f1s = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "f1": float(f1_score(labels, flags, zero_division=0)),
        "best_f1": float(np.max(f1s)),
    }


def _plots(
    out_dir: Path, val_err: np.ndarray, test_err: np.ndarray, labels: np.ndarray | None, curves: dict
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    paths = []  # histograms as one filled outline each: a bar per bin draws ~3x slower
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(
        np.log10(max(min(val_err.min(), test_err.min() if test_err.size else 1), 1e-12)),
        np.log10(max(val_err.max(), test_err.max() if test_err.size else 1e-12)),
        60,
    )
    groups = [("validation", val_err, 0.6)]
    if labels is not None and test_err.size:
        groups += [
            ("test normal", test_err[labels == 0], 0.5),
            ("test anomalous", test_err[labels == 1], 0.5),
        ]
    elif test_err.size:
        groups.append(("test", test_err, 0.5))
    for label, errors, alpha in groups:
        ax.hist(
            np.log10(np.maximum(errors, 1e-12)),
            bins=bins,
            alpha=alpha,
            label=label,
            density=True,
            histtype="stepfilled",
        )
    ax.set_xlabel("log10 reconstruction error")
    ax.legend()
    paths.append(out_dir / "error_distribution.png")
    fig.savefig(paths[-1], dpi=80, bbox_inches="tight")
    plt.close(fig)
    if labels is not None and curves:
        fig, ax = plt.subplots(figsize=(5, 5))
        for name, scores in curves.items():
            fpr, tpr, _ = roc_curve(labels, scores)
            ax.plot(fpr, tpr, label=name)
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend()
        paths.append(out_dir / "roc.png")
        fig.savefig(paths[-1], dpi=80, bbox_inches="tight")
        plt.close(fig)
    return paths


def compare_with_baselines(
    data: dict[str, np.ndarray], errors: np.ndarray, flags: np.ndarray, window: int, timezone: str
) -> tuple[dict[str, float], dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """The model's test metrics, the baselines' metrics, and every method's scores (for ROC plots)."""
    from aifabric.models.baselines import IsolationForestBaseline, SeasonalZScore

    labels = data["test_labels"].astype(int)
    zscore = SeasonalZScore(timezone=timezone).fit(
        data["train_series"].repeat(window), data["train_ts"].ravel(), data["train_values"].ravel()
    )
    z = zscore.score_windows(data["test_series"], data["test_ts"], data["test_values"])
    forest = IsolationForestBaseline().fit(data["train_windows"])
    iso = forest.score_windows(data["test_windows"])
    baselines = {
        "seasonal_zscore": _classification(labels, z, z >= SeasonalZScore.threshold),
        "isolation_forest": _classification(labels, iso, forest.flags(data["test_windows"])),
    }
    curves = {"model": errors, "seasonal z-score": z, "IsolationForest": iso}
    return _classification(labels, errors, flags), baselines, curves


def evaluate(
    settings: Settings, config: PipelineConfig, prep_dir: Path, model_dir: Path, out_dir: Path
) -> EvalResult:
    """Calibrate, write the bundle to ``out_dir/bundle``, score the test split, compare baselines.

    With a run, the MLflow model (the ONNX export) is logged meanwhile in a thread: a dozen
    requests that mostly wait on the tracking server, beside this step's CPU work.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    trained = TrainResult.model_validate_json((model_dir / TRAIN_JSON).read_text())
    run_id = config.mlflow_run_id
    with ThreadPoolExecutor(1) as pool:
        if run_id:
            with np.load(prep_dir / DATA_FILE) as data:
                sample = data["val_windows"][:8]
            logged = pool.submit(log_mlflow_model, settings, run_id, model_dir, trained, sample)
        result, plots = _evaluate(config, prep_dir, model_dir, trained, out_dir, draw=bool(run_id))
        if run_id:
            result.model_uri = logged.result()
    (out_dir / EVAL_JSON).write_text(result.model_dump_json(indent=2))
    if run_id:
        from aifabric.kfp_pipelines.tracking import MlflowRest

        metrics = {f"eval.{key}": value for key, value in result.metrics.items()}
        for name, values in result.baselines.items():
            metrics |= {f"baseline.{name}.{key}": value for key, value in values.items()}
        with MlflowRest(settings) as client:
            client.log_batch(run_id, metrics=metrics)
            for path in plots:
                client.log_artifact(run_id, path, "plots")
            client.log_artifact(run_id, out_dir / EVAL_JSON, "")
    return result


def _evaluate(
    config: PipelineConfig, prep_dir: Path, model_dir: Path, trained: TrainResult, out_dir: Path, draw: bool
) -> tuple[EvalResult, list[Path]]:
    """The evaluation itself, and its plots if ``draw``."""
    prep, data = _load_prep(prep_dir)
    bundle_dir = out_dir / "bundle"
    bundle_dir.mkdir(exist_ok=True)
    shutil.copyfile(model_dir / ONNX_FILE, bundle_dir / ONNX_FILE)
    if prep.definition_file:
        shutil.copyfile(prep_dir / prep.definition_file, bundle_dir / prep.definition_file)
    draft = ScoringBundle(
        model_name=config.model_name or _definition(prep, prep_dir).name,
        definition=prep.definition,
        definition_file=prep.definition_file,
        features=prep.features,
        window=prep.window,
        timezone=prep.timezone,
        scaler_mean=prep.scaler_mean,
        scaler_scale=prep.scaler_scale,
        reference=prep.reference,
        calibration={"mu": 0.0, "sigma": 1.0, "n": 1},
        threshold=config.threshold,
        input_name=trained.onnx_input,
        output_name=trained.onnx_output,
    )
    draft.save(bundle_dir)
    val_err = Scorer.from_dir(bundle_dir, threads=2).score(data["val_windows"]).errors
    bundle = draft.model_copy(update={"calibration": fit_calibration(val_err)})
    bundle.save(bundle_dir)
    scorer = Scorer.from_dir(bundle_dir, threads=2)
    test = scorer.score(data["test_windows"])

    metrics: dict[str, float] = {
        "val_error_median": float(np.median(val_err)),
        "val_error_p99": float(np.quantile(val_err, 0.99)),
        "calibration_mu": bundle.calibration.mu,
        "calibration_sigma": bundle.calibration.sigma,
    }
    if test.errors.size:
        metrics |= {
            "test_error_median": float(np.median(test.errors)),
            "test_error_p99": float(np.quantile(test.errors, 0.99)),
            "test_anomaly_rate": float(test.anomalies.mean()),
        }
    labels = data["test_labels"].astype(int) if prep.has_labels and data["test_labels"].size else None
    baselines: dict[str, dict[str, float]] = {}
    curves: dict[str, np.ndarray] = {}
    if labels is not None and 0 < labels.sum() < labels.size:
        model_metrics, baselines, curves = compare_with_baselines(
            data, test.errors, test.anomalies, prep.window, prep.timezone
        )
        metrics |= model_metrics
    gate = config.gate
    if gate.metric in metrics:
        passed = metrics[gate.metric] >= gate.min
        reason = f"{gate.metric} = {metrics[gate.metric]:.4f} {'>=' if passed else '<'} {gate.min}"
    else:
        passed = gate.if_missing == "pass"
        reason = f"{gate.metric} not available (unlabelled test split); gate set to {gate.if_missing}"
    result = EvalResult(metrics=metrics, baselines=baselines, gate_passed=passed, gate_reason=reason)
    return result, (_plots(out_dir, val_err, test.errors, labels, curves) if draw else [])


# -- register ---------------------------------------------------------------------------------


def bundle_s3_uri(settings: Settings, artifact_uri: str) -> str:
    """The S3 URI of a run's ``bundle/`` artifacts, also when the server proxies artifacts."""
    if artifact_uri.startswith("s3://"):
        return f"{artifact_uri.rstrip('/')}/bundle"
    if artifact_uri.startswith("mlflow-artifacts:"):
        path = artifact_uri.removeprefix("mlflow-artifacts:").lstrip("/")
        if artifact_uri.startswith("mlflow-artifacts://"):  # mlflow-artifacts://host:port/path
            path = path.partition("/")[2]
        return f"s3://{settings.resolved().s3.mlflow_bucket}/{path.rstrip('/')}/bundle"
    return f"{artifact_uri.rstrip('/')}/bundle"


def log_mlflow_model(
    settings: Settings, run_id: str, model_dir: Path, trained: TrainResult, sample: np.ndarray
) -> str:
    """Log the ONNX export as the run's MLflow model, with the signature of ``sample`` windows and
    their reconstructions; return its ``models:/<model_id>`` URI.

    ONNX is what serving runs (the bundle holds the same file). Requirements are pinned from the
    running versions: inferring them would load the model in a subprocess, seconds per run.
    """
    from importlib.metadata import version

    import mlflow
    import onnx
    import onnxruntime as ort
    from mlflow.models import infer_signature

    path = model_dir / ONNX_FILE
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    output = session.run([trained.onnx_output], {trained.onnx_input: sample})[0]
    pins = [f"{pkg}=={version(pkg)}" for pkg in ("onnx", "onnxruntime", "numpy")]
    mlflow.set_tracking_uri(settings.resolved().mlflow.tracking_uri)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.onnx.log_model(
            onnx.load(str(path)),
            name="model",
            signature=infer_signature(sample, output),
            pip_requirements=pins,
        )
    return info.model_uri


def register(
    settings: Settings, config: PipelineConfig, prep_dir: Path, model_dir: Path, eval_dir: Path
) -> RegisterResult:
    """Log ``model.keras`` and the bundle, register the MLflow model evaluate logged as a new version
    with lineage tags, move the alias if the gate passed."""
    from aifabric.kfp_pipelines.tracking import MlflowRest

    prep = PrepareResult.model_validate_json((prep_dir / PREP_JSON).read_text())
    trained = TrainResult.model_validate_json((model_dir / TRAIN_JSON).read_text())
    evaluation = EvalResult.model_validate_json((eval_dir / EVAL_JSON).read_text())
    bundle = ScoringBundle.load(eval_dir / "bundle")
    if not config.mlflow_run_id or not evaluation.model_uri:
        raise ValueError("register needs the MLflow run the runner creates (mlflow_run_id)")
    run_id, model_uri = config.mlflow_run_id, evaluation.model_uri
    with MlflowRest(settings) as client:
        if trained.native_file:
            client.log_artifact(run_id, model_dir / trained.native_file, "")
        client.log_artifacts(run_id, eval_dir / "bundle", "bundle")
        bundle_uri = bundle_s3_uri(settings, client.artifact_uri(run_id))
        tags = {
            "dataset_version": prep.dataset_ref,
            "dataset_version_id": prep.dataset_version_id,
            "dataset_checksum": prep.dataset_checksum,
            "code_version": config.code_version or code_version(),
            "bundle_uri": bundle_uri,
            "definition": prep.definition,
            "tenant": config.tenant,
            "gate": "passed" if evaluation.gate_passed else "failed",
        }
        tags |= {
            f"eval.{key}": f"{value:.4f}"
            for key, value in evaluation.metrics.items()
            if key in ("roc_auc", "pr_auc", "f1")
        }
        # as mlflow.register_model does for a logged model's "models:/<model_id>" URI
        model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/") else None
        registered = registry_name(config.tenant, bundle.model_name)
        version = client.create_model_version(registered, model_uri, run_id, tags, model_id)
        alias = None
        if evaluation.gate_passed and config.alias:
            client.set_alias(registered, config.alias, version["version"])
            alias = config.alias
        run_tags = {k: v for k, v in tags.items() if not k.startswith("eval.")}
        client.log_batch(run_id, tags=run_tags | {"model_version": f"{registered}/{version['version']}"})
    return RegisterResult(
        model_name=bundle.model_name,
        model_version=str(version["version"]),
        model_uri=model_uri,
        bundle_uri=bundle_uri,
        alias=alias,
    )


def result_dict(obj: BaseModel) -> dict[str, Any]:
    return json.loads(obj.model_dump_json())
