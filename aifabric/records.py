"""The common record model: the wire contract between every adapter and every consumer.

A record is the paper's Fig. 2 object::

    {"source": "NWDAF", "metric_id": "UPLINK_VOL", "labels": "UE_COMMUNICATION",
     "timestamp": "2025-10-23T12:00:00.000Z", "value": 150}

``labels`` is either the paper's plain string or a mapping of label names to values. Entity
identity (cell, grid square, slice, UE group) rides in the mapping form, e.g.
``{"event": "UE_COMMUNICATION", "cell": "001010000000001"}``, and the series key derived from
source, metric and labels is the Kafka message key, so one series keeps its order in one
partition. This module imports no other aifabric code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "InvalidRecord",
    "Record",
    "ScoreResult",
    "decode",
    "decode_many",
    "encode",
    "format_timestamp",
    "series_key",
]

MAX_LABELS = 32
MAX_LABEL_KEY = 64
MAX_LABEL_VALUE = 256
MAX_NAME = 128
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidRecord(ValueError):
    """A payload that is not a valid record; ``field`` names the culprit, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"invalid record: {field}: {reason}")
        self.field = field
        self.reason = reason


def format_timestamp(ts: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, the form of the paper's Fig. 2."""
    if ts.tzinfo is not UTC:
        ts = ts.astimezone(UTC)
    return f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond // 1000:03d}Z"


def _canonical_labels(labels: str | Mapping[str, str]) -> str:
    if isinstance(labels, str):
        return labels
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def series_key(source: str, metric_id: str, labels: str | Mapping[str, str]) -> str:
    """The identity of one time series: ``source/metric_id/k=v,k=v`` (labels sorted)."""
    return f"{source}/{metric_id}/{_canonical_labels(labels)}"


class Record(BaseModel):
    """One measurement of one series at one time."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    source: str = Field(min_length=1, max_length=MAX_NAME, examples=["NWDAF"])
    metric_id: str = Field(min_length=1, max_length=MAX_NAME, examples=["UPLINK_VOL"])
    labels: str | dict[str, str] = Field(examples=["UE_COMMUNICATION", {"event": "NETWORK_PERFORMANCE"}])
    timestamp: datetime = Field(examples=["2025-10-23T12:00:00.000Z"])
    value: int | float = Field(examples=[150])

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, v: str | dict[str, str]) -> str | dict[str, str]:
        if isinstance(v, str):
            if len(v) > MAX_LABEL_VALUE:
                raise ValueError(f"label string longer than {MAX_LABEL_VALUE} characters")
            return v
        if len(v) > MAX_LABELS:
            raise ValueError(f"{len(v)} labels, at most {MAX_LABELS} allowed")
        for key, val in v.items():
            if not key or len(key) > MAX_LABEL_KEY:
                raise ValueError(f"label name {key[:80]!r} must have 1..{MAX_LABEL_KEY} characters")
            if len(val) > MAX_LABEL_VALUE:
                raise ValueError(f"label {key!r} longer than {MAX_LABEL_VALUE} characters")
        return v

    @field_validator("timestamp", mode="before")
    @classmethod
    def _check_timestamp(cls, v: Any) -> Any:
        if isinstance(v, datetime):
            if v.tzinfo is None:
                raise ValueError("timestamp has no time zone (use Z or an offset)")
            return v
        if not isinstance(v, str):
            raise ValueError("timestamp must be an ISO 8601 string such as 2025-10-23T12:00:00.000Z")
        try:
            ts = datetime.fromisoformat(v)
        except ValueError:
            raise ValueError(f"{v[:40]!r} is not an ISO 8601 timestamp") from None
        if ts.tzinfo is None:
            raise ValueError("timestamp has no time zone (use Z or an offset)")
        return ts

    @field_validator("value", mode="before")
    @classmethod
    def _check_value(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"value must be a number, got {type(v).__name__}")
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("value must be finite")
        return v

    # -- derived ------------------------------------------------------------------------

    @property
    def key(self) -> str:
        """The series key, also the Kafka message key."""
        return series_key(self.source, self.metric_id, self.labels)

    @property
    def epoch_ms(self) -> int:
        """Milliseconds since the epoch, in integer arithmetic (float seconds can be 1 ms off)."""
        delta = self.timestamp - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000

    def label(self, name: str, default: str | None = None) -> str | None:
        """A label's value; the string form of ``labels`` answers to ``event``."""
        if isinstance(self.labels, str):
            return self.labels if name == "event" else default
        return self.labels.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "metric_id": self.metric_id,
            "labels": self.labels,
            "timestamp": format_timestamp(self.timestamp),
            "value": self.value,
        }

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Record:
        """Validate a mapping; raise :class:`InvalidRecord` naming the field and the reason."""
        if not isinstance(data, Mapping):
            raise InvalidRecord("<record>", f"expected a JSON object, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "<record>"
            reason = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                reason = "required field is missing"
            elif err["type"] == "extra_forbidden":
                reason = "unknown field"
            raise InvalidRecord(field, reason) from None


def encode(record: Record) -> bytes:
    """Serialise a record to compact JSON bytes."""
    return orjson.dumps(record.to_dict())


def _loads(payload: bytes | str) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        reason = "not valid UTF-8" if "utf-8" in str(exc).lower() else f"not valid JSON ({exc})"
        raise InvalidRecord("<payload>", reason) from None


def decode(payload: bytes | str) -> Record:
    """Parse and validate one JSON record."""
    return Record.parse(_loads(payload))


def decode_many(payload: bytes | str) -> list[Record]:
    """Parse a JSON array of records (or one record)."""
    data = _loads(payload)
    items: Iterable[Any] = data if isinstance(data, list) else [data]
    out = []
    for i, item in enumerate(items):
        try:
            out.append(Record.parse(item))
        except InvalidRecord as exc:
            raise InvalidRecord(f"[{i}].{exc.field}", exc.reason) from None
    return out


class ScoreResult(BaseModel):
    """What the Data Consumer publishes for each scored window."""

    model_config = ConfigDict(extra="forbid")

    series_key: str
    window_end: datetime
    reconstruction_error: float
    anomaly_probability: float = Field(ge=0.0, le=1.0)
    anomaly: bool
    model_name: str
    model_version: str
    value: float | None = Field(None, description="the last raw value of the window")
    scored_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def encode(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))
