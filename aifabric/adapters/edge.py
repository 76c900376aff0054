"""Edge Agent adapter: scrapes Prometheus text exposition from edge applications every period.

Parsing uses ``prometheus_client.parser``. A requested metric matches a sample name
(``http_requests_total``) or its family name (``http_requests``, which also takes a histogram's
``_bucket``/``_sum``/``_count``). Records: ``source="Edge"``, ``metric_id`` = sample name, labels =
sample labels + ``job`` + ``instance``; timestamp = the sample's own or the scrape time.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Literal
from urllib.parse import urlsplit

import httpx
from pydantic import Field

from aifabric.adapters.base import Adapter, AdapterConfig, MalformedPayload, RecordBatch, SourceUnavailable

log = logging.getLogger("aifabric.adapters.edge")

MAX_LABELS = 30
MAX_LABEL_VALUE = 256


class EdgeAdapterConfig(AdapterConfig):
    type: Literal["edge"] = "edge"
    targets: list[str] = Field(min_length=1, description="exposition URLs, e.g. http://10.0.0.5:9100/metrics")
    job: str = "edge"
    timeout_s: float = Field(5.0, gt=0)


class EdgeAdapter(Adapter):
    domain = "edge"
    source = "Edge"
    config_class = EdgeAdapterConfig
    metrics = None  # any Prometheus metric name
    filters = frozenset({"labels"})
    min_period_s = 0.5

    def __init__(self, config: EdgeAdapterConfig, params, sink) -> None:
        super().__init__(config, params, sink)
        self.config: EdgeAdapterConfig = config
        self._wanted = frozenset(params.metrics)
        self._match = dict(params.filters.labels)
        self._http = httpx.Client(timeout=config.timeout_s)
        self._instance = urlsplit(config.targets[0]).netloc
        self._scrape_ms = 0

    def normalize(self, payload: bytes) -> RecordBatch:
        from prometheus_client.parser import text_string_to_metric_families

        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPayload("exposition is not valid UTF-8") from None
        batch = RecordBatch(self.source)
        base = {"job": self.config.job, "instance": self._instance}
        scrape_ms = self._scrape_ms or int(time.time() * 1000)
        try:
            for family in text_string_to_metric_families(text):
                family_wanted = family.name in self._wanted
                for s in family.samples:
                    if not (
                        family_wanted
                        or s.name in self._wanted
                        or s.name.removesuffix("_total") in self._wanted
                    ):
                        continue
                    if any(s.labels.get(k) != v for k, v in self._match.items()):
                        continue
                    value = s.value
                    if isinstance(value, float) and not math.isfinite(value):
                        continue  # NaN/Inf are legal in the exposition but not a measurement
                    if len(s.labels) > MAX_LABELS or any(len(v) > MAX_LABEL_VALUE for v in s.labels.values()):
                        raise MalformedPayload(
                            f"{s.name}: more than {MAX_LABELS} labels or a label over 256 chars"
                        )
                    ts = int(s.timestamp * 1000) if s.timestamp is not None else scrape_ms
                    batch.add(s.name, batch.labels({**s.labels, **base}), ts, value)
        except (ValueError, TypeError, IndexError) as exc:
            if isinstance(exc, MalformedPayload):
                raise
            raise MalformedPayload(f"not a Prometheus text exposition: {exc}") from None
        return batch

    def step(self) -> float:
        started = time.monotonic()
        failures = []
        for target in self.config.targets:
            self.count_call()
            try:
                resp = self._http.get(target, headers={"Accept": "text/plain"})
            except httpx.HTTPError as exc:
                failures.append(f"{target}: {exc}")
                continue
            if resp.status_code != 200:
                failures.append(f"{target}: HTTP {resp.status_code}")
                continue
            self._instance = urlsplit(target).netloc
            self._scrape_ms = int(time.time() * 1000)
            self.ingest(resp.content)
        if failures:
            raise SourceUnavailable("scrape failed: " + "; ".join(failures))
        return max(0.0, self.params.period_s - (time.monotonic() - started))

    def close(self) -> None:
        self._http.close()
