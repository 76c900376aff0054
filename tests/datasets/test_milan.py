"""The Milan loader on generated files in the exact format, and on malformed ones."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from aifabric.datasets.errors import DatasetFileError
from aifabric.datasets.loader import load_files
from aifabric.datasets.milan import COLUMNS, load_labels, load_milan_file, parse_milan_bytes
from aifabric.datasets.milan_generator import GeneratorConfig, generate

NOV_1_2013_LOCAL_MIDNIGHT = 1383260400000  # first stamp of the real data set


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("milan")
    return generate(out, GeneratorConfig(squares=4, days=3, anomaly_rate=2.0, seed=7))


def _raw(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", header=None, names=COLUMNS, dtype=str, keep_default_na=False)


def test_generated_files_have_the_exact_format(generated):
    names = [f.name for f in generated.files]
    assert names == [f"sms-call-internet-mi-2013-11-0{d}.txt" for d in (1, 2, 3)]
    first = generated.files[0].read_text()
    assert not first.startswith("square"), "no header"
    lines = first.splitlines()
    assert all(line.count("\t") == 7 for line in lines)
    raw = _raw(generated.files[0])
    assert int(raw["time_interval"].astype(np.int64).min()) == NOV_1_2013_LOCAL_MIDNIGHT
    stamps = np.sort(raw["time_interval"].astype(np.int64).unique())
    assert len(stamps) == 144 and set(np.diff(stamps)) == {600_000}
    assert (raw[["smsin", "smsout", "callin", "callout"]] == "").to_numpy().any(), "empty fields occur"
    per_slot = raw.groupby(["square_id", "time_interval"]).size()
    assert per_slot.max() > 1, "several rows (country codes) per square and slot"
    assert "39" in set(raw["country_code"])


def test_loader_sums_country_codes(generated):
    path = generated.files[1]
    frame = load_milan_file(path)
    raw = _raw(path)
    internet = pd.to_numeric(raw["internet"].replace("", "0"))
    expected = internet.groupby([raw["square_id"], raw["time_interval"]]).sum()
    loaded = load_files([(path.name, path.read_bytes())]).frame
    assert len(loaded) == len(expected) == 4 * 144
    got = loaded.set_index(["series", "timestamp"])["internet"]
    exp = expected.rename_axis(["series", "timestamp"])
    exp.index = exp.index.set_levels([exp.index.levels[0].astype(str), exp.index.levels[1].astype(np.int64)])
    assert np.allclose(got.sort_index().to_numpy(), exp.sort_index().to_numpy(), rtol=1e-9)
    assert len(frame) == len(raw)  # parse keeps rows; summing happens in load_files


def test_generated_data_has_daily_weekly_and_scale_structure(tmp_path):
    report = generate(tmp_path, GeneratorConfig(squares=30, days=14, seed=3))
    frame = load_files([(f.name, f.read_bytes()) for f in report.files]).frame
    hours = pd.to_datetime(frame["timestamp"], unit="ms", utc=True).dt.tz_convert("Europe/Rome")
    by_hour = frame.groupby(hours.dt.hour)["internet"].mean()
    assert by_hour.loc[3:5].mean() < 0.4 * by_hour.loc[10:21].mean(), "night trough, daytime peak"
    totals = frame.groupby("series")["internet"].sum()
    assert totals.max() / totals.min() > 5, "lognormal scale across squares"
    x = frame[frame["series"] == totals.idxmax()]["internet"].to_numpy()
    assert np.corrcoef(x[:-1], x[1:])[0, 1] > 0.95, "strong lag-1 autocorrelation"


def test_dst_day_has_25_hours(tmp_path):
    report = generate(tmp_path, GeneratorConfig(squares=1, days=1, start=date(2013, 10, 27)))
    assert len(load_milan_file(report.files[0])) > 0
    assert report.slots == 150


def test_labels_mark_injected_anomalies(generated):
    labels = load_labels(generated.labels_file)
    assert generated.anomalies > 0 and len(labels) == generated.labelled_slots
    kinds = set(pd.read_csv(generated.labels_file)["kind"])
    assert kinds <= {"spike", "drop", "level_shift", "dos"}
    loaded = load_files(
        [(f.name, f.read_bytes()) for f in generated.files],
        labels=(generated.labels_file.name, generated.labels_file.read_bytes()),
    )
    assert loaded.summary.labelled_rows == len(labels)
    assert loaded.summary.dataset_schema.has_labels


def test_real_file_lines_load():
    data = (
        b"1\t1383260400000\t0\t0.0810508642\t\t\t\t\n"
        b"1\t1383260400000\t39\t0.1413518703\t0.1566814165\t0.1605258511\t0.0526554617\t11.0285624351\n"
        b"2\t1383260400000\t39\t0.1534990751\t0.1620590783\t0.1658738081\t0.1122349735\t11.0928399617\n"
    )
    frame = load_files([("sms-call-internet-mi-2013-11-01.txt", data)]).frame
    assert frame["series"].tolist() == ["1", "2"]
    assert frame.loc[0, "smsin"] == pytest.approx(0.0810508642 + 0.1413518703)
    assert frame.loc[0, "internet"] == pytest.approx(11.0285624351)


NAME = "sms-call-internet-mi-2013-11-01.txt"
GOOD = "1\t1383260400000\t39\t1\t2\t3\t4\t5\n"


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        (b"", 0, "file is empty"),
        (b"\n\n", 0, "file is empty"),
        (
            (GOOD + "1\t1383260400000\t39\t1\t2\t3\t4\n").encode(),
            2,
            "expected 8 TAB-separated columns, found 7",
        ),
        ((GOOD * 2 + "1\t1383260400000\t39\t1\t2\t3\t4\t5\t6\n").encode(), 3, "found 9"),
        ((GOOD + "1,1383260400000,39,1,2,3,4,5\n").encode(), 2, "found 1"),
        ((GOOD + "1\t1383260400000\t39\t1\t2\t3\t4\tabc\n").encode(), 2, "internet is not a number: 'abc'"),
        (GOOD.encode() + b"1\t1383260400000\t39\t1\t2\t3\t4\t5\xff\n", 2, "unreadable encoding"),
        ((GOOD + "\n" + GOOD).encode(), 2, "empty line"),
        (
            (GOOD + "0\t1383260400000\t39\t1\t2\t3\t4\t5\n").encode(),
            2,
            "square_id 0 is not an integer in 1..10000",
        ),
        ((GOOD + "1\t1383260400001\t39\t1\t2\t3\t4\t5\n").encode(), 2, "not on the 10-minute grid"),
        ((GOOD + "\t1383260400000\t39\t1\t2\t3\t4\t5\n").encode(), 2, "square_id is empty"),
        (
            (GOOD + "1\t1383260400000\t39\t1\t2\t3\t4\t-5\n").encode(),
            2,
            "internet must be a finite, non-negative",
        ),
    ],
)
def test_malformed_files_are_refused_with_line_and_reason(content, line, reason):
    with pytest.raises(DatasetFileError) as err:
        load_files([(NAME, content)])
    assert err.value.line == line
    assert reason in err.value.reason
    assert err.value.status == 422
    assert NAME in str(err.value)


def test_labels_for_slots_without_data_are_refused():
    labels = b"square_id,time_interval,kind\n5,1383260400000,spike\n"
    with pytest.raises(DatasetFileError, match=r"labels\.csv: line 2: .*no data"):
        load_files([(NAME, GOOD.encode())], labels=("labels.csv", labels))


def test_parse_keeps_empty_activity_as_zero():
    frame = parse_milan_bytes(NAME, b"1\t1383260400000\t39\t\t\t\t\t\n")
    assert frame[["smsin", "internet"]].to_numpy().tolist() == [[0.0, 0.0]]
