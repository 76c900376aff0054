"""Idempotent record producer that rides out a broker restart.

librdkafka retries transient errors itself. Two failures need us: a memory-only broker that
restarted has forgotten our topics (we recreate the ones this process ensured and resend),
and an idempotent producer whose producer id the broker forgot can livelock bumping its epoch
(Tansu answers UNKNOWN_PRODUCER_ID forever) or hit a fatal error. When nothing is acknowledged
for ``STALL_S`` seconds we build a new producer and resend what was not acknowledged
(at-least-once: a purged in-flight message may have been written once already).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException, Producer

from aifabric.broker.admin import KafkaAdmin, known_topic
from aifabric.broker.client import producer_config
from aifabric.config import Settings
from aifabric.errors import BrokerError
from aifabric.records import Record, encode

log = logging.getLogger("aifabric.broker.producer")

STALL_S = 5.0


def _is_fatal(err: KafkaError) -> bool:
    """A fatal error, or any call on a producer already in the fatal state (``_FATAL``)."""
    return err.fatal() or err.code() == KafkaError._FATAL


class RecordProducer:
    """Publishes records keyed by series (one series, one partition, in order)."""

    def __init__(self, settings: Settings, **overrides) -> None:
        self.settings = settings
        self._overrides = overrides
        self._producer = self._new_producer()
        self._admin_client: KafkaAdmin | None = None  # only after a broker restart: see _admin
        self._lock = threading.RLock()  # delivery callbacks may run inside our own calls
        self._failed: list[tuple[str, bytes | None, bytes, list | None]] = []
        self.queued = 0
        self.errors = 0
        self._progress_mark = (0, time.monotonic())
        self._closed = False

    @property
    def _admin(self) -> KafkaAdmin:
        """Created on first use (recreating lost topics): an idle admin client is two more
        librdkafka threads and a metadata refresh every two seconds for nothing."""
        if self._admin_client is None:
            self._admin_client = KafkaAdmin(self.settings)
        return self._admin_client

    def _new_producer(self) -> Producer:
        return Producer(producer_config(self.settings, error_cb=self._on_error, **self._overrides))

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            log.warning("producer fatal error, will rebuild: %s", err.str())
        elif err.code() not in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
            log.debug("producer error: %s", err.str())

    @property
    def delivered(self) -> int:
        """Messages acknowledged so far. Reports come only for failures
        (``delivery.report.only.error``: a Python callback per record cost more than the rest of
        publishing), so this is what was queued less what failed and what is still outstanding;
        a rebuilt producer's purged messages were reported as failures first."""
        return self.queued - self.errors - len(self._producer)

    def _on_delivery(self, err: KafkaError | None, msg) -> None:
        if err is None:
            return
        self.errors += 1
        with self._lock:
            self._failed.append((msg.topic(), msg.key(), msg.value(), msg.headers()))

    def send_raw(
        self, topic: str, key: bytes | str | None, value: bytes, headers: list | dict | None = None
    ) -> None:
        """Queue one message; blocks briefly when the local queue is full."""
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery
                )
                self.queued += 1
                return
            except BufferError:
                self._serve(0.05)
                self._check_stall()
            except KafkaException as exc:
                err = exc.args[0]
                if _is_fatal(err):
                    self._rebuild()
                    continue
                if err.code() in (
                    KafkaError._UNKNOWN_TOPIC,
                    KafkaError.UNKNOWN_TOPIC_OR_PART,
                ) and known_topic(topic):
                    # our topic vanished with a broker restart: keep it for the next flush round
                    with self._lock:
                        self._failed.append((topic, key, value, headers))
                    return
                raise BrokerError(f"produce to {topic!r} failed: {err.str()}") from None

    def send(self, record: Record, topic: str) -> None:
        self.send_raw(topic, record.key, encode(record))

    def send_many(self, records: Iterable[Record], topic: str) -> int:
        n = 0
        for record in records:
            self.send_raw(topic, record.key, encode(record))
            n += 1
            if n % 10000 == 0:
                self._serve(0)
        return n

    def send_batch(self, topic: str, items: list[tuple[str | bytes, bytes]], chunk: int = 10_000) -> None:
        """Queue many ``(key, value)`` pairs with one ``produce_batch`` call per chunk (about 1.5x the
        one-by-one rate); keyed messages land on the same partitions as with :meth:`send_raw`."""
        for i in range(0, len(items), chunk):
            msgs = [{"key": k, "value": v} for k, v in items[i : i + chunk]]
            try:
                self.queued += self._producer.produce_batch(topic, msgs, on_delivery=self._on_delivery)
            except BufferError:
                msgs = [{**m, "_error": "queue full"} for m in msgs]
            for m in msgs:
                if "_error" in m:  # not queued (local queue full or unknown topic): the one-by-one path
                    self.send_raw(topic, m["key"], m["value"])
            self._serve(0)

    def poll(self, timeout: float = 0) -> None:
        self._serve(timeout)

    def _serve(self, timeout: float, flush: bool = False) -> int:
        """Serve delivery callbacks; a fatal idempotence error rebuilds the producer."""
        try:
            if flush:
                return self._producer.flush(timeout)
            self._producer.poll(timeout)
        except KafkaException as exc:
            if not _is_fatal(exc.args[0]):
                raise BrokerError(f"producer failed: {exc.args[0].str()}") from None
            log.warning("producer fatal error (%s): rebuilding", exc.args[0].str())
            self._rebuild()
        return len(self._producer)

    def _check_stall(self) -> None:
        """Recreate lost topics, then rebuild the producer, when acknowledgements stop coming."""
        delivered, since = self._progress_mark
        now = time.monotonic()
        if self.delivered != delivered or len(self._producer) == 0:
            self._progress_mark = (self.delivered, now)
            return
        if now - since > STALL_S / 2:
            try:
                self._admin.recreate_known()
            except BrokerError:
                return  # broker still down: keep waiting
        if now - since > STALL_S:
            log.warning("no acknowledgement for %.0fs: rebuilding the producer", now - since)
            self._rebuild()
            self._progress_mark = (self.delivered, now)
            self._retry_failed()

    def _rebuild(self) -> None:
        """Replace a producer that hit a fatal (idempotence) error; requeue its undelivered messages.

        Every message the old producer still holds must come back through :meth:`_on_delivery`
        as a purge error (and so be resent) before it is dropped: a report left unserved is a
        message lost while the caller believes it acknowledged. The new producer is made only
        then, so the broker never sees the two producer ids' requests interleaved.
        """
        old = self._producer
        with contextlib.suppress(KafkaException):
            old.purge(in_queue=True, in_flight=True)
        deadline = time.monotonic() + STALL_S
        while len(old) and time.monotonic() < deadline:
            try:
                old.poll(0.05)
            except KafkaException:
                continue
        if len(old):
            log.error("%d messages of the replaced producer were never reported", len(old))
        self._producer = self._new_producer()

    def _retry_failed(self) -> int:
        with self._lock:
            failed, self._failed = self._failed, []
        if not failed:
            return 0
        topics = {topic for topic, *_ in failed}
        try:
            existing = self._admin.list_topics()
        except BrokerError:
            existing = set()
        for topic in topics - existing:
            spec = known_topic(topic)
            if spec is not None:
                log.info("topic %s vanished (broker restart?): recreating", topic)
                self._admin.ensure_topic(spec.name, spec.partitions, spec.retention_ms)
        for topic, key, value, headers in failed:
            self.send_raw(topic, key, value, headers)
        return len(failed)

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every queued message is acknowledged (acks=all), resending failures."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = self._serve(max(0.0, min(0.5, deadline - time.monotonic())), flush=True)
            resent = self._retry_failed()
            if remaining == 0 and resent == 0:
                return
            if time.monotonic() > deadline:
                raise BrokerError(f"{remaining + resent} messages not acknowledged within {timeout}s")
            if resent:
                self._serve(0.2)  # back off while metadata of a recreated topic propagates
            self._check_stall()

    def close(self, timeout: float = 30.0) -> None:
        """Flush (:class:`BrokerError` if not everything is acknowledged in time), then release
        the librdkafka handles at once: left to the garbage collector (the error callback makes
        a reference cycle) their threads live on, reconnecting and logging after the broker is gone."""
        if self._closed:
            return
        try:
            self.flush(timeout)
        finally:
            self._closed = True
            self._admin_client = None
            if len(self._producer):  # flush has raised: what is left will not be acknowledged
                self._producer.purge(in_queue=True, in_flight=True)
            self._producer.close()

    def __enter__(self) -> RecordProducer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
