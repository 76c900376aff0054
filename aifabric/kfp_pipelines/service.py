"""Training runs, callable without HTTP: start (returns at once), status, list, stop.

``start_training`` checks the request (dataset version, definition), records a
:class:`TrainingRunRow` and launches a worker process (``python -m aifabric.kfp_pipelines.worker``)
that runs the pipeline (``kfp.local``, or ``kfp.Client`` when ``settings.kfp.host`` is set) and
writes the outcome back. A separate process keeps TensorFlow and the pipeline's memory out of the
API process. Progress (epochs done) is read from the MLflow run's ``loss`` history, the same
numbers the MLflow UI shows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from aifabric.config import Settings
from aifabric.datasets.refs import REF_PATTERN
from aifabric.errors import Conflict, InvalidRequest, NotFound
from aifabric.kfp_pipelines.config import Gate, PipelineConfig
from aifabric.models.registry import DEFAULT_DEFINITION
from aifabric.persistence.db import Base, TenantMixin, TimestampMixin, utcnow

__all__ = [
    "TrainingCreate",
    "TrainingProgress",
    "TrainingPublic",
    "TrainingRunRow",
    "get_training",
    "list_trainings",
    "shutdown",
    "start_training",
    "stop_training",
    "wait_training",
]

Status = Literal["queued", "running", "succeeded", "failed", "stopped"]
FINAL = ("succeeded", "failed", "stopped")


class TrainingRunRow(TenantMixin, TimestampMixin, Base):
    __tablename__ = "training_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: uuid.uuid4().hex)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    runner: Mapped[str] = mapped_column(String(16), default="local")
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    log_file: Mapped[str] = mapped_column(String(512), default="")
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    mlflow_url: Mapped[str | None] = mapped_column(String(512), nullable=True)
    kfp_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    bundle_uri: Mapped[str | None] = mapped_column(String(512), nullable=True)
    alias: Mapped[str | None] = mapped_column(String(64), nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class TrainingCreate(BaseModel):
    """A training request (``POST /training``)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    dataset: str = Field(
        examples=["milan@1"], pattern=REF_PATTERN, description="'name@N', 'name' (latest) or a version id"
    )
    definition: str = Field(
        DEFAULT_DEFINITION, description="built-in name, 'module:Class', or an onboarded definition"
    )
    model_name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    metric: str | None = None
    series: list[str] | None = Field(None, max_length=10_000)
    train_params: dict[str, Any] = Field(default_factory=dict, examples=[{"epochs": 5}])
    val_fraction: float = Field(0.15, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.15, ge=0.0, lt=0.5)
    threshold: float = Field(0.99, ge=0.0, le=1.0)
    gate: Gate = Gate()
    alias: str = Field("champion", pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


class TrainingProgress(BaseModel):
    epochs_done: int
    epochs_total: int | None
    loss: float | None = None
    val_loss: float | None = None


class TrainingPublic(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    id: str
    status: Status
    dataset: str
    definition: str
    runner: str
    mlflow_run_id: str | None
    mlflow_url: str | None
    kfp_run_id: str | None
    model_name: str | None
    model_version: str | None
    bundle_uri: str | None
    alias: str | None
    metrics: dict[str, Any]
    progress: TrainingProgress | None = None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


_PROCS: dict[str, subprocess.Popen] = {}
_LOCK = threading.Lock()


def _public(row: TrainingRunRow, progress: TrainingProgress | None = None) -> TrainingPublic:
    return TrainingPublic(
        id=row.id,
        status=row.status,  # type: ignore[arg-type]
        dataset=row.config.get("dataset", ""),
        definition=row.config.get("definition", ""),
        runner=row.runner,
        mlflow_run_id=row.mlflow_run_id,
        mlflow_url=row.mlflow_url,
        kfp_run_id=row.kfp_run_id,
        model_name=row.model_name,
        model_version=row.model_version,
        bundle_uri=row.bundle_uri,
        alias=row.alias,
        metrics=row.metrics or {},
        progress=progress,
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


def start_training(
    session: Session, settings: Settings, *, tenant: str, create: TrainingCreate
) -> TrainingPublic:
    """Validate, record and launch a training run; returns immediately with its id (status ``queued``).

    Raises:
        NotFound: the dataset version or an onboarded definition does not exist.
        InvalidRequest: an unknown definition or parameter.
    """
    from aifabric.datasets.service import get_version
    from aifabric.models.catalog import resolve_definition
    from aifabric.models.registry import load_definition

    version = get_version(session, tenant=tenant, ref=create.dataset)
    definition, definition_uri = resolve_definition(session, tenant=tenant, name=create.definition)
    if definition_uri is None:
        load_definition(definition)().params(create.train_params)  # unknown parameters fail now
    if create.metric and create.metric not in version.dataset_schema.metrics:
        raise InvalidRequest(f"dataset {version.ref} has no metric {create.metric!r}")
    config = PipelineConfig(
        dataset=version.ref,
        tenant=tenant,
        definition=definition,
        definition_uri=definition_uri,
        **create.model_dump(exclude={"dataset", "definition"}),
    )
    row = TrainingRunRow(
        tenant=tenant,
        config=config.model_dump(mode="json"),
        runner="kfp" if settings.kfp.host else "local",
    )
    session.add(row)
    session.commit()
    _launch(session, settings, row)
    return _public(row)


def _launch(session: Session, settings: Settings, row: TrainingRunRow) -> None:
    from aifabric.runtime.services import settings_env

    settings.log_dir.mkdir(parents=True, exist_ok=True)
    log_file = settings.log_dir / f"training-{row.id}.log"
    env = {
        **os.environ,
        **settings_env(settings),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "MLFLOW_ENABLE_TELEMETRY": "false",
    }
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aifabric.kfp_pipelines.worker", row.id],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    with _LOCK:
        _PROCS[row.id] = proc
    row.pid, row.log_file = proc.pid, str(log_file)
    session.commit()


def _row(session: Session, tenant: str, training_id: str) -> TrainingRunRow:
    row = session.get(TrainingRunRow, training_id)
    if row is None or row.tenant != tenant:
        raise NotFound(f"training run {training_id!r} does not exist")
    return row


def _alive(row: TrainingRunRow) -> bool:
    with _LOCK:
        proc = _PROCS.get(row.id)
    if proc is not None:
        return proc.poll() is None
    if not row.pid:
        return False
    try:
        os.kill(row.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _progress(settings: Settings, row: TrainingRunRow) -> TrainingProgress | None:
    if not row.mlflow_run_id:
        return None
    try:
        import mlflow

        from aifabric.models.registry import load_definition

        client = mlflow.MlflowClient(tracking_uri=settings.resolved().mlflow.tracking_uri)
        losses = client.get_metric_history(row.mlflow_run_id, "loss")
        val = client.get_metric_history(row.mlflow_run_id, "val_loss")
    except Exception:  # progress is best effort: MLflow being slow must not fail a status call
        return None
    total = row.config.get("train_params", {}).get("epochs")
    if total is None and not row.config.get("definition_uri"):
        try:
            total = load_definition(row.config["definition"]).default_params.get("epochs")
        except InvalidRequest:
            total = None
    return TrainingProgress(
        epochs_done=len(losses),
        epochs_total=int(total) if total is not None else None,
        loss=max(losses, key=lambda m: m.step).value if losses else None,
        val_loss=max(val, key=lambda m: m.step).value if val else None,
    )


def get_training(session: Session, settings: Settings, *, tenant: str, training_id: str) -> TrainingPublic:
    """Status, metrics, model version and MLflow link; a worker that died is reported as failed."""
    row = _row(session, tenant, training_id)
    session.refresh(row)
    if row.status in ("queued", "running") and not _alive(row):
        session.refresh(row)  # the worker may have just written its final state
        if row.status in ("queued", "running"):
            row.status, row.finished_at = "failed", utcnow()
            row.error = f"the training worker exited unexpectedly; see {row.log_file}"
            session.commit()
    return _public(row, _progress(settings, row) if row.status != "queued" else None)


def list_trainings(session: Session, *, tenant: str, limit: int = 100) -> list[TrainingPublic]:
    rows = session.scalars(
        select(TrainingRunRow)
        .where(TrainingRunRow.tenant == tenant)
        .order_by(TrainingRunRow.created_at.desc())
        .limit(limit)
    )
    return [_public(r) for r in rows]


def _terminate(proc_pid: int, proc: subprocess.Popen | None, timeout: float) -> None:
    import signal

    try:
        os.killpg(proc_pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return
        else:
            try:
                os.kill(proc_pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.05)
    try:
        os.killpg(proc_pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if proc is not None:
        proc.wait(5)


def stop_training(
    session: Session, settings: Settings, *, tenant: str, training_id: str, timeout: float = 10.0
) -> TrainingPublic:
    """Stop a queued or running training (SIGTERM to its process group, then SIGKILL)."""
    row = _row(session, tenant, training_id)
    if row.status in FINAL:
        raise Conflict(f"training run {training_id} has already {row.status}")
    with _LOCK:
        proc = _PROCS.pop(row.id, None)
    if row.pid:
        _terminate(row.pid, proc, timeout)
    session.refresh(row)
    row.status, row.finished_at, row.error = "stopped", utcnow(), "stopped on request"
    session.commit()
    return _public(row)


def wait_training(
    session: Session, settings: Settings, *, tenant: str, training_id: str, timeout: float, poll: float = 0.5
) -> TrainingPublic:
    """Poll until the run is final or ``timeout`` seconds passed (then raise ``TimeoutError``)."""
    deadline = time.monotonic() + timeout
    while True:
        current = get_training(session, settings, tenant=tenant, training_id=training_id)
        if current.status in FINAL:
            with _LOCK:
                proc = _PROCS.pop(training_id, None)
            if proc is not None:
                proc.wait(30)
            return current
        if time.monotonic() > deadline:
            raise TimeoutError(f"training run {training_id} still {current.status} after {timeout:.0f}s")
        time.sleep(poll)


def shutdown(timeout: float = 10.0) -> None:
    """Stop every worker this process started (call from the API's shutdown)."""
    with _LOCK:
        procs = list(_PROCS.items())
        _PROCS.clear()
    for _, proc in procs:
        if proc.poll() is None:
            _terminate(proc.pid, proc, timeout)
