"""SQL tables of the serving subsystem: deployments, their components, and deploy timings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aifabric.persistence.db import Base, TenantMixin, TimestampMixin, utcnow

__all__ = ["ComponentRow", "DeploymentRow", "TimingRow"]


class DeploymentRow(TenantMixin, TimestampMixin, Base):
    __tablename__ = "serving_deployments"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_serving_deployment_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    backend: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")
    requested: Mapped[str] = mapped_column(String(512))
    model_name: Mapped[str] = mapped_column(String(256))
    model_version: Mapped[str] = mapped_column(String(64))
    model_uri: Mapped[str] = mapped_column(String(1024))
    topics: Mapped[list] = mapped_column(JSON)
    results_topic: Mapped[str] = mapped_column(String(249))
    group_id: Mapped[str] = mapped_column(String(256))
    metric_ids: Mapped[list] = mapped_column(JSON, default=list)
    max_lateness_ms: Mapped[int] = mapped_column(Integer, default=3_600_000)

    components: Mapped[list[ComponentRow]] = relationship(
        back_populates="deployment", cascade="all, delete-orphan", order_by="ComponentRow.component"
    )
    timings: Mapped[list[TimingRow]] = relationship(
        back_populates="deployment", cascade="all, delete-orphan", order_by="TimingRow.id"
    )


class ComponentRow(Base):
    """Last known state of one component (predictor or consumer) of a deployment."""

    __tablename__ = "serving_components"
    __table_args__ = (UniqueConstraint("deployment_id", "component", name="uq_serving_component"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("serving_deployments.id", ondelete="CASCADE"), index=True
    )
    component: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    endpoint: Mapped[str] = mapped_column(String(256), default="")
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    restarts: Mapped[int] = mapped_column(Integer, default=0)

    deployment: Mapped[DeploymentRow] = relationship(back_populates="components")


class TimingRow(Base):
    """Request -> ready times of one deploy or redeploy (the paper's Table I)."""

    __tablename__ = "serving_timings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("serving_deployments.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    model_version: Mapped[str] = mapped_column(String(64))
    model_ms: Mapped[float] = mapped_column(Float)
    consumer_ms: Mapped[float] = mapped_column(Float)
    combined_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    deployment: Mapped[DeploymentRow] = relationship(back_populates="timings")
