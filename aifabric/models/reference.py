"""The seasonal reference: each training series' expected level at each slot of the day.

An autoencoder that sees 12 slots (2 hours) cannot tell the middle of a 6-hour level shift from
normal traffic: inside the shift every window is self-consistent, so the network reconstructs it
well. What tells them apart is the series' usual level at that time of day, which the seasonal
z-score baseline knows and the window does not. A definition that lists the feature
``seasonal_residual`` gets it: ``log1p(value)`` minus the median ``log1p(value)`` of the same
series in the same slot of the day (weekdays and weekends apart), over the training split.

The reference is fitted by the pipeline's prepare step and travels in the scoring bundle
(``ScoringBundle.reference``), so serving looks it up and never re-derives it.

Live series are matched to training series by name: the series key itself, or one of its label
values (``NWDAF/NUM_OF_UE/cell=000000007`` matches the training series ``000000007``, and ``7``,
since zero-padded numbers compare as numbers; ``EDGE/internet/square=1234`` matches the Milan
square ``1234``). A series that matches none, or whose label values name two different training
series (``cell=7,slice=1`` with squares 7 and 1 both trained: which one is meant is a guess), has
no expected level: its ``seasonal_residual`` is 0, so the model scores it on the shape of its
window alone (what the definitions without the feature do).

numpy and pydantic only: the Data Consumer and the predictor use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from aifabric.models.base import MS_PER_DAY, MS_PER_MINUTE, local_ms

__all__ = ["SeasonalReference"]


def _day_codes(timestamps_ms: np.ndarray, timezone: str, slot_minutes: int) -> np.ndarray:
    """Column of each point in a profile: slot of the local day, weekend slots after weekday ones."""
    local = local_ms(np.asarray(timestamps_ms, dtype=np.int64), timezone)
    per_day = MS_PER_DAY // (slot_minutes * MS_PER_MINUTE)
    slot = (local % MS_PER_DAY) // (slot_minutes * MS_PER_MINUTE)
    weekend = (((local // MS_PER_DAY) + 3) % 7) >= 5  # 1970-01-01 was a Thursday
    return slot + weekend * per_day


def _group_medians(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Median of ``values`` per code in ``range(n)`` (NaN for a code without values), vectorised."""
    out = np.full(n, np.nan)
    if codes.size == 0:
        return out
    order = np.lexsort((values, codes))
    c, v = codes[order], values[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    counts = np.diff(np.r_[starts, c.size])
    lo = starts + (counts - 1) // 2
    hi = starts + counts // 2
    out[c[starts]] = (v[lo] + v[hi]) / 2
    return out


def _label_values(key: str) -> list[str]:
    """Label values of a series key ``source/metric/k=v,k=v`` (none for a bare name)."""
    if key.count("/") < 2:
        return []
    return [part.partition("=")[2] for part in key.split("/", 2)[2].split(",") if "=" in part]


def _canonical(name: str) -> str:
    """Zero-padded decimal numbers compare as numbers: ``000000007`` -> ``7``."""
    return str(int(name)) if name.isdigit() else name


class SeasonalReference(BaseModel):
    """Median ``log1p(value)`` per training series, slot of the day and day type."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"
    slot_minutes: int = Field(10, ge=1, le=1440)
    profiles: dict[str, list[float]] = Field(
        description="series name -> expected log1p level per slot of the day, "
        "weekday slots first, then weekend slots"
    )

    _rows: dict[str, int] = PrivateAttr(default_factory=dict)
    _matrix: np.ndarray | None = PrivateAttr(None)

    @classmethod
    def fit(
        cls, series: Iterable[tuple[str, np.ndarray, np.ndarray]], timezone: str, slot_minutes: int
    ) -> SeasonalReference:
        """Learn the profiles from ``(name, timestamps_ms, values)`` of each series' training points.

        A slot without training points takes the other day type's value for that slot, and failing
        that the series' overall median, so every profile is complete.
        """
        per_day = MS_PER_DAY // (slot_minutes * MS_PER_MINUTE)
        profiles: dict[str, list[float]] = {}
        for name, ts, values in series:
            logs = np.log1p(np.maximum(np.asarray(values, dtype=np.float64), 0.0))
            if logs.size == 0:
                continue
            med = _group_medians(_day_codes(ts, timezone, slot_minutes), logs, 2 * per_day)
            weekday, weekend = med[:per_day], med[per_day:]
            weekday = np.where(np.isnan(weekday), weekend, weekday)
            weekend = np.where(np.isnan(weekend), weekday, weekend)
            full = np.r_[weekday, weekend]
            full[np.isnan(full)] = float(np.median(logs))
            profiles[str(name)] = np.round(full, 5).tolist()
        return cls(timezone=timezone, slot_minutes=slot_minutes, profiles=profiles)

    def _table(self) -> np.ndarray:
        if self._matrix is None:
            names = list(self.profiles)
            self._matrix = np.asarray([self.profiles[n] for n in names], dtype=np.float64).reshape(
                len(names), -1
            )
            self._rows = {_canonical(n): i for i, n in enumerate(names)}
            self._rows.update({n: i for i, n in enumerate(names)})
        return self._matrix

    def row_of(self, key: str) -> int:
        """The profile row of a series (see the module docstring for matching), -1 if none or if
        several label values name different training series (ambiguous: better unknown than wrong)."""
        self._table()
        if key in self._rows:
            return self._rows[key]
        rows = {
            row
            for value in _label_values(key)
            if (row := self._rows.get(value, self._rows.get(_canonical(value)))) is not None
        }
        return rows.pop() if len(rows) == 1 else -1

    def expected_at(self, rows: np.ndarray, timestamps_ms: np.ndarray) -> np.ndarray:
        """Expected log1p level of each point (``rows`` from :meth:`row_of`); NaN where row is -1."""
        table = self._table()
        rows = np.asarray(rows, dtype=np.int64)
        out = np.full(rows.shape[0], np.nan)
        known = rows >= 0
        if known.any():
            codes = _day_codes(np.asarray(timestamps_ms)[known], self.timezone, self.slot_minutes)
            out[known] = table[rows[known], codes]
        return out

    def expected(self, keys: Sequence[str] | str, timestamps_ms: np.ndarray) -> np.ndarray:
        """:meth:`expected_at` by series key: one key for all points, or one per point."""
        n = np.asarray(timestamps_ms).shape[0]
        if isinstance(keys, str):
            rows = np.full(n, self.row_of(keys), dtype=np.int64)
        else:
            known = {k: self.row_of(k) for k in set(keys)}
            rows = np.fromiter((known[k] for k in keys), np.int64, n)
        return self.expected_at(rows, timestamps_ms)
