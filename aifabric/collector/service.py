"""Collection operations, callable without HTTP (the fabric API router and the CLI call these).

``create_collection`` validates a request against its source adapter (known metrics, supported
filters, minimum period, start/stop), finds the running stream with the same signature, else a
running stream it can be downsampled from (same source, metrics and filters, a period that
divides the requested one: :mod:`aifabric.collector.downsample`), else creates a stream (with
its Kafka topic), and records a pending job. The collector process
(:mod:`aifabric.collector.runner`) starts, shares and stops the upstream subscriptions.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aifabric.adapters.base import (
    DEFAULT_TYPE_FOR_DOMAIN,
    Adapter,
    AdapterConfig,
    StreamFilters,
    build_config,
)
from aifabric.adapters.simulators import simulator_url
from aifabric.collector.downsample import DEFAULT_AGGREGATION, is_multiple
from aifabric.collector.models import (
    CollectionCreate,
    CollectionPublic,
    CollectionsPublic,
    DerivedFrom,
    JobState,
    PersistRequest,
    StreamState,
    TopicPeek,
    TopicsPublic,
    as_utc,
)
from aifabric.collector.tables import CollectionJob, CollectionStream
from aifabric.config import Settings
from aifabric.errors import InvalidRequest, NotFound

__all__ = [
    "create_collection",
    "get_collection",
    "list_collections",
    "list_topics",
    "peek_topic",
    "persist_collection",
    "stop_collection",
]

TOPIC_PREFIX = "dataops."


def default_adapter_config(domain: str, settings: Settings) -> dict[str, Any]:
    """The domain's adapter pointed at the embedded simulator (``aifabric up --simulators``)."""
    if domain == "core":
        return {"type": "nwdaf", "api_root": simulator_url(settings, "nwdaf")}
    if domain == "ran":
        return {"type": "flexric", "forwarder_url": simulator_url(settings, "ran")}
    return {"type": "edge", "targets": [simulator_url(settings, "edge") + "/metrics"]}


def resolve_adapter(body: CollectionCreate, settings: Settings) -> tuple[type[Adapter], str, AdapterConfig]:
    data = body.adapter or default_adapter_config(body.source, settings)
    cls, config = build_config(data)
    if cls.domain != body.source:
        raise InvalidRequest(
            f"adapter {data['type']!r} serves the {cls.domain!r} domain, not {body.source!r} "
            f"(default for {body.source!r}: {DEFAULT_TYPE_FOR_DOMAIN[body.source]})"
        )
    return cls, str(data["type"]), config


def stream_signature(
    tenant: str, domain: str, adapter_type: str, config: AdapterConfig, metrics: list[str],
    filters: StreamFilters, period_s: float,
) -> str:  # fmt: skip
    """Equal requests (same tenant, source, adapter, metrics, filters, period) share one stream."""
    canon = {
        "tenant": tenant,
        "domain": domain,
        "adapter_type": adapter_type,
        "adapter": config.model_dump(mode="json", exclude={"type"}),
        "metrics": sorted(set(metrics)),
        "filters": filters.canonical(),
        "period_s": float(period_s),
    }
    return hashlib.sha256(orjson.dumps(canon, option=orjson.OPT_SORT_KEYS)).hexdigest()


def topic_name(cls: type[Adapter], signature: str) -> str:
    return f"{TOPIC_PREFIX}{cls.source.lower()}.{signature[:12]}"


def create_collection(
    session: Session, settings: Settings, body: CollectionCreate, *, tenant: str = "default"
) -> CollectionPublic:
    """Validate, create (or share) the stream and its topic, and record a pending job."""
    now = datetime.now(UTC)
    if body.stop is not None and body.start is not None and body.stop <= body.start:
        raise InvalidRequest(f"stop {body.stop.isoformat()} is not after start {body.start.isoformat()}")
    if body.stop is not None and body.stop <= now:
        raise InvalidRequest(f"stop {body.stop.isoformat()} is in the past")
    start = max(body.start or now, now)  # "start may be now": a past start begins at once
    cls, adapter_type, config = resolve_adapter(body, settings)
    cls.check(body.metrics, body.filters, body.period_s)
    signature = stream_signature(
        tenant, body.source, adapter_type, config, body.metrics, body.filters, body.period_s
    )
    stream = session.scalar(select(CollectionStream).where(CollectionStream.signature == signature))
    if stream is None or not _live(session, stream):
        parent = _finer_live_stream(session, tenant, body, adapter_type, config)
        if parent is not None:
            stream = _derived_stream(session, cls, parent, signature, body)
    if stream is None:
        stream = CollectionStream(
            id=uuid.uuid4().hex,
            tenant=tenant,
            signature=signature,
            domain=body.source,
            adapter_type=adapter_type,
            adapter_config=config.model_dump(mode="json"),
            metrics=body.metrics,
            filters=body.filters.canonical(),
            period_s=body.period_s,
            topic=topic_name(cls, signature),
            state=StreamState.idle,
        )
        session.add(stream)
        session.flush()
    ensure_topics(settings, stream.topic)
    job = CollectionJob(
        id=uuid.uuid4().hex,
        tenant=tenant,
        name=body.name,
        stream_id=stream.id,
        state=JobState.pending,
        start_at=start,
        stop_at=body.stop,
    )
    session.add(job)
    session.commit()
    return _view(session, job, stream)


def _live(session: Session, stream: CollectionStream) -> bool:
    """A stream that is collecting now (its upstream, or its downsampler, is running)."""
    return stream.state == StreamState.active or _users(session, stream.id) > 0


def _finer_live_stream(
    session: Session, tenant: str, body: CollectionCreate, adapter_type: str, config: AdapterConfig
) -> CollectionStream | None:
    """The running direct stream this request can be downsampled from, if any.

    Same tenant, source, adapter, metrics and filters (checked through the signature), a period
    of which the requested one is an integer multiple (>1); among several, the coarsest (fewest
    records to read). Derived streams are never parents: every derived stream reads an upstream one.
    """
    candidates = session.scalars(
        select(CollectionStream).where(
            CollectionStream.tenant == tenant,
            CollectionStream.domain == body.source,
            CollectionStream.adapter_type == adapter_type,
            CollectionStream.parent_id.is_(None),
            CollectionStream.period_s < body.period_s,
        )
    ).all()
    best = None
    for c in candidates:
        if not is_multiple(body.period_s, c.period_s) or not _live(session, c):
            continue
        same = stream_signature(
            tenant, body.source, adapter_type, config, body.metrics, body.filters, c.period_s
        )
        if same == c.signature and (best is None or c.period_s > best.period_s):
            best = c
    return best


def _derived_stream(
    session: Session, cls: type[Adapter], parent: CollectionStream, signature: str, body: CollectionCreate
) -> CollectionStream:
    """The stream downsampling ``parent`` to the request's period (shared by equal requests)."""
    aggregation = body.aggregation or DEFAULT_AGGREGATION
    derived_signature = hashlib.sha256(
        orjson.dumps({"signature": signature, "parent": parent.id, "aggregation": aggregation})
    ).hexdigest()
    stream = session.scalar(select(CollectionStream).where(CollectionStream.signature == derived_signature))
    if stream is None:
        stream = CollectionStream(
            id=uuid.uuid4().hex,
            tenant=parent.tenant,
            signature=derived_signature,
            domain=parent.domain,
            adapter_type=parent.adapter_type,
            adapter_config=parent.adapter_config,
            metrics=parent.metrics,
            filters=parent.filters,
            period_s=body.period_s,
            topic=topic_name(cls, derived_signature),
            state=StreamState.idle,
            parent_id=parent.id,
            aggregation=aggregation,
        )
        session.add(stream)
        session.flush()
    return stream


def ensure_topics(settings: Settings, topic: str) -> None:
    """The stream's topic and its dead-letter topic (malformed upstream payloads go there)."""
    from aifabric.broker import KafkaAdmin, dlq_topic

    admin = KafkaAdmin(settings)
    admin.ensure_topic(topic)
    admin.ensure_topic(dlq_topic(topic), partitions=1)


def list_collections(
    session: Session,
    *,
    tenant: str = "default",
    state: JobState | None = None,
    limit: int = 100,
    offset: int = 0,
) -> CollectionsPublic:
    query = (
        select(CollectionJob, CollectionStream).join(CollectionStream).where(CollectionJob.tenant == tenant)
    )
    if state is not None:
        query = query.where(CollectionJob.state == state)
    rows = session.execute(query.order_by(CollectionJob.created_at.desc()).limit(limit).offset(offset)).all()
    users = dict(
        session.execute(
            select(CollectionJob.stream_id, func.count())
            .where(CollectionJob.state == JobState.running)
            .group_by(CollectionJob.stream_id)
        ).all()
    )
    parent_ids = {stream.parent_id for _, stream in rows if stream.parent_id}
    parents = {
        p.id: p for p in session.scalars(select(CollectionStream).where(CollectionStream.id.in_(parent_ids)))
    }
    derived = _derived_counts(session, [stream.id for _, stream in rows])
    data = [
        _public(job, s, users.get(s.id, 0), parents.get(s.parent_id or ""), derived.get(s.id, 0))
        for job, s in rows
    ]
    count_q = select(func.count()).select_from(CollectionJob).where(CollectionJob.tenant == tenant)
    if state is not None:
        count_q = count_q.where(CollectionJob.state == state)
    return CollectionsPublic(data=data, count=session.scalar(count_q) or 0)


def get_collection(session: Session, collection_id: str, *, tenant: str = "default") -> CollectionPublic:
    job, stream = _job(session, collection_id, tenant)
    return _view(session, job, stream)


def stop_collection(session: Session, collection_id: str, *, tenant: str = "default") -> CollectionPublic:
    """Stop a job (idempotent). Its stream ends upstream when its last running job has left and no
    running derived stream reads it; a derived stream's downsampler stops with its last job."""
    job, stream = _job(session, collection_id, tenant)
    if job.state in (JobState.pending, JobState.running):
        finish_job(job, stream, JobState.stopped, "stopped by request")
        session.commit()
    return _view(session, job, stream)


def finish_job(job: CollectionJob, stream: CollectionStream, state: JobState, reason: str) -> None:
    """Move a job to a final state, freezing its record count."""
    if job.state == JobState.running:
        job.records_published = max(0, stream.records_published - job.records_base)
    job.state = state
    job.reason = reason
    job.stopped_at = datetime.now(UTC)


def list_topics(settings: Settings, prefix: str = TOPIC_PREFIX) -> TopicsPublic:
    from aifabric.collector.consume import topic_sizes

    data = [t for t in topic_sizes(settings) if t.name.startswith(prefix)]
    return TopicsPublic(data=data, count=len(data))


def peek_topic(settings: Settings, topic: str, limit: int = 10) -> TopicPeek:
    from aifabric.collector.consume import peek

    if not 1 <= limit <= 1000:
        raise InvalidRequest("limit must be between 1 and 1000")
    return peek(settings, topic, limit)


def persist_collection(
    session: Session,
    settings: Settings,
    collection_id: str,
    body: PersistRequest,
    *,
    tenant: str = "default",
    uploaded_by: str = "",
):
    """Persist the collection's records (optionally a time range) as a dataset version.

    Returns the ``aifabric.datasets`` ``DatasetVersionPublic`` (Parquet in S3, metadata in SQL).
    """
    from aifabric.collector.consume import read_range
    from aifabric.datasets.schemas import DatasetCreate
    from aifabric.datasets.service import onboard_records
    from aifabric.storage import ObjectStore

    job, stream = _job(session, collection_id, tenant)
    start = body.start or as_utc(job.started_at) or as_utc(job.start_at)
    end = body.end or as_utc(job.stopped_at) or datetime.now(UTC)
    if end <= start:
        raise InvalidRequest(f"end {end.isoformat()} is not after start {start.isoformat()}")
    records = read_range(settings, stream.topic, start, end)
    if not records:
        raise InvalidRequest(
            f"no records on {stream.topic} between {start.isoformat()} and {end.isoformat()}"
        )
    create = DatasetCreate(
        name=body.dataset,
        description=body.description or f"collection {job.name or job.id} ({', '.join(stream.metrics)})",
        lineage={"collection": job.id, "stream": stream.id},
    )
    source = {
        "kind": "collection",
        "collection": job.id,
        "topic": stream.topic,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "metrics": stream.metrics,
        "period_s": stream.period_s,
    }
    parent = session.get(CollectionStream, stream.parent_id) if stream.parent_id else None
    if parent is not None:  # the records are aggregates: say of what
        source["downsampled_from"] = {"topic": parent.topic, "period_s": parent.period_s}
        source["aggregation"] = stream.aggregation
    return onboard_records(
        session, ObjectStore(settings), tenant=tenant, create=create, records=records, source=source,
        uploaded_by=uploaded_by,
    )  # fmt: skip


def _job(session: Session, collection_id: str, tenant: str) -> tuple[CollectionJob, CollectionStream]:
    row = session.execute(
        select(CollectionJob, CollectionStream)
        .join(CollectionStream)
        .where(CollectionJob.id == collection_id, CollectionJob.tenant == tenant)
    ).first()
    if row is None:
        raise NotFound(f"collection {collection_id!r} does not exist")
    return row[0], row[1]


def _users(session: Session, stream_id: str) -> int:
    return session.scalar(
        select(func.count())
        .select_from(CollectionJob)
        .where(CollectionJob.stream_id == stream_id, CollectionJob.state == JobState.running)
    ) or 0  # fmt: skip


def _derived_counts(session: Session, stream_ids: list[str]) -> dict[str, int]:
    """Per stream: its derived streams that have running jobs (each keeps the stream alive)."""
    if not stream_ids:
        return {}
    return dict(
        session.execute(
            select(CollectionStream.parent_id, func.count(func.distinct(CollectionStream.id)))
            .join(CollectionJob, CollectionJob.stream_id == CollectionStream.id)
            .where(CollectionStream.parent_id.in_(stream_ids), CollectionJob.state == JobState.running)
            .group_by(CollectionStream.parent_id)
        ).all()
    )


def _view(session: Session, job: CollectionJob, stream: CollectionStream) -> CollectionPublic:
    parent = session.get(CollectionStream, stream.parent_id) if stream.parent_id else None
    derived = _derived_counts(session, [stream.id]).get(stream.id, 0)
    return _public(job, stream, _users(session, stream.id), parent, derived)


def _public(
    job: CollectionJob,
    stream: CollectionStream,
    users: int,
    parent: CollectionStream | None = None,
    derived: int = 0,
) -> CollectionPublic:
    if job.state == JobState.running:
        records = max(0, stream.records_published - job.records_base)
    else:
        records = job.records_published
    live = job.state == JobState.running
    degraded_reason = stream.degraded_reason
    if degraded_reason is None and parent is not None and parent.degraded_reason is not None:
        degraded_reason = f"the stream it is downsampled from is degraded: {parent.degraded_reason}"
    derived_from = None
    if parent is not None:
        derived_from = DerivedFrom(
            stream_id=parent.id,
            topic=parent.topic,
            period_s=parent.period_s,
            aggregation=stream.aggregation or DEFAULT_AGGREGATION,
        )
    return CollectionPublic(
        id=job.id,
        name=job.name,
        tenant=job.tenant,
        source=stream.domain,
        adapter_type=stream.adapter_type,
        metrics=stream.metrics,
        filters=stream.filters,
        period_s=stream.period_s,
        start=as_utc(job.start_at),
        stop=as_utc(job.stop_at),
        state=job.state,
        reason=job.reason,
        topic=stream.topic,
        stream_id=stream.id,
        stream_users=users,
        derived_from=derived_from,
        derived_streams=derived,
        degraded=live and degraded_reason is not None,
        degraded_reason=degraded_reason if live else None,
        records_published=records,
        dead_letters=stream.dead_letters,
        last_record_at=as_utc(stream.last_record_at) if (live or records) else None,
        created_at=as_utc(job.created_at),
        started_at=as_utc(job.started_at),
        stopped_at=as_utc(job.stopped_at),
    )
