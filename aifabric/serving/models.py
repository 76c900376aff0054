"""Pydantic schemas of ``/deployments``: what users send, what backends get, what the API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ComponentState",
    "ComponentStatus",
    "DeployOutcome",
    "DeploymentCreate",
    "DeploymentPublic",
    "DeploymentRedeploy",
    "DeploymentSpec",
    "DeploymentTiming",
    "DeploymentsPublic",
]

ComponentState = Literal["pending", "ready", "failed", "stopped"]
NAME_PATTERN = r"^[a-z]([-a-z0-9]{0,43}[a-z0-9])?$"
TOPIC_PATTERN = r"^[A-Za-z0-9._-]{1,249}$"


class _ModelRef(BaseModel):
    """Which model version: a registry version or alias, or (unregistered) a bundle URI."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str | None = Field(None, description="registered model name", examples=["traffic-anomaly"])
    version: str | None = Field(None, pattern=r"^\d+$", examples=["3"])
    alias: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", examples=["champion"])
    model_uri: str | None = Field(
        None, description="instead of model + version/alias: an s3:// bundle or a local bundle directory"
    )

    @model_validator(mode="after")
    def _one_reference(self) -> _ModelRef:
        if self.model_uri:
            if self.model or self.version or self.alias:
                raise ValueError("give either model_uri or model with version/alias, not both")
            return self
        if not self.model:
            raise ValueError("model (a registered model name) or model_uri is required")
        if bool(self.version) == bool(self.alias):
            raise ValueError("give exactly one of version or alias")
        return self

    @property
    def requested_uri(self) -> str:
        if self.model_uri:
            return self.model_uri
        return (
            f"models:/{self.model}/{self.version}" if self.version else f"models:/{self.model}@{self.alias}"
        )


class DeploymentCreate(_ModelRef):
    """``POST /deployments``."""

    name: str = Field(pattern=NAME_PATTERN, description="DNS label, unique per tenant", examples=["traffic"])
    topics: list[str] = Field(min_length=1, max_length=32, examples=[["telecom-italia.internet"]])
    results_topic: str | None = Field(None, pattern=TOPIC_PATTERN, description="default: <name>.results")
    metric_ids: list[str] = Field(
        default_factory=list,
        description="metrics this model scores; other records go to the DLQ (empty: all)",
    )
    max_lateness_ms: int = Field(3_600_000, ge=0)

    @model_validator(mode="after")
    def _topics(self) -> DeploymentCreate:
        import re

        for t in self.topics:
            if not re.match(TOPIC_PATTERN, t):
                raise ValueError(f"invalid topic name {t!r}")
        if self.results_topic and self.results_topic in self.topics:
            raise ValueError("the results topic must not also be an input topic")
        return self


class DeploymentRedeploy(_ModelRef):
    """``POST /deployments/{id}/redeploy``: the same deployment with another model version."""


class ComponentStatus(BaseModel):
    component: Literal["predictor", "consumer"]
    state: ComponentState
    reason: str = ""
    endpoint: str = ""
    pid: int | None = None
    restarts: int = 0


class DeploymentTiming(BaseModel):
    """Request -> ready, per component and combined (the paper's Table I)."""

    model_version: str
    model_ms: float
    consumer_ms: float
    combined_ms: float
    kind: Literal["deploy", "redeploy"] = "deploy"
    created_at: datetime | None = None


class DeploymentSpec(BaseModel):
    """What a backend needs to run one deployment (resolved and pinned by the service)."""

    model_config = ConfigDict(protected_namespaces=())

    deployment_id: str
    name: str
    tenant: str
    model_uri: str = Field(description="pinned: models:/NAME/VERSION, s3://... or a directory")
    model_name: str
    model_version: str
    topics: list[str]
    results_topic: str
    group_id: str
    metric_ids: list[str] = Field(default_factory=list)
    max_lateness_ms: int = 3_600_000
    components: list[ComponentStatus] = Field(default_factory=list, description="last known, from SQL")


class DeployOutcome(BaseModel):
    components: list[ComponentStatus]
    timing: DeploymentTiming | None = None


class DeploymentPublic(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    id: str
    name: str
    tenant: str
    backend: str
    state: ComponentState
    reason: str = ""
    model_name: str
    model_version: str
    model_uri: str
    requested: str = Field(description="what the user asked for, e.g. models:/traffic@champion")
    topics: list[str]
    results_topic: str
    group_id: str
    metric_ids: list[str]
    components: list[ComponentStatus]
    timings: DeploymentTiming | None = Field(None, description="of the latest deploy or redeploy")
    created_at: datetime
    updated_at: datetime


class DeploymentsPublic(BaseModel):
    data: list[DeploymentPublic]
    count: int
