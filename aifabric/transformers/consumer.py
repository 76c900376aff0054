"""The Data Consumer: a KServe transformer that is also fed by Kafka.

One process, two entrances, one preprocessing:

* **Kafka loop** (a thread started with the model): joins consumer group ``AIFABRIC_CONSUMER_GROUP``
  on ``AIFABRIC_CONSUMER_TOPICS`` (topics may be shared with other deployments: each deployment
  has its own group), keeps a sliding window per series (:mod:`aifabric.transformers.windows`),
  sends each micro-batch of windows to the predictor in one binary call and publishes one
  :class:`aifabric.records.ScoreResult` per window to ``AIFABRIC_RESULTS_TOPIC`` (key = series key).
  Offsets are committed only after the results are acknowledged (at-least-once). Records that
  cannot be used (malformed, a metric the deployment does not score, late beyond the bound) go to
  ``<topic>.dlq`` with the reason. Predictor outages are retried with backoff without committing.
* **HTTP** (the KServe transformer contract): ``/v1/models/NAME:predict`` with
  ``{"instances": [record, ...]}`` or a CloudEvent carrying a record (what a Knative KafkaSource
  pushes) -> preprocess to windows -> predictor -> ``{"predictions": [result, ...]}``.

Preprocessing comes from the model, not from this code: the bundle (definition, features,
window, scaler) is fetched from the predictor (``/aifabric/models/NAME/bundle``), and the
definition's own ``featurize`` runs on live points.

State and rebalancing: windows live in memory, keyed by series, and belong to the partition the
series arrives on. When partitions are assigned (start, restart after a crash, or a partition
moving between replicas) the consumer rewinds each partition by up to ``AIFABRIC_CONSUMER_REWIND``
messages before its committed offset and replays them as warm-up (history only: no results, no
dead letters), so the first windows after the move are complete rather than missing. Revoked
partitions' series are dropped. A partition holding more than ``rewind / (window - 1)`` series
falls back to a warm-up of one window for the series the rewind did not reach.

Readiness: ``/v2/models/NAME/ready`` answers 200 once the bundle is loaded **and** the consumer
has joined its group (its first assignment was served; with more replicas than partitions that
assignment may be empty). The subscription starts before the bundle is fetched, so the group
join (≈1 s on Tansu, whose join delay follows the session timeout) overlaps the rest of start-up.

Batching: the loop waits up to ``idle_timeout`` for one message, then takes everything already
fetched (up to ``max_batch``) without waiting, so a batch is as large as the backlog and as small
as the traffic: under load it amortises the per-batch costs (one predictor call, one flush, one
commit), at low rates a record is scored as soon as it arrives. The hot path per record is an
orjson decode with a cached series identity (:mod:`aifabric.transformers.points`); windows are
built for the whole batch at once (:mod:`aifabric.transformers.windows`); results are queued to
the producer in a tight loop, and the broker acknowledges them while the next batch is prepared
and scored; a batch's offsets are committed once its results are acknowledged (at-least-once).

Latency versus idle cost: Tansu does not answer a waiting fetch when records arrive, it answers
when ``fetch.wait.max.ms`` is over, so that wait (``fetch_wait_ms``, 100 ms; the environment
variable ``AIFABRIC_CONSUMER_FETCH_WAIT_MS``) bounds how long a record can wait unseen by the
consumer, and every waiting fetch costs the broker CPU even when the topics are quiet: 500 ms
makes an idle consumer cheaper and a busy one slower.

Idle pause and its wake-up cost: after ``idle_after`` seconds without a record (5 s;
``AIFABRIC_CONSUMER_IDLE_AFTER_S``, 0 turns it off) the consumer pauses its partitions, so it
sends the broker no waiting fetches at all, and probes their high watermarks every
``idle_probe`` seconds (1 s; ``AIFABRIC_CONSUMER_IDLE_PROBE_S``), every ``idle_probe_max``
seconds (3 s; ``AIFABRIC_CONSUMER_IDLE_PROBE_MAX_S``) once no record has come for a minute,
resuming as soon as one moves (:class:`aifabric.broker.BatchConsumer`). An idle consumer then
costs the broker ≈1 millicore instead of ≈20 (heartbeats, every third of the session, are most of
its requests). The price is paid once per quiet spell: the first records after it wait for the
next probe (up to ``idle_probe``, or ``idle_probe_max`` after a long quiet), the resume and one
fetch: ``bench/stream_throughput.py`` measured 0.9-1.7 s from sending the first record after a
short quiet spell to its commit, against ≈50 ms for a consumer that is awake; after a long one,
0.5-2.0 s to consumed. While records keep coming (gaps shorter than ``idle_after``) the consumer
never pauses, so the latency at a steady rate is not affected.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from kserve import InferRequest, Model
from kserve.errors import InvalidInput

from aifabric.broker import BatchConsumer, Message, RecordProducer, dead_letter
from aifabric.config import Settings, get_settings
from aifabric.errors import BrokerError
from aifabric.gcpause import gc_paused
from aifabric.models.bundle import ScoringBundle
from aifabric.records import InvalidRecord, format_timestamp
from aifabric.serving.predictor import json_body
from aifabric.transformers.points import PointParser, parse_record
from aifabric.transformers.scoring import PredictorClient, PredictorRejected, PredictorUnavailable
from aifabric.transformers.windows import Point, SeriesWindows, WindowBatch

__all__ = ["ConsumerConfig", "DataConsumer", "RewindingConsumer", "main"]

log = logging.getLogger("aifabric.transformers.consumer")

MAX_BACKOFF = 5.0


class ConsumerConfig:
    """The Kafka side of one deployment (from environment variables in ``main``)."""

    def __init__(
        self,
        topics: Sequence[str],
        group_id: str,
        results_topic: str,
        metric_ids: Sequence[str] = (),
        max_batch: int = 20_000,
        rewind: int = 4096,
        max_lateness_ms: int = 3_600_000,
        idle_timeout: float = 0.5,
        fetch_wait_ms: int = 100,
        session_timeout_ms: int = 2000,
        idle_after: float = 5.0,
        idle_probe: float = 1.0,
        idle_probe_max: float = 3.0,
    ) -> None:
        if not topics:
            raise ValueError("no input topics (AIFABRIC_CONSUMER_TOPICS is empty)")
        if idle_after < 0 or idle_probe <= 0 or idle_probe_max < idle_probe:
            raise ValueError(
                "idle_after must be >= 0, idle_probe > 0 and idle_probe_max >= idle_probe, "
                f"got {idle_after}, {idle_probe}, {idle_probe_max}"
            )
        self.topics = list(topics)
        self.group_id = group_id
        self.results_topic = results_topic
        self.metric_ids = frozenset(metric_ids)
        self.max_batch = max_batch
        self.rewind = rewind
        self.max_lateness_ms = max_lateness_ms
        self.idle_timeout = idle_timeout
        self.fetch_wait_ms = fetch_wait_ms
        self.session_timeout_ms = session_timeout_ms
        self.idle_after = idle_after
        self.idle_probe = idle_probe
        self.idle_probe_max = idle_probe_max

    @classmethod
    def from_env(cls, model_name: str) -> ConsumerConfig:
        env = os.environ
        split = lambda v: [s.strip() for s in v.split(",") if s.strip()]  # noqa: E731
        return cls(
            topics=split(env.get("AIFABRIC_CONSUMER_TOPICS", "")),
            group_id=env.get("AIFABRIC_CONSUMER_GROUP") or f"{model_name}-consumer",
            results_topic=env.get("AIFABRIC_RESULTS_TOPIC") or f"{model_name}.results",
            metric_ids=split(env.get("AIFABRIC_CONSUMER_METRICS", "")),
            max_batch=int(env.get("AIFABRIC_CONSUMER_MAX_BATCH", "20000")),
            rewind=int(env.get("AIFABRIC_CONSUMER_REWIND", "4096")),
            max_lateness_ms=int(env.get("AIFABRIC_CONSUMER_MAX_LATENESS_MS", "3600000")),
            fetch_wait_ms=int(env.get("AIFABRIC_CONSUMER_FETCH_WAIT_MS", "100")),
            idle_after=float(env.get("AIFABRIC_CONSUMER_IDLE_AFTER_S", "5")),
            idle_probe=float(env.get("AIFABRIC_CONSUMER_IDLE_PROBE_S", "1")),
            idle_probe_max=float(env.get("AIFABRIC_CONSUMER_IDLE_PROBE_MAX_S", "3")),
        )


class RewindingConsumer(BatchConsumer):
    """A :class:`BatchConsumer` that replays a little history on assignment (see module docstring)."""

    def __init__(self, settings: Settings, config: ConsumerConfig, on_revoke: Any = None) -> None:
        super().__init__(
            settings,
            config.group_id,
            config.topics,
            idle_after=config.idle_after or None,
            idle_probe=config.idle_probe,
            idle_probe_max=config.idle_probe_max,
            **{
                "fetch.wait.max.ms": config.fetch_wait_ms,
                "session.timeout.ms": config.session_timeout_ms,
                # a third of the session (the usual bound): an idle consumer's heartbeats are
                # most of the requests it sends the broker
                "heartbeat.interval.ms": max(100, config.session_timeout_ms // 3),
            },
        )
        self.rewind = config.rewind
        self.warmup_until: dict[tuple[str, int], int] = {}
        self.joined = threading.Event()
        self._revoke_cb = on_revoke
        self._consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _on_assign(self, consumer, partitions) -> None:
        self.joined.set()
        try:
            committed = consumer.committed(partitions, timeout=10)
        except Exception as exc:  # KafkaException: fall back to the committed offsets as they are
            log.warning("cannot read committed offsets (%s): no warm-up replay", exc)
            consumer.assign(partitions)
            self.resume_fetching(partitions)
            return
        for tp in committed:
            if tp.offset >= 0 and self.rewind > 0:
                low, _high = consumer.get_watermark_offsets(tp, timeout=5)
                self.warmup_until[(tp.topic, tp.partition)] = tp.offset
                tp.offset = max(low, tp.offset - self.rewind)
        consumer.assign(committed)
        self.resume_fetching(committed)
        log.info("assigned %s", [(tp.topic, tp.partition, tp.offset) for tp in committed])

    def _on_revoke(self, consumer, partitions) -> None:
        gone = [(tp.topic, tp.partition) for tp in partitions]
        for origin in gone:
            self.warmup_until.pop(origin, None)
            self._pending.pop(origin, None)
        if self._revoke_cb:
            self._revoke_cb(gone)
        log.info("revoked %s", gone)

    def is_warmup(self, m: Message) -> bool:
        return m.offset < self.warmup_until.get((m.topic, m.partition), -1)

    def pending(self) -> dict[tuple[str, int], int]:
        """The offsets after every message returned so far (a snapshot to :meth:`commit` later)."""
        return dict(self._pending)

    def commit(self, offsets: dict[tuple[str, int], int] | None = None) -> None:
        """Commit ``offsets`` (default: everything returned so far) of partitions still assigned,
        never moving a partition back into its warm-up range."""
        offsets = dict(self._pending if offsets is None else offsets)
        assigned = set(self.assignment())
        for origin, offset in list(offsets.items()):
            if origin not in assigned or offset <= self.warmup_until.get(origin, -1):
                del offsets[origin]
        if offsets:
            tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
            try:
                self._consumer.commit(offsets=tps, asynchronous=False)
            except KafkaException as exc:
                err = exc.args[0]
                if err.code() != KafkaError._NO_OFFSET:
                    raise BrokerError(f"commit failed: {err.str()}") from None
            self._committed.update(offsets)
        for origin, offset in list(self._pending.items()):
            done = offsets.get(origin, -1) >= offset
            if done or origin not in assigned or offset <= self.warmup_until.get(origin, -1):
                del self._pending[origin]


class _StageTimes:
    """Where a batch's time goes (prepare = decode + windows, score, publish = queue the results,
    acknowledge = wait for the broker's acks + commit),
    logged every ``every`` seconds while records flow: the first thing to read when the consumer lags."""

    def __init__(self, every: float = 30.0) -> None:
        self.every = every
        self._reset(time.monotonic())

    def _reset(self, now: float) -> None:
        self.since, self.batches, self.records = now, 0, 0
        self.totals = {"prepare": 0.0, "score": 0.0, "publish": 0.0, "acknowledge": 0.0}

    def start(self, n: int) -> _StageTimes:
        self.batches += 1
        self.records += n
        self.t = time.perf_counter()
        return self

    def add(self, stage: str, seconds: float) -> None:
        self.totals[stage] += seconds

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.totals[stage] += now - self.t
        self.t = now
        if stage == "publish" and time.monotonic() - self.since >= self.every:
            per = {k: round(v / self.batches * 1000, 1) for k, v in self.totals.items()}
            log.info(
                "%d records in %d batches over %.0fs; ms per batch: %s",
                self.records,
                self.batches,
                time.monotonic() - self.since,
                per,
            )
            self._reset(time.monotonic())


class DataConsumer(Model):
    """The Kafka-fed KServe transformer of one deployment."""

    def __init__(
        self,
        name: str,
        predictor_host: str,
        config: ConsumerConfig | None = None,
        settings: Settings | None = None,
        load_timeout: float = 120.0,
    ) -> None:
        super().__init__(name)
        self.predictor = PredictorClient(predictor_host, name)
        self.config = config
        self.settings = settings or get_settings()
        self.load_timeout = load_timeout
        self.bundle: ScoringBundle | None = None
        self.model_version = ""
        self.registered_name = ""
        self._http_windows: SeriesWindows | None = None
        self._http_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: RewindingConsumer | None = None
        self._windows: SeriesWindows | None = None
        self.stats = {"consumed": 0, "scored": 0, "dead_lettered": 0, "duplicates": 0, "retries": 0}
        self._timing = _StageTimes()

    # -- lifecycle ----------------------------------------------------------------------------

    def load(self) -> bool:
        """Join the consumer group (in the background) and fetch the bundle from the predictor."""
        if self.config is not None and self._consumer is None:
            self._consumer = RewindingConsumer(self.settings, self.config, on_revoke=self._drop_series)
        deadline = time.monotonic() + self.load_timeout
        while True:
            try:
                resp = self.predictor.get(self.predictor.bundle_url)
                if resp.status_code == 200:
                    break
                reason = f"{resp.status_code}: {resp.text[:200]}"
            except PredictorUnavailable as exc:
                reason = str(exc)
            if time.monotonic() > deadline:
                raise RuntimeError(f"predictor bundle not available after {self.load_timeout}s: {reason}")
            time.sleep(0.05)
        info = resp.json()
        self.registered_name, self.model_version = info["model_name"], info["model_version"]
        bundle = ScoringBundle.model_validate(info["bundle"])
        workdir = self.settings.data_dir / "serving" / "consumer" / self.name / self.model_version
        bundle.save(workdir)
        if bundle.definition_file:
            file_resp = self.predictor.get(self.predictor.file_url(bundle.definition_file))
            (Path(workdir) / bundle.definition_file).write_bytes(file_resp.content)
        self.bundle = bundle
        lateness = self.config.max_lateness_ms if self.config else 3_600_000
        self._http_windows = SeriesWindows(bundle, lateness)
        self.ready = True
        return True

    async def healthy(self) -> bool:
        """Ready = bundle loaded and (with Kafka) the group joined, i.e. partitions assigned."""
        return self.ready and (self._consumer is None or self._consumer.joined.is_set())

    async def aclose(self) -> None:
        """Close the HTTP path's predictor client on the server's event loop (see ``serving.server``)."""
        await self.predictor.aclose()

    def _drop_series(self, origins: list[tuple[str, int]]) -> None:
        if self._windows is not None:
            self._windows.drop(origins)

    def start(self) -> None:
        """Called by ``ModelServer``: start the Kafka loop if this transformer has topics."""
        if self.config is not None and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self.run_loop, name="kafka-loop", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Finish the batch in hand (publish and commit), then leave the group."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.ready = False

    # -- Kafka loop ---------------------------------------------------------------------------

    def run_loop(self) -> None:
        assert self.config is not None and self.bundle is not None and self._consumer is not None
        windows = self._windows = SeriesWindows(self.bundle, self.config.max_lateness_ms)
        producer = RecordProducer(self.settings)
        consumer = self._consumer
        log.info(
            "consuming %s as group %s -> %s",
            self.config.topics,
            self.config.group_id,
            self.config.results_topic,
        )
        parser = PointParser(self.config.metric_ids)
        in_flight: dict[tuple[str, int], int] | None = None  # offsets whose results are not yet acked
        cfg = self.config
        try:
            while not self._stop.is_set():
                try:  # with results in flight, do not wait: acknowledge them when nothing is new
                    msgs = consumer.poll_batch(1, 0 if in_flight else cfg.idle_timeout)
                except BrokerError as exc:
                    log.warning("poll failed: %s", exc)
                    self._stop.wait(1.0)
                    continue
                if not msgs:
                    if in_flight is not None:
                        self._acknowledge(producer, consumer, in_flight)
                        in_flight = None
                    continue
                # A batch is tens of thousands of fresh, acyclic containers (messages, decoded
                # records, results): the cyclic collector would walk them over and over.
                with gc_paused():
                    try:  # then whatever is already fetched, without waiting
                        msgs += consumer.poll_batch(cfg.max_batch - 1, 0)
                    except BrokerError as exc:
                        log.warning("poll failed: %s", exc)  # score what we have
                    offsets = consumer.pending()
                    clock = self._timing.start(len(msgs))
                    results = self._prepare(msgs, parser, windows, producer, consumer, clock)
                    # The previous batch's results were acknowledged by the broker while this one
                    # was prepared and scored: commit its offsets only now (at-least-once), then publish.
                    if in_flight is not None:
                        self._acknowledge(producer, consumer, in_flight)
                        in_flight = None
                    if results is None:
                        break  # stopping while the predictor is down: redelivered after the restart
                    producer.send_batch(cfg.results_topic, results)
                    clock.lap("publish")
                    del msgs, results  # freed while paused, the collector never counts them
                in_flight = offsets
            if in_flight is not None:
                self._acknowledge(producer, consumer, in_flight)
        finally:
            consumer.close()
            self._consumer = None
            producer.close(timeout=10)
            self.predictor.close()

    def _acknowledge(
        self, producer: RecordProducer, consumer: RewindingConsumer, offsets: dict[tuple[str, int], int]
    ) -> None:
        """Wait until everything produced so far is acknowledged, then commit ``offsets``."""
        t = time.perf_counter()
        while True:
            try:
                producer.flush(30)
                consumer.commit(offsets)
                self._timing.add("acknowledge", time.perf_counter() - t)
                return
            except BrokerError as exc:
                log.warning("publish/commit failed, retrying: %s", exc)
                if self._stop.wait(1.0):
                    return

    def _prepare(
        self,
        msgs: list[Message],
        parser: PointParser,
        windows: SeriesWindows,
        producer: RecordProducer,
        consumer: RewindingConsumer,
        clock: _StageTimes,
    ) -> list[tuple[bytes, str]] | None:
        """Decode, window and score a batch -> its results (None: stopping with the predictor down)."""
        self.stats["consumed"] += len(msgs)
        parsed = parser.parse_many([m.key for m in msgs], [m.value for m in msgs])
        warmup = consumer.warmup_until
        live = [m.offset >= warmup.get((m.topic, m.partition), -1) for m in msgs]
        for i, reason in parsed.rejected:
            if live[i]:
                self._dead_letter(producer, msgs[i], reason)
        refs = [msgs[i] for i in parsed.index]
        emit = np.array([live[i] for i in parsed.index], bool)
        origins = [(m.topic, m.partition) for m in refs]
        batch = windows.add_columns(parsed.keys, parsed.ts_ms, parsed.values, emit, origins, refs)
        self.stats["duplicates"] += batch.duplicates
        for rej in batch.rejected:
            if rej.point.emit:
                self._dead_letter(producer, rej.point.ref, rej.reason)
        clock.lap("prepare")
        if not len(batch):
            return []
        scored = [m for m, e in zip(refs, emit.tolist(), strict=True) if e]
        scores = self._score_with_retry(batch, producer, scored)
        clock.lap("score")
        if scores is None:
            return None
        self.stats["scored"] += len(batch)
        return self._results(batch, scores)

    def _score_with_retry(self, batch: WindowBatch, producer: RecordProducer, scored: list[Message]):
        backoff = 0.1
        while True:
            try:
                return self.predictor.score(batch.windows)
            except PredictorUnavailable as exc:
                self.stats["retries"] += 1
                log.warning(
                    "predictor unavailable, retrying in %.1fs (offsets not committed): %s", backoff, exc
                )
            except PredictorRejected as exc:
                # The model refused windows built from its own bundle: dead-letter the records
                # that would have been scored, with the reason, rather than loop forever.
                for m in scored:
                    self._dead_letter(producer, m, str(exc))
                return ([], [], [])
            if self._stop.wait(backoff):
                return None
            backoff = min(MAX_BACKOFF, backoff * 2)

    def _results(self, batch: WindowBatch, scores) -> list[tuple[str, bytes]]:
        """One JSON :class:`ScoreResult` per scored window (time stamps formatted in one numpy call)."""
        errors, probs, flags = scores
        n = len(errors)
        if not n:
            return []
        now = format_timestamp(datetime.now(UTC))
        ends = np.datetime_as_string(np.asarray(batch.end_ms[:n], dtype="datetime64[ms]"), unit="ms")
        name, version, dumps = self.registered_name, self.model_version, orjson.dumps
        return [
            (
                key,
                dumps(
                    {
                        "series_key": key,
                        "window_end": end + "Z",
                        "reconstruction_error": e,
                        "anomaly_probability": p,
                        "anomaly": a,
                        "model_name": name,
                        "model_version": version,
                        "value": v,
                        "scored_at": now,
                    }
                ),
            )
            for key, end, e, p, a, v in zip(
                batch.keys,
                ends.tolist(),
                np.asarray(errors, np.float64).tolist(),
                np.asarray(probs, np.float64).tolist(),
                np.asarray(flags, bool).tolist(),
                batch.last_values,
                strict=True,
            )
        ]

    def _dead_letter(self, producer: RecordProducer, m: Message, reason: str) -> None:
        self.stats["dead_lettered"] += 1
        dead_letter(
            producer,
            m.topic,
            m.value or b"",
            reason,
            key=m.key,
            partition=m.partition,
            offset=m.offset,
            stage="consumer",
        )

    # -- HTTP (KServe transformer contract) ------------------------------------------------------

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> WindowBatch:
        """Raw records (V1 ``instances`` or a CloudEvent's data) -> windows of their series."""
        if isinstance(payload, InferRequest):
            raise InvalidInput("send raw records as V1 {'instances': [record, ...]} or as a CloudEvent")
        payload = json_body(payload)
        has_instances = isinstance(payload, dict) and "instances" in payload
        records = payload["instances"] if has_instances else payload
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list) or not records:
            raise InvalidInput("expected a record, a list of records or {'instances': [record, ...]}")
        metric_ids = self.config.metric_ids if self.config else frozenset()
        points = []
        for i, rec in enumerate(records):
            try:
                key, ts, value = parse_record(rec, metric_ids)
            except InvalidRecord as exc:
                raise InvalidInput(f"record [{i}]: {exc}") from None
            points.append(Point(key, ts, value))
        assert self._http_windows is not None
        with self._http_lock:
            batch = self._http_windows.add(points)
        if batch.rejected:
            raise InvalidInput(f"record rejected: {batch.rejected[0].reason}")
        return batch

    async def predict(self, payload: WindowBatch, headers: dict[str, str] | None = None) -> dict:
        if not len(payload):
            return {"predictions": []}
        try:
            scores = await self.predictor.ascore(payload.windows)
        except PredictorUnavailable as exc:
            from kserve.errors import InferenceError

            raise InferenceError(str(exc), status=503) from None
        return {"predictions": [orjson.loads(v) for _, v in self._results(payload, scores)]}


def main(argv: list[str] | None = None) -> None:
    from kserve import model_server

    from aifabric.serving.server import serve_models

    parser = argparse.ArgumentParser(parents=[model_server.parser], description="aifabric Data Consumer")
    parser.add_argument("--no_kafka", action="store_true", help="HTTP only (behind a Knative KafkaSource)")
    args, _ = parser.parse_known_args(argv)
    if not args.predictor_host:
        parser.error("--predictor_host is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = None if args.no_kafka else ConsumerConfig.from_env(args.model_name)
    model = DataConsumer(args.model_name, args.predictor_host, config)
    model.load()
    serve_models([model], args.http_port, predictor_host=args.predictor_host)


if __name__ == "__main__":
    main()
