"""Baselines the evaluation compares every model with, scored per window like the models.

* :class:`SeasonalZScore`: for each series and local slot of the day, the mean and standard
  deviation of the training values; a point's score is its ``|z|``, a window's score the largest
  ``|z|`` in it; flags ``|z| >= 3``. The textbook operator rule. ``robust=True`` uses median and
  MAD and keeps weekdays and weekends apart: a stronger variant, which the detection benchmark
  reports too.
* :class:`IsolationForestBaseline`: scikit-learn's IsolationForest on the flattened scaled
  windows; score ``-score_samples``, flags its own ``predict == -1``.
"""

from __future__ import annotations

import numpy as np

from aifabric.models.base import MS_PER_DAY, MS_PER_MINUTE, local_ms

__all__ = ["IsolationForestBaseline", "SeasonalZScore"]

_MAD_TO_SIGMA = 1.4826


class SeasonalZScore:
    """z-score against a per-series, per-slot-of-day seasonal profile."""

    threshold = 3.0

    def __init__(self, slot_minutes: int = 10, timezone: str = "UTC", robust: bool = False) -> None:
        self.slot_minutes = slot_minutes
        self.timezone = timezone
        self.robust = robust
        self._stats: dict[tuple[int, int], tuple[float, float]] = {}
        self._global_scale = 1.0

    def _keys(self, series: np.ndarray, timestamps_ms: np.ndarray) -> np.ndarray:
        local = local_ms(timestamps_ms, self.timezone)
        slot = (local % MS_PER_DAY) // (self.slot_minutes * MS_PER_MINUTE)
        weekend = (((local // MS_PER_DAY) + 3) % 7) >= 5 if self.robust else np.zeros(local.shape, dtype=bool)
        return np.stack([np.asarray(series, dtype=np.int64), slot * 2 + weekend], axis=1)

    def fit(self, series: np.ndarray, timestamps_ms: np.ndarray, values: np.ndarray) -> SeasonalZScore:
        """Learn the profile from training points (``series`` is an integer id per point)."""
        keys = self._keys(series, timestamps_ms)
        values = np.asarray(values, dtype=np.float64)
        spreads = []
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        for i, key in enumerate(uniq):
            v = values[inverse.ravel() == i]
            if self.robust:
                center = float(np.median(v))
                spread = _MAD_TO_SIGMA * float(np.median(np.abs(v - center)))
            else:
                center, spread = float(np.mean(v)), float(np.std(v))
            self._stats[(int(key[0]), int(key[1]))] = (center, spread)
            spreads.append(spread)
        positive = [s for s in spreads if s > 0]
        self._global_scale = float(np.median(positive)) if positive else 1.0
        return self

    def score_points(self, series: np.ndarray, timestamps_ms: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``|z|`` per point; slots never seen in training score 0."""
        keys = self._keys(series, timestamps_ms)
        values = np.asarray(values, dtype=np.float64)
        out = np.zeros(values.shape[0])
        for i, (s, k) in enumerate(keys):
            med, mad = self._stats.get((int(s), int(k)), (values[i], 1.0))
            out[i] = abs(values[i] - med) / (mad if mad > 0 else self._global_scale)
        return out

    def score_windows(self, series: np.ndarray, timestamps_ms: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Window scores: ``series`` ``(n,)``, ``timestamps_ms``/``values`` ``(n, window)`` -> max ``|z|``."""
        n, w = values.shape
        z = self.score_points(np.repeat(series, w), timestamps_ms.ravel(), values.ravel())
        return z.reshape(n, w).max(axis=1)


class IsolationForestBaseline:
    """IsolationForest over flattened scaled windows."""

    def __init__(self, seed: int = 42, n_estimators: int = 100) -> None:
        from sklearn.ensemble import IsolationForest

        self._forest = IsolationForest(n_estimators=n_estimators, random_state=seed)

    def fit(self, windows: np.ndarray) -> IsolationForestBaseline:
        self._forest.fit(windows.reshape(windows.shape[0], -1))
        return self

    def score_windows(self, windows: np.ndarray) -> np.ndarray:
        """Higher = more anomalous."""
        return -self._forest.score_samples(windows.reshape(windows.shape[0], -1))

    def flags(self, windows: np.ndarray) -> np.ndarray:
        return self._forest.predict(windows.reshape(windows.shape[0], -1)) == -1
