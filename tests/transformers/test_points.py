"""The batch record parser: the cached fast path agrees with the full check, refusals name the reason."""

from __future__ import annotations

import orjson

from aifabric.transformers.points import PointParser, parse_point

RECORD = {
    "source": "NWDAF",
    "metric_id": "UPLINK_VOL",
    "labels": {"cell": "7"},
    "timestamp": "2025-10-23T12:00:00.123Z",
    "value": 150,
}
KEY = b"NWDAF/UPLINK_VOL/cell=7"


def test_cached_fast_path_equals_the_full_check():
    parser = PointParser()
    raws = [
        orjson.dumps(RECORD | {"timestamp": f"2025-10-23T12:{m:02d}:00.123Z", "value": m}) for m in range(5)
    ]
    first = parser.parse_many([KEY] * 5, raws)  # first record learns the key, the rest hit
    again = parser.parse_many([KEY] * 5, raws)
    for out in (first, again):
        assert out.rejected == [] and sorted(out.index) == list(range(5))
        columns = zip(out.index, out.keys, out.ts_ms.tolist(), out.values.tolist(), strict=True)
        got = {i: (k, t, v) for i, k, t, v in columns}
        assert got == {i: parse_point(raw) for i, raw in enumerate(raws)}
    assert got[0] == ("NWDAF/UPLINK_VOL/cell=7", 1761220800123, 0.0)


def test_a_key_that_does_not_match_its_payload_is_not_trusted():
    parser = PointParser()
    parser.parse_many([KEY], [orjson.dumps(RECORD)])
    other = orjson.dumps(RECORD | {"labels": {"cell": "8"}})
    out = parser.parse_many([KEY], [other])
    assert out.keys == ["NWDAF/UPLINK_VOL/cell=8"]


def test_bad_records_in_a_batch_are_refused_with_reasons_and_the_rest_kept():
    parser = PointParser(frozenset({"UPLINK_VOL"}))
    parser.parse_many([KEY], [orjson.dumps(RECORD)])
    payloads = [
        orjson.dumps(RECORD),
        b"{oops",
        None,
        orjson.dumps(RECORD | {"value": "high"}),
        orjson.dumps(RECORD | {"timestamp": "2025-10-23T25:00:00.000Z"}),  # known key, impossible hour
        orjson.dumps(RECORD | {"timestamp": "2025-10-23T12:00:00"}),  # no zone
        orjson.dumps(RECORD | {"metric_id": "DOWNLINK_VOL"}),
        orjson.dumps({k: v for k, v in RECORD.items() if k != "value"}),
        orjson.dumps(RECORD | {"timestamp": "2025-10-23T14:00:00.000+02:00"}),  # fine, the slow way
    ]
    out = parser.parse_many([KEY] * len(payloads), payloads)
    assert sorted(out.index) == [0, 8]
    assert sorted(out.ts_ms.tolist()) == [1761220800000, 1761220800123]
    reasons = dict(out.rejected)
    assert "not valid JSON" in reasons[1] and "tombstone" in reasons[2]
    assert "value" in reasons[3] and "timestamp" in reasons[4] and "timestamp" in reasons[5]
    assert "not scored by this deployment" in reasons[6]
    assert "required field is missing" in reasons[7]
