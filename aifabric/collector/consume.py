"""Reading collection topics: follow live, read a time range as a batch, peek, size.

Batch reads assign partitions directly (no consumer group to join, so no multi-second wait on
Tansu) and read to the end signalled by partition EOF. Tansu answers ``offsets_for_times`` with
0 and reports lagging high watermarks, so a time range is selected by each record's own
timestamp, and watermarks are only used as a safe place to start a peek.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from aifabric.broker import BatchConsumer, KafkaAdmin, consumer_config
from aifabric.collector.models import TopicPeek, TopicPublic
from aifabric.config import Settings
from aifabric.errors import BrokerError
from aifabric.records import InvalidRecord, Record, decode

Raw = tuple[int, int, bytes | None, bytes | None]  # partition, offset, key, value


def _scan(settings: Settings, topic: str, starts: dict[int, int], timeout: float) -> Iterator[Raw]:
    """Every message from ``starts`` (partition → offset) to the current end of each partition."""
    consumer = Consumer(
        consumer_config(settings, f"aifabric-scan-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": True})
    )
    try:
        consumer.assign([TopicPartition(topic, p, o) for p, o in starts.items()])
        pending = set(starts)
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise BrokerError(f"reading {topic!r} did not reach the end within {timeout}s")
            for m in consumer.consume(num_messages=10_000, timeout=0.2):
                err = m.error()
                if err is None:
                    yield m.partition(), m.offset(), m.key(), m.value()
                elif err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(m.partition())
                elif err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
                    raise BrokerError(f"topic {topic!r} does not exist")
    except KafkaException as exc:
        raise BrokerError(f"reading {topic!r} failed: {exc.args[0].str()}") from None
    finally:
        consumer.close()


def _partitions(settings: Settings, topic: str) -> int:
    return KafkaAdmin(settings).describe_topic(topic).partitions


def read_range(
    settings: Settings,
    topic: str,
    start: datetime | None = None,
    end: datetime | None = None,
    timeout: float = 60.0,
) -> list[Record]:
    """Records of ``topic`` with ``start <= timestamp < end``, in (partition, offset) order."""
    lo = int(start.timestamp() * 1000) if start else None
    hi = int(end.timestamp() * 1000) if end else None
    out = []
    for _, _, _, value in _scan(
        settings, topic, dict.fromkeys(range(_partitions(settings, topic)), 0), timeout
    ):
        try:
            rec = decode(value or b"")
        except InvalidRecord:
            continue
        ms = rec.epoch_ms
        if (lo is None or ms >= lo) and (hi is None or ms < hi):
            out.append(rec)
    return out


def peek(settings: Settings, topic: str, limit: int = 10, timeout: float = 30.0) -> TopicPeek:
    """The last ``limit`` messages (by record time), decoded; undecodable ones shown raw."""
    n = _partitions(settings, topic)
    probe = Consumer(consumer_config(settings, f"aifabric-peek-{uuid.uuid4().hex[:8]}"))
    try:
        starts = {}
        for p in range(n):
            low, high = probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
            starts[p] = max(low, high - limit)
    except KafkaException as exc:
        raise BrokerError(f"cannot read offsets of {topic!r}: {exc.args[0].str()}") from None
    finally:
        probe.close()
    tails: dict[int, list[Raw]] = {}
    for msg in _scan(settings, topic, starts, timeout):
        tail = tails.setdefault(msg[0], [])
        tail.append(msg)
        if len(tail) > limit:
            del tail[0]
    shown: list[tuple[int, dict]] = []
    bad = 0
    for p, offset, key, value in (m for tail in tails.values() for m in tail):
        meta = {"partition": p, "offset": offset, "key": key.decode("utf-8", "replace") if key else None}
        try:
            rec = decode(value or b"")
            shown.append((rec.epoch_ms, {**meta, "record": rec.to_dict()}))
        except InvalidRecord as exc:
            bad += 1
            shown.append(
                (0, {**meta, "raw": (value or b"")[:500].decode("utf-8", "replace"), "error": str(exc)})
            )
    shown.sort(key=lambda item: item[0])
    return TopicPeek(topic=topic, records=[d for _, d in shown[-limit:]], undecodable=bad)


def topic_sizes(settings: Settings) -> list[TopicPublic]:
    """Every topic with its partitions and (approximate, on Tansu) retained message count."""
    admin = KafkaAdmin(settings)
    names = sorted(admin.list_topics())
    probe = Consumer(consumer_config(settings, f"aifabric-size-{uuid.uuid4().hex[:8]}"))
    out = []
    try:
        meta = probe.list_topics(timeout=10)
        for name in names:
            parts = meta.topics[name].partitions if name in meta.topics else {}
            total = 0
            for p in parts:
                low, high = probe.get_watermark_offsets(TopicPartition(name, p), timeout=10, cached=False)
                total += max(0, high - low)
            out.append(TopicPublic(name=name, partitions=len(parts), messages=total))
    except KafkaException as exc:
        raise BrokerError(f"cannot list topics: {exc.args[0].str()}") from None
    finally:
        probe.close()
    return out


def follow(
    settings: Settings,
    topic: str,
    group_id: str | None = None,
    from_beginning: bool = False,
    stop: threading.Event | None = None,
) -> Iterator[Record]:
    """Follow ``topic`` live (at-least-once: a batch is committed after it has been yielded).

    A new group starts at the end unless ``from_beginning``; a known ``group_id`` resumes where
    it left off. Messages that are not valid records are skipped.
    """
    group = group_id or f"aifabric-follow-{uuid.uuid4().hex[:8]}"
    reset = "earliest" if from_beginning else "latest"
    with BatchConsumer(settings, group, [topic], **{"auto.offset.reset": reset}) as consumer:
        while stop is None or not stop.is_set():
            batch = consumer.poll_batch(max_records=1000, timeout=0.5)
            for m in batch:
                try:
                    yield decode(m.value or b"")
                except InvalidRecord:
                    continue
            if batch:
                consumer.commit()
