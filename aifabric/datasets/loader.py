"""Turn uploaded files or collected records into the canonical table (see ``frame``).

Formats: ``milan`` (the Telecom Italia daily files; detected by name), ``csv`` and ``parquet``
(a header/columns with a time column, optional series column, numeric metric columns, optional
``label``), and ``records`` (JSON lines of the common record model, as a persisted collection
stream holds them). Every refusal names the file, the line (or row) and the reason; nothing is
returned half-read.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from aifabric.datasets import milan
from aifabric.datasets.errors import DatasetFileError
from aifabric.datasets.frame import LABEL, SERIES, TIMESTAMP, DatasetSummary, finalize, summarize
from aifabric.records import InvalidRecord, Record, decode

__all__ = ["FileFormat", "LoadOptions", "Loaded", "detect_format", "load_files", "load_records"]

FileFormat = Literal["milan", "csv", "parquet", "records"]
TIME_CANDIDATES = ("timestamp", "time", "time_interval", "datetime", "ts")
SERIES_CANDIDATES = ("series", "square_id", "cell", "series_key", "entity")


class LoadOptions(BaseModel):
    """How to read tabular files; every field may be left to auto-detection."""

    format: FileFormat | None = None
    time_column: str | None = None
    series_column: str | None = None
    metrics: list[str] | None = Field(None, description="metric columns; default: every other numeric column")
    default_metric: str | None = None
    timezone: str | None = None


class Loaded(BaseModel, arbitrary_types_allowed=True):
    """A loaded, validated, canonical table and what it contains."""

    frame: pd.DataFrame
    format: FileFormat
    summary: DatasetSummary
    files: list[str]


def detect_format(name: str) -> FileFormat:
    lower = name.lower()
    if milan.FILE_PATTERN.match(Path(name).name):
        return "milan"
    for suffix, fmt in (
        (".csv", "csv"),
        (".parquet", "parquet"),
        (".jsonl", "records"),
        (".ndjson", "records"),
    ):
        if lower.endswith(suffix):
            return fmt  # type: ignore[return-value]
    raise DatasetFileError(
        name, 0, "unknown format: expected sms-call-internet-mi-YYYY-MM-DD.txt, .csv, .parquet or .jsonl"
    )


def _pick(
    columns: Sequence[str], given: str | None, candidates: Sequence[str], what: str, name: str
) -> str | None:
    if given:
        if given not in columns:
            raise DatasetFileError(name, 1, f"{what} column {given!r} not found (columns: {list(columns)})")
        return given
    return next((c for c in candidates if c in columns), None)


def _to_epoch_ms(name: str, col: pd.Series, first_line: int) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col):
        values = col.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DatasetFileError(name, row + first_line, "timestamp is empty")
        return np.where(values < 1e11, values * 1000, values).astype(np.int64)  # seconds or ms
    parsed = pd.to_datetime(col, utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DatasetFileError(
            name, row + first_line, f"timestamp {str(col.iloc[row])[:40]!r} is not ISO 8601"
        )
    return (parsed.astype("int64") // 1_000_000).to_numpy()


def _read_table(name: str, data: bytes, fmt: FileFormat, opts: LoadOptions) -> tuple[pd.DataFrame, list[str]]:
    first_line = 2 if fmt == "csv" else 1  # data line 1 is the header in CSV; parquet counts rows
    try:
        if fmt == "csv":
            data.decode("utf-8")
            table = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        else:
            table = pd.read_parquet(io.BytesIO(data))
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetFileError(
            name, line, f"unreadable encoding: byte 0x{data[exc.start]:02x} is not UTF-8"
        ) from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise DatasetFileError(name, 0, f"cannot be read as {fmt}: {str(exc)[:200]}") from None
    if table.empty:
        raise DatasetFileError(name, 0, "file has no data rows")
    cols = list(table.columns)
    time_col = _pick(cols, opts.time_column, TIME_CANDIDATES, "time", name)
    if time_col is None:
        raise DatasetFileError(name, 1, f"no time column (name one of {TIME_CANDIDATES} or pass time_column)")
    series_col = _pick(cols, opts.series_column, SERIES_CANDIDATES, "series", name)
    metrics = opts.metrics or [c for c in cols if c not in (time_col, series_col, LABEL)]
    if not metrics:
        raise DatasetFileError(name, 1, "no metric columns")
    out = pd.DataFrame(
        {
            SERIES: table[series_col].astype(str) if series_col else "all",
            TIMESTAMP: _to_epoch_ms(name, _numeric_if_possible(table[time_col]), first_line),
        }
    )
    for m in [*metrics, *([LABEL] if LABEL in cols else [])]:
        if m not in cols:
            raise DatasetFileError(name, 1, f"metric column {m!r} not found")
        raw = table[m]
        values = pd.to_numeric(raw.where(raw != "") if raw.dtype == object else raw, errors="coerce")
        bad = (
            values.isna().to_numpy() & (raw != "").to_numpy()
            if raw.dtype == object
            else np.zeros(len(raw), bool)
        )
        bad |= np.isinf(values.to_numpy(dtype=np.float64, na_value=0.0))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DatasetFileError(
                name, row + first_line, f"{m} is not a number: {str(raw.iloc[row])[:40]!r}"
            )
        out[m] = values.fillna(0.0).to_numpy(dtype=np.float64)
    return out, metrics


def _numeric_if_possible(col: pd.Series) -> pd.Series:
    if col.dtype != object:
        return col
    numeric = pd.to_numeric(col, errors="coerce")
    return numeric if numeric.notna().all() else col


def _read_records(name: str, data: bytes) -> pd.DataFrame:
    rows: list[tuple[str, int, float]] = []
    for i, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = decode(line)
        except InvalidRecord as exc:
            raise DatasetFileError(name, i, str(exc)) from None
        rows.append((rec.key, rec.epoch_ms, float(rec.value)))
    return pd.DataFrame(rows, columns=[SERIES, TIMESTAMP, "value"])


def load_files(
    files: Sequence[tuple[str, bytes]],
    labels: tuple[str, bytes] | None = None,
    options: LoadOptions | None = None,
) -> Loaded:
    """Validate and load ``(file name, content)`` pairs of one format into one canonical table.

    Raises:
        DatasetFileError: the first refused file, with line and reason.
    """
    opts = options or LoadOptions()
    if not files:
        raise DatasetFileError("<upload>", 0, "no files given")
    formats = {opts.format or detect_format(name) for name, _ in files}
    if len(formats) > 1:
        raise DatasetFileError(
            "<upload>", 0, f"files mix formats {sorted(formats)}; upload one format at a time"
        )
    fmt: FileFormat = formats.pop()
    parts: list[pd.DataFrame] = []
    metrics: list[str] = []
    for name, data in files:
        if not data.strip():
            raise DatasetFileError(name, 0, "file is empty")
        if fmt == "milan":
            part, metrics = milan.parse_milan_bytes(name, data), milan.METRICS
        elif fmt == "records":
            part, metrics = _read_records(name, data), ["value"]
        else:
            part, part_metrics = _read_table(name, data, fmt, opts)
            if metrics and part_metrics != metrics:
                raise DatasetFileError(
                    name, 1, f"metric columns {part_metrics} differ from the first file's {metrics}"
                )
            metrics = part_metrics
        parts.append(part)
    frame = finalize(
        pd.concat(parts, ignore_index=True), metrics, aggregate="last" if fmt == "records" else "sum"
    )
    if labels is not None:
        frame = _attach_labels(frame, *labels)
    default_metric = opts.default_metric or ("internet" if fmt == "milan" else metrics[0])
    if default_metric not in metrics:
        raise DatasetFileError("<upload>", 0, f"default metric {default_metric!r} is not one of {metrics}")
    timezone = opts.timezone or (milan.TIMEZONE if fmt == "milan" else "UTC")
    return Loaded(
        frame=frame,
        format=fmt,
        summary=summarize(frame, metrics, default_metric, timezone),
        files=[name for name, _ in files],
    )


def _attach_labels(frame: pd.DataFrame, name: str, data: bytes) -> pd.DataFrame:
    """Mark labelled slots; a label for a slot without data is refused (it would be silently lost)."""
    marks = milan.parse_labels_bytes(name, data)
    merged = marks.merge(frame[[SERIES, TIMESTAMP]], how="left", on=[SERIES, TIMESTAMP], indicator=True)
    orphan = np.flatnonzero((merged["_merge"] == "left_only").to_numpy())
    if orphan.size:
        row = marks.iloc[int(orphan[0])]
        raise DatasetFileError(
            name, int(orphan[0]) + 2, f"labels series {row[SERIES]} at {row[TIMESTAMP]}, which has no data"
        )
    out = frame.drop(columns=[LABEL], errors="ignore").merge(marks, how="left", on=[SERIES, TIMESTAMP])
    out[LABEL] = out[LABEL].fillna(0).astype(np.int8)
    return out


def load_records(records: Iterable[Record]) -> Loaded:
    """Collected records (e.g. a persisted collection stream) -> a canonical table, one series per key."""
    rows = [(r.key, r.epoch_ms, float(r.value)) for r in records]
    if not rows:
        raise DatasetFileError("<records>", 0, "no records")
    frame = finalize(pd.DataFrame(rows, columns=[SERIES, TIMESTAMP, "value"]), ["value"], aggregate="last")
    return Loaded(
        frame=frame, format="records", summary=summarize(frame, ["value"], "value", "UTC"), files=[]
    )
