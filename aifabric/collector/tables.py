"""Collector state in SQL: it survives a restart of the collector (running jobs resume).

A *job* is one user's collection request; a *stream* is one upstream subscription feeding one
topic, shared by every job with the same signature (tenant, source, adapter, metrics, filters,
period). A *derived* stream (``parent_id`` set) has no upstream subscription of its own: it
downsamples its parent's topic to a coarser period (``aggregation``), keeps its parent running
while it has running jobs, and persists where it resumes (``resume``). A stream's user count is
the number of its running jobs, counted in SQL, so the API process (which creates and stops jobs)
and the collector process (which runs streams) never race on a counter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aifabric.persistence.db import Base, TenantMixin, TimestampMixin


class CollectionStream(TenantMixin, TimestampMixin, Base):
    __tablename__ = "collection_streams"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    signature: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    domain: Mapped[str] = mapped_column(String(16))
    adapter_type: Mapped[str] = mapped_column(String(255))
    adapter_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    metrics: Mapped[list[str]] = mapped_column(JSON)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)
    period_s: Mapped[float] = mapped_column(Float)
    topic: Mapped[str] = mapped_column(String(249))
    state: Mapped[str] = mapped_column(String(16), default="idle", index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    upstream_ref: Mapped[str | None] = mapped_column(Text, nullable=True)
    subscriptions: Mapped[int] = mapped_column(Integer, default=0)
    records_published: Mapped[int] = mapped_column(BigInteger, default=0)
    dead_letters: Mapped[int] = mapped_column(BigInteger, default=0)
    upstream_calls: Mapped[int] = mapped_column(BigInteger, default=0)
    last_record_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    degraded_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("collection_streams.id"), nullable=True, index=True
    )
    aggregation: Mapped[str | None] = mapped_column(String(16), nullable=True)
    resume: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class CollectionJob(TenantMixin, TimestampMixin, Base):
    __tablename__ = "collection_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    stream_id: Mapped[str] = mapped_column(ForeignKey("collection_streams.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stop_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    records_base: Mapped[int] = mapped_column(BigInteger, default=0)
    records_published: Mapped[int] = mapped_column(BigInteger, default=0)
