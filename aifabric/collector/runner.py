"""The collector: runs collection jobs on schedule and their shared streams' adapters.

A reconcile loop (every ``tick_s``) reads job and stream state from SQL and acts:

- a pending job whose start has come becomes running (its stream gains a user);
- a running job whose stop has come becomes stopped (its stream loses a user);
- a stream with running jobs, or with a derived (downsampled) stream that has running jobs, has a
  live adapter (started, or restarted after a collector restart: running jobs resume); a stream
  needed by neither has its adapter stopped, which ends the upstream subscription;
- a derived stream's "adapter" is a :class:`~aifabric.collector.downsample.Downsampler` reading
  its parent's topic; its resume state is written back with its counters;
- adapter counters and health (records, dead letters, degraded reason) are written back.

Jobs are created and stopped by the service layer (the API process or the CLI); the collector is
the only process that talks to sources, and one collector runs per database.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import httpx
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from aifabric.adapters.base import Adapter, KafkaSink, StreamFilters, StreamParams, build_config
from aifabric.collector.downsample import DEFAULT_AGGREGATION, DownsampleConfig, Downsampler, ResumeState
from aifabric.collector.models import JobState, StreamState, as_utc
from aifabric.collector.service import ensure_topics, finish_job
from aifabric.collector.tables import CollectionJob, CollectionStream
from aifabric.config import Settings
from aifabric.errors import AifabricError

log = logging.getLogger("aifabric.collector")


PRODUCER_TUNING = {"linger.ms": 20, "compression.type": "lz4"}
"""Telemetry comes in bursts (one notification = thousands of records) at periods of a second or
more: 20 ms more batching and lz4 cost nothing there and cut the bytes and requests the broker
handles per record (librdkafka and the broker share the machine with the adapters)."""


class _Live:
    """An adapter the collector runs, with the stream counters it started from."""

    def __init__(self, adapter: Adapter, base: tuple[int, int, int]) -> None:
        self.adapter = adapter
        self.base_records, self.base_dead, self.base_calls = base


class Collector:
    """Runs every stream that has running jobs; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker,
        tick_s: float = 0.2,
        producer=None,
        idle_tick_s: float | None = None,
    ) -> None:
        """``idle_tick_s``: with no job pending or running and no stream live, reconcile this
        rarely instead (an idle collector's SQL polling is most of its CPU); :meth:`wake` (the API
        calls it through ``POST /wake`` when a collection is created or stopped) runs a pass now."""
        self.settings = settings
        self.sessions = sessions
        self.tick_s = tick_s
        self.idle_tick_s = idle_tick_s
        self._producer = producer
        self.live: dict[str, _Live] = {}
        self._busy = True
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @property
    def producer(self):
        if self._producer is None:
            from aifabric.broker import RecordProducer

            self._producer = RecordProducer(self.settings, **PRODUCER_TUNING)
        return self._producer

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Collector:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="collector", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Reconcile now (a collection was created or stopped)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the loop and every adapter (ending upstream subscriptions); job states stay, so a
        restarted collector resumes the running jobs."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self.sessions() as session:
            for stream_id in list(self.live):
                self._sync(session, stream_id)
                self._stop_adapter(session, stream_id, keep_active=True)
            session.commit()
        if self._producer is not None:
            self._producer.flush(30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.reconcile()
                self.last_error = None
            except Exception as exc:  # a database hiccup must not end the collector
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("reconcile failed")
            idle = not self._busy and self.idle_tick_s is not None
            self._wake.wait(self.idle_tick_s if idle else self.tick_s)
            self._wake.clear()

    # -- one pass ----------------------------------------------------------------------------

    def reconcile(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        with self.sessions() as session:
            scheduled = self._schedule(session, now)
            session.commit()
            running = dict(
                session.execute(
                    select(CollectionJob.stream_id, func.count())
                    .where(CollectionJob.state == JobState.running)
                    .group_by(CollectionJob.stream_id)
                ).all()
            )
            needed = set(running)
            needed.update(
                session.scalars(
                    select(CollectionStream.parent_id).where(
                        CollectionStream.id.in_(list(running)), CollectionStream.parent_id.is_not(None)
                    )
                ).all()
            )
            streams = session.scalars(
                select(CollectionStream).where(
                    or_(
                        CollectionStream.id.in_(list(needed) + list(self.live)),
                        CollectionStream.state == StreamState.active,
                    )
                )
            ).all()
            for stream in streams:
                if stream.id in needed:
                    if stream.id not in self.live:
                        self._start_adapter(session, stream, now)
                    else:
                        self._update_stop(session, stream)
                    self._sync(session, stream.id)
                elif stream.id in self.live:
                    self._sync(session, stream.id)
                    self._stop_adapter(session, stream.id)
                else:
                    stream.state = StreamState.idle
            session.commit()
        self._busy = bool(scheduled or self.live)
        if self._producer is not None:
            self._producer.poll(0)

    def _schedule(self, session: Session, now: datetime) -> int:
        """Start due jobs and stop expired ones; returns how many jobs are pending or running."""
        rows = session.execute(
            select(CollectionJob, CollectionStream)
            .join(CollectionStream)
            .where(CollectionJob.state.in_([JobState.pending, JobState.running]))
        ).all()
        for job, stream in rows:
            start, stop = as_utc(job.start_at), as_utc(job.stop_at)
            if job.state == JobState.pending and start <= now:
                if stop is not None and stop <= now:
                    finish_job(job, stream, JobState.stopped, "stop time passed before the job could start")
                    continue
                job.state = JobState.running
                job.started_at = now
                job.records_base = stream.records_published
                log.info("job %s running on stream %s", job.id, stream.id)
            elif job.state == JobState.running and stop is not None and stop <= now:
                self._sync(session, stream.id)
                finish_job(job, stream, JobState.stopped, "stop time reached")
                log.info("job %s reached its stop time", job.id)
        return len(rows)

    def _params(self, session: Session, stream: CollectionStream, start: datetime) -> StreamParams:
        """The stream's parameters; it runs until the last stop of its own and its derived streams' jobs."""
        stops = session.scalars(
            select(CollectionJob.stop_at)
            .join(CollectionStream, CollectionJob.stream_id == CollectionStream.id)
            .where(
                or_(CollectionStream.id == stream.id, CollectionStream.parent_id == stream.id),
                CollectionJob.state == JobState.running,
            )
        ).all()
        stop = None if (not stops or any(s is None for s in stops)) else max(as_utc(s) for s in stops)
        return StreamParams(
            stream_id=stream.id,
            topic=stream.topic,
            metrics=stream.metrics,
            filters=StreamFilters.model_validate(stream.filters),
            period_s=stream.period_s,
            start=start,
            stop=stop,
        )

    def _start_adapter(self, session: Session, stream: CollectionStream, now: datetime) -> None:
        if stream.parent_id is not None:
            self._start_downsampler(session, stream, now)
            return
        try:
            cls, config = build_config({**stream.adapter_config, "type": stream.adapter_type})
            ensure_topics(self.settings, stream.topic)  # a memory-only broker may have restarted
        except AifabricError as exc:
            self._fail_stream(session, stream, f"cannot start the stream: {exc.detail}")
            return
        if stream.upstream_ref:  # left behind by a collector that died: release it
            _release(stream.upstream_ref)
            stream.upstream_ref = None
        adapter = cls(
            config, self._params(session, stream, now), KafkaSink(self.producer, stream.topic, cls.source)
        )
        self._run(stream, adapter, now)
        log.info("stream %s started (%s -> %s)", stream.id, stream.adapter_type, stream.topic)

    def _run(self, stream: CollectionStream, adapter: Adapter, now: datetime) -> None:
        """Start ``adapter`` for ``stream``; its counters continue from the stream's."""
        adapter.start()
        self.live[stream.id] = _Live(
            adapter, (stream.records_published, stream.dead_letters, stream.upstream_calls)
        )
        stream.state = StreamState.active
        stream.started_at = now
        stream.stopped_at = None
        stream.subscriptions += 1

    def _start_downsampler(self, session: Session, stream: CollectionStream, now: datetime) -> None:
        """A derived stream: downsample the parent's topic, resuming where the last run left off."""
        parent = session.get(CollectionStream, stream.parent_id)
        if parent is None:
            self._fail_stream(
                session, stream, f"the stream it is downsampled from ({stream.parent_id}) is gone"
            )
            return
        try:
            ensure_topics(self.settings, parent.topic)
            ensure_topics(self.settings, stream.topic)
        except AifabricError as exc:
            self._fail_stream(session, stream, f"cannot start the stream: {exc.detail}")
            return
        config = DownsampleConfig(
            parent_topic=parent.topic,
            parent_period_s=parent.period_s,
            aggregation=stream.aggregation or DEFAULT_AGGREGATION,
        )
        resume = ResumeState.model_validate(stream.resume) if stream.resume else None
        adapter = Downsampler(
            self.settings,
            config,
            self._params(session, stream, now),
            KafkaSink(self.producer, stream.topic, Downsampler.source),
            resume,
        )
        self._run(stream, adapter, now)
        log.info(
            "stream %s started: %s of %s every %ss -> %s (%s)",
            stream.id, config.aggregation, parent.topic, stream.period_s, stream.topic,
            "resumed" if resume else "new",
        )  # fmt: skip

    def _update_stop(self, session: Session, stream: CollectionStream) -> None:
        live = self.live[stream.id].adapter
        params = self._params(session, stream, live.params.start)
        if params.stop != live.params.stop:
            live.update(params)

    def _stop_adapter(self, session: Session, stream_id: str, keep_active: bool = False) -> None:
        live = self.live.pop(stream_id)
        live.adapter.stop()
        stream = session.get(CollectionStream, stream_id)
        if stream is None:
            return
        self._write_status(stream, live)  # what the adapter did after the last sync
        stream.upstream_ref = None
        stream.degraded_reason = None
        if not keep_active:
            stream.resume = None  # a partly filled bucket is dropped; a later start begins afresh
            stream.state = StreamState.idle
            stream.stopped_at = datetime.now(UTC)
            log.info("stream %s stopped: no running job left", stream_id)

    def _sync(self, session: Session, stream_id: str) -> None:
        live = self.live.get(stream_id)
        stream = session.get(CollectionStream, stream_id)
        if live is None or stream is None:
            return
        self._write_status(stream, live)

    @staticmethod
    def _write_status(stream: CollectionStream, live: _Live) -> None:
        st = live.adapter.status()
        stream.records_published = live.base_records + st.records
        stream.dead_letters = live.base_dead + st.dead_letters
        stream.upstream_calls = live.base_calls + st.upstream_calls
        stream.degraded_reason = st.reason
        stream.upstream_ref = getattr(live.adapter, "subscription_url", None)
        if st.last_record_ms is not None:
            stream.last_record_at = datetime.fromtimestamp(st.last_record_ms / 1000, UTC)
        if isinstance(live.adapter, Downsampler):
            stream.resume = live.adapter.resume_state().model_dump(mode="json")

    def _fail_stream(self, session: Session, stream: CollectionStream, reason: str) -> None:
        """Fail the stream's running jobs, and those of the streams derived from it."""
        log.warning("stream %s failed: %s", stream.id, reason)
        rows = session.execute(
            select(CollectionJob, CollectionStream)
            .join(CollectionStream, CollectionJob.stream_id == CollectionStream.id)
            .where(
                or_(CollectionStream.id == stream.id, CollectionStream.parent_id == stream.id),
                CollectionJob.state == JobState.running,
            )
        ).all()
        for job, owner in rows:
            finish_job(job, owner, JobState.failed, reason)
        stream.state = StreamState.idle


def _release(url: str) -> None:
    """Best-effort DELETE of an upstream subscription a dead collector left behind."""
    if not url.startswith(("http://", "https://")):
        return
    try:
        httpx.delete(url, timeout=3.0)
    except httpx.HTTPError as exc:
        log.info("could not release stale subscription %s: %s", url, exc)
