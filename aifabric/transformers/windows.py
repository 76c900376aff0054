"""Per-series sliding windows for streaming scoring, vectorised across a micro-batch.

Each series (keyed by :func:`aifabric.records.series_key`) keeps only its newest ``window - 1``
points in a row of fixed-size arrays (time stamps, raw values and, for pointwise features, the
scaled feature rows), so one micro-batch of any number of series costs a handful of numpy calls
rather than a few per series: the batch is sorted by (series, time), every new point is
featurized and scaled in one call, joined to its series' tail by index arithmetic, and all windows
are gathered at once. Windows end at each new point, so a stream scores exactly like the offline
pipeline (``ScoringBundle.preprocess``).

Features are pointwise when the definition keeps :meth:`ModelDefinition.featurize` (calendar and
value features of one point depend on that point alone, and ``seasonal_residual`` on that point
and its series' row in the bundle's seasonal reference, looked up once per series). A definition
that overrides it may look at neighbours, so its features are recomputed per series over tail +
new points, as offline.

Ordering and lateness: a point newer than the series' newest is scored. A point with a time
stamp already in the tail is a duplicate (at-least-once redelivery) and is skipped. An older point
within ``max_lateness_ms`` of the newest joins the tail (later windows see it) but emits no window,
because windows ending before it were already published; an older one is rejected as late.

Warm-up points (``emit=False``) only build history: the consumer replays the records just before
its committed offsets after a (re)assignment so that the first windows after a restart or a
partition move are complete (see ``aifabric.transformers.consumer``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from aifabric.models.base import ModelDefinition
from aifabric.models.bundle import ScoringBundle

__all__ = ["Point", "Rejected", "SeriesWindows", "WindowBatch"]

_NONE = np.iinfo(np.int64).min  # "no point yet" as a series' newest time stamp
_NO_ORIGIN = ("", -1)


@dataclass(slots=True)
class Point:
    key: str
    ts_ms: int
    value: float
    origin: tuple[str, int] = _NO_ORIGIN  # (topic, partition): whose state this series lives in
    emit: bool = True
    ref: object = None  # caller's handle (e.g. the Kafka message), returned with a rejection


@dataclass(slots=True)
class Rejected:
    point: Point
    reason: str


@dataclass
class WindowBatch:
    """Windows ready to score, with the series, end time and last raw value of each."""

    windows: np.ndarray
    keys: list[str] = field(default_factory=list)
    end_ms: list[int] = field(default_factory=list)
    last_values: list[float] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    duplicates: int = 0

    def __len__(self) -> int:
        return len(self.keys)


class SeriesWindows:
    """Window state of every series this consumer owns (one array row per series)."""

    def __init__(self, bundle: ScoringBundle, max_lateness_ms: int = 3_600_000, capacity: int = 1024) -> None:
        self.bundle = bundle
        self.window = bundle.window
        self.keep = bundle.window - 1
        self.n_features = len(bundle.features)
        self.max_lateness_ms = max_lateness_ms
        self._definition = bundle.definition_instance()
        self.pointwise = type(self._definition).featurize is ModelDefinition.featurize
        self._slot: dict[str, int] = {}
        self._keys: list[str] = []
        self._origins: list[tuple[str, int]] = []
        self._free: list[int] = []
        self._alloc(capacity)

    def _alloc(self, capacity: int) -> None:
        """(Re)size the per-series arrays; tails are right-aligned, ``_len`` rows valid."""
        old = getattr(self, "_ts", None)
        ts = np.zeros((capacity, self.keep), np.int64)
        values = np.zeros((capacity, self.keep), np.float64)
        feats = np.zeros((capacity, self.keep, self.n_features), np.float32)
        lens = np.zeros(capacity, np.int64)
        newest = np.full(capacity, _NONE, np.int64)
        ref_rows = np.full(capacity, -1, np.int64)
        if old is not None:
            n = old.shape[0]
            ts[:n], values[:n], feats[:n] = self._ts, self._values, self._feats
            lens[:n], newest[:n], ref_rows[:n] = self._len, self._newest, self._ref_rows
        self._ts, self._values, self._feats, self._len, self._newest = ts, values, feats, lens, newest
        self._ref_rows = ref_rows

    def __len__(self) -> int:
        return len(self._slot)

    def _slot_of(self, key: str) -> int:
        slot = self._slot.get(key)
        if slot is None:
            if self._free:
                slot = self._free.pop()
                self._keys[slot] = key
            else:
                slot = len(self._keys)
                self._keys.append(key)
                self._origins.append(_NO_ORIGIN)
                if slot >= self._len.shape[0]:
                    self._alloc(2 * self._len.shape[0])
            self._slot[key] = slot
            self._ref_rows[slot] = self.bundle.reference_row(key)
        return slot

    def drop(self, origins: Iterable[tuple[str, int]]) -> int:
        """Forget the series of partitions this consumer no longer owns; returns how many."""
        gone = set(origins)
        slots = [s for k, s in self._slot.items() if self._origins[s] in gone]
        for s in slots:
            del self._slot[self._keys[s]]
            self._keys[s], self._origins[s] = "", _NO_ORIGIN
            self._len[s], self._newest[s] = 0, _NONE
            self._free.append(s)
        return len(slots)

    def _features(self, slots: np.ndarray, ts: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Scaled feature rows of points of the series in ``slots`` (one slot per point)."""
        return self.bundle.featurize(self._ref_rows[slots], ts, values)

    def add(self, points: Iterable[Point]) -> WindowBatch:
        """Apply a micro-batch of :class:`Point`; return the windows ending at each new, emitting point."""
        pts = list(points)
        return self.add_columns(
            [p.key for p in pts],
            np.fromiter((p.ts_ms for p in pts), np.int64, len(pts)),
            np.fromiter((p.value for p in pts), np.float64, len(pts)),
            np.fromiter((p.emit for p in pts), bool, len(pts)),
            [p.origin for p in pts],
            [p.ref for p in pts],
        )

    def add_columns(
        self,
        keys: Sequence[str],
        ts: np.ndarray,
        values: np.ndarray,
        emit: np.ndarray | None = None,
        origins: Sequence[tuple[str, int]] | None = None,
        refs: Sequence[object] | None = None,
    ) -> WindowBatch:
        """The same as :meth:`add` for a batch given column-wise (the Kafka hot path)."""
        n = len(keys)
        out = WindowBatch(windows=np.empty((0, self.window, self.n_features), dtype=np.float32))
        if n == 0:
            return out
        slot_of = self._slot_of
        slots = np.fromiter((slot_of(k) for k in keys), np.int64, n)
        ts = np.asarray(ts, np.int64)
        values = np.asarray(values, np.float64)
        emit = np.ones(n, bool) if emit is None else np.asarray(emit, bool)
        order = np.lexsort((ts, slots))
        s, t = slots[order], ts[order]
        above = t > self._newest[s]
        repeat = np.zeros(n, bool)
        repeat[1:] = (s[1:] == s[:-1]) & (t[1:] == t[:-1])
        out.duplicates = int(np.count_nonzero(above & repeat))
        if not above.all():
            self._older(order[~above], slots, ts, values, emit, origins, refs, out)
        fresh = order[above & ~repeat]
        if fresh.size:
            self._append(fresh, slots, ts, values, emit, origins, out)
        return out

    def _older(self, idx, slots, ts, values, emit, origins, refs, out: WindowBatch) -> None:
        """Points not newer than their series' newest: duplicates, late joiners or rejects (rare)."""
        for i in idx.tolist():
            slot, t = int(slots[i]), int(ts[i])
            tail = self._ts[slot, self.keep - int(self._len[slot]) :]
            newest = int(self._newest[slot])
            if t == newest or (tail == t).any():
                out.duplicates += 1
            elif newest - t <= self.max_lateness_ms:
                self._insert_late(slot, t, float(values[i]))
            else:
                point = Point(
                    self._keys[slot],
                    t,
                    float(values[i]),
                    origins[i] if origins is not None else _NO_ORIGIN,
                    bool(emit[i]),
                    refs[i] if refs is not None else None,
                )
                out.rejected.append(
                    Rejected(
                        point,
                        f"late by {newest - t} ms (series newest point at {newest} ms; "
                        f"bound {self.max_lateness_ms} ms)",
                    )
                )

    def _insert_late(self, slot: int, t: int, value: float) -> None:
        keep, length = self.keep, int(self._len[slot])
        tail = self._ts[slot, keep - length :]
        i = int(np.searchsorted(tail, t))
        if i == 0 and length >= keep:
            return  # older than the whole tail: no future window reaches it
        row = (
            self._features(np.array([slot]), np.array([t], np.int64), np.array([value]))[0]
            if self.pointwise
            else 0.0
        )
        # rows before the insertion point move one to the left (the oldest falls off a full tail)
        at = keep - length + i
        start = max(keep - length - 1, 0)
        for arr, new in ((self._ts, t), (self._values, value), (self._feats, row)):
            arr[slot, start : at - 1] = arr[slot, start + 1 : at]
            arr[slot, at - 1] = new
        self._len[slot] = min(keep, length + 1)

    def _append(self, fresh, slots, ts, values, emit, origins, out: WindowBatch) -> None:
        """Join every fresh point to its series' tail, gather all windows, keep the new tails."""
        keep, w, f = self.keep, self.window, self.n_features
        fs, ft, fv = slots[fresh], ts[fresh], values[fresh]
        n = fs.size
        starts = np.flatnonzero(np.r_[True, fs[1:] != fs[:-1]])
        counts = np.diff(np.r_[starts, n])
        u = fs[starts]
        lens = self._len[u]
        # one block per series: keep tail rows (right-aligned, lens valid), then its new points
        sizes = keep + counts
        block = np.r_[0, np.cumsum(sizes)[:-1]]
        total = int(sizes.sum())
        k = np.arange(n) - np.repeat(starts, counts)  # position of each new point in its series
        rows = np.repeat(block, counts) + keep + k
        tail_rows = (block[:, None] + np.arange(keep)).ravel()
        c_ts, c_val = np.empty(total, np.int64), np.empty(total, np.float64)
        c_feat = np.empty((total, f), np.float32)
        c_ts[tail_rows], c_val[tail_rows] = self._ts[u].ravel(), self._values[u].ravel()
        c_ts[rows], c_val[rows] = ft, fv
        if self.pointwise:
            c_feat[tail_rows] = self._feats[u].reshape(-1, f)
            c_feat[rows] = self._features(fs, ft, fv)
        else:  # features may depend on neighbours: featurize each series' valid rows as offline
            for slot, b, size, length in zip(
                u.tolist(), block.tolist(), sizes.tolist(), lens.tolist(), strict=True
            ):
                lo, hi = b + keep - length, b + size
                c_feat[lo:hi] = self._features(np.full(hi - lo, slot), c_ts[lo:hi], c_val[lo:hi])
        # a window ends at each new point whose series has window - 1 points before it
        sel = (k + np.repeat(lens, counts) >= keep) & emit[fresh]
        if sel.any():
            ends = rows[sel]
            out.windows = c_feat[(ends - keep)[:, None] + np.arange(w)]
            keys = self._keys
            out.keys = [keys[x] for x in fs[sel].tolist()]
            out.end_ms = ft[sel].tolist()
            out.last_values = fv[sel].tolist()
        # new tails: the last keep rows of each block
        new_tail = ((block + counts)[:, None] + np.arange(keep)).ravel()
        m = u.size
        self._ts[u] = c_ts[new_tail].reshape(m, keep)
        self._values[u] = c_val[new_tail].reshape(m, keep)
        self._feats[u] = c_feat[new_tail].reshape(m, keep, f)
        self._len[u] = np.minimum(keep, lens + counts)
        self._newest[u] = ft[starts + counts - 1]
        if origins is not None:
            last = fresh[starts + counts - 1].tolist()
            for slot, i in zip(u.tolist(), last, strict=True):
                self._origins[slot] = origins[i]
