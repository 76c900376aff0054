"""Each adapter against its simulator over real HTTP (and SQLite): subscribe, receive, release;
unreachable source → degraded, then recovered."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import httpx

from aifabric.adapters.base import StreamFilters, StreamParams, build_config
from aifabric.adapters.flexric import KPM_TABLE
from aifabric.adapters.simulators.nwdaf_sim import NwdafSimulator
from aifabric.adapters.xapp_forwarder import KpmForwarder, indication_json
from tests.adapters.util import MemorySink
from tests.conftest import wait_for


def run(config: dict, metrics: list[str], period: float, filters: dict | None = None):
    cls, cfg = build_config(config)
    sink = MemorySink()
    params = StreamParams(
        stream_id="s1", topic="t", metrics=metrics, period_s=period, filters=StreamFilters(**(filters or {}))
    )
    adapter = cls(cfg, params, sink)
    adapter.start()
    return adapter, sink


def test_nwdaf_subscribe_array_form_then_delete(nwdaf_sim):
    adapter, sink = run(
        {"type": "nwdaf", "api_root": nwdaf_sim.url},
        ["NUM_OF_UE", "DOWNLINK_VOL"],
        1,
        {"cells": ["000000002"]},
    )
    try:
        wait_for(lambda: len(sink.items) >= 6, what="three notifications")
    finally:
        adapter.stop()
    records = sink.records()
    cells = {r.labels.get("cell") for r in records if r.metric_id == "NUM_OF_UE"}
    assert cells == {"000000002"}
    assert {r.metric_id for r in records} == {"NUM_OF_UE", "DOWNLINK_VOL"}
    stats = nwdaf_sim.snapshot()
    assert stats["created"] == 1 and stats["deleted"] == 1 and not stats["active"]
    assert adapter.status().upstream_calls == 2


def test_nwdaf_oai_bare_object_form(nwdaf_sim):
    nwdaf_sim.form = "oai"
    adapter, sink = run({"type": "nwdaf", "api_root": nwdaf_sim.url}, ["NUM_OF_UE"], 1)
    try:
        wait_for(lambda: len(sink.items) >= 8, what="two OAI notifications (4 cells each)")
    finally:
        adapter.stop()
    assert adapter.status().dead_letters == 0
    assert {r.labels["cell"] for r in sink.records()} == set(nwdaf_sim.model.cells)


def test_nwdaf_analytics_info_polling(nwdaf_sim):
    adapter, sink = run(
        {"type": "nwdaf", "api_root": nwdaf_sim.url, "mode": "poll"},
        ["NF_CPU_USAGE"],
        1,
        {"nf_types": ["AMF"]},
    )
    try:
        wait_for(lambda: len(sink.items) >= 2, what="two polls")
    finally:
        adapter.stop()
    records = sink.records()
    assert {(r.metric_id, r.labels["nf_type"], r.labels["event"]) for r in records} == {
        ("NF_CPU_USAGE", "AMF", "NF_LOAD")
    }
    assert nwdaf_sim.snapshot()["analytics"] >= 2 and nwdaf_sim.snapshot()["created"] == 0


def test_nwdaf_down_is_degraded_then_recovers():
    sim = NwdafSimulator(cells=1).start()
    port = sim.server.port
    adapter, sink = run({"type": "nwdaf", "api_root": sim.url}, ["NUM_OF_UE"], 1)
    adapter.stale_min_s = 1.5
    try:
        wait_for(lambda: sink.items, what="first notification")
        sim.stop()
        wait_for(lambda: adapter.status().state == "degraded", timeout=10, what="degraded")
        assert "NWDAF" in adapter.status().reason
        sim = NwdafSimulator(port=port, cells=1).start()  # a restarted NWDAF has lost the subscription
        wait_for(lambda: sim.snapshot()["notifications"] >= 1, timeout=15, what="re-subscription")
        wait_for(lambda: adapter.status().state == "running", timeout=5, what="recovered")
    finally:
        adapter.stop()
        sim.stop()
    assert sim.snapshot()["deleted"] == 1


def test_flexric_forwarder_mode(ran_sim):
    adapter, sink = run(
        {"type": "flexric", "forwarder_url": ran_sim.url},
        ["DRB.UEThpDl", "RRU.PrbTotDl"],
        0.1,
        {"e2nodes": ["001-01-2"]},
    )
    try:
        wait_for(lambda: len(sink.items) >= 10, what="five indications")
    finally:
        adapter.stop()
    records = sink.records()
    assert {r.labels["e2node"] for r in records} == {"001-01-2"}
    assert {r.metric_id for r in records} == {"DRB.UEThpDl", "RRU.PrbTotDl"}
    assert all(isinstance(r.value, int) for r in records if r.metric_id == "RRU.PrbTotDl")
    assert ran_sim.snapshot()["deleted"] == 1


def test_flexric_sqlite_mode(ran_sim, tmp_path):
    db = tmp_path / "xapp.sqlite3"
    wait_for(lambda: db.exists() and ran_sim.snapshot()["sqlite_rows"] > 0, what="the simulator's first rows")
    adapter, sink = run({"type": "flexric", "mode": "sqlite", "sqlite_path": str(db)}, ["DRB.UEThpUl"], 0.1)
    try:
        wait_for(lambda: len(sink.items) >= 4, what="rows polled from SQLite")
    finally:
        adapter.stop()
    adapter2, sink2 = run({"type": "flexric", "mode": "sqlite", "sqlite_path": str(db)}, ["DRB.UEThpUl"], 0.1)
    try:
        wait_for(lambda: sink2.items, what="the second adapter polling")  # past its starting row
        with sqlite3.connect(db) as conn:
            bad_row = "(1, 'gNB', 1, 1, 9, NULL, 1000, 'DRB.UEThpUl', 'WEIRD', NULL, NULL)"
            conn.execute(f"INSERT INTO {KPM_TABLE} VALUES {bad_row}")
        wait_for(lambda: sink2.dead, what="the bad row dead-lettered")
    finally:
        adapter2.stop()
    assert "meas_value_type" in sink2.dead[0][1]
    records = sink.records()
    assert {r.metric_id for r in records} == {"DRB.UEThpUl"}
    assert {r.labels["e2node"] for r in records} == {"001-01-1", "001-01-2"}


def test_flexric_forwarder_down_is_degraded():
    adapter, _ = run({"type": "flexric", "forwarder_url": "http://127.0.0.1:9"}, ["DRB.UEThpDl"], 0.1)
    try:
        wait_for(lambda: adapter.status().state == "degraded", what="degraded")
    finally:
        adapter.stop()
    assert "unreachable" in adapter.status().reason or "unreachable" in (adapter.degraded_reason or "")


def test_edge_scrape_and_degraded_target(edge_sim):
    targets = [edge_sim.url + "/metrics"]
    adapter, sink = run(
        {"type": "edge", "targets": targets, "job": "mec"},
        ["edge_app_requests", "edge_app_cpu_usage_ratio"],
        0.5,
        {"labels": {"app": "ar-render"}},
    )
    try:
        wait_for(lambda: len(sink.items) >= 4, what="two scrapes")
    finally:
        adapter.stop()
    records = sink.records()
    assert {r.metric_id for r in records} == {"edge_app_requests_total", "edge_app_cpu_usage_ratio"}
    assert {(r.labels["app"], r.labels["job"], r.labels["instance"]) for r in records} == {
        ("ar-render", "mec", f"127.0.0.1:{edge_sim.server.port}")
    }
    down, _ = run({"type": "edge", "targets": ["http://127.0.0.1:9/metrics"]}, ["up"], 0.5)
    try:
        wait_for(lambda: down.status().state == "degraded", what="degraded")
    finally:
        down.stop()
    assert "scrape failed" in down.degraded_reason


class FakeRic:
    """Stands in for FlexRIC's SWIG module (a RIC cannot run here): same calls, canned indications."""

    INTEGER_MEAS_VALUE, REAL_MEAS_VALUE, NO_VALUE_MEAS_VALUE = 0, 1, 2
    Interval_ms_1 = Interval_ms_2 = Interval_ms_5 = Interval_ms_10 = Interval_ms_100 = Interval_ms_1000 = (
        object()
    )

    class kpm_cb:  # the SWIG class name
        def __init__(self) -> None:
            pass

    def __init__(self) -> None:
        plmn = SimpleNamespace(mcc=1, mnc=1, mnc_digit_len=2)
        self.nodes = [
            SimpleNamespace(
                id=SimpleNamespace(plmn=plmn, nb_id=SimpleNamespace(nb_id=n), cu_du_id=None, type="gNB")
            )
            for n in (1, 2)
        ]
        self.handles: dict[int, object] = {}

    def conn_e2_nodes(self):
        return self.nodes

    def report_kpm_sm(self, node_id, interval, cb):
        self.handles[len(self.handles)] = cb
        return len(self.handles) - 1

    def rm_report_kpm_sm(self, handle):
        self.handles.pop(handle)

    @staticmethod
    def indication(start_s: int):
        rec = lambda kind, i=0, r=0.0: SimpleNamespace(value=kind, int_val=i, real_val=r)  # noqa: E731
        return SimpleNamespace(
            hdr=SimpleNamespace(collectStartTime=start_s),
            MeasInfo=[SimpleNamespace(measName="DRB.UEThpDl"), SimpleNamespace(measName="RRU.PrbTotDl")],
            MeasData=[SimpleNamespace(measRecord=[rec(1, r=1234.5), rec(0, i=42)])],
        )


def test_xapp_forwarder_drives_the_adapter():
    ric = FakeRic()
    fwd = KpmForwarder(ric).start()
    adapter, sink = run(
        {"type": "flexric", "forwarder_url": fwd.url}, ["RRU.PrbTotDl"], 1, {"e2nodes": ["001-01-2"]}
    )
    try:
        wait_for(lambda: ric.handles, what="KPM subscription at the RIC")
        assert len(ric.handles) == 1  # only the requested E2 node
        (cb,) = ric.handles.values()
        cb.handle(ric.indication(1_761_220_800))
        wait_for(lambda: sink.items, what="forwarded indication")
    finally:
        adapter.stop()
        fwd.stop()
    (rec,) = sink.records()
    assert (rec.metric_id, rec.value, rec.labels["e2node"]) == ("RRU.PrbTotDl", 42, "001-01-2")
    assert rec.epoch_ms == 1_761_220_800_000
    assert not ric.handles  # the adapter's DELETE removed the RIC subscription


def test_indication_json_maps_no_value_to_null():
    ind = FakeRic.indication(1_761_220_800)
    ind.MeasData[0].measRecord[0].value = 2
    msg = indication_json({"mcc": "001"}, ind, 1000, FakeRic)
    assert msg["measData"] == [[None, 42]] and msg["collectStartTime"] == 1_761_220_800_000_000


def test_simulators_answer_health(nwdaf_sim, ran_sim, edge_sim):
    for sim in (nwdaf_sim, ran_sim, edge_sim):
        assert httpx.get(sim.url + "/health").json() == {"status": "ok"}
