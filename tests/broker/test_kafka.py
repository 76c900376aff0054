"""The Kafka data plane against the Tansu broker the session starts."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest

from aifabric.broker import BatchConsumer, DeadLetter, KafkaAdmin, RecordProducer, dead_letter, dlq_topic
from aifabric.errors import InvalidRequest, NotFound
from aifabric.records import InvalidRecord, Record, decode

pytestmark = pytest.mark.integration

T0 = datetime(2025, 10, 23, 12, tzinfo=UTC)


def topic_name(prefix: str = "t") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def make_records(n: int, cells: int = 10) -> list[Record]:
    return [
        Record(
            source="NWDAF",
            metric_id="NUM_OF_UE",
            labels={"event": "NETWORK_PERFORMANCE", "cell": f"c{i % cells}"},
            timestamp=T0 + timedelta(seconds=i),
            value=i,
        )
        for i in range(n)
    ]


def drain(consumer: BatchConsumer, want: int, deadline_s: float = 60.0) -> list:
    got: list = []
    deadline = time.monotonic() + deadline_s
    while len(got) < want and time.monotonic() < deadline:
        got.extend(consumer.poll_batch(5000, timeout=0.5))
    return got


def test_topic_lifecycle(broker) -> None:
    admin = KafkaAdmin(broker)
    name = topic_name()
    admin.ensure_topic(name, partitions=4, retention_ms=3_600_000)
    admin.ensure_topic(name, partitions=4, retention_ms=3_600_000)  # idempotent
    info = admin.describe_topic(name)
    assert info.partitions == 4
    assert info.retention_ms == 3_600_000
    assert name in admin.list_topics()
    admin.delete_topic(name)
    assert name not in admin.list_topics()
    with pytest.raises(NotFound):
        admin.describe_topic(name)
    with pytest.raises(InvalidRequest):
        admin.ensure_topic("bad topic name!")


def test_ten_thousand_records_round_trip_without_loss(broker) -> None:
    name = topic_name("rt")
    KafkaAdmin(broker).ensure_topic(name, partitions=3)
    records = make_records(10_000)
    with RecordProducer(broker) as producer:
        producer.send_many(records, name)
    consumer = BatchConsumer(broker, f"g-{name}", [name])
    try:
        msgs = drain(consumer, 10_000)
        consumer.commit()
    finally:
        consumer.close()
    assert len(msgs) == 10_000
    decoded = [decode(m.value) for m in msgs]
    assert sorted(r.value for r in decoded) == list(range(10_000))
    # one series keeps its order within its partition and the key is the series key
    by_key: dict[str, list[int]] = {}
    for m, r in zip(msgs, decoded, strict=True):
        assert m.key.decode() == r.key
        by_key.setdefault(r.key, []).append(r.value)
    assert len(by_key) == 10
    assert all(vals == sorted(vals) for vals in by_key.values())


@pytest.mark.parametrize("long_quiet", [False, True], ids=["short-probe", "slow-probe"])
def test_idle_consumer_stops_fetching_and_wakes_on_new_records(broker, monkeypatch, long_quiet) -> None:
    """After ``idle_after`` s without records the consumer pauses its partitions; a record sent
    while it is paused wakes it (watermark probe) and is delivered, as are later ones, once each.
    After a long quiet (here: at once) the probes are ``idle_probe_max`` apart and still wake it."""
    if long_quiet:
        monkeypatch.setattr("aifabric.broker.consumer.IDLE_SLOW_AFTER_S", 0.0)
    name = topic_name("idle")
    KafkaAdmin(broker).ensure_topic(name, partitions=2)
    records = make_records(30)
    idle = {"idle_after": 0.5, "idle_probe": 0.2, "idle_probe_max": 0.6}
    with RecordProducer(broker) as producer, BatchConsumer(broker, f"g-{name}", [name], **idle) as consumer:
        assert consumer._probe_interval(time.monotonic()) == (0.6 if long_quiet else 0.2)
        consumer.wait_assigned(30)
        got = []
        for round_ in range(3):
            deadline = time.monotonic() + 30
            while not consumer.idle and time.monotonic() < deadline:
                got.extend(consumer.poll_batch(100, 0.1))
            assert consumer.idle, "the consumer never paused"
            assert consumer.idle_pauses == round_ + 1
            producer.send_many(records[10 * round_ : 10 * round_ + 10], name)
            producer.flush(10)
            deadline = time.monotonic() + 30
            while len(got) < 10 * (round_ + 1) and time.monotonic() < deadline:
                got.extend(consumer.poll_batch(100, 0.1))
            assert not consumer.idle
    assert sorted(decode(m.value).value for m in got) == list(range(30))


def test_uncommitted_records_are_delivered_again(broker) -> None:
    name = topic_name("ack")
    group = f"g-{name}"
    KafkaAdmin(broker).ensure_topic(name, partitions=1)
    with RecordProducer(broker) as producer:
        producer.send_many(make_records(200, cells=1), name)

    first = BatchConsumer(broker, group, [name])
    got = drain(first, 200)
    assert len(got) == 200
    # handle and commit only the first 100, then "die" before committing the rest
    first._pending = {(name, 0): got[99].offset + 1}
    first.commit()
    first.close()

    second = BatchConsumer(broker, group, [name])
    try:
        again = drain(second, 100)
    finally:
        second.close()
    assert [m.offset for m in again] == [m.offset for m in got[100:]]


def test_malformed_messages_go_to_the_dlq_with_reason(broker) -> None:
    name = topic_name("dlq")
    admin = KafkaAdmin(broker)
    admin.ensure_topic(name, partitions=1)
    admin.ensure_topic(dlq_topic(name), partitions=1)
    good = make_records(1)[0]
    with RecordProducer(broker) as producer:
        producer.send(good, name)
        producer.send_raw(name, b"k", b'{"source": "NWDAF", "value": "high"}')
        producer.send_raw(name, b"k", b"\xff\xfe not utf-8")

    consumer = BatchConsumer(broker, f"g-{name}", [name])
    accepted = []
    with RecordProducer(broker) as dlq_producer:
        for m in drain(consumer, 3):
            try:
                accepted.append(decode(m.value))
            except InvalidRecord as exc:
                dead_letter(
                    dlq_producer,
                    m.topic,
                    m.value,
                    str(exc),
                    key=m.key,
                    partition=m.partition,
                    offset=m.offset,
                    stage="test",
                )
        dlq_producer.flush()
    consumer.commit()
    consumer.close()
    assert accepted == [good]

    reader = BatchConsumer(broker, f"g-{name}-dlq", [dlq_topic(name)])
    try:
        dead = [DeadLetter.from_message(m.value, m.headers) for m in drain(reader, 2)]
    finally:
        reader.close()
    assert [d.raw for d in dead] == [b'{"source": "NWDAF", "value": "high"}', b"\xff\xfe not utf-8"]
    assert "metric_id" in dead[0].reason or "required" in dead[0].reason
    assert "UTF-8" in dead[1].reason
    assert dead[0].source_topic == name and dead[0].source_offset == 1 and dead[0].stage == "test"
