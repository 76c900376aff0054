"""``/topics``: the shared collection topics (shared data, not shared control), list and peek.

Any tenant may read the ``dataops.*`` collection topics; a deployment's results topic only its
own tenant. Every other topic answers 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from aifabric.broker import KafkaAdmin, dlq_topic
from aifabric.collector import service
from aifabric.collector.models import TopicPeek, TopicsPublic
from aifabric.errors import NotFound
from aifabric.fabric_api.deps import SessionDep, SettingsDep, TenantDep
from aifabric.fabric_api.problems import responses
from aifabric.fabric_api.schemas import API_PREFIX
from aifabric.serving.tables import DeploymentRow

router = APIRouter(prefix=f"{API_PREFIX}/topics", tags=["topics"])


@router.get("", response_model=TopicsPublic, responses=responses())
def list_topics(settings: SettingsDep, tenant: TenantDep) -> TopicsPublic:
    """The collection topics with partitions and retained messages."""
    return service.list_topics(settings)


def _readable(session, tenant: str, topic: str) -> bool:
    if topic.startswith(service.TOPIC_PREFIX):
        return True
    own = session.scalars(select(DeploymentRow.results_topic).where(DeploymentRow.tenant == tenant)).all()
    return topic in own or topic in {dlq_topic(t) for t in own}


@router.get("/{topic}/peek", response_model=TopicPeek, responses=responses(404))
def peek_topic(
    topic: Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,249}$")],
    session: SessionDep,
    settings: SettingsDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> TopicPeek:
    """The newest ``limit`` records of a topic, decoded (undecodable ones raw)."""
    if not _readable(session, tenant, topic) or topic not in KafkaAdmin(settings).list_topics():
        raise NotFound(f"topic {topic!r} does not exist")
    return service.peek_topic(settings, topic, limit)
