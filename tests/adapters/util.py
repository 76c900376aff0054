"""Test helper: an in-memory sink for what an adapter publishes."""

from __future__ import annotations

import threading
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
