"""The scoring bundle: everything needed to score, in one directory, with no training framework.

A bundle directory holds ``bundle.json`` (a :class:`ScoringBundle`: definition, feature order,
window, scaler, calibration, threshold, ONNX tensor names), ``model.onnx`` and, for a definition
uploaded as a file, that file. The pipeline's register step logs the directory as artifacts
``bundle/`` of the MLflow run that produced the model version, so a consumer finds it either

* with MLflow: the model version's ``run_id`` -> run artifacts ``bundle/`` (``bundle.json``,
  ``model.onnx``), or
* without MLflow (the predictor, which must start fast): the model version tag ``bundle_uri``,
  e.g. ``s3://mlflow/1/<run_id>/artifacts/bundle``, fetched straight from S3.

This module imports numpy, pydantic and (lazily) onnxruntime only: never TensorFlow or MLflow.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from aifabric.models.base import sliding_windows
from aifabric.models.calibration import Calibration
from aifabric.models.reference import SeasonalReference

if TYPE_CHECKING:
    from aifabric.models.base import ModelDefinition

__all__ = ["BUNDLE_FILE", "ScoreOutput", "Scorer", "ScoringBundle"]

BUNDLE_FILE = "bundle.json"


class ScoringBundle(BaseModel):
    """How to turn one series' raw points into scores with ``model.onnx``."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_name: str
    definition: str = Field(description='dotted path "module:Class" of the ModelDefinition')
    definition_file: str | None = Field(
        None, description="file name (in the bundle directory) of an uploaded definition module"
    )
    features: list[str]
    window: int = Field(ge=1)
    timezone: str = "UTC"
    scaler_mean: list[float]
    scaler_scale: list[float]
    reference: SeasonalReference | None = Field(
        None, description="expected levels of the training series, for definitions that use them"
    )
    calibration: Calibration
    threshold: float = Field(
        ge=0.0, le=1.0, description="probability at or above which a window is anomalous"
    )
    onnx_file: str = "model.onnx"
    input_name: str
    output_name: str

    _directory: Path | None = PrivateAttr(None)
    _definition: Any = PrivateAttr(None)

    def save(self, directory: Path) -> None:
        """Write ``bundle.json`` into ``directory`` (the ONNX file is written by the exporter)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / BUNDLE_FILE).write_text(self.model_dump_json(indent=2), encoding="utf-8")
        self._directory = directory

    @classmethod
    def load(cls, directory: Path) -> ScoringBundle:
        """Read ``bundle.json`` from ``directory``."""
        directory = Path(directory)
        bundle = cls.model_validate_json((directory / BUNDLE_FILE).read_text(encoding="utf-8"))
        bundle._directory = directory
        return bundle

    @property
    def directory(self) -> Path | None:
        return self._directory

    def definition_instance(self) -> ModelDefinition:
        """The model definition (imported once; its module must not import TF at import time)."""
        if self._definition is None:
            from aifabric.models.registry import load_definition

            file = None
            if self.definition_file:
                if self._directory is None:
                    raise ValueError("bundle has a definition file but was not loaded from a directory")
                file = self._directory / self.definition_file
            self._definition = load_definition(self.definition, file=file)(timezone=self.timezone)
        return self._definition

    def scale(self, features: np.ndarray) -> np.ndarray:
        """Standardise ``(..., n_features)`` with the training scaler -> float32."""
        mean = np.asarray(self.scaler_mean, dtype=np.float32)
        scale = np.asarray(self.scaler_scale, dtype=np.float32)
        return ((np.asarray(features, dtype=np.float32) - mean) / scale).astype(np.float32, copy=False)

    def expected_levels(self, rows: np.ndarray, timestamps_ms: np.ndarray) -> np.ndarray | None:
        """The points' expected levels for a definition that uses the seasonal reference, else None.

        ``rows`` are :meth:`SeasonalReference.row_of` of each point's series; without a reference
        (a bundle written before it existed) every level is unknown.
        """
        if not self.definition_instance().uses_reference:
            return None
        if self.reference is None:
            return np.full(np.asarray(timestamps_ms).shape[0], np.nan)
        return self.reference.expected_at(rows, timestamps_ms)

    def reference_row(self, series: str) -> int:
        """The reference's row for a series key (-1: unknown, or no reference)."""
        return self.reference.row_of(series) if self.reference is not None else -1

    def featurize(self, rows: np.ndarray, timestamps_ms: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Scaled features of points (of any series; ``rows`` as in :meth:`expected_levels`)."""
        ts = np.asarray(timestamps_ms)
        expected = self.expected_levels(rows, ts)
        definition = self.definition_instance()
        raw = (
            definition.featurize(ts, values)
            if expected is None
            else definition.featurize(ts, values, expected)
        )
        return self.scale(raw)

    def preprocess(self, timestamps_ms: np.ndarray, values: np.ndarray, series: str = "") -> np.ndarray:
        """One series' chronological raw points -> scaled windows ``(n - window + 1, window, f)``."""
        ts = np.asarray(timestamps_ms)
        rows = np.full(ts.shape[0], self.reference_row(series), dtype=np.int64)
        return sliding_windows(self.featurize(rows, ts, np.asarray(values)), self.window)


class ScoreOutput(NamedTuple):
    """Per-window scores: reconstruction error, calibrated probability, and the thresholded flag."""

    errors: np.ndarray
    probabilities: np.ndarray
    anomalies: np.ndarray


class Scorer:
    """Scores scaled windows with the bundle's ONNX model in onnxruntime."""

    def __init__(self, bundle: ScoringBundle, session: Any) -> None:
        self.bundle = bundle
        self._session = session
        self._definition = bundle.definition_instance()

    @classmethod
    def from_dir(cls, directory: Path, threads: int = 1) -> Scorer:
        """Load ``bundle.json`` and its ONNX model from ``directory``."""
        import onnxruntime as ort

        bundle = ScoringBundle.load(directory)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(
            str(Path(directory) / bundle.onnx_file), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        return cls(bundle, session)

    def reconstruct(self, windows: np.ndarray) -> np.ndarray:
        """Run the ONNX model on float32 windows ``(n, window, n_features)``."""
        x = np.ascontiguousarray(windows, dtype=np.float32)
        expected = (self.bundle.window, len(self.bundle.features))
        if x.ndim != 3 or x.shape[1:] != expected:
            raise ValueError(f"windows must have shape (n, {expected[0]}, {expected[1]}), got {x.shape}")
        return self._session.run([self.bundle.output_name], {self.bundle.input_name: x})[0]

    def score(self, windows: np.ndarray) -> ScoreOutput:
        """Errors, probabilities and anomaly flags for scaled windows."""
        x = np.ascontiguousarray(windows, dtype=np.float32)
        if x.shape[0] == 0:
            empty = np.empty(0, dtype=np.float64)
            return ScoreOutput(empty, empty, np.empty(0, dtype=bool))
        errors = self._definition.reconstruction_error(x, self.reconstruct(x))
        probabilities = self.bundle.calibration.probability(errors)
        return ScoreOutput(errors, probabilities, probabilities >= self.bundle.threshold)
