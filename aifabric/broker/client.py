"""librdkafka settings shared by every client, tuned for quick group joins and recovery."""

from __future__ import annotations

import logging
from typing import Any

from aifabric.config import Settings

log = logging.getLogger("aifabric.broker")


def client_config(settings: Settings) -> dict[str, Any]:
    """Connection settings common to admin, producer and consumer."""
    s = settings.resolved()
    return {
        "bootstrap.servers": s.kafka.bootstrap_servers,
        "security.protocol": s.kafka.security_protocol,
        # Notice a recreated topic within seconds after a broker restart.
        "topic.metadata.refresh.interval.ms": 2000,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 2000,
        "socket.keepalive.enable": True,
        "log_level": 4,  # librdkafka warnings and worse, on stderr (the process log file)
    }


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Idempotent, acks=all, small linger: ordered per series and no duplicates from retries."""
    cfg = client_config(settings) | {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 500000,
        "queue.buffering.max.kbytes": 262144,
        "message.timeout.ms": 120000,
        "retry.backoff.ms": 100,
        # Topics are created by KafkaAdmin with their spec, never implicitly by a produce.
        "allow.auto.create.topics": False,
        "topic.metadata.propagation.max.ms": 5000,
        # Failures only: RecordProducer counts acknowledgements without a callback per record.
        "delivery.report.only.error": True,
    }
    return cfg | overrides


def consumer_config(settings: Settings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """Manual commits (at-least-once); short session/heartbeat/fetch wait so Tansu answers in seconds."""
    cfg = client_config(settings) | {
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "fetch.wait.max.ms": 10,
        "fetch.min.bytes": 1,
        "partition.assignment.strategy": "range",
        "allow.auto.create.topics": False,
    }
    return cfg | overrides
