"""CSV, Parquet and record (JSON lines) onboarding formats."""

from __future__ import annotations

import io

import orjson
import pandas as pd
import pytest

from aifabric.datasets.errors import DatasetFileError
from aifabric.datasets.frame import checksum
from aifabric.datasets.loader import LoadOptions, load_files


def test_csv_with_iso_timestamps_and_series():
    data = (
        b"timestamp,cell,volume,label\n"
        b"2025-10-23T12:00:00Z,a,1.5,0\n"
        b"2025-10-23T12:10:00Z,a,2.5,1\n"
        b"2025-10-23T12:00:00Z,b,4,0\n"
    )
    loaded = load_files([("kpi.csv", data)])
    assert loaded.format == "csv"
    assert loaded.frame["series"].tolist() == ["a", "a", "b"]
    assert loaded.frame["timestamp"].iloc[0] == 1761220800000
    assert loaded.summary.dataset_schema.metrics == ["volume"]
    assert loaded.summary.labelled_rows == 1
    assert loaded.summary.slot_ms == 600_000


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        (b"timestamp,value\n2025-10-23T12:00:00Z,1\nnot-a-time,2\n", 3, "is not ISO 8601"),
        (
            b"timestamp,value\n2025-10-23T12:00:00Z,1\n2025-10-23T12:10:00Z,lots\n",
            3,
            "value is not a number: 'lots'",
        ),
        (b"when,value\n1,2\n", 1, "no time column"),
        (b"timestamp,value\n", 0, "no data rows"),
        (b"timestamp,value\n2025-10-23T12:00:00Z,\xe9\n", 2, "unreadable encoding"),
    ],
)
def test_bad_csv_is_refused_with_line(content, line, reason):
    with pytest.raises(DatasetFileError) as err:
        load_files([("kpi.csv", content)])
    assert (err.value.line, reason in err.value.reason) == (line, True), str(err.value)


def test_parquet_and_csv_with_same_content_have_the_same_checksum():
    frame = pd.DataFrame(
        {"timestamp": [1761220800000, 1761221400000], "series": ["x", "x"], "value": [1.0, 2.0]}
    )
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    from_parquet = load_files([("a.parquet", buf.getvalue())])
    from_csv = load_files([("a.csv", frame.to_csv(index=False).encode())])
    assert checksum(from_parquet.frame) == checksum(from_csv.frame)


def test_record_lines_from_a_collection():
    rec = {"source": "NWDAF", "metric_id": "UPLINK_VOL", "labels": "UE_COMMUNICATION", "value": 150}
    lines = [
        orjson.dumps(rec | {"timestamp": "2025-10-23T12:00:00.000Z"}),
        orjson.dumps(rec | {"timestamp": "2025-10-23T12:00:00.000Z"}),  # redelivered: kept once
        orjson.dumps(rec | {"timestamp": "2025-10-23T12:01:00.000Z", "value": 160}),
    ]
    loaded = load_files([("stream.jsonl", b"\n".join(lines))])
    assert loaded.frame["value"].tolist() == [150.0, 160.0]
    assert loaded.frame["series"].iloc[0] == "NWDAF/UPLINK_VOL/UE_COMMUNICATION"
    bad = b"\n".join([lines[0], b'{"source": "NWDAF"}'])
    with pytest.raises(DatasetFileError, match=r"stream\.jsonl: line 2: .*metric_id"):
        load_files([("stream.jsonl", bad)])


def test_mixed_formats_and_unknown_names_are_refused():
    with pytest.raises(DatasetFileError, match="mix formats"):
        load_files([("a.csv", b"timestamp,value\n1,2\n"), ("b.jsonl", b"{}")])
    with pytest.raises(DatasetFileError, match="unknown format"):
        load_files([("data.bin", b"\x00")])
    with pytest.raises(DatasetFileError, match="default metric"):
        load_files([("a.csv", b"timestamp,value\n1,2\n")], options=LoadOptions(default_metric="nope"))
