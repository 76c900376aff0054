"""The canonical table every loader produces, its summary and its content checksum.

Columns: ``series`` (string id, e.g. a grid square), ``timestamp`` (int64 epoch ms), one float64
column per metric, and optionally ``label`` (int8, 1 = injected/known anomaly). Rows are unique
per (series, timestamp) and sorted by them, so equal content always has equal bytes and the
checksum (SHA-256 over the columns' bytes) addresses it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

__all__ = [
    "LABEL",
    "SERIES",
    "TIMESTAMP",
    "DatasetSchema",
    "DatasetSummary",
    "checksum",
    "finalize",
    "summarize",
]

SERIES = "series"
TIMESTAMP = "timestamp"
LABEL = "label"


class DatasetSchema(BaseModel):
    """Column names and types of a dataset version, and which metric models train on by default."""

    columns: dict[str, str]
    metrics: list[str]
    default_metric: str
    has_labels: bool = False
    timezone: str = Field("UTC", description="zone of the data's local days (Milan: Europe/Rome)")


class DatasetSummary(BaseModel):
    """What the SQL metadata records about a dataset version's content."""

    dataset_schema: DatasetSchema
    row_count: int
    series_count: int
    time_start: datetime | None
    time_end: datetime | None
    slot_ms: int | None = Field(None, description="most common spacing of timestamps within a series")
    labelled_rows: int = 0


def finalize(frame: pd.DataFrame, metrics: list[str], aggregate: Literal["sum", "last"]) -> pd.DataFrame:
    """Merge duplicate (series, timestamp) rows (``sum`` for Milan's per-country rows, ``last`` for
    re-delivered records), sort, and fix the dtypes."""
    frame = frame.copy()
    frame[SERIES] = frame[SERIES].astype(str)
    frame[TIMESTAMP] = frame[TIMESTAMP].astype(np.int64)
    agg: dict[str, str] = {m: aggregate for m in metrics}
    if LABEL in frame.columns:
        agg[LABEL] = "max"
    out = frame.groupby([SERIES, TIMESTAMP], sort=True, as_index=False).agg(agg)
    for m in metrics:
        out[m] = out[m].astype(np.float64)
    if LABEL in out.columns:
        out[LABEL] = out[LABEL].fillna(0).astype(np.int8)
    return out[[SERIES, TIMESTAMP, *metrics, *([LABEL] if LABEL in out.columns else [])]].reset_index(
        drop=True
    )


def checksum(frame: pd.DataFrame) -> str:
    """SHA-256 of the canonical content (column names, then each column's values)."""
    digest = hashlib.sha256()
    for name in frame.columns:
        digest.update(name.encode() + b"\0")
        col = frame[name]
        if col.dtype == object:
            digest.update("\0".join(col.astype(str)).encode())
        else:
            digest.update(np.ascontiguousarray(col.to_numpy()).tobytes())
    return digest.hexdigest()


def summarize(frame: pd.DataFrame, metrics: list[str], default_metric: str, timezone: str) -> DatasetSummary:
    ts = frame[TIMESTAMP].to_numpy()
    diffs = np.diff(ts)[frame[SERIES].to_numpy()[1:] == frame[SERIES].to_numpy()[:-1]]
    slot = None
    if diffs.size:
        values, counts = np.unique(diffs, return_counts=True)
        slot = int(values[np.argmax(counts)])

    def _dt(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, UTC)

    return DatasetSummary(
        dataset_schema=DatasetSchema(
            columns={c: str(frame[c].dtype) for c in frame.columns},
            metrics=metrics,
            default_metric=default_metric,
            has_labels=LABEL in frame.columns,
            timezone=timezone,
        ),
        row_count=len(frame),
        series_count=int(frame[SERIES].nunique()),
        time_start=_dt(int(ts.min())) if ts.size else None,
        time_end=_dt(int(ts.max())) if ts.size else None,
        slot_ms=slot,
        labelled_rows=int(frame[LABEL].sum()) if LABEL in frame.columns else 0,
    )
