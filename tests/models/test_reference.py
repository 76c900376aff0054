"""The seasonal reference: fitted levels, series matching, and the residual feature built on it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from aifabric.models.lstm_ae import SeasonalLSTMAutoencoder
from aifabric.models.reference import SeasonalReference
from tests.conftest import save_seasonal_bundle

SLOT = 600_000
MONDAY = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)  # a Monday, 00:00 UTC
PER_DAY = 144


def _weeks(n: int) -> np.ndarray:
    return MONDAY + SLOT * np.arange(n * 7 * PER_DAY)


def test_levels_are_per_slot_medians_with_weekends_apart():
    ts = _weeks(2)
    slot = np.arange(ts.size) % PER_DAY
    weekend = (np.arange(ts.size) // PER_DAY) % 7 >= 5
    values = np.expm1(np.where(weekend, 1.0, 2.0) + slot / 100)  # log1p level known per slot
    ts3 = np.r_[ts, ts[:PER_DAY] + 14 * PER_DAY * SLOT]  # three Mondays
    values3 = np.r_[values, values[:PER_DAY]]
    values3[3] = 1e6  # one outlier on a Monday 00:30 does not move the median of three
    ref = SeasonalReference.fit([("17", ts3, values3)], "UTC", 10)
    profile = np.asarray(ref.profiles["17"])
    assert profile.shape == (2 * PER_DAY,)
    np.testing.assert_allclose(profile[:PER_DAY], 2.0 + np.arange(PER_DAY) / 100, atol=1e-4)
    np.testing.assert_allclose(profile[PER_DAY:], 1.0 + np.arange(PER_DAY) / 100, atol=1e-4)
    saturday_noon = MONDAY + (5 * PER_DAY + 72) * SLOT
    np.testing.assert_allclose(ref.expected("17", np.array([saturday_noon])), [1.72], atol=1e-4)


def test_a_slot_without_training_points_borrows_the_other_day_type():
    ts = MONDAY + SLOT * np.arange(5 * PER_DAY)  # Monday to Friday only: no weekend seen
    ref = SeasonalReference.fit([("a", ts, np.full(ts.size, np.expm1(3.0)))], "UTC", 10)
    assert ref.profiles["a"][PER_DAY:] == pytest.approx([3.0] * PER_DAY, abs=1e-4)


def test_series_match_by_key_label_value_or_number_and_unknown_is_nan():
    ts = MONDAY + SLOT * np.arange(PER_DAY)
    ref = SeasonalReference.fit(
        [
            ("7", ts, np.full(ts.size, np.expm1(1.0))),
            ("EDGE/bytes/site=a", ts, np.full(ts.size, np.expm1(2.0))),
            ("1", ts, np.full(ts.size, np.expm1(3.0))),
        ],
        "UTC",
        10,
    )
    assert ref.row_of("7") == ref.row_of("NWDAF/NUM_OF_UE/cell=000000007,event=x") == 0
    assert ref.row_of("EDGE/internet/square=7") == 0
    assert ref.row_of("EDGE/bytes/site=a") == 1
    assert ref.row_of("NWDAF/NUM_OF_UE/cell=000000008") == -1
    assert ref.row_of("X/y/cell=7,event=7") == 0  # two labels, one series: fine
    assert ref.row_of("X/y/cell=7,slice=1") == -1  # squares 7 and 1 both trained: ambiguous
    assert ref.row_of("70") == -1
    got = ref.expected(["EDGE/x/square=7", "unknown", "EDGE/bytes/site=a"], ts[:3])
    np.testing.assert_allclose(got[[0, 2]], [1.0, 2.0], atol=1e-4)
    assert np.isnan(got[1])


def test_residual_feature_is_log_level_minus_expected_and_zero_when_unknown():
    definition = SeasonalLSTMAutoencoder()
    ts = MONDAY + SLOT * np.arange(3)
    values = np.array([np.expm1(2.5), np.expm1(1.0), 5.0])
    feats = definition.featurize(ts, values, np.array([2.0, 1.5, np.nan]))
    col = definition.features.index("seasonal_residual")
    np.testing.assert_allclose(feats[:, col], [0.5, -0.5, 0.0], atol=1e-5)
    with pytest.raises(ValueError, match="expected levels"):
        definition.featurize(ts, values)


def test_bundle_carries_the_reference_and_preprocesses_by_series(tmp_path):
    ts = MONDAY + SLOT * np.arange(2 * PER_DAY)
    values = np.expm1(2.0 + np.sin(2 * np.pi * np.arange(ts.size) / PER_DAY))  # same each day
    reference = SeasonalReference.fit([("12", ts, values)], "UTC", 10)
    bundle = save_seasonal_bundle(tmp_path, reference)
    n = len(SeasonalLSTMAutoencoder.features)
    assert bundle.reference == reference
    known = bundle.preprocess(ts[:24], values[:24], series="EDGE/internet/square=12")
    unknown = bundle.preprocess(ts[:24], values[:24], series="EDGE/internet/square=13")
    assert known.shape == unknown.shape == (13, 12, n)
    np.testing.assert_allclose(known[..., -1], 0.0, atol=1e-3)  # training day: residual ≈ 0
    np.testing.assert_allclose(unknown[..., -1], 0.0)  # unknown series: residual 0 by definition
    shifted = bundle.preprocess(ts[:24], values[:24] * 3, series="EDGE/internet/square=12")
    assert np.all(shifted[..., -1] > 0.9)  # a level shift shows in every window, middle ones too
    np.testing.assert_allclose(shifted[..., :6], known[..., :6], rtol=1e-5)  # calendar unchanged
