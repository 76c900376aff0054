"""At-least-once batch consumer: offsets are committed only when the caller says the batch is
handled, so a consumer that dies mid-batch has its records delivered again."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from pydantic import BaseModel, ConfigDict

from aifabric.broker.admin import KafkaAdmin, known_topic
from aifabric.broker.client import consumer_config
from aifabric.config import Settings
from aifabric.errors import BrokerError

log = logging.getLogger("aifabric.broker.consumer")


class Message(BaseModel):
    """One consumed message, detached from librdkafka."""

    model_config = ConfigDict(frozen=True)

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

    def _on_error(self, err: KafkaError) -> None:
        if err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
            self._missing_topics = True
        log.debug("consumer error: %s", err.str())

    def poll_batch(self, max_records: int = 1000, timeout: float = 1.0) -> list[Message]:
        """Up to ``max_records`` messages, waiting at most ``timeout`` seconds for the first."""
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
