"""SQL metadata of datasets and their immutable, content-addressed versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aifabric.persistence.db import Base, TenantMixin, TimestampMixin


def _id() -> str:
    return uuid.uuid4().hex


class DatasetRow(TenantMixin, TimestampMixin, Base):
    """A named dataset of one tenant; its content lives in versions."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_datasets_tenant_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_id)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    versions: Mapped[list[DatasetVersionRow]] = relationship(
        back_populates="dataset", order_by="DatasetVersionRow.version", cascade="all, delete-orphan"
    )


class DatasetVersionRow(TenantMixin, TimestampMixin, Base):
    """One immutable upload: the canonical table at ``uri``, addressed by its SHA-256 ``checksum``."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_number"),
        UniqueConstraint("dataset_id", "checksum", name="uq_dataset_versions_checksum"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_id)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    checksum: Mapped[str] = mapped_column(String(64), index=True)
    uri: Mapped[str] = mapped_column(String(512))
    format: Mapped[str] = mapped_column(String(16))
    schema_: Mapped[dict[str, Any]] = mapped_column("schema", JSON)
    row_count: Mapped[int] = mapped_column(BigInteger)
    series_count: Mapped[int] = mapped_column(Integer)
    labelled_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    time_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    time_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    slot_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    source: Mapped[dict[str, Any]] = mapped_column(JSON)
    uploaded_by: Mapped[str] = mapped_column(String(128), default="")
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dataset: Mapped[DatasetRow] = relationship(back_populates="versions")
