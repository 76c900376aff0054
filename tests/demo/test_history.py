"""The demo's training history is the simulator's past: same values, Milan format, honest labels."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from aifabric.adapters.nwdaf import StreamFilters, subscription_body
from aifabric.adapters.simulators.nwdaf_sim import NwdafSimulator, _Subscription
from aifabric.adapters.simulators.traffic import SimClock, cell_ids
from aifabric.datasets.loader import load_files
from aifabric.datasets.milan import SLOT_MS
from aifabric.demo.history import write_history

START = datetime(2013, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    return write_history(
        tmp_path_factory.mktemp("history"), cell_ids(4), seed=3, start=date(2013, 11, 1), days=7
    )


def test_history_loads_as_milan_data_with_labels(history) -> None:
    assert [f.name for f in history.files][:2] == [
        "sms-call-internet-mi-2013-11-01.txt",
        "sms-call-internet-mi-2013-11-02.txt",
    ]
    loaded = load_files(
        [(f.name, f.read_bytes()) for f in history.files],
        labels=(history.labels_file.name, history.labels_file.read_bytes()),
    )
    frame = loaded.frame
    assert loaded.format == "milan"
    assert sorted(frame["series"].unique()) == ["1", "2", "3", "4"]
    assert len(frame) == 4 * 7 * 144
    assert frame["timestamp"].min() == history.start_ms == 1383260400000  # local midnight, as Milan
    assert frame["timestamp"].max() == history.end_ms - SLOT_MS
    assert int(frame["label"].sum()) == history.labelled_slots > 0
    # every labelled slot lies in an injected anomaly of that cell, and every anomaly slot is labelled
    expected = {
        (str(cell_ids(4).index(a.cell) + 1), t)
        for a in history.anomalies
        for t in range(a.start_ms, a.end_ms, SLOT_MS)
    }
    marked = frame[frame["label"] == 1]
    labelled = set(zip(marked["series"], marked["timestamp"], strict=True))
    assert labelled == expected


def test_history_values_are_what_the_nwdaf_simulator_reports(history) -> None:
    """Training values are the live values: the simulator's NUM_OF_UE per cell for each slot."""
    sim = NwdafSimulator(cells=4, seed=3)
    body = subscription_body(["NUM_OF_UE"], StreamFilters(), 1, START, None, "http://127.0.0.1:1/n", "c", {})
    rows = [ln.split("\t") for ln in history.files[-1].read_text().splitlines()]
    compared = 0
    for t in sorted({int(r[1]) for r in rows})[::12]:
        note = sim.event_notification(body["eventSubscriptions"][0], t, 600)
        reported = {p["networkArea"]["ncgis"][0]["nrCellId"]: p["absoluteNum"] for p in note["nwPerfs"]}
        for square, cell in enumerate(cell_ids(4), start=1):
            if any(a.cell == cell and a.start_ms <= t < a.end_ms for a in history.anomalies):
                continue
            (row,) = [r for r in rows if r[0] == str(square) and int(r[1]) == t]
            assert float(row[7]) == reported[cell]
            compared += 1
    assert compared > 30


def test_sim_clock_plays_one_slot_per_second() -> None:
    assert SimClock().sim_ms(1_234_567) == 1_234_567  # identity by default
    clock = SimClock(time_scale=600, epoch_ms=1383289200000, align_ms=SLOT_MS, wall_ms=10_000)
    assert clock.sim_ms(10_000) == 1383289200000
    assert clock.sim_ms(11_000) == 1383289200000 + SLOT_MS
    assert clock.sim_ms(11_999) == 1383289200000 + SLOT_MS  # aligned down to the slot
    assert [clock.sim_ms(10_000 + 1000 * k + 357) for k in range(3)] == [
        1383289200000 + k * SLOT_MS for k in range(3)
    ]


def test_simulator_notifications_follow_the_clock() -> None:
    sim = NwdafSimulator(cells=2, seed=0)
    now = int(time.time() * 1000)
    sim.clock = SimClock(time_scale=600, epoch_ms=1383289200000, align_ms=SLOT_MS, wall_ms=now)
    body = subscription_body(["NUM_OF_UE"], StreamFilters(), 1, START, None, "http://127.0.0.1:1/n", "c", {})
    sub = _Subscription("s", body, now)
    (array,) = sim.notification_bodies(sub, now + 2000)
    event = array[0]["eventNotifications"][0]
    assert event["timeStampGen"] == "2013-11-01T07:20:00.000Z"  # epoch (08:00 in Milan) + 2 slots
    assert event["expiry"] == "2013-11-01T07:30:00.000Z"  # one report covers one 10-minute slot
