"""At-least-once batch consumer: offsets are committed only when the caller says the batch is
handled, so a consumer that dies mid-batch has its records delivered again.

A memory-only broker (Tansu) that restarts forgets topics, records and committed offsets, and
its recreated partitions count offsets from 0 again, so a consumer's in-memory position may point
past records that are new. After losing the broker we therefore ask for our committed offsets
once it is back: if the broker no longer knows offsets we had committed, it restarted, and we
rewind our partitions to the beginning (at-least-once). This narrows, but does not close, the
window in which a partition's new records can be skipped: if the consumer fetches from its old
position before it learns that the broker restarted, records below that position are missed.
Durable data belongs in S3/SQL (persisted datasets); a real Kafka keeps offsets and has no such gap.

Idle pause (opt-in, ``idle_after``): a consumer's waiting fetches are what an idle stack spends
on the broker (Tansu answers a waiting fetch only when ``fetch.wait.max.ms`` is over: ≈2 ms of
broker CPU each, so ≈20 millicores per idle consumer at a 100 ms wait). After ``idle_after``
seconds without a record the consumer pauses its partitions (librdkafka stops fetching; group
heartbeats go on) and every ``idle_probe`` seconds asks the broker for their high watermarks
(one ListOffsets request for all partitions); as soon as one differs from the watermark the
consumer noted before pausing, it resumes. Once no record has come for ``IDLE_SLOW_AFTER_S``
the probes are ``idle_probe_max`` seconds apart instead (a stack left alone costs less; a feed
with gaps of under a minute keeps the short probe). The cost is the wake-up: the first record
after a quiet spell waits up to ``idle_probe`` seconds (``idle_probe_max`` after a long one),
plus the resume and one fetch, before it is consumed; records arriving while the consumer is
awake are not delayed at all. A rebalance or a lost broker ends the pause at once, and a paused
consumer fetches again briefly every ``IDLE_REFRESH_S``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

from aifabric.broker.admin import KafkaAdmin, known_topic
from aifabric.broker.client import consumer_config
from aifabric.config import Settings
from aifabric.errors import BrokerError

log = logging.getLogger("aifabric.broker.consumer")

IDLE_REFRESH_S = 60.0  # an idle-paused consumer fetches again (briefly) at least this often
IDLE_SLOW_AFTER_S = 60.0  # without a record for this long, probe every idle_probe_max seconds


@dataclass(frozen=True, slots=True)
class Message:
    """One consumed message, detached from librdkafka (a slotted dataclass: this is the hot path,
    built once per record, where a validating model would cost more than the decode)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: list[tuple[str, bytes]] | None = None


class BatchConsumer:
    """Polls batches; :meth:`commit` stores the offsets of everything returned so far."""

    def __init__(
        self,
        settings: Settings,
        group_id: str,
        topics: Sequence[str],
        *,
        idle_after: float | None = None,
        idle_probe: float = 1.0,
        idle_probe_max: float | None = None,
        **overrides,
    ) -> None:
        self.settings = settings
        self.topics = list(topics)
        config = consumer_config(settings, group_id, error_cb=self._on_error, **overrides)
        self._consumer = Consumer(config)
        self._fetch_wait = int(config["fetch.wait.max.ms"]) / 1000
        self._consumer.subscribe(self.topics)
        self._pending: dict[tuple[str, int], int] = {}
        self._missing_topics = False
        self._broker_lost = False
        self._committed: dict[tuple[str, int], int] = {}
        self.idle_after = idle_after
        self.idle_probe = idle_probe
        self.idle_probe_max = max(idle_probe, idle_probe_max or idle_probe)
        self._last_record = time.monotonic()
        self._last_seen = self._last_record  # last real record (_last_record is moved by refreshes)
        # high watermarks seen before pausing (the baseline a probe compares with)
        self._marks: dict[tuple[str, int], int] | None = None
        self._marked_at = 0.0
        self._paused = False
        self._next_probe = 0.0
        self.idle_pauses = 0  # how many times the consumer paused for being idle (for tests/logs)

    def _on_error(self, err: KafkaError) -> None:
        if err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
            self._missing_topics = True
        elif err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            self._broker_lost = True
        log.debug("consumer error: %s", err.str())

    def _rewind_if_broker_restarted(self) -> None:
        """Seek to the beginning of partitions whose committed offsets the broker forgot."""
        ours = [TopicPartition(t, p) for t, p in self.assignment() if (t, p) in self._committed]
        if not ours:
            self._broker_lost = False
            return
        try:
            remote = self._consumer.committed(ours, timeout=2.0)
        except KafkaException:
            return  # broker still away: ask again on the next poll
        self._broker_lost = False
        forgotten = [tp for tp in remote if tp.offset < 0]
        for tp in forgotten:
            log.warning("broker forgot offsets of %s[%d] (restart?): rewinding", tp.topic, tp.partition)
            self._committed.pop((tp.topic, tp.partition), None)
            self._pending.pop((tp.topic, tp.partition), None)
            with contextlib.suppress(KafkaException):
                self._consumer.seek(TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING))

    def poll_batch(self, max_records: int = 1000, timeout: float = 1.0) -> list[Message]:
        """Up to ``max_records`` messages, waiting at most ``timeout`` seconds for the first."""
        if self._paused:
            timeout = self._probe_idle(timeout)
        if self._broker_lost:
            self._rewind_if_broker_restarted()
        try:
            raw = self._consumer.consume(num_messages=max_records, timeout=timeout)
        except KafkaException as exc:
            raise BrokerError(f"consume failed: {exc.args[0].str()}") from None
        if raw:
            if self._marks is not None:  # records after all: keep (or start again) fetching
                self.resume_fetching()
            self._last_record = self._last_seen = time.monotonic()
        elif self.idle_after is not None and not self._paused:
            self._idle_step()
        out: list[Message] = []
        for m in raw:
            err = m.error()
            if err is not None:
                if err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
                    self._missing_topics = True
                elif err.code() != KafkaError._PARTITION_EOF:
                    log.debug("consume error: %s", err.str())
                continue
            out.append(
                Message(
                    topic=m.topic(),
                    partition=m.partition(),
                    offset=m.offset(),
                    key=m.key(),
                    value=m.value(),
                    timestamp_ms=m.timestamp()[1],
                    headers=m.headers(),
                )
            )
            self._pending[(m.topic(), m.partition())] = m.offset() + 1
        if self._missing_topics:
            self._recreate_topics()
        return out

    def _highs(self) -> dict[tuple[str, int], int]:
        """High watermarks of the assignment, in one ListOffsets request for all partitions
        (``get_watermark_offsets`` sends two per partition, and the broker's CPU follows requests)."""
        latest = [TopicPartition(tp.topic, tp.partition, OFFSET_END) for tp in self._consumer.assignment()]
        if not latest:
            return {}
        out = {}
        for tp in self._consumer.offsets_for_times(latest, timeout=2):
            if tp.error is not None:
                raise KafkaException(tp.error)
            out[(tp.topic, tp.partition)] = tp.offset
        return out

    def _idle_step(self) -> None:
        """Quiet for ``idle_after``: note the high watermarks, keep fetching a little longer (so
        anything written before the note is fetched), and if still nothing came, pause.

        The baseline is the watermarks themselves, not our position: Tansu reports the last
        batch's first offset + 1 as the high watermark, which a position never equals."""
        now = time.monotonic()
        if now - self._last_record < self.idle_after:
            return
        try:
            if self._marks is None:
                if self._consumer.assignment():
                    self._marks, self._marked_at = self._highs(), now
                return
            if now - self._marked_at < 3 * self._fetch_wait + 0.2:
                return  # fetches issued after the note have not all been answered yet
            parts = self._consumer.assignment()
            if {(tp.topic, tp.partition) for tp in parts} != set(self._marks):
                self._marks = None  # rebalanced meanwhile: note again
                return
            self._consumer.pause(parts)
        except KafkaException as exc:
            log.debug("idle pause skipped: %s", exc.args[0].str())
            self.resume_fetching()
            return
        self._paused, self._next_probe = True, now + self._probe_interval(now)
        self.idle_pauses += 1
        log.info("no records for %.0fs: paused fetching %s", self.idle_after, sorted(self._marks))

    def _probe_idle(self, timeout: float) -> float:
        """While paused: resume when a high watermark moved (or the assignment or the broker
        changed); return the poll timeout, cut so the next probe is on time."""
        now = time.monotonic()
        if now >= self._next_probe:
            try:
                wake = self._broker_lost or self._highs() != self._marks  # new records or a new log
            except KafkaException:
                wake = True  # the normal path deals with a broker in trouble
            if wake:
                self.resume_fetching()
                return timeout
            if now - self._marked_at > IDLE_REFRESH_S:
                # A record fetched but not yet handed out when we paused is dropped from
                # librdkafka's queue and refetched on resume, yet moves no watermark: fetch
                # again for a moment now and then, so such a record waits at most this long.
                self.resume_fetching()
                self._last_record = now - self.idle_after
                return timeout
            self._next_probe = now + self._probe_interval(now)
        return min(timeout, max(0.0, self._next_probe - now))

    def _probe_interval(self, now: float) -> float:
        """Short while records came lately (a feed with gaps), long once the stream is quiet."""
        slow = now - self._last_seen >= IDLE_SLOW_AFTER_S
        return self.idle_probe_max if slow else self.idle_probe

    @property
    def idle(self) -> bool:
        """Paused for being idle (no fetches; watermark probes only)."""
        return self._paused

    def resume_fetching(self, partitions: list[TopicPartition] | None = None) -> None:
        """End an idle pause of ``partitions`` (default: the assignment); harmless when fetching.
        A rebalance callback passes the new assignment: whether librdkafka keeps a partition
        paused across a reassignment is its business, ours is that it fetches."""
        if self._paused or partitions is not None:
            with contextlib.suppress(KafkaException):
                self._consumer.resume(partitions if partitions is not None else self._consumer.assignment())
        if self._paused:
            log.info("resumed fetching after %.1fs paused", time.monotonic() - self._marked_at)
        self._paused, self._marks = False, None
        self._last_record = time.monotonic()

    def _recreate_topics(self) -> None:
        """After a broker restart, recreate the subscribed topics this process knows the spec of."""
        self._missing_topics = False
        try:
            admin = KafkaAdmin(self.settings)
            existing = admin.list_topics()
            for topic in self.topics:
                spec = known_topic(topic)
                if topic not in existing and spec is not None:
                    admin.ensure_topic(spec.name, spec.partitions, spec.retention_ms)
        except BrokerError as exc:
            log.info("cannot recreate topics yet: %s", exc)

    def commit(self) -> None:
        """Commit (synchronously) the offsets after every message returned so far."""
        if not self._pending:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._pending.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() == KafkaError._NO_OFFSET:
                return
            raise BrokerError(f"commit failed: {err.str()}") from None
        self._committed.update(self._pending)
        self._pending.clear()

    def assignment(self) -> list[tuple[str, int]]:
        return [(tp.topic, tp.partition) for tp in self._consumer.assignment()]

    def wait_assigned(self, timeout: float = 30.0) -> None:
        """Poll (without consuming records away) until the group has given us partitions."""
        deadline = time.monotonic() + timeout
        while not self._consumer.assignment():
            if time.monotonic() > deadline:
                raise BrokerError(f"no partitions assigned within {timeout}s")
            msgs = self._consumer.consume(num_messages=1, timeout=0.1)
            if msgs:  # pragma: no cover - seek back what we peeked
                m = msgs[0]
                if m.error() is None:
                    self._consumer.seek(TopicPartition(m.topic(), m.partition(), m.offset()))

    def close(self) -> None:
        """Leave the group without committing anything not yet committed."""
        with contextlib.suppress(KafkaException, RuntimeError):  # already closed
            self._consumer.close()

    def __enter__(self) -> BatchConsumer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
