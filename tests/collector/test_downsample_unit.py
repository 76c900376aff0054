"""The bucketing rules of downsampling: pure functions, and the downsampler fed from memory (no broker)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from aifabric.adapters.base import StreamParams
from aifabric.collector.downsample import (
    DownsampleConfig,
    Downsampler,
    ResumeState,
    aggregate,
    bucket_start,
    downsample,
    is_multiple,
)
from aifabric.collector.models import CollectionCreate
from aifabric.records import Record, decode, encode
from tests.adapters.util import MemorySink

T0 = 1_764_480_000_000  # an epoch multiple of 2 s, 3 s and 60 s


def rec(ms: int, value: float, cell: str = "1", metric: str = "NUM_OF_UE") -> Record:
    return Record(
        source="NWDAF",
        metric_id=metric,
        labels={"event": "NETWORK_PERFORMANCE", "cell": cell},
        timestamp=datetime.fromtimestamp(ms / 1000, UTC),
        value=value,
    )


def test_buckets_are_epoch_multiples_of_the_coarse_period():
    assert bucket_start(T0, 2000) == T0
    assert bucket_start(T0 + 1999, 2000) == T0
    assert bucket_start(T0 + 2000, 2000) == T0 + 2000
    assert bucket_start(T0 + 2999, 3000) == T0
    assert bucket_start(T0 - 1, 3000) == T0 - 3000


def test_only_integer_multiples_above_one_are_served_by_downsampling():
    assert is_multiple(2, 1) and is_multiple(3, 1) and is_multiple(60, 15) and is_multiple(0.3, 0.1)
    assert not is_multiple(1, 1)  # same period: shared, not derived
    assert not is_multiple(3, 2) and not is_multiple(1, 2) and not is_multiple(2.5, 1)


@pytest.mark.parametrize(
    ("how", "expected"), [("last", 5), ("mean", 4.0), ("sum", 12), ("max", 5), ("min", 3)]
)
def test_aggregations(how, expected):
    # out of order in time: "last" is the value at the latest time, not the last one read
    values = [(T0 + 1000, 3), (T0 + 1500, 5), (T0, 4)]
    got = aggregate(values, how)
    assert got == expected and type(got) is type(expected)


def test_aggregate_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="empty bucket"):
        aggregate([], "last")


def test_downsample_keeps_series_apart_and_stamps_the_bucket_start():
    fine = [rec(T0 + i * 1000, 10 + i) for i in range(5)] + [
        rec(T0 + i * 1000, 100 * i, cell="2") for i in range(5)
    ]
    out = downsample(fine, 2, "sum")
    assert [(r.label("cell"), r.epoch_ms - T0, r.value) for r in out] == [
        ("1", 0, 21), ("2", 0, 100), ("1", 2000, 25), ("2", 2000, 500), ("1", 4000, 14), ("2", 4000, 400),
    ]  # fmt: skip
    assert {r.key for r in out} == {r.key for r in fine}  # the same series keys
    assert [r.value for r in downsample(fine, 2) if r.label("cell") == "1"] == [11, 13, 14]  # default: last
    assert [r.value for r in downsample(fine, 3, "mean") if r.label("cell") == "1"] == [11.0, 13.5]


def test_downsample_with_string_labels_and_several_metrics():
    a = Record(
        source="EDGE", metric_id="m", labels="x", timestamp=datetime.fromtimestamp(T0 / 1000, UTC), value=1
    )
    b = a.model_copy(update={"metric_id": "n", "value": 7.5})
    out = downsample([a, b, a], 60, "max")
    assert [(r.metric_id, r.labels, r.value) for r in out] == [("m", "x", 1), ("n", "x", 7.5)]


def test_aggregation_is_validated():
    base = {"source": "core", "metrics": ["NUM_OF_UE"], "period_s": 2}
    assert CollectionCreate(**base).aggregation is None
    assert CollectionCreate(**base, aggregation="sum").aggregation == "sum"
    with pytest.raises(ValidationError, match="'last', 'mean', 'sum', 'max' or 'min'"):
        CollectionCreate(**base, aggregation="median")


class Msg:
    """A consumed message as the downsampler reads it (partition, offset, key, value)."""

    def __init__(self, partition: int, offset: int, record: Record) -> None:
        self._p, self._o, self._rec = partition, offset, record

    def error(self):
        return None

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> bytes:
        return self._rec.key.encode()

    def value(self) -> bytes:
        return encode(self._rec)


def fine_messages(seconds: int, cells: int = 3) -> list[Msg]:
    """A 1 s stream of ``cells`` series spread over two partitions, in publish order."""
    out, offsets = [], [0, 0]
    for t in range(seconds):
        for c in range(cells):
            p = c % 2
            out.append(Msg(p, offsets[p], rec(T0 + t * 1000 + 7, (t * 7 + c * 3) % 11, cell=str(c))))
            offsets[p] += 1
    return out


def downsampler(resume: ResumeState | None = None, how: str = "sum") -> Downsampler:
    params = StreamParams(
        stream_id="s", topic="coarse", metrics=["NUM_OF_UE"], period_s=2,
        start=datetime.fromtimestamp(T0 / 1000, UTC),
    )  # fmt: skip
    config = DownsampleConfig(parent_topic="fine", parent_period_s=1, aggregation=how)
    return Downsampler(None, config, params, MemorySink(), resume)


def test_buckets_close_one_fine_period_after_their_end():
    ds = downsampler()
    msgs = fine_messages(10)
    assert ds._absorb(msgs[:9]) == []  # t = 0, 1, 2: bucket [0, 2) waits for t >= 3
    closed = [decode(v) for _, v in ds._absorb(msgs[9:12])]  # t = 3
    assert [(r.label("cell"), r.epoch_ms - T0) for r in closed] == [("0", 0), ("1", 0), ("2", 0)]
    assert ds.records == 3 and ds.last_record_ms == T0


def test_a_resumed_downsampler_refills_open_buckets_and_repeats_nothing():
    msgs = fine_messages(20)
    whole = downsampler()
    expected = [decode(v) for _, v in whole._absorb(msgs)]
    assert expected == [r for r in downsample([m._rec for m in msgs], 2, "sum") if r.epoch_ms - T0 < 18_000]
    first = downsampler()
    got = [decode(v) for _, v in first._absorb(msgs[:31])]  # stops mid-bucket, mid-partition
    state = first.resume_state()
    assert state.emitted_until_ms == T0 + 8000
    assert set(state.offsets) == {0, 1}
    second = downsampler(ResumeState.model_validate(state.model_dump(mode="json")))
    rest = [m for m in msgs if m.offset() >= state.offsets[m.partition()]]
    got += [decode(v) for _, v in second._absorb(rest)]
    assert got == expected and second.late == 0


def test_late_records_are_counted_not_published():
    ds = downsampler(how="last")
    msgs = fine_messages(6)
    ds._absorb(msgs)
    late = Msg(0, 99, rec(T0 + 500, 1000, cell="0"))
    assert ds._absorb([late]) == [] and ds.late == 1


def test_a_record_that_is_not_one_is_dead_lettered():
    ds = downsampler()
    bad = Msg(0, 0, rec(T0, 1))
    bad.value = lambda: b'{"source": "NWDAF"}'
    assert ds._absorb([bad]) == []
    assert ds.dead_letters == 1 and "metric_id" in ds.sink.dead[0][1]
