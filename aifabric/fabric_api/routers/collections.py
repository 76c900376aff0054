"""``/collections``: create (share or downsample) a collection stream, list, stop, view its topic, persist."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Query, Response, status

from aifabric.collector import service
from aifabric.collector.models import (
    CollectionCreate,
    CollectionPublic,
    CollectionsPublic,
    JobState,
    PersistRequest,
    TopicPeek,
)
from aifabric.collector.process import wake_collector
from aifabric.datasets.schemas import DatasetVersionPublic
from aifabric.fabric_api.deps import PrincipalDep, SessionDep, SettingsDep, TenantDep
from aifabric.fabric_api.problems import responses
from aifabric.fabric_api.schemas import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/collections", tags=["collections"])

CollectionId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="collection id")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CollectionPublic, responses=responses())
def create_collection(
    body: CollectionCreate,
    response: Response,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    tenant: TenantDep,
) -> CollectionPublic:
    """Collect metrics from a source domain every ``period_s``; equal requests share one stream and topic.

    A request whose source, metrics and filters match a running stream, at a period that is an
    integer multiple (>1) of that stream's, opens no new upstream subscription: it gets its own
    topic, fed by downsampling the running stream (``aggregation``: last (default), mean, sum,
    max, min; one record per series per period, time-stamped with the period's start, aligned to
    epoch multiples); ``derived_from`` says so. The collector process starts it (state
    ``pending`` -> ``running``).
    """
    created = service.create_collection(session, settings, body, tenant=tenant)
    response.headers["Location"] = f"{API_PREFIX}/collections/{created.id}"
    background.add_task(wake_collector, settings)
    return created


@router.get("", response_model=CollectionsPublic, responses=responses())
def list_collections(
    session: SessionDep,
    tenant: TenantDep,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CollectionsPublic:
    return service.list_collections(session, tenant=tenant, state=state, limit=limit, offset=offset)


@router.get("/{collection_id}", response_model=CollectionPublic, responses=responses(404))
def get_collection(collection_id: CollectionId, session: SessionDep, tenant: TenantDep) -> CollectionPublic:
    """State, records published, the shared topic and how many collections use it."""
    return service.get_collection(session, collection_id, tenant=tenant)


@router.post("/{collection_id}/stop", response_model=CollectionPublic, responses=responses(404))
def stop_collection(
    collection_id: CollectionId,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    tenant: TenantDep,
) -> CollectionPublic:
    """Stop (idempotent); the shared stream ends when its last collection has left."""
    stopped = service.stop_collection(session, collection_id, tenant=tenant)
    background.add_task(wake_collector, settings)
    return stopped


@router.get("/{collection_id}/topic", response_model=TopicPeek, responses=responses(404))
def collection_topic(
    collection_id: CollectionId,
    session: SessionDep,
    settings: SettingsDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> TopicPeek:
    """The shared-topic view: the newest records on this collection's stream topic."""
    found = service.get_collection(session, collection_id, tenant=tenant)
    return service.peek_topic(settings, found.topic, limit)


@router.post(
    "/{collection_id}/persist",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetVersionPublic,
    responses=responses(404, 409),
)
def persist_collection(
    collection_id: CollectionId,
    body: PersistRequest,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> DatasetVersionPublic:
    """Store the collected records (optionally a time range) as a dataset version for training."""
    version = service.persist_collection(
        session,
        settings,
        collection_id,
        body,
        tenant=principal.tenant,
        uploaded_by=f"token:{principal.token_id[:8]}",
    )
    response.headers["Location"] = f"{API_PREFIX}/datasets/{version.dataset}/versions/{version.version}"
    return version
