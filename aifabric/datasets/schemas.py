"""Pydantic models at the datasets boundary (API and CLI), in the ``XCreate``/``XPublic`` style."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aifabric.datasets.frame import DatasetSchema
from aifabric.datasets.loader import LoadOptions
from aifabric.datasets.refs import NAME_PATTERN

__all__ = ["DatasetCreate", "DatasetPublic", "DatasetVersionPublic", "DatasetsPublic"]


class DatasetCreate(BaseModel):
    """Metadata of an upload; the files travel beside it (multipart in the API, paths in the CLI)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, examples=["milan-internet"])
    description: str = Field("", max_length=2000)
    options: LoadOptions = LoadOptions()
    lineage: dict[str, Any] = Field(
        default_factory=dict, description="e.g. generator settings, parent version"
    )


class DatasetVersionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    dataset: str
    version: int
    ref: str = Field(description="'name@version', what training takes")
    checksum: str
    uri: str
    format: str
    dataset_schema: DatasetSchema
    row_count: int
    series_count: int
    labelled_rows: int
    time_start: datetime | None
    time_end: datetime | None
    slot_ms: int | None
    source: dict[str, Any]
    uploaded_by: str
    lineage: dict[str, Any]
    created_at: datetime
    created: bool = Field(True, description="False when the same content was already a version")


class DatasetPublic(BaseModel):
    id: str
    name: str
    description: str
    created_at: datetime
    latest_version: int | None
    versions: list[DatasetVersionPublic] = Field(default_factory=list)


class DatasetsPublic(BaseModel):
    data: list[DatasetPublic]
    count: int
