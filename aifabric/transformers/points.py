"""Raw record bytes -> (series key, epoch ms, value), cheaply enough for the Kafka hot path.

Validating every message with the pydantic :class:`aifabric.records.Record` costs more than
everything else the consumer does per record. The common shape is checked with orjson and a few
type tests instead; anything unusual goes through :meth:`Record.parse`, which either accepts it
or names the field and the reason (what the dead-letter record carries).

A series' identity (source, metric, labels) repeats in every one of its records, and producers
key messages by series: :class:`PointParser` remembers, per Kafka message key, the identity it
validated and its series key, and for a later message with that key only compares the decoded
fields with the remembered ones (a key that does not match its payload simply misses). Time
stamps in UTC (``...Z``), the form every aifabric producer writes, are converted for the whole
batch in one numpy call; any other form takes the full check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson

from aifabric.records import InvalidRecord, Record, series_key

__all__ = ["ParsedBatch", "PointParser", "parse_point", "parse_record"]

_FIELDS = frozenset(("source", "metric_id", "labels", "timestamp", "value"))
_NUMBER = (int, float)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _decode(raw: bytes | None) -> object:
    if raw is None:
        raise InvalidRecord("<payload>", "empty message (tombstone)")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord("<payload>", f"not valid JSON ({exc})") from None


def parse_record(d: object, metric_ids: frozenset[str] = frozenset()) -> tuple[str, int, float]:
    """Full check of a decoded record -> (series key, epoch ms, value); raise :class:`InvalidRecord`."""
    try:
        if type(d) is not dict or d.keys() != _FIELDS:
            raise ValueError
        value, labels = d["value"], d["labels"]
        if type(value) not in _NUMBER or not math.isfinite(value):
            raise ValueError
        if not (
            type(labels) is str or (type(labels) is dict and all(type(v) is str for v in labels.values()))
        ):
            raise ValueError
        ts = datetime.fromisoformat(d["timestamp"])
        if ts.tzinfo is None or not d["source"] or not d["metric_id"]:
            raise ValueError
        metric = d["metric_id"]
        point = (series_key(d["source"], metric, labels), (ts - _EPOCH) // _MS, float(value))
    except (ValueError, TypeError, AttributeError):
        record = Record.parse(d)  # raises InvalidRecord with the precise reason
        metric = record.metric_id
        point = (record.key, record.epoch_ms, float(record.value))
    if metric_ids and metric not in metric_ids:
        raise InvalidRecord(
            "metric_id", f"{metric!r} is not scored by this deployment ({', '.join(sorted(metric_ids))})"
        )
    return point


def parse_point(raw: bytes | None, metric_ids: frozenset[str] = frozenset()) -> tuple[str, int, float]:
    """A record's (series key, epoch ms, value); raise :class:`InvalidRecord` with the reason."""
    return parse_record(_decode(raw), metric_ids)


@dataclass
class ParsedBatch:
    """The usable records of a batch, column-wise, and the reason each other one was refused."""

    index: list[int] = field(default_factory=list)  # position of each point in the input
    keys: list[str] = field(default_factory=list)
    ts_ms: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    values: np.ndarray | list[float] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)


class PointParser:
    """:func:`parse_point` for a batch, with the validated series identity remembered per message key."""

    def __init__(self, metric_ids: frozenset[str] = frozenset(), max_keys: int = 200_000) -> None:
        self.metric_ids = metric_ids
        self.max_keys = max_keys
        self._known: dict[bytes, tuple[object, object, object, str]] = {}

    def parse_many(self, keys: Sequence[bytes | None], payloads: Sequence[bytes | None]) -> ParsedBatch:
        """Decode and check a batch of (message key, payload); refusals carry the reason."""
        known, loads = self._known, orjson.loads
        index: list[int] = []
        series: list[str] = []
        stamps: list[str] = []
        values: list[float] = []
        slow = ParsedBatch()
        slow_ms: list[int] = []
        for i, (key, raw) in enumerate(zip(keys, payloads, strict=True)):
            try:
                d = loads(raw)
                hit = known.get(key)
                if (
                    hit is not None
                    and type(d) is dict
                    and len(d) == 5
                    and d["source"] == hit[0]
                    and d["metric_id"] == hit[1]
                    and d["labels"] == hit[2]
                ):
                    ts, value = d["timestamp"], d["value"]
                    if type(ts) is str and ts[-1:] == "Z" and ts[10:11] == "T" and type(value) in _NUMBER:
                        index.append(i)
                        series.append(hit[3])
                        stamps.append(ts[:-1])
                        values.append(value)
                        continue
            except (ValueError, KeyError, TypeError):
                pass  # the full check below names the problem
            self._parse_slow(i, key, raw, slow, slow_ms)
        try:
            ms = np.array(stamps, dtype="datetime64[ms]").astype(np.int64)
        except ValueError:  # one of them is not a valid time: the full check names it
            bad = {j for j, ts in enumerate(stamps) if not _is_time(ts)}
            for j in sorted(bad):
                self._parse_slow(index[j], keys[index[j]], payloads[index[j]], slow, slow_ms)
            keep = [j for j in range(len(index)) if j not in bad]
            index, series, values = (
                [index[j] for j in keep],
                [series[j] for j in keep],
                [values[j] for j in keep],
            )
            ms = np.array([stamps[j] for j in keep], dtype="datetime64[ms]").astype(np.int64)
        return ParsedBatch(
            index + slow.index,
            series + slow.keys,
            np.concatenate([ms, np.array(slow_ms, np.int64)]),
            np.array(values + slow.values, np.float64),
            slow.rejected,
        )

    def _parse_slow(self, i: int, key: bytes | None, raw: bytes | None, out: ParsedBatch, ms: list) -> None:
        """Full validation (first record of a series, or anything unusual); remember the identity."""
        try:
            d = _decode(raw)
            series, ts, value = parse_record(d, self.metric_ids)
        except InvalidRecord as exc:
            out.rejected.append((i, str(exc)))
            return
        out.index.append(i)
        out.keys.append(series)
        ms.append(ts)
        out.values.append(value)
        if key is not None and type(d) is dict and d.keys() == _FIELDS:
            if len(self._known) >= self.max_keys:
                self._known.clear()  # keys are not series keys (or too many series): start over
            self._known[key] = (d["source"], d["metric_id"], d["labels"], series)


def _is_time(ts: str) -> bool:
    try:
        np.datetime64(ts, "ms")
    except ValueError:
        return False
    return True
