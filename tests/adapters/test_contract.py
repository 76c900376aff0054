"""One contract over every adapter (and a plugin): validation, normalisation to the common record
model keyed by series, and dead-lettering of malformed payloads without stopping."""

from __future__ import annotations

import time

import pytest

from aifabric.adapters.base import (
    ADAPTER_CLASS_FOR_TYPE,
    StreamFilters,
    StreamParams,
    build_config,
    import_adapter_class,
)
from aifabric.errors import InvalidRequest
from tests.adapters.util import MemorySink

NWDAF_ARRAY = b"""[{"subscriptionId": "s1", "eventNotifications": [{"event": "NETWORK_PERFORMANCE",
  "timeStampGen": "2025-10-23T12:00:00.000Z",
  "nwPerfs": [{"networkArea": {"ncgis": [{"plmnId": {"mcc": "001", "mnc": "01"}, "nrCellId": "000000001"}]},
               "nwPerfType": "NUM_OF_UE", "absoluteNum": 150}]}]}]"""
KPM = b"""{"e2node": {"ngran_node": "gNB", "mcc": "001", "mnc": "01", "nb_id": 7, "cu_du_id": null},
  "collectStartTime": 1761220800000000, "granulPeriod": 1000,
  "measInfoList": ["DRB.UEThpDl", "RRU.PrbTotDl"], "measData": [[41250.5, 131], [40980.0, null]]}"""
PROM = b"""# HELP edge_app_requests_total Requests served
# TYPE edge_app_requests_total counter
edge_app_requests_total{app="video"} 1234.0
# TYPE edge_app_latency_seconds gauge
edge_app_latency_seconds{app="video"} 0.02 1761220800000
"""

ADAPTERS = {
    "nwdaf": ({"type": "nwdaf", "api_root": "http://127.0.0.1:9"}, ["NUM_OF_UE"], NWDAF_ARRAY, 1),
    "flexric": (
        {"type": "flexric", "forwarder_url": "http://127.0.0.1:9"},
        ["DRB.UEThpDl", "RRU.PrbTotDl"],
        KPM,
        3,
    ),
    "edge": (
        {"type": "edge", "targets": ["http://127.0.0.1:9/metrics"]},
        ["edge_app_requests", "edge_app_latency_seconds"],
        PROM,
        2,
    ),
    "tests.adapters.fake_plugin.FakeAdapter": (
        {"type": "tests.adapters.fake_plugin.FakeAdapter", "label": "p"},
        ["ticks"],
        b"[5, 6.5]",
        2,
    ),
}
MALFORMED = [b"not json", b"[{", b"42", b'"text"', b"\xff\xfe"]


def make(kind: str, sink: MemorySink):
    config, metrics, _, _ = ADAPTERS[kind]
    cls, cfg = build_config(config)
    return cls(cfg, StreamParams(stream_id="s1", topic="t", metrics=metrics, period_s=1), sink)


@pytest.mark.parametrize("kind", list(ADAPTERS))
def test_normalizes_to_common_records_keyed_by_series(kind):
    sink = MemorySink()
    adapter = make(kind, sink)
    _, _, payload, expected = ADAPTERS[kind]
    assert adapter.ingest(payload) == expected
    records = sink.records()  # strict model decode + key == series key
    assert len(records) == expected
    assert {r.source for r in records} == {adapter.source}
    assert all(isinstance(r.labels, dict) for r in records)
    status = adapter.status()
    assert status.records == expected and status.dead_letters == 0
    assert status.last_record_ms == max(r.epoch_ms for r in records)


@pytest.mark.parametrize("kind", list(ADAPTERS))
def test_malformed_payloads_are_dead_lettered_and_counted(kind):
    sink = MemorySink()
    adapter = make(kind, sink)
    bad = [p for p in MALFORMED if not (kind == "edge" and p in (b"42",))]
    for payload in bad:
        assert adapter.ingest(payload) == 0
    assert [raw for raw, _ in sink.dead] == bad
    assert all(reason for _, reason in sink.dead)
    assert adapter.status().dead_letters == len(bad)
    _, _, good, expected = ADAPTERS[kind]
    assert adapter.ingest(good) == expected  # still working


def test_specific_reasons():
    sink = MemorySink()
    nwdaf = make("nwdaf", sink)
    nwdaf.ingest(NWDAF_ARRAY.replace(b'"absoluteNum": 150', b'"absoluteNum": "many"'))
    nwdaf.ingest(NWDAF_ARRAY.replace(b'"nwPerfType": "NUM_OF_UE", ', b""))
    nwdaf.ingest(b'[{"subscriptionId": "s1"}]')
    flexric = make("flexric", sink)
    flexric.ingest(KPM.replace(b"[40980.0, null]", b"[40980.0]"))
    flexric.ingest(KPM.replace(b'"nb_id": 7, ', b""))
    reasons = [r for _, r in sink.dead]
    assert "not a finite number" in reasons[0]
    assert "nwPerfType" in reasons[1]
    assert "eventNotifications" in reasons[2]
    assert "measData[1] does not have 2 values" in reasons[3]
    assert "e2node identity" in reasons[4]
    assert not sink.items  # all or nothing per payload


def test_unknown_enum_values_are_accepted():
    sink = MemorySink()
    adapter = make("nwdaf", sink)
    payload = NWDAF_ARRAY.replace(b'"NUM_OF_UE"', b'"GNB_FUTURE_KPI"').replace(
        b"NETWORK_PERFORMANCE", b"NEW_EVENT"
    )
    assert adapter.ingest(payload) == 1
    (rec,) = sink.records()
    assert rec.metric_id == "GNB_FUTURE_KPI" and rec.labels["cell"] == "000000001"


def test_oai_bare_event_notification_is_accepted():
    sink = MemorySink()
    adapter = make("nwdaf", sink)
    bare = NWDAF_ARRAY[NWDAF_ARRAY.index(b"[{", 5) + 1 : NWDAF_ARRAY.rindex(b"]}]") - 0].strip()
    bare = bare[: bare.rindex(b"}") + 1]
    assert bare.startswith(b'{"event"')
    assert adapter.ingest(bare) == 1
    (rec,) = sink.records()
    assert rec.to_dict() == {
        "source": "NWDAF",
        "metric_id": "NUM_OF_UE",
        "labels": {"event": "NETWORK_PERFORMANCE", "cell": "000000001"},
        "timestamp": "2025-10-23T12:00:00.000Z",
        "value": 150,
    }


@pytest.mark.parametrize(
    ("kind", "metrics", "filters", "period", "message"),
    [
        ("nwdaf", ["NUM_OF_FOO"], {}, 1, "unknown metric"),
        ("nwdaf", ["NUM_OF_UE"], {"e2nodes": ["001-01-1"]}, 1, "not supported by NWDAF"),
        ("nwdaf", ["NUM_OF_UE"], {}, 0.5, "below the NWDAF minimum"),
        ("nwdaf", ["NUM_OF_UE"], {}, 1.5, "whole seconds"),
        ("nwdaf", ["NUM_OF_UE"], {"cells": ["xyz"]}, 1, "not an NR cell id"),
        (
            "nwdaf",
            ["UPLINK_VOL"],
            {"ue_groups": ["00000001-001-01-01", "00000002-001-01-01"]},
            1,
            "one ue_group",
        ),
        ("flexric", ["DRB.Nope"], {}, 1, "unknown metric"),
        ("flexric", ["DRB.UEThpDl"], {"cells": ["000000001"]}, 1, "not supported by FlexRIC"),
        ("flexric", ["DRB.UEThpDl"], {"e2nodes": ["001"]}, 1, "mcc-mnc-nb_id"),
        ("edge", ["bad name!"], {}, 1, "invalid metric name"),
        ("edge", ["up"], {}, 0.1, "below the Edge minimum"),
    ],
)
def test_check_refuses_what_the_source_cannot_deliver(kind, metrics, filters, period, message):
    cls = import_adapter_class(kind)
    with pytest.raises(InvalidRequest, match=message):
        cls.check(metrics, StreamFilters(**filters), period)


def test_type_strings_and_plugin_paths():
    assert set(ADAPTER_CLASS_FOR_TYPE) == {"nwdaf", "flexric", "edge"}
    for name in ADAPTER_CLASS_FOR_TYPE:
        assert import_adapter_class(name).__name__.lower().startswith(name)
    with pytest.raises(InvalidRequest, match=r"not an aifabric\.adapters\.Adapter subclass"):
        import_adapter_class("tests.adapters.fake_plugin.NotAnAdapter")
    with pytest.raises(InvalidRequest, match="cannot import"):
        import_adapter_class("no_such_module.Adapter")
    with pytest.raises(InvalidRequest, match="unknown adapter type"):
        import_adapter_class("kafka")
    with pytest.raises(InvalidRequest, match="api_root"):
        build_config({"type": "nwdaf"})
    with pytest.raises(InvalidRequest, match="Extra inputs"):
        build_config({"type": "edge", "targets": ["http://x/metrics"], "bogus": 1})


def test_plugin_runs_through_the_base_loop():
    sink = MemorySink()
    adapter = make("tests.adapters.fake_plugin.FakeAdapter", sink)
    adapter.params = adapter.params.model_copy(update={"period_s": 0.05})
    adapter.start()
    deadline = time.monotonic() + 5
    while len(sink.items) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    adapter.stop()
    assert len(sink.items) >= 6 and adapter.status().state == "stopped"
