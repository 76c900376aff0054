"""NWDAF adapter (5G core), 3GPP TS 29.520.

Subscribe mode (default): ``POST {apiRoot}/nnwdaf-eventssubscription/v1/subscriptions`` with a
``notificationURI`` served by this adapter, ``notificationMethod`` PERIODIC, ``repetitionPeriod``
= the requested period and ``extraReportReq`` start/end; notifications are received as the
standard array of ``NnwdafEventsSubscriptionNotification`` or as the OpenAirInterface NWDAF's
single bare ``EventNotification``; the subscription is deleted when the stream ends. If
notifications stop arriving the adapter reports itself degraded and re-subscribes with backoff.

Poll mode: ``GET {apiRoot}/nnwdaf-analyticsinfo/v1/analytics`` per event every period.

Records (the paper's Fig. 2 with identity in the labels)::

    NUM_OF_UE    ← nwPerfs[nwPerfType=NUM_OF_UE].absoluteNum   labels {event, cell | area}
    UPLINK_VOL   ← ueComms[].trafChar.ulVol                     labels {event, ue_group, dnn, snssai}
    NF_CPU_USAGE ← nfLoadLevelInfos[].nfCpuUsage                labels {event, nf_type, nf_instance}
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import httpx
import orjson
from pydantic import Field

from aifabric.adapters.base import (
    Adapter,
    AdapterConfig,
    MalformedPayload,
    RecordBatch,
    SourceUnavailable,
    StreamFilters,
    parse_json,
    parse_time_ms,
)
from aifabric.adapters.httpserver import JsonHttpServer, Request, Response, problem
from aifabric.config import LOOPBACK
from aifabric.errors import InvalidRequest

log = logging.getLogger("aifabric.adapters.nwdaf")

SUBSCRIPTIONS_PATH = "/nnwdaf-eventssubscription/v1/subscriptions"
ANALYTICS_PATH = "/nnwdaf-analyticsinfo/v1/analytics"

NETWORK_PERFORMANCE = "NETWORK_PERFORMANCE"
UE_COMMUNICATION = "UE_COMMUNICATION"
NF_LOAD = "NF_LOAD"

NW_PERF_TYPES = (
    "GNB_ACTIVE_RATIO",
    "GNB_COMPUTING_USAGE",
    "GNB_MEMORY_USAGE",
    "GNB_DISK_USAGE",
    "GNB_RSC_USAGE_OVERALL_TRAFFIC",
    "GNB_RSC_USAGE_GBR_TRAFFIC",
    "GNB_RSC_USAGE_DELAY_CRIT_GBR_TRAFFIC",
    "NUM_OF_UE",
    "SESS_SUCC_RATIO",
    "HO_SUCC_RATIO",
)
UE_COMM_FIELDS = {"UPLINK_VOL": "ulVol", "DOWNLINK_VOL": "dlVol"}
NF_LOAD_FIELDS = {
    "NF_CPU_USAGE": "nfCpuUsage",
    "NF_MEMORY_USAGE": "nfMemoryUsage",
    "NF_STORAGE_USAGE": "nfStorageUsage",
    "NF_LOAD_LEVEL": "nfLoadLevelAverage",
    "NF_LOAD_PEAK": "nfLoadLevelpeak",
}
EVENT_OF_METRIC: dict[str, str] = {
    **{m: NETWORK_PERFORMANCE for m in NW_PERF_TYPES},
    **{m: UE_COMMUNICATION for m in UE_COMM_FIELDS},
    **{m: NF_LOAD for m in NF_LOAD_FIELDS},
}
KNOWN_METRICS = frozenset(EVENT_OF_METRIC)

GROUP_ID = re.compile(r"^[A-Fa-f0-9]{8}-[0-9]{3}-[0-9]{2,3}-([A-Fa-f0-9][A-Fa-f0-9]){1,10}$")
NR_CELL_ID = re.compile(r"^[A-Fa-f0-9]{9}$")
TAC = re.compile(r"^([A-Fa-f0-9]{4}|[A-Fa-f0-9]{6})$")
SNSSAI = re.compile(r"^(\d{1,3})(?:-([A-Fa-f0-9]{6}))?$")


class NwdafAdapterConfig(AdapterConfig):
    type: Literal["nwdaf"] = "nwdaf"
    api_root: str = Field(description="NWDAF apiRoot, e.g. http://127.0.0.1:18090")
    mode: Literal["subscribe", "poll"] = "subscribe"
    notification_host: str = Field(LOOPBACK, description="address the notification receiver binds")
    notification_port: int = Field(0, ge=0, le=65535, description="0 = any free port")
    mcc: str = Field("001", pattern=r"^\d{3}$")
    mnc: str = Field("01", pattern=r"^\d{2,3}$")
    timeout_s: float = Field(5.0, gt=0)


def snssai_of(text: str) -> dict[str, Any]:
    m = SNSSAI.match(text)
    if not m or int(m.group(1)) > 255:
        raise InvalidRequest(f"slice {text!r} is not an S-NSSAI of the form sst or sst-sd (e.g. 1-000001)")
    out: dict[str, Any] = {"sst": int(m.group(1))}
    if m.group(2):
        out["sd"] = m.group(2).upper()
    return out


def snssai_label(value: Any) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("sst"), int):
        raise MalformedPayload(f"snssai {str(value)[:60]!r} has no integer sst")
    return f"{value['sst']}-{value['sd']}" if value.get("sd") else str(value["sst"])


def subscription_body(
    metrics: list[str],
    filters: StreamFilters,
    period_s: float,
    start: datetime,
    stop: datetime | None,
    notification_uri: str | None,
    corr_id: str,
    plmn: dict[str, str],
) -> dict[str, Any]:
    """The ``NnwdafEventsSubscription`` for the requested metrics (one EventSubscription per event)."""
    report: dict[str, Any] = {"startTs": _iso(start)}
    if stop is not None:
        report["endTs"] = _iso(stop)
    by_event: dict[str, list[str]] = {}
    for m in metrics:
        by_event.setdefault(EVENT_OF_METRIC[m], []).append(m)
    subs = []
    for event, ms in by_event.items():
        sub: dict[str, Any] = {
            "event": event,
            "notificationMethod": "PERIODIC",
            "repetitionPeriod": round(period_s),
            "extraReportReq": report,
        }
        if filters.slices:
            sub["snssaia"] = [snssai_of(s) for s in filters.slices]
        if event == NETWORK_PERFORMANCE:
            sub["nwPerfRequs"] = [{"nwPerfType": m} for m in ms]
            area = network_area(filters, plmn)
            if area:
                sub["networkArea"] = area
        elif event == UE_COMMUNICATION:
            sub["tgtUe"] = {"intGroupIds": filters.ue_groups} if filters.ue_groups else {"anyUe": True}
            if filters.dnns:
                sub["dnns"] = filters.dnns
        elif event == NF_LOAD and filters.nf_types:
            sub["nfTypes"] = filters.nf_types
        subs.append(sub)
    body: dict[str, Any] = {"eventSubscriptions": subs, "notifCorrId": corr_id}
    if notification_uri:
        body["notificationURI"] = notification_uri
    return body


def network_area(filters: StreamFilters, plmn: dict[str, str]) -> dict[str, Any]:
    area: dict[str, Any] = {}
    if filters.cells:
        area["ncgis"] = [{"plmnId": plmn, "nrCellId": c} for c in filters.cells]
    if filters.tais:
        area["tais"] = [{"plmnId": plmn, "tac": t} for t in filters.tais]
    return area


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


class NwdafAdapter(Adapter):
    domain = "core"
    source = "NWDAF"
    config_class = NwdafAdapterConfig
    metrics = KNOWN_METRICS
    filters = frozenset({"cells", "tais", "slices", "ue_groups", "dnns", "nf_types"})
    min_period_s = 1.0
    stale_periods: ClassVar[float] = 3.0
    stale_min_s: ClassVar[float] = 3.0

    @classmethod
    def check(cls, metrics: list[str], filters: StreamFilters, period_s: float) -> None:
        super().check(metrics, filters, period_s)
        if abs(period_s - round(period_s)) > 1e-9:
            raise InvalidRequest(f"NWDAF repetitionPeriod is whole seconds; {period_s}s is not")
        for c in filters.cells:
            if not NR_CELL_ID.match(c):
                raise InvalidRequest(f"cell {c!r} is not an NR cell id (9 hex digits)")
        for t in filters.tais:
            if not TAC.match(t):
                raise InvalidRequest(f"tracking area code {t!r} is not 4 or 6 hex digits")
        for s in filters.slices:
            snssai_of(s)
        for g in filters.ue_groups:
            if not GROUP_ID.match(g):
                raise InvalidRequest(f"UE group {g!r} is not an internal group id (e.g. 00000001-001-01-01)")
        if len(filters.ue_groups) > 1:
            raise InvalidRequest(
                "UE_COMMUNICATION analytics do not say which UE group they describe: "
                "request one ue_group per collection"
            )

    def __init__(self, config: NwdafAdapterConfig, params, sink) -> None:
        super().__init__(config, params, sink)
        self.config: NwdafAdapterConfig = config
        self._http = httpx.Client(timeout=config.timeout_s)
        self._receiver: JsonHttpServer | None = None
        self.subscription_url: str | None = None
        self._last_notification = 0.0
        self._plmn = {"mcc": config.mcc, "mnc": config.mnc}
        self._ue_group = params.filters.ue_groups[0] if params.filters.ue_groups else "any"
        self._cell_labels: dict[str, tuple[dict[str, str], str, bytes]] = {}

    # -- normalisation ---------------------------------------------------------------------

    def normalize(self, payload: bytes) -> RecordBatch:
        data = parse_json(payload)
        events: list[tuple[str, Any]] = []
        if isinstance(data, list):
            if not data:
                raise MalformedPayload("empty notification array")
            for i, notif in enumerate(data):
                events.extend(self._notification_events(notif, f"[{i}]"))
        elif isinstance(data, dict):
            if "subscriptionId" in data or "eventNotifications" in data:
                events.extend(self._notification_events(data, ""))
            else:  # the OAI NWDAF posts one bare EventNotification; AnalyticsData looks the same
                events.append(("", data))
        else:
            raise MalformedPayload(f"expected a JSON array or object, got {type(data).__name__}")
        batch = RecordBatch(self.source)
        now_ms = int(time.time() * 1000)
        for where, ev in events:
            self._event_records(batch, ev, where, now_ms)
        return batch

    def _notification_events(self, notif: Any, where: str) -> list[tuple[str, Any]]:
        if not isinstance(notif, dict):
            raise MalformedPayload(f"notification{where} is not an object")
        evs = notif.get("eventNotifications")
        if evs is None:
            if "resourceUri" in notif:  # subscription transfer notice: nothing to record
                return []
            raise MalformedPayload(f"notification{where} has no eventNotifications")
        if not isinstance(evs, list):
            raise MalformedPayload(f"notification{where}.eventNotifications is not an array")
        return [(f"{where}.eventNotifications[{j}]", ev) for j, ev in enumerate(evs)]

    def _event_records(self, batch: RecordBatch, ev: Any, where: str, now_ms: int) -> None:
        if not isinstance(ev, dict):
            raise MalformedPayload(f"event notification{where} is not an object")
        event = ev.get("event")
        if not isinstance(event, str) or not event:
            if not any(k in ev for k in ("nwPerfs", "ueComms", "nfLoadLevelInfos")):
                raise MalformedPayload(f"event notification{where} has no 'event'")
            event = ""  # AnalyticsData (poll mode) carries no event name
        ts_raw = ev.get("timeStampGen") or ev.get("start")
        ts_ms = parse_time_ms(ts_raw, f"{where}.timeStampGen") if ts_raw is not None else now_ms
        wanted = set(self.params.metrics)
        perfs = _array(ev, "nwPerfs", where)
        if perfs:
            self._nw_perfs(batch, perfs, where, ts_ms, wanted)
        for i, comm in enumerate(_array(ev, "ueComms", where)):
            self._ue_comm(batch, comm, f"{where}.ueComms[{i}]", ts_ms, wanted)
        for i, load in enumerate(_array(ev, "nfLoadLevelInfos", where)):
            self._nf_load(batch, load, f"{where}.nfLoadLevelInfos[{i}]", ts_ms, wanted)

    def _nw_perfs(self, batch: RecordBatch, perfs: list, where: str, ts_ms: int, wanted: set[str]) -> None:
        """The hot path: one cell per entry, labels cached per cell; anything else takes the
        checked path, which also names what is wrong."""
        cache = self._cell_labels
        if len(cache) > 100_000:
            cache.clear()
        add = batch.add
        for i, perf in enumerate(perfs):
            try:
                kind = perf["nwPerfType"]
                value = perf["absoluteNum"] if "absoluteNum" in perf else perf["relativeRatio"]
                ncgis = perf["networkArea"]["ncgis"]
                cell = ncgis[0]["nrCellId"] if len(ncgis) == 1 else None
                if type(kind) is not str or type(cell) is not str or not kind:
                    raise TypeError
            except (KeyError, TypeError, IndexError):
                self._nw_perf(batch, perf, f"{where}.nwPerfs[{i}]", ts_ms, wanted)
                continue
            if kind in wanted or kind not in KNOWN_METRICS:
                labels = cache.get(cell)
                if labels is None:
                    labels = cache[cell] = batch.labels({"event": NETWORK_PERFORMANCE, "cell": cell})
                add(kind, labels, ts_ms, value)

    def _nw_perf(self, batch: RecordBatch, perf: Any, where: str, ts_ms: int, wanted: set[str]) -> None:
        if not isinstance(perf, dict):
            raise MalformedPayload(f"{where} is not an object")
        kind = perf.get("nwPerfType")
        if not isinstance(kind, str) or not kind:
            raise MalformedPayload(f"{where} has no nwPerfType")
        value = perf.get("absoluteNum", perf.get("relativeRatio"))
        if value is None:
            raise MalformedPayload(f"{where} has neither absoluteNum nor relativeRatio")
        area = perf.get("networkArea")
        if not isinstance(area, dict):
            raise MalformedPayload(f"{where} has no networkArea")
        labels = {"event": NETWORK_PERFORMANCE, **_area_labels(area, where)}
        # Unknown nwPerfType values are accepted (every 3GPP enum is open) and passed through.
        if kind in wanted or kind not in KNOWN_METRICS:
            batch.add(kind, batch.labels(labels), ts_ms, value)

    def _ue_comm(self, batch: RecordBatch, comm: Any, where: str, ts_ms: int, wanted: set[str]) -> None:
        if not isinstance(comm, dict):
            raise MalformedPayload(f"{where} is not an object")
        traf = comm.get("trafChar")
        if not isinstance(traf, dict):
            raise MalformedPayload(f"{where} has no trafChar")
        if "ulVol" not in traf and "dlVol" not in traf:
            raise MalformedPayload(f"{where}.trafChar has neither ulVol nor dlVol")
        labels = {"event": UE_COMMUNICATION, "ue_group": self._ue_group}
        if "dnn" in traf:
            labels["dnn"] = str(traf["dnn"])
        if "snssai" in traf:
            labels["snssai"] = snssai_label(traf["snssai"])
        if "appId" in traf:
            labels["app"] = str(traf["appId"])
        lab = batch.labels(labels)
        for metric, field in UE_COMM_FIELDS.items():
            if field in traf and metric in wanted:
                batch.add(metric, lab, ts_ms, traf[field])

    def _nf_load(self, batch: RecordBatch, load: Any, where: str, ts_ms: int, wanted: set[str]) -> None:
        if not isinstance(load, dict):
            raise MalformedPayload(f"{where} is not an object")
        nf_type, nf_id = load.get("nfType"), load.get("nfInstanceId")
        if not isinstance(nf_type, str) or not isinstance(nf_id, str):
            raise MalformedPayload(f"{where} needs nfType and nfInstanceId strings")
        lab = batch.labels({"event": NF_LOAD, "nf_type": nf_type, "nf_instance": nf_id})
        for metric, field in NF_LOAD_FIELDS.items():
            if field in load and metric in wanted:
                batch.add(metric, lab, ts_ms, load[field])

    # -- upstream ----------------------------------------------------------------------------

    def _body(self) -> dict[str, Any]:
        uri = None
        if self._receiver is not None:
            uri = f"{self._receiver.url}/notify/{self.params.stream_id}"
        p = self.params
        return subscription_body(
            p.metrics, p.filters, p.period_s, p.start, p.stop, uri, p.stream_id, self._plmn
        )

    def step(self) -> float:
        if self.config.mode == "poll":
            return self._poll()
        if self._receiver is None:
            self._receiver = self._start_receiver()
        if self.subscription_url is None:
            self._subscribe()
            return self.params.period_s
        stale_after = max(self.stale_min_s, self.stale_periods * self.params.period_s)
        silent = time.monotonic() - self._last_notification
        if silent > stale_after:
            self._unsubscribe()  # the NWDAF may have lost it (restart); start afresh
            raise SourceUnavailable(f"no notification from the NWDAF for {silent:.1f}s; re-subscribing")
        return min(self.params.period_s, 1.0)

    def _start_receiver(self) -> JsonHttpServer:
        server = JsonHttpServer(
            self.config.notification_host, self.config.notification_port, name="nwdaf-notify"
        )
        server.route("POST", "/notify", self._on_notification)
        server.route("GET", "/health", lambda req, rest: Response(200, {"status": "ok"}))
        return server.start()

    def _on_notification(self, req: Request, rest: list[str]) -> Response:
        if rest and rest[0] != self.params.stream_id:
            return problem(404, f"no stream {rest[0]!r} here")
        self._last_notification = time.monotonic()
        self.ingest(req.body)
        # A malformed notification is dead-lettered by us; the NWDAF delivered it, so 204 either way.
        return Response(204)

    def _request(self, method: str, url: str, **kw) -> httpx.Response:
        self.count_call()
        try:
            return self._http.request(method, url, **kw)
        except httpx.HTTPError as exc:
            raise SourceUnavailable(f"NWDAF at {self.config.api_root} unreachable: {exc}") from None

    def _subscribe(self) -> None:
        url = self.config.api_root.rstrip("/") + SUBSCRIPTIONS_PATH
        resp = self._request("POST", url, json=self._body())
        if resp.status_code != 201:
            raise SourceUnavailable(
                f"NWDAF refused the subscription: HTTP {resp.status_code} {resp.text[:200]}"
            )
        location = resp.headers.get("Location")
        if not location:
            raise SourceUnavailable("NWDAF answered 201 without a Location header")
        self.subscription_url = (
            location if location.startswith("http") else self.config.api_root.rstrip("/") + location
        )
        self._last_notification = time.monotonic()
        log.info("%s subscribed: %s", self.params.stream_id, self.subscription_url)

    def _unsubscribe(self) -> None:
        url, self.subscription_url = self.subscription_url, None
        if url is None:
            return
        try:
            resp = self._request("DELETE", url)
            if resp.status_code not in (204, 200, 404):
                log.warning("%s: DELETE %s answered %s", self.params.stream_id, url, resp.status_code)
        except SourceUnavailable as exc:
            log.info("%s: could not delete %s: %s", self.params.stream_id, url, exc)

    def on_update(self) -> None:
        if self.subscription_url is None:
            return
        try:
            resp = self._request("PUT", self.subscription_url, json=self._body())
            if resp.status_code not in (200, 204):
                log.warning("%s: subscription update answered %s", self.params.stream_id, resp.status_code)
        except SourceUnavailable as exc:
            log.warning("%s: subscription update failed: %s", self.params.stream_id, exc)

    def _poll(self) -> float:
        started = time.monotonic()
        url = self.config.api_root.rstrip("/") + ANALYTICS_PATH
        body = self._body()
        for sub in body["eventSubscriptions"]:
            event_filter = {
                k: v for k, v in sub.items() if k in ("networkArea", "snssaia", "dnns", "nfTypes")
            }
            if "snssaia" in event_filter:
                event_filter["snssais"] = event_filter.pop("snssaia")
            if "nwPerfRequs" in sub:
                event_filter["nwPerfTypes"] = [r["nwPerfType"] for r in sub["nwPerfRequs"]]
            params = {"event-id": sub["event"]}
            if event_filter:
                params["event-filter"] = orjson.dumps(event_filter).decode()
            if "tgtUe" in sub:
                params["tgt-ue"] = orjson.dumps(sub["tgtUe"]).decode()
            resp = self._request("GET", url, params=params)
            if resp.status_code == 204:
                continue
            if resp.status_code != 200:
                raise SourceUnavailable(
                    f"NWDAF analytics query answered HTTP {resp.status_code}: {resp.text[:200]}"
                )
            payload = resp.content
            data = parse_json_or_none(payload)
            if isinstance(data, dict):  # AnalyticsData names no event: tag it like a notification
                payload = orjson.dumps({"event": sub["event"], **data})
            self.ingest(payload)
        return max(0.0, self.params.period_s - (time.monotonic() - started))

    def close(self) -> None:
        if self.config.mode == "subscribe":
            self._unsubscribe()
        if self._receiver is not None:
            self._receiver.stop()
            self._receiver = None
        self._http.close()


def parse_json_or_none(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None


def _array(ev: dict, key: str, where: str) -> list:
    value = ev.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"{where}.{key} is not an array")
    return value


def _area_labels(area: dict, where: str) -> dict[str, str]:
    ncgis = area.get("ncgis")
    if isinstance(ncgis, list) and ncgis:
        ids = [n.get("nrCellId") for n in ncgis if isinstance(n, dict)]
        if not ids or not all(isinstance(i, str) for i in ids):
            raise MalformedPayload(f"{where}.networkArea.ncgis has an entry without nrCellId")
        return {"cell": ids[0]} if len(ids) == 1 else {"area": "+".join(sorted(ids))}
    tais = area.get("tais")
    if isinstance(tais, list) and tais:
        tacs = [t.get("tac") for t in tais if isinstance(t, dict)]
        if not tacs or not all(isinstance(t, str) for t in tacs):
            raise MalformedPayload(f"{where}.networkArea.tais has an entry without tac")
        return {"area": "tac-" + "+".join(sorted(tacs))}
    for key in ("ecgis", "gRanNodeIds"):
        if area.get(key):
            return {"area": orjson.dumps(area[key], option=orjson.OPT_SORT_KEYS).decode()[:200]}
    raise MalformedPayload(f"{where}.networkArea names no cell, tracking area or RAN node")
