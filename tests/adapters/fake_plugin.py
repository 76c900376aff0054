"""A plugin adapter outside the package: reached by its dotted path, as a user's would be."""

from __future__ import annotations

from typing import Literal

from aifabric.adapters.base import Adapter, AdapterConfig, RecordBatch, parse_json


class FakeAdapterConfig(AdapterConfig):
    type: Literal["fake"] = "fake"
    label: str = "x"


class FakeAdapter(Adapter):
    domain = "edge"
    source = "Fake"
    config_class = FakeAdapterConfig
    metrics = frozenset({"ticks"})

    def normalize(self, payload: bytes) -> RecordBatch:
        batch = RecordBatch(self.source)
        for i, value in enumerate(parse_json(payload)):
            batch.add("ticks", batch.labels({"label": self.config.label}), 1_700_000_000_000 + i, value)
        return batch

    def step(self) -> float:
        self.ingest(b"[1, 2, 3]")
        return self.params.period_s


class NotAnAdapter:
    pass
