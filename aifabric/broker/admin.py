"""Topic lifecycle. Every topic ensured through a :class:`KafkaAdmin` is remembered, so it can
be recreated with the same partitions and retention when a memory-only broker restarts."""

from __future__ import annotations

import threading
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from pydantic import BaseModel, Field

from aifabric.broker.client import client_config
from aifabric.config import Settings
from aifabric.errors import BrokerError, InvalidRequest, NotFound


class TopicSpec(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")
    partitions: int = Field(3, ge=1, le=1000)
    retention_ms: int = Field(7 * 24 * 3600 * 1000, ge=-1)


class TopicInfo(BaseModel):
    name: str
    partitions: int
    retention_ms: int | None = None


_known: dict[str, TopicSpec] = {}
_known_lock = threading.Lock()


def known_topic(name: str) -> TopicSpec | None:
    """The spec this process last ensured for ``name`` (used to recreate it after a restart)."""
    with _known_lock:
        return _known.get(name)


class KafkaAdmin:
    """Create, describe, list and delete topics."""

    def __init__(self, settings: Settings, timeout: float = 10.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._client = AdminClient(client_config(settings))

    def _wait(self, futures: dict, what: str) -> None:
        for name, fut in futures.items():
            try:
                fut.result(timeout=self.timeout)
            except KafkaException as exc:
                err: KafkaError = exc.args[0]
                if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                if err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise NotFound(f"topic {name!r} does not exist") from None
                raise BrokerError(f"{what} {name!r} failed: {err.str()}") from None
            except TimeoutError:
                raise BrokerError(f"{what} {name!r}: broker did not answer in {self.timeout}s") from None

    def ensure_topic(
        self, name: str, partitions: int | None = None, retention_ms: int | None = None
    ) -> TopicSpec:
        """Create the topic if it is missing (idempotent) and remember its spec."""
        try:
            spec = TopicSpec(
                name=name,
                partitions=partitions or self.settings.kafka.default_partitions,
                retention_ms=retention_ms
                if retention_ms is not None
                else self.settings.kafka.default_retention_ms,
            )
        except ValueError as exc:
            raise InvalidRequest(f"bad topic spec for {name!r}: {exc}") from None
        with _known_lock:
            _known[name] = spec
        if name not in self.list_topics():
            topic = NewTopic(
                name,
                num_partitions=spec.partitions,
                replication_factor=1,
                config={"retention.ms": str(spec.retention_ms)},
            )
            self._wait(self._client.create_topics([topic], request_timeout=self.timeout), "create topic")
            self._await_metadata(name)
        return spec

    def _await_metadata(self, name: str) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if name in self.list_topics():
                return
            time.sleep(0.05)
        raise BrokerError(f"topic {name!r} created but not visible after {self.timeout}s")

    def recreate_known(self) -> list[str]:
        """Recreate every remembered topic that the broker no longer has."""
        existing = self.list_topics()
        with _known_lock:
            missing = [spec for name, spec in _known.items() if name not in existing]
        for spec in missing:
            self.ensure_topic(spec.name, spec.partitions, spec.retention_ms)
        return [spec.name for spec in missing]

    def list_topics(self) -> set[str]:
        try:
            meta = self._client.list_topics(timeout=self.timeout)
        except KafkaException as exc:
            raise BrokerError(f"cannot list topics: {exc.args[0].str()}") from None
        return {name for name in meta.topics if not name.startswith("__")}

    def describe_topic(self, name: str) -> TopicInfo:
        try:
            # a metadata request naming the topic may auto-create it on some brokers: list all
            meta = self._client.list_topics(timeout=self.timeout)
        except KafkaException as exc:
            raise BrokerError(f"cannot describe {name!r}: {exc.args[0].str()}") from None
        topic = meta.topics.get(name)
        if topic is None or topic.error is not None or not topic.partitions:
            raise NotFound(f"topic {name!r} does not exist")
        retention = None
        try:
            res = ConfigResource(ConfigResource.Type.TOPIC, name)
            configs = self._client.describe_configs([res], request_timeout=self.timeout)[res].result(
                timeout=self.timeout
            )
            if "retention.ms" in configs and configs["retention.ms"].value is not None:
                retention = int(configs["retention.ms"].value)
        except (KafkaException, TimeoutError, ValueError):
            spec = known_topic(name)
            retention = spec.retention_ms if spec else None
        return TopicInfo(name=name, partitions=len(topic.partitions), retention_ms=retention)

    def delete_topic(self, name: str) -> None:
        with _known_lock:
            _known.pop(name, None)
        self._wait(self._client.delete_topics([name], request_timeout=self.timeout), "delete topic")
        deadline = time.monotonic() + self.timeout
        while name in self.list_topics():
            if time.monotonic() > deadline:
                raise BrokerError(f"topic {name!r} still listed {self.timeout}s after deletion")
            time.sleep(0.05)
