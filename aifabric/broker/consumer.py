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
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from aifabric.broker.admin import KafkaAdmin, known_topic
from aifabric.broker.client import consumer_config
from aifabric.config import Settings
from aifabric.errors import BrokerError

log = logging.getLogger("aifabric.broker.consumer")


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

    def __init__(self, settings: Settings, group_id: str, topics: Sequence[str], **overrides) -> None:
        self.settings = settings
        self.topics = list(topics)
        self._consumer = Consumer(consumer_config(settings, group_id, error_cb=self._on_error, **overrides))
        self._consumer.subscribe(self.topics)
        self._pending: dict[tuple[str, int], int] = {}
        self._missing_topics = False
        self._broker_lost = False
        self._committed: dict[tuple[str, int], int] = {}

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
        if self._broker_lost:
            self._rewind_if_broker_restarted()
        try:
            raw = self._consumer.consume(num_messages=max_records, timeout=timeout)
        except KafkaException as exc:
            raise BrokerError(f"consume failed: {exc.args[0].str()}") from None
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
