"""Pydantic schemas at the collector's boundary (API, CLI, service)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aifabric.adapters.base import StreamFilters
from aifabric.collector.downsample import Aggregation

SourceDomain = Literal["core", "ran", "edge"]
SOURCE_ALIASES = {"nwdaf": "core", "flexric": "ran", "5gc": "core"}


class JobState(StrEnum):
    pending = "pending"
    running = "running"
    stopped = "stopped"
    failed = "failed"


class StreamState(StrEnum):
    idle = "idle"
    active = "active"


def as_utc(ts: datetime | None) -> datetime | None:
    """Aware UTC (SQLite hands back naive datetimes; a naive input is taken as UTC)."""
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


class CollectionCreate(BaseModel):
    """A collection request: what to collect, from which source domain, how often, when."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=128)
    source: SourceDomain = Field(description="core (NWDAF), ran (FlexRIC) or edge (Edge Agent)")
    metrics: list[str] = Field(min_length=1, max_length=64, examples=[["NUM_OF_UE"]])
    filters: StreamFilters = Field(default_factory=StreamFilters)
    period_s: float = Field(gt=0, le=86_400, description="extraction period in seconds")
    start: datetime | None = Field(None, description="when to begin; default now")
    stop: datetime | None = Field(None, description="when to end; default open-ended")
    adapter: dict[str, Any] | None = Field(
        None,
        description="adapter config with a 'type' (nwdaf, flexric, edge or a dotted class path); "
        "default: the domain's adapter pointed at the embedded simulator",
    )
    aggregation: Aggregation | None = Field(
        None,
        description="when the request is served by downsampling a finer running stream: how the fine "
        "records of one period are combined (last: the sample a direct subscription would report, "
        "right for gauges and ratios; sum: per-period volumes; mean, max, min). Default: last",
    )

    @field_validator("source", mode="before")
    @classmethod
    def _alias(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip().lower()
            return SOURCE_ALIASES.get(v, v)
        return v

    @field_validator("start", "stop")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return as_utc(v)

    @field_validator("metrics")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return sorted(set(v))


class DerivedFrom(BaseModel):
    """A collection served by downsampling a finer running stream (no upstream subscription of its own)."""

    stream_id: str
    topic: str
    period_s: float
    aggregation: Aggregation
    bucket: str = Field(
        "records are time-stamped with the start of their period, aligned to epoch multiples of period_s"
    )


class CollectionPublic(BaseModel):
    id: str
    name: str | None
    tenant: str
    source: SourceDomain
    adapter_type: str
    metrics: list[str]
    filters: dict[str, Any]
    period_s: float
    start: datetime
    stop: datetime | None
    state: JobState
    reason: str | None = None
    topic: str
    stream_id: str
    stream_users: int = Field(description="running collections sharing this stream's topic")
    derived_from: DerivedFrom | None = Field(
        None, description="set when this collection is downsampled from a finer stream"
    )
    derived_streams: int = Field(
        0, description="running coarser streams downsampled from this stream's topic (they keep it alive)"
    )
    degraded: bool = False
    degraded_reason: str | None = None
    records_published: int = 0
    dead_letters: int = 0
    last_record_at: datetime | None = None
    created_at: datetime
    started_at: datetime | None = None
    stopped_at: datetime | None = None


class CollectionsPublic(BaseModel):
    data: list[CollectionPublic]
    count: int


class TopicPublic(BaseModel):
    name: str
    partitions: int
    messages: int = Field(description="messages retained (sum of high - low watermarks)")


class TopicsPublic(BaseModel):
    data: list[TopicPublic]
    count: int


class TopicPeek(BaseModel):
    topic: str
    records: list[dict[str, Any]]
    undecodable: int = Field(0, description="messages that are not valid records (shown raw in records)")


class PersistRequest(BaseModel):
    """Persist a collection's stream (a time range of it) as a dataset version for training."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", examples=["nwdaf-num-of-ue"])
    start: datetime | None = None
    end: datetime | None = None
    description: str = ""

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return as_utc(v)
