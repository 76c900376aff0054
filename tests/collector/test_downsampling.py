"""Coarser collections served from a finer running stream, end to end: Tansu, SQL, the NWDAF
simulator, the collector."""

from __future__ import annotations

from datetime import datetime

from aifabric.collector import service
from aifabric.collector.consume import read_range
from aifabric.collector.downsample import downsample
from aifabric.collector.models import JobState, PersistRequest
from aifabric.collector.runner import Collector
from aifabric.collector.tables import CollectionStream
from aifabric.records import Record
from tests.collector.test_collections import create, get, request
from tests.conftest import wait_for


def stop(sessions, cid):
    with sessions() as s:
        return service.stop_collection(s, cid)


def stream(sessions, stream_id) -> CollectionStream:
    with sessions() as s:
        return s.get(CollectionStream, stream_id)


def stopped_stream(sessions, stream_id) -> CollectionStream:
    """The stream once the collector has stopped it (its counters and resume state are final)."""
    return wait_for(
        lambda: (x := stream(sessions, stream_id)).state == "idle" and x.stopped_at and x,
        what="stream stopped",
    )


def running_fine(stack, sessions, nwdaf, **kw):
    """A 1 s NUM_OF_UE stream that is collecting (its upstream subscription is live)."""
    fine = create(sessions, stack, request(nwdaf, name="fine", **kw))
    wait_for(lambda: get(sessions, fine.id).records_published >= 1, timeout=15, what="fine records")
    return fine


def check_buckets(coarse: list[Record], fine: list[Record], period_s: float, how: str) -> None:
    """Every coarse record is the aggregation of the fine records in its bucket, none is missing
    between the first and the last one, and none is there twice."""
    keys = [(r.key, r.epoch_ms) for r in coarse]
    assert len(keys) == len(set(keys)), "a bucket was published twice"
    lo, hi = min(ms for _, ms in keys), max(ms for _, ms in keys)
    expected = {
        (r.key, r.epoch_ms): r.value for r in downsample(fine, period_s, how) if lo <= r.epoch_ms <= hi
    }
    assert {k: r.value for k, r in zip(keys, coarse, strict=True)} == expected


def test_coarser_requests_are_downsampled_without_a_new_subscription(stack, sessions, nwdaf, collector):
    fine = running_fine(stack, sessions, nwdaf)
    two = create(sessions, stack, request(nwdaf, name="two", period_s=2))
    three = create(sessions, stack, request(nwdaf, name="three", period_s=3, aggregation="mean"))
    again = create(sessions, stack, request(nwdaf, name="two again", period_s=2))
    assert two.derived_from is not None and two.derived_from.stream_id == fine.stream_id
    assert two.derived_from.topic == fine.topic and two.derived_from.aggregation == "last"
    assert three.derived_from.aggregation == "mean" and three.period_s == 3
    assert len({fine.topic, two.topic, three.topic}) == 3  # coarse data is other data: own topics
    assert again.topic == two.topic and again.stream_id == two.stream_id  # equal requests still share
    started = datetime.now().timestamp()
    wait_for(lambda: get(sessions, three.id).records_published >= 3, timeout=30, what="3 s buckets")
    for c in (two, again, three):
        stop(sessions, c.id)
    elapsed = datetime.now().timestamp() - started
    assert nwdaf.snapshot()["created"] == 1  # one upstream subscription served all four requests
    assert get(sessions, fine.id).derived_streams == 0
    n = get(sessions, fine.id).records_published
    wait_for(lambda: get(sessions, fine.id).records_published >= n + 2, what="the fine stream keeps running")
    assert nwdaf.snapshot()["deleted"] == 0 and len(nwdaf.snapshot()["active"]) == 1

    fine_records = read_range(stack, fine.topic)
    for c, period, how in ((two, 2, "last"), (three, 3, "mean")):
        coarse = read_range(stack, c.topic)
        assert stopped_stream(sessions, c.stream_id).records_published == len(coarse)
        assert {r.key for r in coarse} == {r.key for r in fine_records}  # same series key
        assert all(r.epoch_ms % (period * 1000) == 0 for r in coarse)
        # a bucket is published once the next one is one fine period old: at most two periods behind
        assert elapsed / period - 3 <= len(coarse) <= elapsed / period + 1, (len(coarse), elapsed)
        check_buckets(coarse, fine_records, period, how)
    assert get(sessions, two.id).last_record_at == max(r.timestamp for r in read_range(stack, two.topic))
    stop(sessions, fine.id)
    wait_for(lambda: nwdaf.snapshot()["deleted"] == 1, what="the upstream DELETE")


def test_a_derived_stream_keeps_the_upstream_alive(stack, sessions, nwdaf, collector):
    fine = running_fine(stack, sessions, nwdaf)
    coarse = create(sessions, stack, request(nwdaf, period_s=2, aggregation="sum"))
    wait_for(lambda: get(sessions, fine.id).derived_streams == 1, what="the derived stream running")
    assert get(sessions, fine.id).stream_users == 1  # the shared-topic view: direct users only
    stopped = stop(sessions, fine.id)
    assert stopped.state == JobState.stopped and stopped.stream_users == 0 and stopped.derived_streams == 1
    wait_for(lambda: get(sessions, coarse.id).records_published >= 2, timeout=20, what="coarse records")
    n = get(sessions, coarse.id).records_published
    wait_for(lambda: get(sessions, coarse.id).records_published >= n + 1, timeout=20, what="still flowing")
    snap = nwdaf.snapshot()
    assert snap["created"] == 1 and snap["deleted"] == 0 and len(snap["active"]) == 1
    stop(sessions, coarse.id)
    wait_for(lambda: nwdaf.snapshot()["deleted"] == 1, what="the upstream DELETE after the last user")
    assert not nwdaf.snapshot()["active"]
    assert stopped_stream(sessions, coarse.stream_id).resume is None  # its open bucket is dropped
    check_buckets(read_range(stack, coarse.topic), read_range(stack, fine.topic), 2, "sum")
    with sessions() as s:
        version = service.persist_collection(s, stack, coarse.id, PersistRequest(dataset="coarse-ues"))
    assert version.source["topic"] == coarse.topic and version.source["aggregation"] == "sum"
    assert version.source["downsampled_from"] == {"topic": fine.topic, "period_s": 1.0}


def test_non_multiples_and_other_filters_get_their_own_stream(stack, sessions, nwdaf, collector):
    fine = running_fine(stack, sessions, nwdaf, period_s=2)
    odd = create(sessions, stack, request(nwdaf, period_s=3))
    other_cell = create(sessions, stack, request(nwdaf, period_s=4, filters={"cells": ["000000002"]}))
    four = create(sessions, stack, request(nwdaf, period_s=4))
    assert odd.derived_from is None and other_cell.derived_from is None
    assert four.derived_from is not None and four.derived_from.stream_id == fine.stream_id
    wait_for(lambda: nwdaf.snapshot()["created"] == 3, what="two more subscriptions")
    for c in (fine, odd, other_cell, four):
        stop(sessions, c.id)
    wait_for(lambda: not nwdaf.snapshot()["active"], what="every subscription ended")


def test_a_derived_stream_resumes_after_a_collector_restart(stack, sessions, nwdaf):
    first = Collector(stack, sessions, tick_s=0.1).start()
    try:
        fine = running_fine(stack, sessions, nwdaf)
        coarse = create(sessions, stack, request(nwdaf, period_s=2, aggregation="max"))
        wait_for(lambda: get(sessions, coarse.id).records_published >= 2, timeout=20, what="coarse records")
    finally:
        first.stop()
    assert get(sessions, coarse.id).state == JobState.running
    resume = stream(sessions, coarse.stream_id).resume
    assert resume["offsets"] and resume["emitted_until_ms"] % 2000 == 0
    n = get(sessions, coarse.id).records_published
    second = Collector(stack, sessions, tick_s=0.1).start()
    try:
        wait_for(lambda: get(sessions, coarse.id).records_published >= n + 2, timeout=20, what="resumed")
        assert nwdaf.snapshot()["created"] == 2 and len(nwdaf.snapshot()["active"]) == 1
        stop(sessions, fine.id)
        stop(sessions, coarse.id)
        wait_for(lambda: not nwdaf.snapshot()["active"], what="stopped after the restart")
    finally:
        second.stop()
    coarse_records = read_range(stack, coarse.topic)
    assert stopped_stream(sessions, coarse.stream_id).records_published == len(coarse_records)
    check_buckets(coarse_records, read_range(stack, fine.topic), 2, "max")
