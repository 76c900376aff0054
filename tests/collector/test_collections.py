"""End to end on the embedded stack: Tansu, SQL, the NWDAF simulator, the collector."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from aifabric.broker import DeadLetter, dlq_topic
from aifabric.collector import service
from aifabric.collector.consume import read_range
from aifabric.collector.models import CollectionCreate, JobState, PersistRequest
from aifabric.collector.runner import Collector
from aifabric.errors import InvalidRequest, NotFound
from aifabric.records import decode
from tests.conftest import wait_for


def request(sim, **kw) -> CollectionCreate:
    base = {"source": "core", "metrics": ["NUM_OF_UE"], "filters": {"cells": ["000000001"]}, "period_s": 1}
    return CollectionCreate(adapter={"type": "nwdaf", "api_root": sim.url}, **{**base, **kw})


def create(sessions, settings, body, tenant="default"):
    with sessions() as s:
        return service.create_collection(s, settings, body, tenant=tenant)


def get(sessions, cid):
    with sessions() as s:
        return service.get_collection(s, cid)


def test_num_of_ue_for_5s_at_1s(stack, sessions, nwdaf, collector):
    stop = datetime.now(UTC) + timedelta(seconds=5)
    c = create(sessions, stack, request(nwdaf, stop=stop))
    assert c.state == JobState.pending and c.topic.startswith("dataops.nwdaf.")
    done = wait_for(
        lambda: (x := get(sessions, c.id)).state == JobState.stopped and x, timeout=15, what="stop"
    )
    assert done.reason == "stop time reached"
    records = read_range(stack, c.topic)
    assert 4 <= len(records) <= 6, len(records)  # 5 periods, +-1
    assert done.records_published == len(records)
    assert {(r.source, r.metric_id, r.labels["cell"], r.labels["event"]) for r in records} == {
        ("NWDAF", "NUM_OF_UE", "000000001", "NETWORK_PERFORMANCE")
    }
    assert done.last_record_at == max(r.timestamp for r in records)
    wait_for(lambda: not nwdaf.snapshot()["active"], what="upstream subscription ended")


def test_stop_ends_upstream_subscription(stack, sessions, nwdaf, collector):
    c = create(sessions, stack, request(nwdaf))
    wait_for(lambda: get(sessions, c.id).records_published >= 2, what="records")
    assert nwdaf.snapshot()["active"]
    with sessions() as s:
        stopped = service.stop_collection(s, c.id)
    assert stopped.state == JobState.stopped and stopped.stream_users == 0
    wait_for(lambda: nwdaf.snapshot()["deleted"] == 1, what="the DELETE at the NWDAF")
    assert not nwdaf.snapshot()["active"]
    frozen = get(sessions, c.id).records_published
    with sessions() as s:
        assert service.stop_collection(s, c.id).records_published == frozen  # idempotent


def test_identical_requests_share_one_topic_and_subscription(stack, sessions, nwdaf, collector):
    a = create(sessions, stack, request(nwdaf, name="a"))
    b = create(sessions, stack, request(nwdaf, name="b"))
    other = create(sessions, stack, request(nwdaf, period_s=2, filters={"cells": ["000000002"]}))
    assert a.topic == b.topic and a.stream_id == b.stream_id
    assert other.topic != a.topic
    wait_for(lambda: get(sessions, a.id).stream_users == 2, what="both running")
    wait_for(lambda: get(sessions, b.id).records_published >= 1, what="records for b")
    assert nwdaf.snapshot()["created"] == 2  # one for a+b, one for the other cell
    assert a.derived_from is None and other.derived_from is None
    with sessions() as s:
        service.stop_collection(s, a.id)
        service.stop_collection(s, other.id)
    wait_for(lambda: nwdaf.snapshot()["deleted"] == 1, what="the other stream's DELETE")
    before = get(sessions, b.id).records_published
    wait_for(lambda: get(sessions, b.id).records_published >= before + 2, what="b's stream alive")
    assert len(nwdaf.snapshot()["active"]) == 1
    with sessions() as s:
        service.stop_collection(s, b.id)
    wait_for(
        lambda: nwdaf.snapshot()["deleted"] == 2 and not nwdaf.snapshot()["active"], what="last user left"
    )
    assert nwdaf.snapshot()["created"] == 2


def test_malformed_notifications_go_to_the_dlq(stack, sessions, nwdaf, collector):
    c = create(sessions, stack, request(nwdaf))
    wait_for(
        lambda: c.stream_id in collector.live and collector.live[c.stream_id].adapter._receiver, what="live"
    )
    uri = f"{collector.live[c.stream_id].adapter._receiver.url}/notify/{c.stream_id}"
    bad = [b"{not json", b'[{"subscriptionId": "x", "eventNotifications": [{"event": "NETWORK_PERFORMANCE", '
           b'"nwPerfs": [{"nwPerfType": "NUM_OF_UE", "absoluteNum": 1}]}]}]']  # fmt: skip
    for payload in bad:
        assert httpx.post(uri, content=payload).status_code == 204
    before = get(sessions, c.id).records_published
    wait_for(lambda: get(sessions, c.id).dead_letters == 2, what="dead letters counted")
    wait_for(lambda: get(sessions, c.id).records_published >= before + 2, what="adapter keeps running")
    dlq = list(_scan_with_headers(stack, dlq_topic(c.topic)))
    assert [d.raw for d in dlq] == bad
    assert "not valid JSON" in dlq[0].reason and "networkArea" in dlq[1].reason
    assert all(d.source_topic == c.topic and d.stage == "NWDAF" for d in dlq)


def _scan_with_headers(settings, topic):
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    from aifabric.broker import consumer_config

    consumer = Consumer(consumer_config(settings, "dlq-reader", **{"enable.partition.eof": True}))
    consumer.assign([TopicPartition(topic, 0, 0)])
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while datetime.now(UTC) < deadline:
            for m in consumer.consume(100, timeout=0.2):
                if m.error() is None:
                    yield DeadLetter.from_message(m.value(), m.headers())
                elif m.error().code() == KafkaError._PARTITION_EOF:
                    return
    finally:
        consumer.close()


def test_simulator_down_degraded_then_recovered(stack, sessions, collector):
    from aifabric.adapters.simulators.nwdaf_sim import NwdafSimulator

    sim = NwdafSimulator(cells=1).start()
    port = sim.server.port
    c = create(sessions, stack, request(sim))
    try:
        wait_for(lambda: get(sessions, c.id).records_published >= 1, what="records")
        sim.stop()
        down = wait_for(lambda: (x := get(sessions, c.id)).degraded and x, timeout=15, what="degraded")
        assert down.state == JobState.running and "NWDAF" in down.degraded_reason
        sim = NwdafSimulator(port=port, cells=1).start()
        wait_for(lambda: not get(sessions, c.id).degraded, timeout=20, what="recovered")
        n = get(sessions, c.id).records_published
        wait_for(lambda: get(sessions, c.id).records_published > n, what="records flow again")
    finally:
        sim.stop()


def test_collector_restart_resumes_running_jobs(stack, sessions, nwdaf):
    first = Collector(stack, sessions, tick_s=0.1).start()
    c = create(sessions, stack, request(nwdaf))
    try:
        wait_for(lambda: get(sessions, c.id).records_published >= 2, what="records")
    finally:
        first.stop()
    assert get(sessions, c.id).state == JobState.running  # survives the restart
    wait_for(lambda: nwdaf.snapshot()["deleted"] == 1, what="graceful stop released the subscription")
    n = get(sessions, c.id).records_published
    second = Collector(stack, sessions, tick_s=0.1).start()
    try:
        wait_for(lambda: get(sessions, c.id).records_published >= n + 2, what="records after the restart")
        assert nwdaf.snapshot()["created"] == 2 and len(nwdaf.snapshot()["active"]) == 1
    finally:
        with sessions() as s:
            service.stop_collection(s, c.id)
        wait_for(lambda: not nwdaf.snapshot()["active"], what="stopped after restart")
        second.stop()
    topics = {r.metric_id for r in read_range(stack, c.topic)}
    assert topics == {"NUM_OF_UE"}


def test_persist_a_collection_as_a_dataset_version(stack, sessions, nwdaf, collector):
    c = create(sessions, stack, request(nwdaf, metrics=["NUM_OF_UE", "SESS_SUCC_RATIO"], filters={}))
    wait_for(lambda: get(sessions, c.id).records_published >= 16, what="two notifications")
    with sessions() as s:
        service.stop_collection(s, c.id)
        version = service.persist_collection(s, stack, c.id, PersistRequest(dataset="nwdaf-kpis"))
    assert version.uri.startswith("s3://") and version.row_count >= 16
    assert version.source["kind"] == "collection" and version.source["topic"] == c.topic
    assert version.series_count == 8  # 4 cells x 2 metrics
    with sessions() as s, pytest.raises(InvalidRequest, match="no records"):
        service.persist_collection(
            s, stack, c.id, PersistRequest(dataset="empty", start=datetime(2000, 1, 1, tzinfo=UTC),
                                           end=datetime(2000, 1, 2, tzinfo=UTC)),
        )  # fmt: skip


def test_follow_and_peek(stack, sessions, nwdaf, collector):
    import threading

    from aifabric.collector.consume import follow

    c = create(sessions, stack, request(nwdaf))
    stop = threading.Event()
    got = []

    def reader():
        for rec in follow(stack, c.topic, from_beginning=True, stop=stop):
            got.append(rec)
            if len(got) >= 3:
                stop.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        wait_for(lambda: len(got) >= 3, timeout=20, what="live records")
    finally:
        stop.set()
        t.join(timeout=10)
    assert all(r.metric_id == "NUM_OF_UE" for r in got)
    peeked = service.peek_topic(stack, c.topic, limit=2)
    assert len(peeked.records) == 2 and peeked.undecodable == 0
    assert decode(orjson.dumps(peeked.records[-1]["record"])).metric_id == "NUM_OF_UE"
    topics = service.list_topics(stack)
    assert c.topic in {t.name for t in topics.data}


def test_validation_errors_and_tenancy(stack, sessions, nwdaf):
    now = datetime.now(UTC)
    soon, later = now + timedelta(seconds=5), now + timedelta(seconds=9)
    cases = [
        (request(nwdaf, metrics=["NUM_OF_FOO"]), "unknown metric"),
        (request(nwdaf, start=later, stop=soon), "not after start"),
        (request(nwdaf, stop=now - timedelta(seconds=5)), "in the past"),
        (request(nwdaf, period_s=0.5), "below the NWDAF minimum"),
        (request(nwdaf, filters={"e2nodes": ["001-01-1"]}), "not supported by NWDAF"),
        (request(nwdaf, source="ran"), "serves the 'core' domain"),
    ]
    for body, message in cases:
        with sessions() as s, pytest.raises(InvalidRequest, match=message):
            service.create_collection(s, stack, body)
    with sessions() as s:
        assert service.list_collections(s).count == 0
    c = create(sessions, stack, request(nwdaf), tenant="acme")
    d = create(sessions, stack, request(nwdaf), tenant="other")
    assert c.topic != d.topic  # no sharing across tenants
    with sessions() as s:
        with pytest.raises(NotFound):
            service.get_collection(s, c.id, tenant="other")
        assert service.list_collections(s, tenant="acme").count == 1
        assert service.list_collections(s, tenant="acme", state=JobState.running).count == 0
    assert CollectionCreate(source="NWDAF", metrics=["b", "a", "a"], period_s=1).source == "core"
