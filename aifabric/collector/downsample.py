"""Serving a coarser period from a finer running stream: bucket its records, publish one per bucket.

A collection whose source, metrics and filters match a running stream, at a period that is an
integer multiple (>1) of that stream's period, opens no upstream subscription: a *derived*
stream reads the fine stream's topic and publishes, per series (same series key), one record per
coarse bucket ``[k * P, (k + 1) * P)`` aligned to epoch multiples of the coarse period ``P``,
time-stamped with the bucket start. The value is an aggregation of the fine records in the
bucket (:data:`Aggregation`); the default, ``last``, is the sample a direct subscription at the
coarse period would have reported, right for gauges (NUM_OF_UE) and ratios; counter-like
per-period volumes want ``sum``, peaks ``max``.

Buckets close together on an event-time watermark (the newest record time read from the fine
topic): bucket ``[b, b + P)`` is published once a record at ``b + P + grace`` (``grace`` = one
fine period, for partitions read out of step) has been read. A fine record that arrives for a
bucket already published is *late*: counted, not published. The resume state (per-partition
offsets from which every open bucket can be refilled, and the end of the last published bucket)
is persisted with the stream, so a restarted collector re-reads from those offsets and fills its
open buckets again: a bucket is never published from part of its records because of a restart
and, short of a crash between publishing and persisting, never twice. A bucket still open when
the derived stream stops for good is discarded (publishing it would report a partial sum/mean).
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Literal

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from pydantic import BaseModel, Field

from aifabric.adapters.base import (
    Adapter,
    AdapterConfig,
    Domain,
    MalformedPayload,
    RecordBatch,
    Sink,
    SourceUnavailable,
    StreamParams,
)
from aifabric.config import Settings
from aifabric.errors import AifabricError
from aifabric.records import InvalidRecord, Record, decode

log = logging.getLogger("aifabric.collector.downsample")

Aggregation = Literal["last", "mean", "sum", "max", "min"]
AGGREGATIONS: tuple[str, ...] = ("last", "mean", "sum", "max", "min")
DEFAULT_AGGREGATION: Aggregation = "last"


def bucket_start(ts_ms: int, period_ms: int) -> int:
    """The start of the coarse bucket holding ``ts_ms``: the epoch multiple of the period below it."""
    return ts_ms - ts_ms % period_ms


def is_multiple(coarse_s: float, fine_s: float) -> bool:
    """True if ``coarse_s`` is an integer multiple (>1) of ``fine_s`` (to the millisecond)."""
    coarse_ms, fine_ms = round(coarse_s * 1000), round(fine_s * 1000)
    return fine_ms > 0 and coarse_ms > fine_ms and coarse_ms % fine_ms == 0


class _Bucket:
    """Running aggregate of one series in one bucket (O(1) per record, whatever the aggregation)."""

    __slots__ = ("count", "first_offset", "last_ms", "last_value", "max", "min", "partition", "sum")

    def __init__(self, partition: int, offset: int, ts_ms: int, value: float) -> None:
        self.partition = partition
        self.first_offset = offset
        self.count = 1
        self.sum = value
        self.max = self.min = value
        self.last_ms, self.last_value = ts_ms, value

    def add(self, ts_ms: int, value: float) -> None:
        self.count += 1
        self.sum += value
        if value > self.max:
            self.max = value
        if value < self.min:
            self.min = value
        if ts_ms >= self.last_ms:
            self.last_ms, self.last_value = ts_ms, value

    def value(self, how: str) -> float:
        if how == "last":
            return self.last_value
        if how == "mean":
            return self.sum / self.count
        if how == "sum":
            return self.sum
        return self.max if how == "max" else self.min


def aggregate(values: list[tuple[int, float]], how: Aggregation) -> float:
    """Aggregate ``(timestamp_ms, value)`` pairs of one bucket (``last`` = value at the latest time)."""
    if not values:
        raise ValueError("an empty bucket has no value")
    it = iter(values)
    bucket = _Bucket(0, 0, *next(it))
    for ts_ms, value in it:
        bucket.add(ts_ms, value)
    return bucket.value(how)


def downsample(
    records: Iterable[Record], period_s: float, how: Aggregation = DEFAULT_AGGREGATION
) -> list[Record]:
    """The pure form of what a derived stream publishes: one record per series and coarse bucket.

    Records keep source, metric and labels (hence the series key); the timestamp is the bucket
    start. Output is sorted by (bucket, series key). Partial buckets are included: callers that
    compare with a live stream pick the buckets it has closed.
    """
    period_ms = round(period_s * 1000)
    if period_ms <= 0:
        raise ValueError(f"period must be positive, got {period_s}")
    groups: dict[tuple[int, str], tuple[Record, list[tuple[int, float]]]] = {}
    for rec in records:
        key = (bucket_start(rec.epoch_ms, period_ms), rec.key)
        groups.setdefault(key, (rec, []))[1].append((rec.epoch_ms, rec.value))
    return [
        Record(
            source=rec.source,
            metric_id=rec.metric_id,
            labels=rec.labels,
            timestamp=datetime.fromtimestamp(b / 1000, UTC),
            value=aggregate(values, how),
        )
        for (b, _), (rec, values) in sorted(groups.items())
    ]


class ResumeState(BaseModel):
    """Where a derived stream continues after a collector restart (persisted with the stream)."""

    offsets: dict[int, int] = Field(default_factory=dict, description="partition -> next offset to read")
    emitted_until_ms: int = Field(description="buckets ending at or before this are published")


class DownsampleConfig(AdapterConfig):
    """A derived stream's 'source': the fine stream's topic, its period and the aggregation."""

    type: Literal["downsample"] = "downsample"
    parent_topic: str
    parent_period_s: float = Field(gt=0)
    aggregation: Aggregation = DEFAULT_AGGREGATION


@dataclass(slots=True)
class _Series:
    """What a published record of a series reuses: its source, metric and pre-encoded labels."""

    source: str
    metric_id: str
    labels: tuple[dict[str, str], str, bytes]


class Downsampler(Adapter):
    """Reads the fine stream's topic, publishes closed coarse buckets to the derived topic.

    It runs in the adapter thread machinery (counters, degraded state, stop), but its upstream
    is a Kafka topic of ours: it makes no upstream calls.
    """

    domain: ClassVar[Domain] = "core"  # unused: a derived stream has its parent's domain
    source: ClassVar[str] = "DOWNSAMPLE"
    config_class: ClassVar[type[AdapterConfig]] = DownsampleConfig
    metrics: ClassVar[frozenset[str] | None] = None
    min_period_s: ClassVar[float] = 0.0
    poll_s: ClassVar[float] = 0.2
    batch: ClassVar[int] = 10_000

    def __init__(
        self, settings: Settings, config: DownsampleConfig, params: StreamParams, sink: Sink,
        resume: ResumeState | None = None,
    ) -> None:  # fmt: skip
        super().__init__(config, params, sink)
        self.settings = settings
        self.how = config.aggregation
        self.period_ms = round(params.period_s * 1000)
        self.grace_ms = round(config.parent_period_s * 1000)
        self.late = 0
        self._closed_any = False
        if resume is None:  # a new derived stream: its first bucket is the first one that starts now or later
            start_ms = int(params.start.timestamp() * 1000)
            resume = ResumeState(emitted_until_ms=-(-start_ms // self.period_ms) * self.period_ms)
            self._fresh = True
        else:
            self._fresh = False
        self._emitted_until = resume.emitted_until_ms
        self._positions: dict[int, int] = dict(resume.offsets)
        self._open: dict[int, dict[str, _Bucket]] = {}  # bucket start -> series key -> bucket
        self._series: dict[str, _Series] = {}
        self._watermark = -1
        self._ts_cache: dict[str, int] = {}
        self._consumer: Consumer | None = None

    def resume_state(self) -> ResumeState:
        """Offsets from which every open bucket can be refilled, and the published horizon."""
        with self._counter_lock:
            offsets = dict(self._positions)
            for buckets in self._open.values():
                for b in buckets.values():
                    if b.first_offset < offsets.get(b.partition, b.first_offset + 1):
                        offsets[b.partition] = b.first_offset
            return ResumeState(offsets=offsets, emitted_until_ms=self._emitted_until)

    def normalize(self, payload: bytes) -> RecordBatch:
        """Not a payload source: fine records come from the topic (:meth:`step`), already normalised."""
        raise MalformedPayload("a derived stream reads records from its fine stream's topic, not payloads")

    # -- the adapter loop ----------------------------------------------------------------------

    def _connect(self) -> Consumer:
        from aifabric.broker import KafkaAdmin, consumer_config

        topic = self.config.parent_topic
        try:
            partitions = KafkaAdmin(self.settings).describe_topic(topic).partitions
        except AifabricError as exc:  # the broker is away, or it restarted and lost the topic for now
            raise SourceUnavailable(f"cannot read the fine stream's topic: {exc.detail}") from None
        consumer = Consumer(
            consumer_config(
                self.settings,
                f"aifabric-downsample-{uuid.uuid4().hex[:8]}",
                **{"enable.auto.commit": False, "auto.offset.reset": "earliest"},
            )
        )
        try:
            if self._fresh:  # start near the end; the time filter drops what came before the first bucket
                for p in range(partitions):
                    _, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, p), timeout=10, cached=False
                    )
                    self._positions.setdefault(p, high)
            consumer.assign(
                [
                    TopicPartition(topic, p, self._positions.get(p, OFFSET_BEGINNING))
                    for p in range(partitions)
                ]
            )
        except KafkaException as exc:
            consumer.close()
            raise SourceUnavailable(
                f"cannot read the fine stream's topic {topic!r}: {exc.args[0].str()}"
            ) from None
        self._fresh = False
        return consumer

    def step(self) -> float:
        if self._consumer is None:
            self._consumer = self._connect()
        try:
            messages = self._consumer.consume(num_messages=self.batch, timeout=self.poll_s)
        except KafkaException as exc:
            raise SourceUnavailable(
                f"reading {self.config.parent_topic!r} failed: {exc.args[0].str()}"
            ) from None
        items = self._absorb(messages)
        if items:
            self.sink.publish(items)
        return 0.0

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    # -- bucketing ------------------------------------------------------------------------------

    def _absorb(self, messages: list) -> list[tuple[str, bytes]]:
        """Fold one batch of fine records into open buckets; return the closed buckets' records."""
        bad: list[tuple[bytes, str]] = []
        with self._counter_lock:
            for m in messages:
                err = m.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        log.info("%s: %s", self.params.stream_id, err.str())
                    continue
                p, offset = m.partition(), m.offset()
                self._positions[p] = offset + 1
                raw = m.value() or b""
                try:
                    key, ts, value = self._read(m.key(), raw)
                except InvalidRecord as exc:
                    bad.append((raw, str(exc)))
                    continue
                if ts < self._emitted_until:  # before the first bucket, re-read after a resume, or late
                    if self._closed_any:
                        self.late += 1
                        if self.late == 1 or self.late % 1000 == 0:
                            log.warning(
                                "%s: %d late fine record(s) dropped", self.params.stream_id, self.late
                            )
                    continue
                if ts > self._watermark:
                    self._watermark = ts
                open_ = self._open.setdefault(bucket_start(ts, self.period_ms), {})
                bucket = open_.get(key)
                if bucket is None:
                    open_[key] = _Bucket(p, offset, ts, value)
                else:
                    bucket.add(ts, value)
            items = self._close()
        for raw, reason in bad:
            self.sink.dead_letter(raw, f"not a record on the fine stream's topic: {reason}")
            with self._counter_lock:
                self.dead_letters += 1
        return items

    def _read(self, key_bytes: bytes | None, raw: bytes) -> tuple[str, int, int | float]:
        """Series key, time (ms) and value of one fine record.

        The first record of a series is validated in full (:func:`aifabric.records.decode`); later
        ones are looked up by their message key (the series key every adapter publishes under) and
        only their time and value are checked: full validation would cost more than the bucketing.
        """
        key = key_bytes.decode("utf-8", "replace") if key_bytes else None
        if key is None or key not in self._series:
            rec = decode(raw)
            key = rec.key
            if key not in self._series:
                labels = rec.labels
                encoded = (
                    ({}, labels, orjson.dumps(labels))
                    if isinstance(labels, str)
                    else RecordBatch.labels(labels)
                )
                self._series[key] = _Series(rec.source, rec.metric_id, encoded)
            return key, rec.epoch_ms, rec.value
        try:
            data = orjson.loads(raw)
            stamp, value = data["timestamp"], data["value"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            decode(raw)  # raises InvalidRecord with the field and the reason
            raise InvalidRecord("<record>", "not a record") from None
        ts = self._ts_cache.get(stamp)
        if ts is None:
            ts = Record.parse(data).epoch_ms
            if len(self._ts_cache) > 100_000:
                self._ts_cache.clear()
            self._ts_cache[stamp] = ts
        kind = type(value)
        if kind is not int and (kind is not float or not math.isfinite(value)):
            raise InvalidRecord("value", f"{str(value)[:40]!r} is not a finite number")
        return key, ts, value

    def _close(self) -> list[tuple[str, bytes]]:
        """Encode every bucket that ends ``grace`` before the watermark (the caller holds the lock)."""
        horizon = self._watermark - self.grace_ms
        items: list[tuple[str, bytes]] = []
        for b in sorted(self._open):
            if b + self.period_ms > horizon:
                break
            batches: dict[str, RecordBatch] = {}
            for key, bucket in self._open.pop(b).items():
                s = self._series[key]
                batch = batches.get(s.source)
                if batch is None:
                    batch = batches[s.source] = RecordBatch(s.source)
                batch.add(s.metric_id, s.labels, b, bucket.value(self.how))
            for batch in batches.values():
                items.extend(batch.items)
            self._emitted_until = b + self.period_ms
            self._closed_any = True
            self.last_record_ms = b
        self.records += len(items)
        return items
