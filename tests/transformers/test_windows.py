"""Sliding windows: streaming windows equal the offline pipeline's; order, duplicates, lateness."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from aifabric.models.bundle import ScoringBundle
from aifabric.records import InvalidRecord
from aifabric.serving.sample_bundle import write_sample_bundle
from aifabric.transformers.consumer import parse_point
from aifabric.transformers.windows import Point, SeriesWindows

T0 = 1_700_000_000_000
STEP = 600_000


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> ScoringBundle:
    return ScoringBundle.load(write_sample_bundle(tmp_path_factory.mktemp("b")))


def test_streamed_windows_equal_offline_preprocessing(bundle):
    ts = T0 + STEP * np.arange(40)
    values = np.linspace(50, 150, 40)
    offline = bundle.preprocess(ts, values)
    sw = SeriesWindows(bundle)
    chunks = []
    for lo, hi in [(0, 5), (5, 13), (13, 14), (14, 40)]:  # uneven micro-batches
        batch = sw.add(Point("s", int(t), float(v)) for t, v in zip(ts[lo:hi], values[lo:hi], strict=True))
        chunks.append(batch.windows)
        assert batch.end_ms == [int(t) for t in ts[max(lo, 11) : hi]]
    np.testing.assert_allclose(np.concatenate(chunks), offline, rtol=1e-6)


def test_series_are_independent_and_batches_reordered(bundle):
    sw = SeriesWindows(bundle)
    pts = [Point(k, T0 + STEP * i, float(i)) for i in range(12) for k in ("a", "b")]
    pts.reverse()  # out of order inside one batch is fine
    batch = sw.add(pts)
    assert sorted(batch.keys) == ["a", "b"]
    assert batch.end_ms == [T0 + STEP * 11] * 2


def test_duplicates_skipped_late_within_bound_kept_beyond_rejected(bundle):
    sw = SeriesWindows(bundle, max_lateness_ms=2 * STEP)
    sw.add(Point("s", T0 + STEP * i, 1.0) for i in range(12))
    batch = sw.add(
        [
            Point("s", T0 + STEP * 11, 1.0),
            Point("s", T0 + STEP * 5 + 1, 1.0),
            Point("s", T0 + STEP * 10 + 1, 2.0),
        ]
    )
    assert batch.duplicates == 1
    assert len(batch) == 0
    assert len(batch.rejected) == 1 and "late by" in batch.rejected[0].reason


def test_warmup_points_build_history_without_emitting(bundle):
    sw = SeriesWindows(bundle)
    warm = sw.add(Point("s", T0 + STEP * i, 1.0, emit=False) for i in range(15))
    assert len(warm) == 0
    live = sw.add([Point("s", T0 + STEP * 15, 1.0)])
    assert live.end_ms == [T0 + STEP * 15]  # complete window right after the replay


def test_drop_forgets_revoked_partitions(bundle):
    sw = SeriesWindows(bundle)
    sw.add([Point("a", T0, 1.0, ("t", 0)), Point("b", T0, 1.0, ("t", 1))])
    assert sw.drop([("t", 0)]) == 1
    assert len(sw) == 1


RECORD = {
    "source": "NWDAF",
    "metric_id": "UPLINK_VOL",
    "labels": "UE_COMMUNICATION",
    "timestamp": "2025-10-23T12:00:00.000Z",
    "value": 150,
}


def test_parse_point_accepts_the_papers_record_and_names_bad_fields():
    key, ts, value = parse_point(orjson.dumps(RECORD))
    assert key == "NWDAF/UPLINK_VOL/UE_COMMUNICATION" and value == 150.0
    assert ts == 1761220800000
    with pytest.raises(InvalidRecord, match="not valid JSON"):
        parse_point(b"{oops")
    with pytest.raises(InvalidRecord, match="value"):
        parse_point(orjson.dumps(RECORD | {"value": "high"}))
    with pytest.raises(InvalidRecord, match="timestamp"):
        parse_point(orjson.dumps(RECORD | {"timestamp": "2025-10-23T12:00:00"}))
    with pytest.raises(InvalidRecord, match="not scored by this deployment"):
        parse_point(orjson.dumps(RECORD), frozenset({"DOWNLINK_VOL"}))
