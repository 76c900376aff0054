"""Readiness probes for the parts of the stack, cheap enough to poll every 50 ms."""

from __future__ import annotations

import socket
from urllib.parse import urlparse

import httpx


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def kafka_ready(bootstrap: str, timeout: float = 1.0) -> bool:
    """A metadata round trip, not just an open port."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    host, _, port = bootstrap.split(",")[0].rpartition(":")
    if not tcp_open(host, int(port)):
        return False
    try:
        AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=timeout)
        return True
    except KafkaException:
        return False


def http_ok(url: str, timeout: float = 1.0, accept: tuple[int, ...] = (200,)) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code in accept
    except httpx.HTTPError:
        return False


def s3_ready(endpoint: str, timeout: float = 1.0) -> bool:
    """SeaweedFS/MinIO answer an unsigned request with 403 once the gateway is up."""
    parsed = urlparse(endpoint)
    if not tcp_open(parsed.hostname or "127.0.0.1", parsed.port or 80):
        return False
    return http_ok(endpoint, timeout, accept=(200, 403))
