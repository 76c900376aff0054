"""API-level schemas: the subsystems' ``XPublic`` models plus links and operation state.

Request bodies and most responses are the subsystems' own pydantic models (``DatasetCreate``,
``TrainingCreate``, ``DeploymentCreate``, ``CollectionCreate`` ...); what only the API adds
lives here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from aifabric.config import Settings
from aifabric.fabric_api.operations import OperationPublic
from aifabric.kfp_pipelines.service import TrainingProgress, TrainingPublic
from aifabric.serving.models import DeploymentPublic

__all__ = [
    "ApiIndex",
    "DatasetPreview",
    "DeploymentView",
    "DeploymentsView",
    "TrainingMetrics",
    "TrainingView",
    "TrainingsView",
    "ui_links",
]

API_PREFIX = "/api/v1"


def ui_links(settings: Settings) -> dict[str, str]:
    """The MLflow UI and, when configured, the Kubeflow dashboard."""
    links = {"mlflow_ui": settings.mlflow.tracking_uri.rstrip("/")}
    if settings.kfp.dashboard_url:
        links["kubeflow_dashboard"] = settings.kfp.dashboard_url
    return links


class ApiIndex(BaseModel):
    name: str = "aifabric"
    version: str
    tenant: str
    links: dict[str, str] = Field(description="API docs, OpenAPI, MLflow UI, Kubeflow dashboard, metrics")


class DatasetPreview(BaseModel):
    """The first rows of a version's canonical table (``inspect``)."""

    ref: str
    columns: list[str]
    rows: list[dict[str, Any]]
    row_count: int


class TrainingView(TrainingPublic):
    links: dict[str, str] = Field(
        default_factory=dict, description="self, MLflow run, model version, dataset"
    )


class TrainingsView(BaseModel):
    data: list[TrainingView]
    count: int


class TrainingMetrics(BaseModel):
    id: str
    status: str
    metrics: dict[str, Any]
    progress: TrainingProgress | None
    mlflow_url: str | None


class DeploymentView(DeploymentPublic):
    operation: OperationPublic | None = Field(
        None, description="the deploy / redeploy / restart in progress or last finished in this API process"
    )
    links: dict[str, str] = Field(default_factory=dict)


class DeploymentsView(BaseModel):
    data: list[DeploymentView]
    count: int
