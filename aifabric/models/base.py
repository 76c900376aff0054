"""The model-definition interface: what a model must offer to be trained by the pipeline and served.

A definition is a class, not a trained model. It declares its input ``features`` and ``window``,
turns raw points into features (``featurize``), trains on scaled windows (``fit``), reconstructs
windows with the trained object (``reconstruct``) and exports that object to ONNX
(``export_onnx``). Scoring is "reconstruct, then ``reconstruction_error`` per window"; the
pipeline calibrates errors into probabilities (``aifabric.models.calibration``) and ships the
result as a :class:`aifabric.models.bundle.ScoringBundle`.

This module imports numpy (and aifabric.errors) only: the Data Consumer calls ``featurize`` on
live records and must not pay for TensorFlow. Implementations import their training framework
inside ``fit``/``export_onnx``.
A user's own definition subclasses :class:`ModelDefinition` and is loaded by
``aifabric.models.registry``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import numpy as np

from aifabric.errors import InvalidRequest

__all__ = ["CALENDAR_FEATURES", "REFERENCE_FEATURE", "EpochCallback", "ModelDefinition", "sliding_windows"]

MS_PER_MINUTE = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
CALENDAR_FEATURES = ("weekday", "hour", "minute", "value")
REFERENCE_FEATURE = "seasonal_residual"

EpochCallback = Callable[[int, dict[str, float]], None]
"""Called after each epoch with the 0-based epoch number and its metrics (e.g. ``loss``)."""


@lru_cache(maxsize=4096)
def _offset_ms(tz: str, hour_epoch: int) -> int:
    offset = datetime.fromtimestamp(hour_epoch * 3600, UTC).astimezone(ZoneInfo(tz)).utcoffset()
    return int(offset.total_seconds() * 1000) if offset else 0


def local_ms(timestamps_ms: np.ndarray, tz: str) -> np.ndarray:
    """Epoch ms shifted to wall-clock ms in ``tz`` (offsets looked up once per distinct hour)."""
    ts = np.asarray(timestamps_ms, dtype=np.int64)
    if tz == "UTC" or ts.size == 0:
        return ts
    hours, inverse = np.unique(ts // MS_PER_HOUR, return_inverse=True)
    offsets = np.fromiter((_offset_ms(tz, int(h)) for h in hours), dtype=np.int64, count=hours.size)
    return ts + offsets[inverse]


def _residual(values: np.ndarray, expected: np.ndarray | None) -> np.ndarray:
    """``log1p(value) - expected``; 0 where the expected level is unknown (NaN)."""
    if expected is None:
        raise ValueError(f"the feature {REFERENCE_FEATURE!r} needs the expected levels of the points")
    residual = np.log1p(np.maximum(np.asarray(values, dtype=np.float64), 0.0)) - np.asarray(expected)
    return np.nan_to_num(residual, nan=0.0)


def sliding_windows(
    features: np.ndarray, window: int, dtype: np.dtype | type | None = np.float32
) -> np.ndarray:
    """(n, f) chronological rows -> (n - window + 1, window, f) windows (empty if n < window).

    ``dtype`` float32 by default (model input); ``None`` keeps the input's (e.g. int64 timestamps).
    """
    x = np.asarray(features, dtype=dtype)
    if x.shape[0] < window:
        return np.empty((0, window, x.shape[1]), dtype=np.float32)
    view = np.lib.stride_tricks.sliding_window_view(x, window, axis=0)  # (n-w+1, f, w)
    return np.ascontiguousarray(view.transpose(0, 2, 1))


class ModelDefinition(ABC):
    """Base class of every trainable, servable anomaly model.

    Class attributes declare the input contract; the pipeline stores them in the scoring bundle so
    serving never re-derives them.

    Attributes:
        name: short name, e.g. ``"lstm_ae"``; the default registered-model name.
        features: feature names in column order; ``featurize`` produces exactly these.
        window: number of consecutive points per input sequence.
        timezone: IANA zone for the calendar features (Milan data follows Europe/Rome).
        default_params: training parameters (``fit``'s ``params`` are merged over these).
    """

    name: ClassVar[str]
    features: ClassVar[tuple[str, ...]] = CALENDAR_FEATURES
    window: ClassVar[int] = 12
    timezone: ClassVar[str] = "UTC"
    default_params: ClassVar[dict[str, Any]] = {}

    def __init__(self, timezone: str | None = None) -> None:
        if timezone:
            self.timezone = timezone
        ZoneInfo(self.timezone)  # fail early on an unknown zone

    @property
    def uses_reference(self) -> bool:
        """Whether a feature needs the series' seasonal reference (:mod:`aifabric.models.reference`)."""
        return REFERENCE_FEATURE in self.features

    def featurize(
        self, timestamps_ms: np.ndarray, values: np.ndarray, expected: np.ndarray | None = None
    ) -> np.ndarray:
        """Raw points of one series (chronological) -> ``(n, len(features))`` float32.

        The default knows ``weekday`` (Monday = 0), ``hour``, ``minute`` (wall clock in
        ``timezone``), their cyclical encodings ``<name>_sin`` / ``<name>_cos`` (``sin(2 pi x /
        period)``: Sunday sits next to Monday and 23:00 next to 00:00, which the integer codes
        hide), ``value``, ``log_value`` (``log1p`` of the value, so that errors are relative
        rather than absolute) and ``seasonal_residual`` (``log_value`` minus ``expected``, the
        series' usual ``log_value`` at that time from the seasonal reference; 0 where ``expected``
        is NaN, i.e. for a series the reference does not know); override for other features.
        Pure numpy, because the Data Consumer calls it on live records.
        """
        ts = local_ms(timestamps_ms, self.timezone)
        calendar = {
            "weekday": (lambda: ((ts // MS_PER_DAY) + 3) % 7, 7),  # 1970-01-01 was a Thursday
            "hour": (lambda: (ts // MS_PER_HOUR) % 24, 24),
            "minute": (lambda: (ts // MS_PER_MINUTE) % 60, 60),
        }
        columns = {name: code for name, (code, _) in calendar.items()}
        for name, (code, period) in calendar.items():
            columns[f"{name}_sin"] = lambda code=code, period=period: np.sin(2 * np.pi * code() / period)
            columns[f"{name}_cos"] = lambda code=code, period=period: np.cos(2 * np.pi * code() / period)
        columns |= {
            "value": lambda: np.asarray(values, dtype=np.float64),
            "log_value": lambda: np.log1p(np.maximum(np.asarray(values, dtype=np.float64), 0.0)),
            REFERENCE_FEATURE: lambda: _residual(values, expected),
        }
        unknown = [f for f in self.features if f not in columns]
        if unknown:
            raise ValueError(f"{type(self).__name__} must override featurize() for features {unknown}")
        out = np.empty((ts.shape[0], len(self.features)), dtype=np.float32)
        for i, feature in enumerate(self.features):
            out[:, i] = columns[feature]()
        return out

    def params(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """``default_params`` with ``overrides`` applied; unknown keys are refused."""
        merged = dict(self.default_params)
        unknown = sorted(set(overrides or {}) - set(merged))
        if unknown:
            raise InvalidRequest(f"unknown parameters for {self.name}: {unknown}; known: {sorted(merged)}")
        merged.update(overrides or {})
        return merged

    @abstractmethod
    def fit(
        self, train: np.ndarray, val: np.ndarray, params: dict[str, Any], on_epoch: EpochCallback | None
    ) -> Any:
        """Train on scaled windows ``(n, window, n_features)`` float32; return the trained object."""

    @abstractmethod
    def export_onnx(self, model: Any, path: Path) -> None:
        """Write an ONNX file mapping float32 windows ``(batch, window, n_features)`` to reconstructions.

        The batch dimension must be dynamic; the file has one input and one output.
        """

    def reconstruct(self, model: Any, windows: np.ndarray) -> np.ndarray:
        """Reconstruct windows with the in-memory trained object (used to check the ONNX export)."""
        return np.asarray(model.predict(windows), dtype=np.float32)

    def reconstruction_error(self, windows: np.ndarray, reconstructed: np.ndarray) -> np.ndarray:
        """Mean squared error per window over steps and features -> ``(n,)`` float64."""
        diff = np.asarray(windows, dtype=np.float64) - np.asarray(reconstructed, dtype=np.float64)
        return np.mean(diff * diff, axis=tuple(range(1, diff.ndim)))

    def save_native_model(self, model: Any, directory: Path) -> Path | None:
        """Write the trained object in its framework's own format into ``directory``; return the file.

        The pipeline logs it as a run artifact beside the MLflow model, which is the ONNX export
        (what serving runs) with its signature. The default writes nothing: any framework can
        export ONNX, not every one has a file format.
        """
        return None
