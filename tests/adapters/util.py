"""Test helpers: an in-memory sink and polling with a deadline (no sleeps as synchronisation)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from aifabric.records import Record, decode

T = TypeVar("T")


class MemorySink:
    """Collects what an adapter publishes; records are decoded with the strict model."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []
        self.dead: list[tuple[bytes, str]] = []
        self._lock = threading.Lock()

    def publish(self, items: list[tuple[str, bytes]]) -> None:
        with self._lock:
            self.items.extend(items)

    def dead_letter(self, raw: bytes, reason: str) -> None:
        with self._lock:
            self.dead.append((raw, reason))

    def records(self) -> list[Record]:
        with self._lock:
            out = [decode(v) for _, v in self.items]
        for (key, _), rec in zip(self.items, out, strict=True):
            assert rec.key == key, f"message key {key!r} is not the series key {rec.key!r}"
        return out


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)
