"""Collector throughput: records/s normalised and published by one adapter process, and the
upstream calls saved by topic sharing.

Runs against a real Tansu broker (started here on a free loopback port, or ``--bootstrap``).
Measured paths, each on payloads built once up front:

- ``nwdaf``: NWDAF notifications (array form) with many ``nwPerfs`` entries, through
  ``NwdafAdapter.ingest`` (parse, validate, normalise, encode, produce), then flush (acks=all);
- ``flexric``: E2SM-KPM indications with many nodes x periods x measurements, same path;
  (the adapters' Kafka sink publishes with ``RecordProducer.send_batch``, librdkafka's produce_batch);
- ``*_normalise``: the normalise step alone (no broker), for reference;
- ``downsample``: a derived stream's bucketing of fine records (decode, aggregate, encode the
  closed buckets; 1 s -> 2 s, ``last``), fed from memory (no broker);
- ``sharing``: N identical collection requests through the collector against the NWDAF
  simulator: upstream subscriptions and notifications with sharing vs. one stream per request;
  ``sharing.downsampling``: beside them, coarser requests (2 s and 3 s over the 1 s stream),
  served by downsampling its topic: subscriptions added (0 is the goal) and the upstream calls they
  would have cost with their own subscriptions (create + DELETE + one notification per period run).

Usage: ``python bench/collector_throughput.py [--json] [--records 1000000]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aifabric.adapters.base import KafkaSink, StreamParams, build_config
from aifabric.config import Settings

NW_PERF_TYPES = ["NUM_OF_UE", "SESS_SUCC_RATIO", "HO_SUCC_RATIO", "GNB_ACTIVE_RATIO", "GNB_COMPUTING_USAGE"]
KPM = ["DRB.UEThpDl", "DRB.UEThpUl", "DRB.RlcSduDelayDl", "DRB.PdcpSduVolumeDL", "DRB.PdcpSduVolumeUL",
       "RRU.PrbTotDl", "RRU.PrbTotUl", "RRU.PrbUsedDl", "RRU.PrbUsedUl", "RRU.PrbAvailDl"]  # fmt: skip


def nwdaf_payload(cells: int, t_ms: int) -> bytes:
    ts = datetime.fromtimestamp(t_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
    perfs = []
    for c in range(cells):
        area = {"ncgis": [{"plmnId": {"mcc": "001", "mnc": "01"}, "nrCellId": f"{c + 1:09x}"}]}
        for i, kind in enumerate(NW_PERF_TYPES):
            value = {"absoluteNum": 100 + c % 50} if i == 0 else {"relativeRatio": 90 + (c + i) % 10}
            perfs.append({"networkArea": area, "nwPerfType": kind, **value})
    event = {"event": "NETWORK_PERFORMANCE", "timeStampGen": ts, "nwPerfs": perfs}
    return orjson.dumps([{"subscriptionId": "bench", "eventNotifications": [event]}])


def kpm_payload(nodes: int, periods: int, t_ms: int) -> bytes:
    inds = []
    for n in range(nodes):
        rows = [
            [(n * 7 + r * 3 + j) % 500 + (0.5 if j < 3 else 0) for j in range(len(KPM))]
            for r in range(periods)
        ]
        inds.append(
            {
                "e2node": {"ngran_node": "gNB", "mcc": "001", "mnc": "01", "nb_id": n + 1, "cu_du_id": None},
                "collectStartTime": t_ms * 1000,
                "granulPeriod": 100,
                "measInfoList": KPM,
                "measData": rows,
            }
        )
    return orjson.dumps(inds)


class NullSink:
    def publish(self, items) -> None:
        pass

    def dead_letter(self, raw, reason) -> None:
        raise AssertionError(reason)


def measure(
    settings: Settings, kind: str, payloads: list[bytes], metrics: list[str], config: dict, publish: bool
) -> dict:
    from aifabric.broker import KafkaAdmin, RecordProducer
    from aifabric.collector.runner import PRODUCER_TUNING

    cls, cfg = build_config(config)
    topic = f"bench.{kind}.{int(time.time() * 1000)}"
    producer = None
    if publish:
        KafkaAdmin(settings).ensure_topic(topic, partitions=3)
        producer = RecordProducer(settings, **PRODUCER_TUNING)  # as the collector's
        sink = KafkaSink(producer, topic, cls.source)
    else:
        sink = NullSink()
    adapter = cls(cfg, StreamParams(stream_id="bench", topic=topic, metrics=metrics, period_s=1), sink)
    adapter.ingest(payloads[0])  # warm-up (imports, caches)
    if producer is not None:
        producer.flush()
    adapter.records = 0
    started = time.perf_counter()
    for p in payloads:
        adapter.ingest(p)
    if producer is not None:
        producer.flush(120)
    elapsed = time.perf_counter() - started
    if producer is not None:
        assert producer.delivered >= adapter.records, "not every record was acknowledged"
        KafkaAdmin(settings).delete_topic(topic)
    return {
        "records": adapter.records,
        "seconds": round(elapsed, 3),
        "records_per_s": round(adapter.records / elapsed),
    }


class _Msg:
    """The part of a confluent-kafka message the downsampler reads."""

    __slots__ = ("_key", "_offset", "_value")

    def __init__(self, offset: int, key: str, value: bytes) -> None:
        self._offset, self._key, self._value = offset, key.encode(), value

    def error(self):
        return None

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value


def downsample_rate(records: int, cells: int = 2000) -> dict:
    from aifabric.adapters.base import RecordBatch
    from aifabric.collector.downsample import DownsampleConfig, Downsampler

    t0 = (int(time.time()) // 2) * 2000
    labels = [RecordBatch.labels({"event": "NETWORK_PERFORMANCE", "cell": f"{c:09x}"}) for c in range(cells)]
    messages = []
    for tick in range(max(2, records // (cells * 5))):
        batch = RecordBatch("NWDAF")
        for c, lab in enumerate(labels):
            for i, kind in enumerate(NW_PERF_TYPES):
                batch.add(kind, lab, t0 + tick * 1000, 100 + (c + i + tick) % 50)
        messages.extend(_Msg(len(messages) + j, k, v) for j, (k, v) in enumerate(batch.items))
    params = StreamParams(
        stream_id="bench", topic="bench", metrics=NW_PERF_TYPES, period_s=2,
        start=datetime.fromtimestamp(t0 / 1000, UTC),
    )  # fmt: skip
    ds = Downsampler(None, DownsampleConfig(parent_topic="fine", parent_period_s=1), params, NullSink())
    started = time.perf_counter()
    for i in range(0, len(messages), Downsampler.batch):
        ds._absorb(messages[i : i + Downsampler.batch])
    elapsed = time.perf_counter() - started
    return {
        "records": len(messages),
        "buckets_published": ds.records,
        "seconds": round(elapsed, 3),
        "records_per_s": round(len(messages) / elapsed),
    }


def median_run(runs: list[dict]) -> dict:
    """The median run, with every run's rate: one pass is at the mercy of what else the two cores
    do (the broker, librdkafka's threads), so the spread is part of the figure."""
    ordered = sorted(runs, key=lambda r: r["records_per_s"])
    return ordered[len(ordered) // 2] | {"runs_records_per_s": [r["records_per_s"] for r in runs]}


def sharing(
    settings: Settings, requests: int, seconds: float, coarse_periods: tuple[int, ...] = (2, 3)
) -> dict:
    from aifabric.adapters.simulators.nwdaf_sim import NwdafSimulator
    from aifabric.collector import service
    from aifabric.collector.models import CollectionCreate
    from aifabric.collector.runner import Collector
    from aifabric.persistence import init_db, make_engine, session_factory

    sim = NwdafSimulator(cells=4).start()
    engine = make_engine(settings.resolved().sql.url.get_secret_value())
    init_db(engine)
    sessions = session_factory(engine)
    collector = Collector(settings, sessions).start()

    def body(period_s: int, stop: datetime) -> CollectionCreate:
        return CollectionCreate(
            source="core",
            metrics=["NUM_OF_UE"],
            period_s=period_s,
            stop=stop,
            adapter={"type": "nwdaf", "api_root": sim.url},
        )

    def wait(predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not predicate():
            time.sleep(0.2)

    try:
        stop = datetime.now(UTC) + timedelta(seconds=seconds)
        with sessions() as session:
            topics = {
                service.create_collection(session, settings, body(1, stop)).topic for _ in range(requests)
            }
        wait(lambda: sim.snapshot()["active"], 10)  # the fine stream is live: coarser requests derive from it
        with sessions() as session:
            derived = [service.create_collection(session, settings, body(p, stop)) for p in coarse_periods]
        with sessions() as session:
            wait(lambda: service.list_collections(session, state="running").count == 0, seconds + 10)
        wait(lambda: sim.snapshot()["deleted"], 10)
        stats = sim.snapshot()
        with sessions() as session:
            done = [service.get_collection(session, d.id) for d in derived]
    finally:
        collector.stop()
        sim.stop()
        engine.dispose()
    shared_calls = stats["created"] + stats["deleted"] + stats["notifications"]
    # alone, a coarse request would cost a subscription, its DELETE and one notification per period
    alone = [
        2 + int((d.stopped_at - d.started_at).total_seconds() // d.period_s)
        for d in done
        if d.started_at and d.stopped_at
    ]
    return {
        "requests": requests,
        "topics": len(topics),
        "upstream_subscriptions": stats["created"],
        "upstream_calls_shared": shared_calls,
        "upstream_calls_unshared": shared_calls * requests,
        "upstream_calls_saved": shared_calls * (requests - 1),
        "downsampling": {
            "coarse_periods_s": list(coarse_periods),
            "derived": sum(d.derived_from is not None for d in derived),
            "coarse_records": [d.records_published for d in done],
            "upstream_subscriptions_added": stats["created"] - 1,
            "upstream_calls_saved": sum(alone) if stats["created"] == 1 else 0,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--records", type=int, default=1_000_000, help="records per measured path")
    parser.add_argument("--repeat", type=int, default=3, help="passes per path; the median is reported")
    parser.add_argument("--bootstrap", default="", help="use this Kafka instead of starting Tansu")
    parser.add_argument("--share-requests", type=int, default=5)
    parser.add_argument("--share-seconds", type=float, default=12.0, help="how long the sharing run collects")
    parser.add_argument("--only-sharing", action="store_true", help="skip the adapter throughput paths")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="aifabric-bench-") as tmp:
        from aifabric.runtime import ManagedProcess
        from aifabric.runtime.services import broker_spec
        from tests.conftest import free_port_block

        settings = Settings(
            data_dir=Path(tmp), kafka={"port": free_port_block(), "bootstrap_servers": args.bootstrap}
        )
        broker = None
        if not args.bootstrap:
            broker = ManagedProcess(broker_spec(settings))
            broker.start()
            broker.wait_ready()
        try:
            result = {}
            if not args.only_sharing:
                t0 = int(time.time() * 1000)
                cells = 2000  # 10,000 records per notification
                nw = [nwdaf_payload(cells, t0 + i * 1000) for i in range(max(1, args.records // (cells * 5)))]
                kp = [kpm_payload(100, 10, t0 + i * 1000) for i in range(max(1, args.records // 10_000))]
                nw_cfg = {"type": "nwdaf", "api_root": "http://127.0.0.1:9"}
                kp_cfg = {"type": "flexric", "forwarder_url": "http://127.0.0.1:9"}
                paths = {
                    "nwdaf_normalise": (nw, NW_PERF_TYPES, nw_cfg, False),
                    "flexric_normalise": (kp, KPM, kp_cfg, False),
                    "nwdaf": (nw, NW_PERF_TYPES, nw_cfg, True),
                    "flexric": (kp, KPM, kp_cfg, True),
                }
                for name, (payloads, metrics, cfg, publish) in paths.items():
                    kind = name.split("_")[0]
                    runs = [
                        measure(settings, kind, payloads, metrics, cfg, publish) for _ in range(args.repeat)
                    ]
                    result[name] = median_run(runs)
            result["downsample"] = downsample_rate(args.records // 5)
            result["sharing"] = sharing(settings, args.share_requests, args.share_seconds)
            result["goal_records_per_s"] = 100_000
        finally:
            if broker is not None:
                broker.stop()
    if args.json:
        print(orjson.dumps(result).decode())
        return
    names = ("nwdaf", "flexric", "nwdaf_normalise", "flexric_normalise")
    for name in (n for n in names if n in result):
        r = result[name]
        print(
            f"{name:18s} {r['records']:>9,d} records in {r['seconds']:6.2f}s"
            f" = {r['records_per_s']:>9,d} records/s"
        )
    r = result["downsample"]
    rate = f"{r['records_per_s']:>9,d} records/s"
    print(f"{'downsample':18s} {r['records']:>9,d} records in {r['seconds']:6.2f}s = {rate}")
    s = result["sharing"]
    print(
        f"sharing: {s['requests']} identical requests -> {s['topics']} topic, "
        f"{s['upstream_subscriptions']} upstream subscription; upstream calls "
        f"{s['upstream_calls_shared']} instead of {s['upstream_calls_unshared']} "
        f"(saved {s['upstream_calls_saved']})"
    )
    d = s["downsampling"]
    print(
        f"downsampling: {d['derived']} of {len(d['coarse_periods_s'])} coarser requests "
        f"({', '.join(f'{p} s' for p in d['coarse_periods_s'])}) served from the 1 s stream, "
        f"{d['upstream_subscriptions_added']} subscription added, "
        f"{d['upstream_calls_saved']} upstream calls saved, coarse records {d['coarse_records']}"
    )


if __name__ == "__main__":
    main()
