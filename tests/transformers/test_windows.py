"""Sliding windows: streaming windows equal the offline pipeline's; order, duplicates, lateness."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from aifabric.models.bundle import ScoringBundle
from aifabric.records import InvalidRecord
from aifabric.serving.sample_bundle import write_sample_bundle
from aifabric.transformers.points import parse_point
from aifabric.transformers.windows import Point, SeriesWindows
from tests.conftest import save_seasonal_bundle

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


@pytest.mark.parametrize("pointwise", [True, False], ids=["pointwise", "per-series-featurize"])
def test_many_series_shuffled_batches_with_redelivery_equal_offline(bundle, pointwise):
    """Vectorised windows == offline windows per series, for every end, exactly once."""
    rng = np.random.default_rng(7)
    n_series, n_points = 50, 40
    ts = T0 + STEP * np.arange(n_points)
    values = {k: rng.uniform(10, 200, n_points) for k in range(n_series)}
    stream = [(k, i) for i in range(n_points) for k in range(n_series)]
    sw = SeriesWindows(bundle)
    sw.pointwise = pointwise
    got: dict[tuple[str, int], np.ndarray] = {}
    duplicates = 0
    pos = 0
    while pos < len(stream):
        size = int(rng.integers(1, 400))
        chunk = stream[pos : pos + size]
        redelivered = stream[max(0, pos - 30) : pos] if rng.random() < 0.5 else []
        pos += size
        batch_pts = [Point(f"s{k}", int(ts[i]), float(values[k][i])) for k, i in chunk + redelivered]
        rng.shuffle(batch_pts)
        batch = sw.add(batch_pts)
        duplicates += batch.duplicates
        for key, end, win in zip(batch.keys, batch.end_ms, batch.windows, strict=True):
            assert (key, end) not in got
            got[(key, end)] = win
    assert len(got) == n_series * (n_points - 11)
    assert duplicates > 0
    for k in range(n_series):
        offline = bundle.preprocess(ts, values[k])
        for j, end in enumerate(ts[11:]):
            np.testing.assert_allclose(got[(f"s{k}", int(end))], offline[j], rtol=1e-6)


def test_late_point_within_bound_joins_later_windows_like_offline(bundle):
    sw = SeriesWindows(bundle, max_lateness_ms=24 * 3_600_000)
    ts = T0 + STEP * np.arange(26)
    values = np.arange(26, dtype=float) * 3 + 50
    first = [i for i in range(21) if i != 15]
    sw.add(Point("s", int(ts[i]), float(values[i])) for i in first)
    late = sw.add([Point("s", int(ts[15]), float(values[15])), Point("s", int(ts[2]), 1.0)])
    assert len(late) == 0 and not late.rejected  # joins the tail; point 2 is older than the tail
    batch = sw.add(Point("s", int(t), float(v)) for t, v in zip(ts[21:], values[21:], strict=True))
    offline = bundle.preprocess(ts, values)
    assert batch.end_ms == ts[21:].tolist()
    np.testing.assert_allclose(batch.windows, offline[21 - 11 :], rtol=1e-6)


def test_dropped_slots_are_reused_without_leaking_history(bundle):
    sw = SeriesWindows(bundle, capacity=1)
    sw.add(Point(k, T0 + STEP * i, 1.0, ("t", p)) for i in range(11) for p, k in ((0, "a"), (1, "b")))
    assert sw.drop([("t", 0)]) == 1
    again = sw.add(Point("c", T0 + STEP * i, 2.0, ("t", 0)) for i in range(11))
    assert len(again) == 0  # "c" took "a"'s slot with an empty tail
    assert sw.add([Point("b", T0 + STEP * 11, 1.0)]).keys == ["b"]


def test_seasonal_residual_streams_like_offline_per_series(tmp_path):
    """A definition with the seasonal reference: each live series gets its own training series'
    expected levels (matched by label value), an unknown series residual 0, as offline."""
    from aifabric.models.reference import SeasonalReference

    day = T0 + STEP * np.arange(144)
    reference = SeasonalReference.fit(
        [("1", day, np.full(144, 100.0)), ("2", day, np.linspace(10, 1000, 144))], "UTC", 10
    )
    bundle = save_seasonal_bundle(tmp_path, reference)
    keys = [
        "NWDAF/NUM_OF_UE/cell=000000001",
        "NWDAF/NUM_OF_UE/cell=000000002",
        "NWDAF/NUM_OF_UE/cell=00000000a",
    ]
    ts = day[:30] + 7 * 144 * STEP  # a week later, same slots of the day
    values = {k: np.full(30, 200.0) for k in keys}
    sw = SeriesWindows(bundle, capacity=1)  # grows while series arrive
    got: dict[tuple[str, int], np.ndarray] = {}
    for lo, hi in [(0, 7), (7, 19), (19, 30)]:
        batch = sw.add(Point(k, int(ts[i]), float(values[k][i])) for i in range(lo, hi) for k in keys)
        got |= {(k, end): w for k, end, w in zip(batch.keys, batch.end_ms, batch.windows, strict=True)}
    residuals = {}
    for k in keys:
        offline = bundle.preprocess(ts, values[k], series=k)
        streamed = np.stack([got[(k, int(end))] for end in ts[11:]])
        np.testing.assert_allclose(streamed, offline, rtol=1e-6)
        residuals[k] = streamed[..., -1]
    np.testing.assert_allclose(residuals[keys[0]], np.log1p(200) - np.log1p(100), rtol=1e-4)
    assert not np.allclose(residuals[keys[1]], residuals[keys[0]])
    np.testing.assert_allclose(residuals[keys[2]], 0.0)  # not in the reference
