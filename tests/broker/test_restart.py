"""Recovery after a restart of the memory-only broker: topics recreated, clients carry on."""

from __future__ import annotations

import time

import pytest

from aifabric.broker import BatchConsumer, KafkaAdmin, RecordProducer
from aifabric.records import decode
from aifabric.runtime import ManagedProcess
from aifabric.runtime.services import broker_spec
from tests.broker.test_kafka import drain, make_records
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def own_broker(tmp_path):
    """A broker of this test's own, so restarting it disturbs nobody."""
    settings = make_settings(tmp_path)
    proc = ManagedProcess(broker_spec(settings))
    proc.start()
    proc.wait_ready()
    yield settings, proc
    proc.stop()


def test_clients_recover_after_broker_restart(own_broker) -> None:
    settings, proc = own_broker
    name = "restart-topic"
    KafkaAdmin(settings).ensure_topic(name, partitions=2)
    producer = RecordProducer(settings)
    consumer = BatchConsumer(settings, "g-restart", [name])
    try:
        producer.send_many(make_records(100, cells=4), name)
        producer.flush()
        before = drain(consumer, 100)
        assert len(before) == 100
        consumer.commit()

        proc.stop()  # everything in memory is gone
        proc.start()
        proc.wait_ready()

        # more than before, so each new partition log grows past the consumer's old position:
        # a consumer that kept its position would silently skip the first records
        later = make_records(400, cells=4)[200:]
        producer.send_many(later, name)
        producer.flush(timeout=90)  # recreates the topic and resends
        assert name in KafkaAdmin(settings).list_topics()
        assert KafkaAdmin(settings).describe_topic(name).partitions == 2

        # every acknowledged record is readable by a new group (at-least-once: a purged in-flight
        # batch may have been written once already, so a repeat is allowed, a gap is not)
        wanted, values = {float(r.value) for r in later}, set()
        fresh = BatchConsumer(settings, "g-restart-fresh", [name])
        try:
            deadline = time.monotonic() + 30
            while values != wanted and time.monotonic() < deadline:
                values |= {decode(m.value).value for m in fresh.poll_batch(5000, timeout=0.5)}
        finally:
            fresh.close()
        assert values == wanted, f"{len(wanted - values)} acknowledged records missing"
        after = drain(consumer, 1, deadline_s=60)
        assert after and all(200 <= decode(m.value).value < 400 for m in after)
        consumer.commit()
    finally:
        consumer.close()
        producer.close(timeout=5)
