"""FlexRIC adapter (RAN), O-RAN E2SM-KPM.

Forwarder mode (default): KPM indications arrive from the project's xApp-side forwarder
(:mod:`aifabric.adapters.xapp_forwarder`, or the RAN simulator, which speaks the same protocol):
``POST {forwarder}/kpm/subscriptions`` {notificationURI, period_ms, measurements, e2nodes} →
201 + Location; ``DELETE`` it when the stream ends. Each indication is the E2SM-KPM Format 1
content in JSON::

    {"e2node": {"ngran_node": "gNB", "mcc": "001", "mnc": "01", "nb_id": 1, "cu_du_id": null},
     "collectStartTime": 1761220800000000,          # µs
     "granulPeriod": 1000,                          # ms between measData rows
     "measInfoList": ["DRB.UEThpDl", "RRU.PrbTotDl"],
     "measData": [[41250.5, 131], [40980.0, null]]}  # one row per period; null = no value

A body is one indication or an array of them.

SQLite mode: polls an xApp database in the ``KPM_IND_MEAS_DATA_INFO`` layout (one row per
measurement value, ``tstamp`` in µs) for rows newer than the last one seen.

Records: ``source="FlexRIC"``, ``metric_id`` = measurement name, labels
``{"event": "E2SM_KPM", "e2node": "<mcc>-<mnc>-<nb_id>[-<cu_du_id>]", "ngran_node": ...}``.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import Any, Literal

import httpx
import orjson
from pydantic import Field, model_validator

from aifabric.adapters.base import (
    Adapter,
    AdapterConfig,
    MalformedPayload,
    RecordBatch,
    SourceUnavailable,
    StreamFilters,
    parse_json,
)
from aifabric.adapters.httpserver import JsonHttpServer, Request, Response, problem
from aifabric.config import LOOPBACK
from aifabric.errors import InvalidRequest

log = logging.getLogger("aifabric.adapters.flexric")

KPM_MEASUREMENTS = frozenset(
    {
        "DRB.UEThpDl",
        "DRB.UEThpUl",
        "DRB.RlcSduDelayDl",
        "DRB.PdcpSduVolumeDL",
        "DRB.PdcpSduVolumeUL",
        "RRU.PrbTotDl",
        "RRU.PrbTotUl",
        "RRU.PrbUsedDl",
        "RRU.PrbUsedUl",
        "RRU.PrbAvailDl",
        "RRU.PrbAvailUl",
    }
)
SUBSCRIPTIONS_PATH = "/kpm/subscriptions"
KPM_TABLE = "KPM_IND_MEAS_DATA_INFO"
KPM_COLUMNS = (
    "tstamp",
    "ngran_node",
    "e2node_mcc",
    "e2node_mnc",
    "e2node_nb_id",
    "e2node_cu_du_id",
    "meas_name",
    "meas_value_type",
    "meas_value_int",
    "meas_value_real",
)
SQLITE_BATCH = 100_000


class FlexricAdapterConfig(AdapterConfig):
    type: Literal["flexric"] = "flexric"
    mode: Literal["forwarder", "sqlite"] = "forwarder"
    forwarder_url: str | None = Field(None, description="xApp forwarder (or RAN simulator) base URL")
    sqlite_path: str | None = Field(None, description="xApp SQLite database (KPM_IND_MEAS_DATA_INFO layout)")
    notification_host: str = LOOPBACK
    notification_port: int = Field(0, ge=0, le=65535)
    timeout_s: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _mode_needs_endpoint(self) -> FlexricAdapterConfig:
        if self.mode == "forwarder" and not self.forwarder_url:
            raise ValueError("forwarder mode needs forwarder_url")
        if self.mode == "sqlite" and not self.sqlite_path:
            raise ValueError("sqlite mode needs sqlite_path")
        return self


def e2node_id(mcc: Any, mnc: Any, nb_id: Any, cu_du_id: Any) -> str:
    """``mcc-mnc-nb_id[-cu_du_id]``; integer PLMN digits (as SQLite stores them) are zero-padded."""
    mcc = f"{mcc:03d}" if type(mcc) is int else mcc
    mnc = f"{mnc:02d}" if type(mnc) is int else mnc
    base = f"{mcc}-{mnc}-{nb_id}"
    return base if cu_du_id in (None, "", -1) else f"{base}-{cu_du_id}"


class FlexricAdapter(Adapter):
    domain = "ran"
    source = "FlexRIC"
    config_class = FlexricAdapterConfig
    metrics = KPM_MEASUREMENTS
    filters = frozenset({"e2nodes"})
    min_period_s = 0.01
    stale_min_s = 3.0

    @classmethod
    def check(cls, metrics: list[str], filters: StreamFilters, period_s: float) -> None:
        super().check(metrics, filters, period_s)
        for node in filters.e2nodes:
            parts = node.split("-")
            if len(parts) not in (3, 4) or not all(parts):
                raise InvalidRequest(f"E2 node {node!r} is not of the form mcc-mnc-nb_id[-cu_du_id]")

    def __init__(self, config: FlexricAdapterConfig, params, sink) -> None:
        super().__init__(config, params, sink)
        self.config: FlexricAdapterConfig = config
        self._wanted = frozenset(params.metrics)
        self._nodes = frozenset(params.filters.e2nodes)
        self._http = httpx.Client(timeout=config.timeout_s)
        self._receiver: JsonHttpServer | None = None
        self.subscription_url: str | None = None
        self._last_indication = 0.0
        self._last_rowid: int | None = None

    # -- normalisation -----------------------------------------------------------------------

    def normalize(self, payload: bytes) -> RecordBatch:
        data = parse_json(payload)
        items = data if isinstance(data, list) else [data]
        batch = RecordBatch(self.source)
        for i, ind in enumerate(items):
            self._indication(batch, ind, f"[{i}]" if isinstance(data, list) else "")
        return batch

    def _indication(self, batch: RecordBatch, ind: Any, where: str) -> None:
        if not isinstance(ind, dict):
            raise MalformedPayload(f"indication{where} is not an object")
        node = ind.get("e2node")
        if not isinstance(node, dict) or any(k not in node for k in ("mcc", "mnc", "nb_id")):
            raise MalformedPayload(f"indication{where} has no e2node identity (mcc, mnc, nb_id)")
        node_id = e2node_id(node["mcc"], node["mnc"], node["nb_id"], node.get("cu_du_id"))
        if self._nodes and node_id not in self._nodes:
            return
        start_us = ind.get("collectStartTime")
        period_ms = ind.get("granulPeriod")
        names = ind.get("measInfoList")
        rows = ind.get("measData")
        if type(start_us) is not int or start_us < 0:
            raise MalformedPayload(f"indication{where}.collectStartTime must be a non-negative integer (µs)")
        if type(period_ms) is not int or period_ms <= 0:
            raise MalformedPayload(f"indication{where}.granulPeriod must be a positive integer (ms)")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise MalformedPayload(f"indication{where}.measInfoList must be a list of measurement names")
        if not isinstance(rows, list):
            raise MalformedPayload(f"indication{where}.measData must be a list of records")
        labels = batch.labels(
            {"event": "E2SM_KPM", "e2node": node_id, "ngran_node": str(node.get("ngran_node", "gNB"))}
        )
        # Unknown measurement names (new KPM versions) pass through; known ones are filtered to the request.
        keep = [(j, n) for j, n in enumerate(names) if n in self._wanted or n not in KPM_MEASUREMENTS]
        width = len(names)
        base_ms = start_us // 1000
        add = batch.add
        for r, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != width:
                raise MalformedPayload(f"indication{where}.measData[{r}] does not have {width} values")
            ts = base_ms + r * period_ms
            for j, name in keep:
                value = row[j]
                if value is not None:
                    add(name, labels, ts, value)

    # -- forwarder mode ----------------------------------------------------------------------

    def step(self) -> float:
        if self.config.mode == "sqlite":
            return self._poll_sqlite()
        if self._receiver is None:
            server = JsonHttpServer(
                self.config.notification_host, self.config.notification_port, name="kpm-notify"
            )
            server.route("POST", "/indications", self._on_indication)
            self._receiver = server.start()
        if self.subscription_url is None:
            self._subscribe()
            return self.params.period_s
        silent = time.monotonic() - self._last_indication
        if silent > max(self.stale_min_s, 3 * self.params.period_s):
            self._unsubscribe()
            raise SourceUnavailable(f"no KPM indication for {silent:.1f}s; re-subscribing")
        return min(self.params.period_s, 1.0)

    def _on_indication(self, req: Request, rest: list[str]) -> Response:
        if rest and rest[0] != self.params.stream_id:
            return problem(404, f"no stream {rest[0]!r} here")
        self._last_indication = time.monotonic()
        self.ingest(req.body)
        return Response(204)

    def _subscribe(self) -> None:
        assert self._receiver is not None
        body = {
            "notificationURI": f"{self._receiver.url}/indications/{self.params.stream_id}",
            "period_ms": max(1, round(self.params.period_s * 1000)),
            "measurements": sorted(self._wanted),
            "e2nodes": sorted(self._nodes),
        }
        url = self.config.forwarder_url.rstrip("/") + SUBSCRIPTIONS_PATH
        self.count_call()
        try:
            resp = self._http.post(url, json=body)
        except httpx.HTTPError as exc:
            raise SourceUnavailable(
                f"xApp forwarder at {self.config.forwarder_url} unreachable: {exc}"
            ) from None
        if resp.status_code != 201 or "Location" not in resp.headers:
            raise SourceUnavailable(
                f"xApp forwarder refused the subscription: HTTP {resp.status_code} {resp.text[:200]}"
            )
        loc = resp.headers["Location"]
        self.subscription_url = loc if loc.startswith("http") else self.config.forwarder_url.rstrip("/") + loc
        self._last_indication = time.monotonic()

    def _unsubscribe(self) -> None:
        url, self.subscription_url = self.subscription_url, None
        if url is None:
            return
        self.count_call()
        try:
            self._http.delete(url)
        except httpx.HTTPError as exc:
            log.info("%s: could not delete %s: %s", self.params.stream_id, url, exc)

    # -- SQLite mode -------------------------------------------------------------------------

    def _poll_sqlite(self) -> float:
        started = time.monotonic()
        self.count_call()
        try:
            conn = sqlite3.connect(f"file:{self.config.sqlite_path}?mode=ro", uri=True, timeout=2.0)
        except sqlite3.Error as exc:
            raise SourceUnavailable(f"cannot open xApp database {self.config.sqlite_path}: {exc}") from None
        try:
            if self._last_rowid is None:  # a stream starts with what arrives from now on
                row = conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {KPM_TABLE}").fetchone()
                self._last_rowid = int(row[0])
                return self.params.period_s
            while True:
                rows = conn.execute(
                    f"SELECT rowid, {', '.join(KPM_COLUMNS)} FROM {KPM_TABLE} "
                    f"WHERE rowid > ? ORDER BY rowid LIMIT {SQLITE_BATCH}",
                    (self._last_rowid,),
                ).fetchall()
                if not rows:
                    break
                self._last_rowid = rows[-1][0]
                self.ingest_rows(rows)
                if len(rows) < SQLITE_BATCH:
                    break
        except sqlite3.Error as exc:
            raise SourceUnavailable(
                f"reading {KPM_TABLE} from {self.config.sqlite_path} failed: {exc}"
            ) from None
        finally:
            conn.close()
        return max(0.0, self.params.period_s - (time.monotonic() - started))

    def ingest_rows(self, rows: list[tuple]) -> int:
        """Publish rows of ``KPM_IND_MEAS_DATA_INFO``; a bad row goes to the DLQ on its own."""
        batch = RecordBatch(self.source)
        label_cache: dict[tuple, tuple[dict[str, str], str, bytes]] = {}
        bad = 0
        for row in rows:
            _, tstamp, ngran, mcc, mnc, nb_id, cu_du, name, vtype, vint, vreal = row
            if name not in self._wanted and name in KPM_MEASUREMENTS:
                continue
            node_id = e2node_id(mcc, mnc, nb_id, cu_du)
            if self._nodes and node_id not in self._nodes:
                continue
            key = (node_id, ngran)
            labels = label_cache.get(key)
            if labels is None:
                labels = label_cache[key] = batch.labels(
                    {"event": "E2SM_KPM", "e2node": node_id, "ngran_node": str(ngran)}
                )
            try:
                if type(tstamp) is not int:
                    raise MalformedPayload(f"tstamp {tstamp!r} is not an integer (µs)")
                if vtype == "INTEGER_MEAS_VALUE":
                    value = vint
                elif vtype == "REAL_MEAS_VALUE":
                    value = vreal
                elif vtype == "NO_VALUE_MEAS_VALUE":
                    continue
                else:
                    raise MalformedPayload(f"unknown meas_value_type {vtype!r}")
                batch.add(name, labels, tstamp // 1000, value)
            except MalformedPayload as exc:
                bad += 1
                record = dict(zip(("rowid", *KPM_COLUMNS), row, strict=True))
                self.sink.dead_letter(orjson.dumps(record), exc.reason)
        if batch.items:
            self.sink.publish(batch.items)
        with self._counter_lock:
            self.records += len(batch.items)
            self.dead_letters += bad
            if batch.last_ms is not None and (
                self.last_record_ms is None or batch.last_ms > self.last_record_ms
            ):
                self.last_record_ms = batch.last_ms
        return len(batch.items)

    def close(self) -> None:
        if self.config.mode == "forwarder":
            self._unsubscribe()
        if self._receiver is not None:
            self._receiver.stop()
            self._receiver = None
        self._http.close()
