"""The common record model: Fig. 2 verbatim, series keys, and clear rejections."""

from __future__ import annotations

import orjson
import pytest

from aifabric.records import InvalidRecord, Record, decode, decode_many, encode, series_key

FIG2 = [
    b'{"source": "NWDAF", "metric_id": "UPLINK_VOL", "labels": "UE_COMMUNICATION", '
    b'"timestamp": "2025-10-23T12:00:00.000Z", "value": 150}',
    b'{"source": "NWDAF", "metric_id": "NUM_OF_UE", "labels": "NETWORK_PERFORMANCE", '
    b'"timestamp": "2025-10-23T12:00:00.000Z", "value": 42}',
]


@pytest.mark.parametrize("raw", FIG2)
def test_fig2_examples_round_trip(raw: bytes) -> None:
    rec = decode(raw)
    assert orjson.loads(encode(rec)) == orjson.loads(raw)
    assert isinstance(rec.value, int)
    assert rec.key == f"NWDAF/{rec.metric_id}/{rec.labels}"


def test_identity_labels_make_the_series_key_and_sort() -> None:
    a = Record.parse(
        {
            "source": "FlexRIC",
            "metric_id": "DRB.UEThpDl",
            "labels": {"e2node": "001-01-1", "event": "E2SM_KPM"},
            "timestamp": "2025-10-23T12:00:00.5+02:00",
            "value": 12.5,
        }
    )
    assert a.key == "FlexRIC/DRB.UEThpDl/e2node=001-01-1,event=E2SM_KPM"
    assert a.key == series_key("FlexRIC", "DRB.UEThpDl", {"event": "E2SM_KPM", "e2node": "001-01-1"})
    assert orjson.loads(encode(a))["timestamp"] == "2025-10-23T10:00:00.500Z"
    assert a.epoch_ms == 1761213600500
    assert a.label("e2node") == "001-01-1"


BAD = {
    "missing field": ({"source": "x", "metric_id": "m", "labels": "l", "value": 1}, "timestamp", "missing"),
    "bad timestamp": (
        {"source": "x", "metric_id": "m", "labels": "l", "timestamp": "yesterday", "value": 1},
        "timestamp",
        "ISO 8601",
    ),
    "naive timestamp": (
        {"source": "x", "metric_id": "m", "labels": "l", "timestamp": "2025-10-23T12:00:00", "value": 1},
        "timestamp",
        "time zone",
    ),
    "numeric timestamp": (
        {"source": "x", "metric_id": "m", "labels": "l", "timestamp": 1761213600, "value": 1},
        "timestamp",
        "ISO 8601",
    ),
    "non-numeric value": (
        {"source": "x", "metric_id": "m", "labels": "l", "timestamp": "2025-10-23T12:00:00Z", "value": "150"},
        "value",
        "number",
    ),
    "bool value": (
        {"source": "x", "metric_id": "m", "labels": "l", "timestamp": "2025-10-23T12:00:00Z", "value": True},
        "value",
        "number",
    ),
    "oversize labels": (
        {
            "source": "x",
            "metric_id": "m",
            "labels": {f"k{i}": "v" for i in range(40)},
            "timestamp": "2025-10-23T12:00:00Z",
            "value": 1,
        },
        "labels",
        "at most 32",
    ),
    "oversize label value": (
        {
            "source": "x",
            "metric_id": "m",
            "labels": {"cell": "v" * 300},
            "timestamp": "2025-10-23T12:00:00Z",
            "value": 1,
        },
        "labels",
        "longer than",
    ),
    "empty source": (
        {"source": "", "metric_id": "m", "labels": "l", "timestamp": "2025-10-23T12:00:00Z", "value": 1},
        "source",
        "at least 1",
    ),
    "unknown field": (
        {
            "source": "x",
            "metric_id": "m",
            "labels": "l",
            "timestamp": "2025-10-23T12:00:00Z",
            "value": 1,
            "extra": 2,
        },
        "extra",
        "unknown field",
    ),
}


@pytest.mark.parametrize("name", BAD)
def test_malformed_records_are_rejected_with_field_and_reason(name: str) -> None:
    payload, field, reason = BAD[name]
    with pytest.raises(InvalidRecord) as exc:
        decode(orjson.dumps(payload))
    assert exc.value.field.startswith(field)
    assert reason in exc.value.reason


def test_nan_value_is_rejected() -> None:
    with pytest.raises(InvalidRecord, match="finite"):
        Record.parse(
            {
                "source": "x",
                "metric_id": "m",
                "labels": "l",
                "timestamp": "2025-10-23T12:00:00Z",
                "value": float("nan"),
            }
        )


def test_invalid_utf8_and_not_json() -> None:
    with pytest.raises(InvalidRecord) as exc:
        decode(b'{"source": "\xff\xfe"}')
    assert exc.value.field == "<payload>" and "UTF-8" in exc.value.reason
    with pytest.raises(InvalidRecord, match="not valid JSON"):
        decode(b"{nope")
    with pytest.raises(InvalidRecord, match="JSON object"):
        decode(b"1")


def test_decode_many_names_the_index() -> None:
    good = orjson.loads(FIG2[0])
    bad = dict(good, value="x")
    assert len(decode_many(orjson.dumps([good, good]))) == 2
    with pytest.raises(InvalidRecord) as exc:
        decode_many(orjson.dumps([good, bad]))
    assert exc.value.field == "[1].value"
