"""Per-series sliding windows for streaming scoring.

Each series (keyed by :func:`aifabric.records.series_key`) keeps only its newest ``window - 1``
raw points. A micro-batch of new points is sorted per series, joined to that tail, run through
the model's own ``featurize`` and training scaler (``ScoringBundle``), and cut into windows that
end at each new point, so a stream scores exactly like the offline pipeline.

Ordering and lateness: a point newer than the series' newest is scored. A point with a time
stamp already in the tail is a duplicate (at-least-once redelivery) and is skipped. An older point
within ``max_lateness_ms`` of the newest joins the tail (later windows see it) but emits no window,
because windows ending before it were already published; an older one is rejected as late.

Warm-up points (``emit=False``) only build history: the consumer replays the records just before
its committed offsets after a (re)assignment so that the first windows after a restart or a
partition move are complete (see ``aifabric.transformers.consumer``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from aifabric.models.bundle import ScoringBundle

__all__ = ["Point", "Rejected", "SeriesWindows", "WindowBatch"]


@dataclass(slots=True)
class Point:
    key: str
    ts_ms: int
    value: float
    origin: tuple[str, int] = ("", -1)  # (topic, partition): whose state this series lives in
    emit: bool = True
    ref: object = None  # caller's handle (e.g. the Kafka message), returned with a rejection


@dataclass(slots=True)
class Rejected:
    point: Point
    reason: str


@dataclass
class WindowBatch:
    """Windows ready to score, with the series and end time of each."""

    windows: np.ndarray
    keys: list[str] = field(default_factory=list)
    end_ms: list[int] = field(default_factory=list)
    last_values: list[float] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    duplicates: int = 0

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(slots=True)
class _Series:
    ts: np.ndarray
    values: np.ndarray
    origin: tuple[str, int]


class SeriesWindows:
    """Window state of every series this consumer owns."""

    def __init__(self, bundle: ScoringBundle, max_lateness_ms: int = 3_600_000) -> None:
        self.bundle = bundle
        self.window = bundle.window
        self.n_features = len(bundle.features)
        self.max_lateness_ms = max_lateness_ms
        self._definition = bundle.definition_instance()
        self._series: dict[str, _Series] = {}

    def __len__(self) -> int:
        return len(self._series)

    def drop(self, origins: Iterable[tuple[str, int]]) -> int:
        """Forget the series of partitions this consumer no longer owns; returns how many."""
        gone = set(origins)
        keys = [k for k, s in self._series.items() if s.origin in gone]
        for k in keys:
            del self._series[k]
        return len(keys)

    def add(self, points: Iterable[Point]) -> WindowBatch:
        """Apply a micro-batch; return the windows ending at each new, emitting point."""
        by_key: dict[str, list[Point]] = {}
        for p in points:
            by_key.setdefault(p.key, []).append(p)
        chunks: list[np.ndarray] = []
        out = WindowBatch(windows=np.empty((0, self.window, self.n_features), dtype=np.float32))
        for key, pts in by_key.items():
            pts.sort(key=lambda p: p.ts_ms)
            self._add_series(key, pts, out, chunks)
        if chunks:
            out.windows = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        return out

    def _add_series(self, key: str, pts: list[Point], out: WindowBatch, chunks: list[np.ndarray]) -> None:
        state = self._series.get(key)
        if state is None:
            state = _Series(np.empty(0, np.int64), np.empty(0, np.float64), pts[0].origin)
            self._series[key] = state
        newest = int(state.ts[-1]) if state.ts.size else None
        fresh: list[Point] = []
        for p in pts:
            if newest is None or p.ts_ms > newest:
                fresh.append(p)
                newest = p.ts_ms
            elif p.ts_ms in state.ts or any(q.ts_ms == p.ts_ms for q in fresh):
                out.duplicates += 1
            elif newest - p.ts_ms <= self.max_lateness_ms:
                self._insert_late(state, p)
            else:
                out.rejected.append(
                    Rejected(
                        p,
                        f"late by {newest - p.ts_ms} ms (series newest point at {newest} ms; "
                        f"bound {self.max_lateness_ms} ms)",
                    )
                )
        if not fresh:
            return
        ts = np.concatenate([state.ts, np.fromiter((p.ts_ms for p in fresh), np.int64, len(fresh))])
        values = np.concatenate([state.values, np.fromiter((p.value for p in fresh), np.float64, len(fresh))])
        keep = self.window - 1
        state.ts, state.values = ts[-keep:] if keep else ts[:0], values[-keep:] if keep else values[:0]
        state.origin = fresh[-1].origin
        n_windows = ts.size - self.window + 1
        if n_windows <= 0:
            return
        # Window i ends at point i + window - 1; the last len(fresh) points are new.
        ends = np.arange(self.window - 1, ts.size)
        first_new = ts.size - len(fresh)
        emit = np.array([p.emit for p in fresh], dtype=bool)
        sel = ends >= first_new
        sel[sel] = emit[ends[sel] - first_new]
        if not sel.any():
            return
        windows = self.bundle.preprocess(ts, values)[sel]
        chunks.append(windows)
        end_idx = ends[sel]
        out.keys.extend([key] * len(end_idx))
        out.end_ms.extend(ts[end_idx].tolist())
        out.last_values.extend(values[end_idx].tolist())

    def _insert_late(self, state: _Series, p: Point) -> None:
        i = int(np.searchsorted(state.ts, p.ts_ms))
        if i == 0 and state.ts.size >= self.window - 1:
            return  # older than the whole tail: no future window reaches it
        state.ts = np.insert(state.ts, i, p.ts_ms)[-(self.window - 1) :]
        state.values = np.insert(state.values, i, p.value)[-(self.window - 1) :]
