"""Service functions behind ``/deployments`` and ``aifabric deployments``: callable without HTTP.

Each takes a SQLAlchemy session, the settings and the tenant, validates with the pydantic
schemas of :mod:`aifabric.serving.models`, pins the model version (an alias is resolved once,
so a restart never drifts to another version), records state and timings in SQL, and delegates
running to the configured :class:`DeployBackend`.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aifabric.config import Settings
from aifabric.errors import Conflict, InvalidRequest, NotFound
from aifabric.persistence.db import utcnow
from aifabric.records import ScoreResult
from aifabric.registered_names import registry_name, split_registry_name
from aifabric.serving.backends.base import get_backend
from aifabric.serving.models import (
    ComponentStatus,
    DeploymentCreate,
    DeploymentPublic,
    DeploymentRedeploy,
    DeploymentSpec,
    DeploymentsPublic,
    DeploymentTiming,
    DeployOutcome,
)
from aifabric.serving.tables import ComponentRow, DeploymentRow, TimingRow

__all__ = [
    "deploy",
    "get_deployment",
    "latest_results",
    "list_deployments",
    "redeploy",
    "timings",
    "undeploy",
]


def _pin(settings: Settings, tenant: str, ref: DeploymentCreate | DeploymentRedeploy) -> tuple[str, str, str]:
    """(pinned model URI, model name, version) for a request.

    ``model`` names the tenant's registered model (``<tenant>.<model>`` in MLflow); an admin's
    ``model_uri`` is taken as written."""
    from aifabric.serving.model_source import parse_model_uri, resolve_model, resolve_version

    if ref.model:
        rv = resolve_version(settings, registry_name(tenant, ref.model), ref.version, ref.alias)
        return f"models:/{rv.name}/{rv.version}", ref.model, rv.version
    uri = ref.requested_uri
    if uri.startswith("models:/"):
        name, version, alias = parse_model_uri(uri)
        rv = resolve_version(settings, name, version, alias)
        owner = split_registry_name(rv.name)
        shown = owner[1] if owner and owner[0] == tenant else rv.name
        return f"models:/{rv.name}/{rv.version}", shown, rv.version
    resolved = resolve_model(settings, uri)
    return uri, resolved.name, resolved.version


def _row(session: Session, tenant: str, deployment_id: str) -> DeploymentRow:
    row = session.get(DeploymentRow, deployment_id)
    if row is None or row.tenant != tenant:
        raise NotFound(f"deployment {deployment_id!r} does not exist")
    return row


def _spec(row: DeploymentRow) -> DeploymentSpec:
    return DeploymentSpec(
        deployment_id=row.id,
        name=row.name,
        tenant=row.tenant,
        model_uri=row.model_uri,
        model_name=row.model_name,
        model_version=row.model_version,
        topics=list(row.topics),
        results_topic=row.results_topic,
        group_id=row.group_id,
        metric_ids=list(row.metric_ids or []),
        max_lateness_ms=row.max_lateness_ms,
        components=[_component(c) for c in row.components],
    )


def _component(c: ComponentRow) -> ComponentStatus:
    return ComponentStatus(
        component=c.component,  # type: ignore[arg-type]
        state=c.state,  # type: ignore[arg-type]
        reason=c.reason,
        endpoint=c.endpoint,
        pid=c.pid,
        restarts=c.restarts,
    )


def _store(row: DeploymentRow, components: list[ComponentStatus]) -> None:
    by_name = {c.component: c for c in row.components}
    for status in components:
        c = by_name.get(status.component)
        if c is None:
            c = ComponentRow(component=status.component)
            row.components.append(c)
        c.state, c.reason, c.endpoint, c.pid, c.restarts = (
            status.state,
            status.reason,
            status.endpoint,
            status.pid,
            status.restarts,
        )
    states = [c.state for c in components]
    if states and all(s == "ready" for s in states):
        row.state, row.reason = "ready", ""
    elif "failed" in states:
        row.state = "failed"
        row.reason = "; ".join(f"{c.component}: {c.reason}" for c in components if c.state == "failed")
    elif states and all(s == "stopped" for s in states):
        row.state, row.reason = "stopped", ""
    else:
        row.state = "pending"
        row.reason = "; ".join(f"{c.component}: {c.reason}" for c in components if c.reason)


def _record(row: DeploymentRow, outcome: DeployOutcome) -> None:
    _store(row, outcome.components)
    row.updated_at = utcnow()  # always a new version, even if only components changed
    if outcome.timing is not None:
        t = outcome.timing
        row.timings.append(
            TimingRow(
                kind=t.kind,
                model_version=t.model_version,
                model_ms=t.model_ms,
                consumer_ms=t.consumer_ms,
                combined_ms=t.combined_ms,
            )
        )


def _public(row: DeploymentRow, settings: Settings) -> DeploymentPublic:
    last = row.timings[-1] if row.timings else None
    return DeploymentPublic(
        id=row.id,
        name=row.name,
        tenant=row.tenant,
        backend=row.backend,
        state=row.state,  # type: ignore[arg-type]
        reason=row.reason,
        model_name=row.model_name,
        model_version=row.model_version,
        model_uri=row.model_uri,
        requested=row.requested,
        topics=list(row.topics),
        results_topic=row.results_topic,
        group_id=row.group_id,
        metric_ids=list(row.metric_ids or []),
        components=[_component(c) for c in row.components],
        timings=_timing(last) if last else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _timing(t: TimingRow) -> DeploymentTiming:
    return DeploymentTiming(
        model_version=t.model_version,
        model_ms=t.model_ms,
        consumer_ms=t.consumer_ms,
        combined_ms=t.combined_ms,
        kind=t.kind,
        created_at=t.created_at,  # type: ignore[arg-type]
    )


def deploy(session: Session, settings: Settings, tenant: str, body: DeploymentCreate) -> DeploymentPublic:
    """Pin the model version, create the results topic, start both components and wait for them."""
    exists = session.scalar(
        select(DeploymentRow).where(DeploymentRow.tenant == tenant, DeploymentRow.name == body.name)
    )
    if exists is not None:
        raise Conflict(f"deployment {body.name!r} exists already (id {exists.id}); undeploy or redeploy it")
    t0 = time.monotonic()
    model_uri, model_name, version = _pin(settings, tenant, body)
    backend = get_backend(settings)
    row = DeploymentRow(
        id=uuid.uuid4().hex,
        tenant=tenant,
        name=body.name,
        backend=backend.name,
        state="pending",
        requested=body.requested_uri,
        model_name=model_name,
        model_version=version,
        model_uri=model_uri,
        topics=list(body.topics),
        results_topic=body.results_topic or f"{body.name}.results",
        group_id=f"aifabric.{tenant}.{body.name}",
        metric_ids=list(body.metric_ids),
        max_lateness_ms=body.max_lateness_ms,
    )
    session.add(row)
    session.commit()
    if backend.name == "local":
        _ensure_topics(settings, row)
    outcome = backend.deploy(_spec(row))
    if outcome.timing is not None:
        # request -> ready includes pinning the version and creating the topics
        extra = (time.monotonic() - t0) * 1000 - outcome.timing.combined_ms
        outcome.timing.model_ms += extra
        outcome.timing.combined_ms += extra
    _record(row, outcome)
    session.commit()
    return _public(row, settings)


def _ensure_topics(settings: Settings, row: DeploymentRow) -> None:
    """Embedded broker: the results topic and each input's DLQ exist before the consumer starts."""
    from aifabric.broker import KafkaAdmin, dlq_topic

    admin = KafkaAdmin(settings)
    existing = admin.list_topics()
    for topic in [row.results_topic, *row.topics, *(dlq_topic(t) for t in row.topics)]:
        if topic not in existing:
            admin.ensure_topic(topic)


def get_deployment(session: Session, settings: Settings, tenant: str, deployment_id: str) -> DeploymentPublic:
    """The deployment with each component's live state (pending / ready / failed + reason).

    The live state is stored only if nobody wrote the deployment since it was read: a status
    check that read the row just before a (re)deploy recorded new processes would otherwise
    overwrite them with the old, dead ones, and the deployment would stay ``failed`` for good.
    """
    row = _row(session, tenant, deployment_id)
    if row.state == "stopped":
        return _public(row, settings)
    seen = row.updated_at
    components = get_backend(settings).status(_spec(row))
    claimed = session.execute(
        update(DeploymentRow)
        .where(DeploymentRow.id == row.id, DeploymentRow.updated_at == seen)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:  # written meanwhile: what is stored now is newer than what we saw
        session.rollback()
        return _public(_row(session, tenant, deployment_id), settings)
    _store(row, components)
    session.commit()
    return _public(row, settings)


def list_deployments(session: Session, settings: Settings, tenant: str) -> DeploymentsPublic:
    rows = session.scalars(
        select(DeploymentRow).where(DeploymentRow.tenant == tenant).order_by(DeploymentRow.created_at)
    ).all()
    data = [_public(r, settings) for r in rows]
    return DeploymentsPublic(data=data, count=len(data))


def undeploy(session: Session, settings: Settings, tenant: str, deployment_id: str) -> None:
    """Stop both components and forget the deployment (its results topic stays)."""
    row = _row(session, tenant, deployment_id)
    get_backend(settings).undeploy(_spec(row))
    session.delete(row)
    session.commit()


def redeploy(
    session: Session, settings: Settings, tenant: str, deployment_id: str, body: DeploymentRedeploy
) -> DeploymentPublic:
    """Switch the deployment to another model version; the consumer group (offsets) carries over."""
    row = _row(session, tenant, deployment_id)
    if row.state == "pending":
        raise Conflict(f"deployment {row.name!r} is still starting; retry when it is ready or failed")
    old = _spec(row)
    model_uri, model_name, version = _pin(settings, tenant, body)
    if model_name != row.model_name and not body.model_uri:
        raise InvalidRequest(f"redeploy keeps the model ({row.model_name}); got {model_name}")
    row.model_uri, row.model_name, row.model_version, row.requested = (
        model_uri,
        model_name,
        version,
        body.requested_uri,
    )
    outcome = get_backend(settings).redeploy(old, _spec(row))
    _record(row, outcome)
    session.commit()
    return _public(row, settings)


def timings(session: Session, settings: Settings, tenant: str, deployment_id: str) -> list[DeploymentTiming]:
    """Every deploy and redeploy of this deployment: model, consumer and combined ms."""
    return [_timing(t) for t in _row(session, tenant, deployment_id).timings]


def latest_results(
    session: Session, settings: Settings, tenant: str, deployment_id: str, limit: int = 100
) -> list[ScoreResult]:
    """The newest ``limit`` results of the deployment's results topic (newest last)."""
    if not 1 <= limit <= 10_000:
        raise InvalidRequest("limit must be between 1 and 10000")
    row = _row(session, tenant, deployment_id)
    return read_latest(settings, row.results_topic, limit)


def read_latest(settings: Settings, topic: str, limit: int, timeout: float = 10.0) -> list[ScoreResult]:
    """Read the tail of ``topic`` without joining a group (assign + seek, nothing committed).

    Each partition is read from ``high - limit`` to its end (partition EOF), keeping the last
    ``limit``: Tansu reports high watermarks per batch, not per record, so the start may be
    earlier than needed but the answer is still the newest records.
    """
    from collections import deque

    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    from aifabric.broker import consumer_config
    from aifabric.errors import BrokerError

    cfg = consumer_config(
        settings, f"aifabric-reader-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": True}
    )
    consumer = Consumer(cfg)
    out: deque[tuple[int, ScoreResult]] = deque(maxlen=limit * 64)
    try:
        meta = consumer.list_topics(topic, timeout=timeout)
        if topic not in meta.topics or not meta.topics[topic].partitions:
            raise NotFound(f"results topic {topic!r} does not exist")
        assign = []
        for p in meta.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high > low:
                assign.append(TopicPartition(topic, p, max(low, high - limit)))
        if not assign:
            return []
        consumer.assign(assign)
        open_parts = {tp.partition for tp in assign}
        deadline = time.monotonic() + timeout
        while open_parts and time.monotonic() < deadline:
            for m in consumer.consume(num_messages=1000, timeout=0.5):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        open_parts.discard(m.partition())
                    continue
                try:
                    out.append((m.timestamp()[1], ScoreResult.model_validate_json(m.value())))
                except ValueError:
                    continue  # not a result: results topics are written by the consumer only
    except KafkaException as exc:
        raise BrokerError(f"cannot read {topic!r}: {exc.args[0].str()}") from None
    finally:
        consumer.close()
    ordered = sorted(out, key=lambda x: x[0])
    return [r for _, r in ordered[-limit:]]
