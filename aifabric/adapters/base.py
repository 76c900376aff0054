"""The adapter plug point: one ABC, one config per implementation, a type string picks the class.

An adapter turns one upstream source (an NWDAF, a FlexRIC xApp, edge exporters) into a stream of
common records on one Kafka topic. The collector gives it a :class:`StreamParams` (metrics,
filters, period, start/stop, topic) and a :class:`Sink`; the adapter keeps itself alive: a
malformed upstream payload goes to the dead-letter topic with the reason and is counted, an
unreachable source is retried with exponential backoff and reported as degraded.

Plugins follow Feast: ``ADAPTER_CLASS_FOR_TYPE`` maps short names to dotted paths; any other
dotted path is imported as given and must name an :class:`Adapter` subclass.
"""

from __future__ import annotations

import importlib
import logging
import math
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Protocol

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aifabric.errors import InvalidRequest
from aifabric.gcpause import gc_paused
from aifabric.records import format_timestamp

log = logging.getLogger("aifabric.adapters")

Domain = Literal["core", "ran", "edge"]

ADAPTER_CLASS_FOR_TYPE: dict[str, str] = {
    "nwdaf": "aifabric.adapters.nwdaf.NwdafAdapter",
    "flexric": "aifabric.adapters.flexric.FlexricAdapter",
    "edge": "aifabric.adapters.edge.EdgeAdapter",
}
DEFAULT_TYPE_FOR_DOMAIN: dict[str, str] = {"core": "nwdaf", "ran": "flexric", "edge": "edge"}

METRIC_NAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_.:]{0,127}$")


class AdapterConfig(BaseModel):
    """Where and how to reach the source; each implementation narrows ``type`` to a ``Literal``."""

    model_config = ConfigDict(extra="forbid")

    type: str


class StreamFilters(BaseModel):
    """What part of the source to collect; each adapter accepts only the filters its source can apply."""

    model_config = ConfigDict(extra="forbid")

    cells: list[str] = Field(default_factory=list, description="NR cell ids (NWDAF) / E2 cell ids")
    tais: list[str] = Field(default_factory=list, description="tracking area codes (network area)")
    slices: list[str] = Field(default_factory=list, description='S-NSSAIs as "sst" or "sst-sd"')
    ue_groups: list[str] = Field(default_factory=list, description="internal UE group ids")
    dnns: list[str] = Field(default_factory=list)
    nf_types: list[str] = Field(default_factory=list)
    e2nodes: list[str] = Field(default_factory=list, description='E2 nodes as "mcc-mnc-nb_id[-cu_du_id]"')
    labels: dict[str, str] = Field(default_factory=dict, description="label equality matchers (edge)")

    def used(self) -> set[str]:
        return {name for name, value in self if value}

    def canonical(self) -> dict[str, Any]:
        """Sorted, without empty fields: equal filters have equal canonical forms."""
        out: dict[str, Any] = {}
        for name, value in self:
            if value:
                out[name] = dict(sorted(value.items())) if isinstance(value, dict) else sorted(set(value))
        return out


class StreamParams(BaseModel):
    """What the collector hands an adapter: the stream's parameters and its topic."""

    stream_id: str
    topic: str
    metrics: list[str]
    filters: StreamFilters = Field(default_factory=StreamFilters)
    period_s: float
    start: datetime = Field(default_factory=lambda: datetime.now(UTC))
    stop: datetime | None = None


class AdapterStatus(BaseModel):
    state: Literal["idle", "running", "degraded", "stopped"]
    reason: str | None = None
    records: int = 0
    dead_letters: int = 0
    upstream_calls: int = 0
    last_record_ms: int | None = None


class MalformedPayload(ValueError):
    """An upstream payload that cannot be turned into records; ``reason`` goes to the DLQ."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SourceUnavailable(RuntimeError):
    """The source did not answer (or refused us); the adapter retries with backoff."""


class Sink(Protocol):
    """Where an adapter's output goes (a Kafka topic in production, a list in unit tests)."""

    def publish(self, items: list[tuple[str, bytes]]) -> None: ...

    def dead_letter(self, raw: bytes, reason: str) -> None: ...


class KafkaSink:
    """Publishes keyed, encoded records to one topic and rejected payloads to ``<topic>.dlq``."""

    def __init__(self, producer, topic: str, stage: str) -> None:
        self.producer = producer
        self.topic = topic
        self.stage = stage

    def publish(self, items: list[tuple[str, bytes]]) -> None:
        batch = getattr(self.producer, "send_batch", None)
        if batch is not None:  # librdkafka's produce_batch: ~1.5x the rate of one call per record
            batch(self.topic, items)
        else:
            send, topic = self.producer.send_raw, self.topic
            for key, value in items:
                send(topic, key, value)
        self.producer.poll(0)

    def dead_letter(self, raw: bytes, reason: str) -> None:
        from aifabric.broker import dead_letter

        dead_letter(self.producer, self.topic, raw, reason, stage=self.stage)
        self.producer.poll(0)


class RecordBatch:
    """Builds encoded records fast: the hot path of every adapter.

    Values produced here are checked once (finite number) and encoded straight to the wire form
    (the record's JSON assembled from pre-encoded labels, time stamp and value): validating each
    record through pydantic would cost more than publishing it.
    """

    __slots__ = ("_source_json", "_ts_cache", "items", "last_ms", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._source_json = orjson.dumps(source)
        self.items: list[tuple[str, bytes]] = []
        self.last_ms: int | None = None
        self._ts_cache: dict[int, str] = {}

    @staticmethod
    def labels(labels: Mapping[str, str]) -> tuple[dict[str, str], str, bytes]:
        """Labels, their canonical form and their JSON: computed once per entity, reused per record."""
        canon = ",".join(f"{k}={labels[k]}" for k in sorted(labels))
        return dict(labels), canon, orjson.dumps(labels)

    def add(self, metric_id: str, labels: tuple[dict[str, str], str, bytes], ts_ms: int, value: Any) -> None:
        kind = type(value)
        if kind is not int and (kind is not float or not math.isfinite(value)):
            raise MalformedPayload(f"{metric_id}: value {str(value)[:40]!r} is not a finite number")
        ts = self._ts_cache.get(ts_ms)
        if ts is None:
            ts = b'"' + format_timestamp(datetime.fromtimestamp(ts_ms / 1000, UTC)).encode() + b'"'
            self._ts_cache[ts_ms] = ts
        self.items.append(
            (
                f"{self.source}/{metric_id}/{labels[1]}",
                b'{"source":%b,"metric_id":%b,"labels":%b,"timestamp":%b,"value":%b}'
                % (self._source_json, orjson.dumps(metric_id), labels[2], ts, orjson.dumps(value)),
            )
        )
        if self.last_ms is None or ts_ms > self.last_ms:
            self.last_ms = ts_ms

    def __len__(self) -> int:
        return len(self.items)


def parse_json(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise MalformedPayload(f"not valid JSON ({exc})") from None


def parse_time_ms(value: Any, what: str) -> int:
    """An ISO 8601 date-time (3GPP ``DateTime``) as epoch milliseconds."""
    if not isinstance(value, str):
        raise MalformedPayload(f"{what}: expected a date-time string, got {type(value).__name__}")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedPayload(f"{what}: {value[:40]!r} is not an ISO 8601 date-time") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return int(ts.timestamp() * 1000)


class Adapter(ABC):
    """One upstream subscription feeding one topic.

    Subclasses declare what their source offers (``metrics``, ``filters``, ``min_period_s``) and
    implement :meth:`normalize` and :meth:`step`. The base class runs :meth:`step` in a thread:
    it returns the seconds until it wants to run again; raising :class:`SourceUnavailable`
    marks the adapter degraded and retries with exponential backoff.
    """

    domain: ClassVar[Domain]
    source: ClassVar[str]
    config_class: ClassVar[type[AdapterConfig]]
    metrics: ClassVar[frozenset[str] | None] = None
    """The metric ids the source offers; ``None`` means open-ended (any metric name)."""
    filters: ClassVar[frozenset[str]] = frozenset()
    min_period_s: ClassVar[float] = 1.0
    backoff_start_s: ClassVar[float] = 0.25
    backoff_max_s: ClassVar[float] = 5.0

    def __init__(self, config: AdapterConfig, params: StreamParams, sink: Sink) -> None:
        self.config = config
        self.params = params
        self.sink = sink
        self.records = 0
        self.dead_letters = 0
        self.upstream_calls = 0
        self.last_record_ms: int | None = None
        self.degraded_reason: str | None = None
        self._counter_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- validation ------------------------------------------------------------------------

    @classmethod
    def check(cls, metrics: list[str], filters: StreamFilters, period_s: float) -> None:
        """Refuse what this source cannot deliver, with a reason a user can act on."""
        if not metrics:
            raise InvalidRequest("at least one metric is required")
        if cls.metrics is not None:
            unknown = sorted(set(metrics) - cls.metrics)
            if unknown:
                raise InvalidRequest(
                    f"unknown metric(s) {', '.join(unknown)} for source {cls.source}; "
                    f"known: {', '.join(sorted(cls.metrics))}"
                )
        else:
            bad = [m for m in metrics if not METRIC_NAME.match(m)]
            if bad:
                raise InvalidRequest(f"invalid metric name(s) for source {cls.source}: {', '.join(bad)}")
        extra = sorted(filters.used() - cls.filters)
        if extra:
            allowed = ", ".join(sorted(cls.filters)) or "none"
            raise InvalidRequest(
                f"filter(s) {', '.join(extra)} not supported by {cls.source} (allowed: {allowed})"
            )
        if period_s < cls.min_period_s:
            raise InvalidRequest(
                f"period {period_s}s is below the {cls.source} minimum of {cls.min_period_s}s"
            )

    # -- the hot path ------------------------------------------------------------------------

    @abstractmethod
    def normalize(self, payload: bytes) -> RecordBatch:
        """Turn one raw upstream payload into records; raise :class:`MalformedPayload` if it is bad.

        A payload is all or nothing: if any part is malformed, none of it is published, and the
        whole payload goes to the DLQ (so a replay after a fix does not duplicate records).
        """

    def ingest(self, payload: bytes) -> int:
        """Normalise and publish one payload (or dead-letter it); returns the records published."""
        with gc_paused():
            return self._ingest(payload)

    def _ingest(self, payload: bytes) -> int:
        try:
            batch = self.normalize(payload)
        except MalformedPayload as exc:
            reason = exc.reason
        except Exception as exc:  # a case normalize() did not foresee: keep the payload, not the crash
            log.exception("%s: normalize failed", self.params.stream_id)
            reason = f"adapter could not normalise the payload: {type(exc).__name__}: {exc}"
        else:
            if batch.items:
                self.sink.publish(batch.items)
            with self._counter_lock:
                self.records += len(batch.items)
                if batch.last_ms is not None and (
                    self.last_record_ms is None or batch.last_ms > self.last_record_ms
                ):
                    self.last_record_ms = batch.last_ms
            return len(batch.items)
        self.sink.dead_letter(payload, reason)
        with self._counter_lock:
            self.dead_letters += 1
        log.info("%s: payload dead-lettered: %s", self.params.stream_id, reason)
        return 0

    # -- lifecycle ---------------------------------------------------------------------------

    @abstractmethod
    def step(self) -> float:
        """Do one unit of upstream work (subscribe, poll, check liveness); return seconds to sleep."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the upstream subscription (called once, after the loop has ended)."""

    def on_update(self) -> None:  # noqa: B027 - optional hook
        """React to new stream parameters (e.g. a later stop time from a new user)."""

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"adapter-{self.params.stream_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.close()
        except Exception as exc:  # closing upstream is best-effort: the stream ends either way
            log.warning("%s: closing upstream failed: %s", self.params.stream_id, exc)

    def update(self, params: StreamParams) -> None:
        self.params = params
        self.on_update()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` unless stopped or woken; True if the adapter is stopping."""
        self._wake.wait(max(0.0, seconds))
        self._wake.clear()
        return self._stop.is_set()

    def _run(self) -> None:
        backoff = self.backoff_start_s
        while not self._stop.is_set():
            try:
                delay = self.step()
            except SourceUnavailable as exc:
                if self.degraded_reason is None:
                    log.warning("%s degraded: %s", self.params.stream_id, exc)
                self.degraded_reason = str(exc)
                delay, backoff = backoff, min(self.backoff_max_s, backoff * 2)
            except Exception as exc:  # a bug in one step must not end the stream
                log.exception("%s: step failed", self.params.stream_id)
                self.degraded_reason = f"{type(exc).__name__}: {exc}"
                delay, backoff = backoff, min(self.backoff_max_s, backoff * 2)
            else:
                if self.degraded_reason is not None:
                    log.info("%s recovered", self.params.stream_id)
                self.degraded_reason = None
                backoff = self.backoff_start_s
            if self.wait(delay):
                break

    def status(self) -> AdapterStatus:
        if self._stop.is_set():
            state = "stopped"
        elif self._thread is None:
            state = "idle"
        else:
            state = "degraded" if self.degraded_reason else "running"
        with self._counter_lock:
            return AdapterStatus(
                state=state,
                reason=self.degraded_reason,
                records=self.records,
                dead_letters=self.dead_letters,
                upstream_calls=self.upstream_calls,
                last_record_ms=self.last_record_ms,
            )

    def count_call(self) -> None:
        with self._counter_lock:
            self.upstream_calls += 1


def import_adapter_class(type_name: str) -> type[Adapter]:
    """Resolve a short name or a dotted path to an :class:`Adapter` subclass (checked)."""
    path = ADAPTER_CLASS_FOR_TYPE.get(type_name, type_name)
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        known = ", ".join(sorted(ADAPTER_CLASS_FOR_TYPE))
        raise InvalidRequest(f"unknown adapter type {type_name!r}: use one of {known} or a dotted class path")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidRequest(f"cannot import adapter module {module_name!r}: {exc}") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or not issubclass(cls, Adapter):
        raise InvalidRequest(f"{path!r} is not an aifabric.adapters.Adapter subclass")
    return cls


def build_config(data: Mapping[str, Any]) -> tuple[type[Adapter], AdapterConfig]:
    """Find the adapter class for ``data["type"]`` and validate the rest against its config."""
    type_name = data.get("type")
    if not isinstance(type_name, str) or not type_name:
        raise InvalidRequest("adapter config needs a 'type' (nwdaf, flexric, edge or a dotted class path)")
    cls = import_adapter_class(type_name)
    try:
        config = cls.config_class.model_validate(
            {**data, "type": cls.config_class.model_fields["type"].default}
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidRequest(f"adapter config {where}: {err['msg']}") from None
    return cls, config
