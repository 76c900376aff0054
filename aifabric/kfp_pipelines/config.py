"""The one configuration object a training pipeline run takes (passed to every component as JSON)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aifabric.models.registry import DEFAULT_DEFINITION

__all__ = ["Gate", "PipelineConfig"]


class Gate(BaseModel):
    """When the alias (e.g. ``champion``) may move to the new version.

    The gate passes when evaluation metric ``metric`` is at least ``min``. Unlabelled data has no
    ROC-AUC: then ``if_missing`` decides (``pass`` by default, so unlabelled real data still yields
    a champion; set ``fail`` to require labelled evaluation).
    """

    model_config = ConfigDict(extra="forbid")

    metric: str = "roc_auc"
    min: float = 0.6
    if_missing: str = Field("pass", pattern="^(pass|fail)$")


class PipelineConfig(BaseModel):
    """Everything one run needs; no secrets (components read endpoints from their environment)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    dataset: str = Field(description="dataset version: 'name@N', 'name' (latest) or a version id")
    tenant: str = "default"
    definition: str = Field(
        DEFAULT_DEFINITION, description="short name or 'module:Class' of the model definition"
    )
    definition_uri: str | None = Field(None, description="s3:// URI of an uploaded definition module")
    model_name: str | None = Field(None, description="registered model name; default: the definition's name")
    metric: str | None = Field(None, description="dataset metric to model; default: the dataset's default")
    series: list[str] | None = Field(None, description="series (e.g. squares) to train on; default: all")
    val_fraction: float = Field(0.15, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.15, ge=0.0, lt=0.5)
    train_params: dict[str, Any] = Field(
        default_factory=dict, description="merged over the definition's defaults"
    )
    threshold: float = Field(
        0.99, ge=0.0, le=1.0, description="anomaly probability threshold stored in the bundle"
    )
    gate: Gate = Gate()
    alias: str = "champion"
    experiment: str = "aifabric-training"
    mlflow_run_id: str | None = Field(None, description="set by the runner, which creates the MLflow run")
    code_version: str = ""
