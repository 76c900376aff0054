"""An NWDAF simulator: the TS 29.520 subset the NWDAF adapter uses, fed by the traffic model.

- ``POST /nnwdaf-eventssubscription/v1/subscriptions`` → 201 + ``Location``; ``PUT`` and
  ``DELETE .../subscriptions/{id}`` (200 / 204, 404 when unknown). Bad bodies get 400
  ``ProblemDetails``.
- Every ``repetitionPeriod`` seconds from ``extraReportReq.startTs`` until ``endTs`` it POSTs a
  notification to the ``notificationURI``: the standard array of
  ``NnwdafEventsSubscriptionNotification`` or, in ``oai`` form, one bare ``EventNotification``
  per event, as the OpenAirInterface NWDAF does.
- ``GET /nnwdaf-analyticsinfo/v1/analytics?event-id=...&event-filter=...`` → ``AnalyticsData``
  (204 when the event has no data here).
- Test hooks under ``/sim``: stats (subscriptions created, deleted, notifications sent),
  anomaly injection, notification form, and the clock (``PUT /sim/clock``: accelerated simulated
  time, e.g. one 10-minute slot per wall second for the demo; anomalies use simulated time).

Run: ``python -m aifabric.adapters.simulators.nwdaf_sim --port 18090``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import orjson
from pydantic import ValidationError

from aifabric.adapters.httpserver import Request, Response, problem
from aifabric.adapters.nwdaf import (
    ANALYTICS_PATH,
    NETWORK_PERFORMANCE,
    NF_LOAD,
    SUBSCRIPTIONS_PATH,
    UE_COMMUNICATION,
)
from aifabric.adapters.simulators.base import Simulator, now_ms
from aifabric.adapters.simulators.traffic import SimClock, TrafficModel, cell_ids
from aifabric.config import LOOPBACK

log = logging.getLogger("aifabric.sim.nwdaf")

Form = Literal["array", "oai"]
DEFAULT_SNSSAI = {"sst": 1, "sd": "000001"}
DEFAULT_DNNS = ("internet", "ims")
NF_INSTANCES = (
    ("AMF", "8f0c3b1e-7e3a-4a39-9e54-2b6a1f0c0001"),
    ("SMF", "8f0c3b1e-7e3a-4a39-9e54-2b6a1f0c0002"),
    ("UPF", "8f0c3b1e-7e3a-4a39-9e54-2b6a1f0c0003"),
)
CELLS_PER_TA = 4


def iso(t_ms: int) -> str:
    ts = datetime.fromtimestamp(t_ms / 1000, UTC)
    return f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond // 1000:03d}Z"


def parse_iso_ms(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    ts = datetime.fromisoformat(value)
    return int((ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp() * 1000)


class _Subscription:
    def __init__(self, sid: str, body: dict[str, Any], now_ms: int) -> None:
        self.id = sid
        self.update(body, now_ms)

    def update(self, body: dict[str, Any], now_ms: int) -> None:
        self.body = body
        self.uri: str = body["notificationURI"]
        first = body["eventSubscriptions"][0]
        report = first.get("extraReportReq") or {}
        self.period_ms = int(first.get("repetitionPeriod", 1)) * 1000
        start = parse_iso_ms(report.get("startTs")) or now_ms
        self.end_ms = parse_iso_ms(report.get("endTs"))
        if not hasattr(self, "next_ms"):
            self.next_ms = max(now_ms, start)


class NwdafSimulator(Simulator):
    name = "nwdaf"

    def __init__(
        self,
        host: str = LOOPBACK,
        port: int = 0,
        cells: int = 8,
        seed: int = 0,
        form: Form = "array",
        mcc: str = "001",
        mnc: str = "01",
    ) -> None:
        super().__init__(host, port, TrafficModel(cell_ids(cells), seed=seed))
        self.clock = SimClock()
        self.form: Form = form
        self.plmn = {"mcc": mcc, "mnc": mnc}
        self.subscriptions: dict[str, _Subscription] = {}
        self.deleted: list[str] = []
        self.stats = {
            "created": 0,
            "updated": 0,
            "deleted": 0,
            "notifications": 0,
            "notify_errors": 0,
            "analytics": 0,
        }
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=2.0)
        s = self.server
        s.route("POST", SUBSCRIPTIONS_PATH, self._create)
        s.route("PUT", SUBSCRIPTIONS_PATH, self._update)
        s.route("DELETE", SUBSCRIPTIONS_PATH, self._delete)
        s.route("GET", ANALYTICS_PATH, self._analytics)
        s.route("GET", "/sim/stats", lambda req, rest: Response(200, self.snapshot()))
        s.route("PUT", "/sim/form", self._set_form)
        s.route("GET", "/sim/clock", lambda req, rest: Response(200, self._clock_view()))
        s.route("PUT", "/sim/clock", self._set_clock)
        self.threads.append(threading.Thread(target=self._notify_loop, name="nwdaf-sim-notify", daemon=True))

    def close(self) -> None:
        self._http.close()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {**self.stats, "active": sorted(self.subscriptions), "deleted_ids": list(self.deleted)}

    # -- subscriptions -----------------------------------------------------------------------

    @staticmethod
    def _check_body(req: Request) -> dict[str, Any] | Response:
        try:
            body = orjson.loads(req.body)
        except orjson.JSONDecodeError as exc:
            return problem(400, f"body is not JSON: {exc}", "INVALID_MSG_FORMAT")
        if not isinstance(body, dict):
            return problem(400, "body must be an NnwdafEventsSubscription object", "INVALID_MSG_FORMAT")
        subs = body.get("eventSubscriptions")
        if not isinstance(subs, list) or not subs:
            return problem(400, "eventSubscriptions (at least one) is required", "MANDATORY_IE_MISSING")
        for i, sub in enumerate(subs):
            if not isinstance(sub, dict) or not isinstance(sub.get("event"), str):
                return problem(400, f"eventSubscriptions[{i}].event is required", "MANDATORY_IE_MISSING")
            if sub.get("notificationMethod", "PERIODIC") != "PERIODIC":
                return problem(400, "this NWDAF supports PERIODIC notifications only", "INVALID_MSG_FORMAT")
            period = sub.get("repetitionPeriod")
            if not isinstance(period, int) or period < 1:
                return problem(
                    400, f"eventSubscriptions[{i}].repetitionPeriod must be >= 1 s", "INVALID_MSG_FORMAT"
                )
        if not isinstance(body.get("notificationURI"), str) or not body["notificationURI"].startswith("http"):
            return problem(400, "notificationURI (http or https) is required", "MANDATORY_IE_MISSING")
        return body

    def _create(self, req: Request, rest: list[str]) -> Response:
        if rest:
            return problem(405, "POST is allowed on the collection only")
        body = self._check_body(req)
        if isinstance(body, Response):
            return body
        sid = uuid.uuid4().hex[:16]
        with self._lock:
            self.subscriptions[sid] = _Subscription(sid, body, now_ms())
            self.stats["created"] += 1
        log.info("subscription %s created -> %s", sid, body["notificationURI"])
        return Response(201, body, headers={"Location": f"{self.url}{SUBSCRIPTIONS_PATH}/{sid}"})

    def _update(self, req: Request, rest: list[str]) -> Response:
        if len(rest) != 1:
            return problem(405, "PUT needs a subscription id")
        body = self._check_body(req)
        if isinstance(body, Response):
            return body
        with self._lock:
            sub = self.subscriptions.get(rest[0])
            if sub is None:
                return problem(404, f"subscription {rest[0]} does not exist", "SUBSCRIPTION_NOT_FOUND")
            sub.update(body, now_ms())
            self.stats["updated"] += 1
        return Response(200, body)

    def _delete(self, req: Request, rest: list[str]) -> Response:
        if len(rest) != 1:
            return problem(405, "DELETE needs a subscription id")
        with self._lock:
            if self.subscriptions.pop(rest[0], None) is None:
                return problem(404, f"subscription {rest[0]} does not exist", "SUBSCRIPTION_NOT_FOUND")
            self.deleted.append(rest[0])
            self.stats["deleted"] += 1
        log.info("subscription %s deleted", rest[0])
        return Response(204)

    def _set_form(self, req: Request, rest: list[str]) -> Response:
        form = orjson.loads(req.body or b"{}").get("form")
        if form not in ("array", "oai"):
            return problem(400, "form must be 'array' or 'oai'")
        self.form = form
        return Response(200, {"form": form})

    def _set_clock(self, req: Request, rest: list[str]) -> Response:
        try:
            clock = SimClock.model_validate_json(req.body or b"{}")
        except ValidationError as exc:
            return problem(400, str(exc.errors()[0]["msg"]))
        self.clock = clock.model_copy(update={"wall_ms": now_ms()})
        return Response(200, self._clock_view())

    def _clock_view(self) -> dict[str, Any]:
        """The clock, simulated now, and the traffic model's identity (to rebuild its history)."""
        return {
            **self.clock.model_dump(),
            "now_ms": self.clock.sim_ms(now_ms()),
            "cells": self.model.cells,
            "seed": self.model.seed,
        }

    # -- content -----------------------------------------------------------------------------

    def _cells(self, area: dict[str, Any] | None) -> list[str]:
        if not area:
            return self.model.cells
        wanted: set[str] = set()
        for ncgi in area.get("ncgis") or []:
            wanted.add(str(ncgi.get("nrCellId", "")).lower())
        for tai in area.get("tais") or []:
            tac = int(str(tai.get("tac", "0")), 16)
            wanted.update(self.model.cells[(tac - 1) * CELLS_PER_TA : tac * CELLS_PER_TA])
        return [c for c in self.model.cells if c in wanted]

    def _nw_perf_value(self, cell: str, kind: str, t_ms: int) -> dict[str, int]:
        m = self.model
        if kind == "NUM_OF_UE":
            return {"absoluteNum": round(120 * m.activity(cell, t_ms))}
        if kind == "SESS_SUCC_RATIO":
            return {"relativeRatio": m.ratio(cell, t_ms, kind, 97, 1.5)}
        if kind == "HO_SUCC_RATIO":
            return {"relativeRatio": m.ratio(cell, t_ms, kind, 95, 2.0)}
        if kind == "GNB_ACTIVE_RATIO":
            return {"relativeRatio": m.ratio(cell, t_ms, kind, 92, 3.0)}
        return {"relativeRatio": int(min(100, max(1, round(10 + 55 * m.activity(cell, t_ms, kind)))))}

    def event_notification(self, sub: dict[str, Any], t_ms: int, period_s: int) -> dict[str, Any]:
        """One ``EventNotification`` (or the body of an ``AnalyticsData``) for an event subscription."""
        event = sub["event"]
        out: dict[str, Any] = {
            "event": event,
            "start": iso(t_ms),
            "expiry": iso(t_ms + period_s * 1000),
            "timeStampGen": iso(t_ms),
        }
        if event == NETWORK_PERFORMANCE:
            kinds = [r["nwPerfType"] for r in sub.get("nwPerfRequs") or [] if isinstance(r, dict)] or [
                "NUM_OF_UE"
            ]
            perfs = []
            window = {"startTime": iso(t_ms - period_s * 1000), "stopTime": iso(t_ms)}
            for cell in self._cells(sub.get("networkArea")):
                area = {"ncgis": [{"plmnId": self.plmn, "nrCellId": cell}]}
                for kind in kinds:
                    perfs.append(
                        {
                            "networkArea": area,
                            "nwPerfType": kind,
                            "anaPeriod": window,
                            **self._nw_perf_value(cell, kind, t_ms),
                        }
                    )
            if perfs:
                out["nwPerfs"] = perfs
        elif event == UE_COMMUNICATION:
            comms = []
            groups = (sub.get("tgtUe") or {}).get("intGroupIds") or ["any"]
            for dnn in sub.get("dnns") or DEFAULT_DNNS:
                for snssai in sub.get("snssaia") or [DEFAULT_SNSSAI]:
                    act = sum(self.model.activity(f"{g}/{dnn}", t_ms) for g in groups)
                    share = 0.8 if dnn == "internet" else 0.2
                    comms.append(
                        {
                            "commDur": period_s,
                            "ts": iso(t_ms),
                            "trafChar": {
                                "dnn": dnn,
                                "snssai": snssai,
                                "ulVol": int(2_000_000 * share * act * period_s),
                                "dlVol": int(15_000_000 * share * act * period_s),
                            },
                        }
                    )
            out["ueComms"] = comms
        elif event == NF_LOAD:
            types = sub.get("nfTypes")
            loads = []
            for nf_type, nf_id in NF_INSTANCES:
                if types and nf_type not in types:
                    continue
                act = self.model.activity(nf_id, t_ms)
                loads.append(
                    {
                        "nfType": nf_type,
                        "nfInstanceId": nf_id,
                        "nfCpuUsage": int(min(100, 10 + 45 * act)),
                        "nfMemoryUsage": int(min(100, 30 + 20 * act)),
                        "nfStorageUsage": 40,
                        "nfLoadLevelAverage": int(min(100, 10 + 40 * act)),
                    }
                )
            if loads:
                out["nfLoadLevelInfos"] = loads
        return out

    def _analytics(self, req: Request, rest: list[str]) -> Response:
        event = req.param("event-id")
        if not event:
            return problem(400, "query parameter event-id is required", "MANDATORY_QUERY_PARAM_MISSING")
        sub: dict[str, Any] = {"event": event}
        for param, keys in (("event-filter", None), ("tgt-ue", "tgtUe")):
            raw = req.param(param)
            if raw is None:
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return problem(400, f"{param} is not JSON", "INVALID_QUERY_PARAM")
            if not isinstance(value, dict):
                return problem(400, f"{param} must be a JSON object", "INVALID_QUERY_PARAM")
            if keys:
                sub[keys] = value
            else:
                sub.update(value)
                if "nwPerfTypes" in value:
                    sub["nwPerfRequs"] = [{"nwPerfType": t} for t in value["nwPerfTypes"]]
                if "snssais" in value:
                    sub["snssaia"] = value["snssais"]
        with self._lock:
            self.stats["analytics"] += 1
        if event not in (NETWORK_PERFORMANCE, UE_COMMUNICATION, NF_LOAD):
            return Response(204)
        data = self.event_notification(sub, self.clock.sim_ms(now_ms()), 1)
        data.pop("event")
        if len(data) <= 3:  # only the time stamps: nothing to report
            return Response(204)
        return Response(200, data)

    # -- notifications -----------------------------------------------------------------------

    def notification_bodies(self, sub: _Subscription, t_ms: int) -> list[Any]:
        """What one report sends: one array body, or one bare object per event (OAI form)."""
        clock = self.clock
        period_s = max(1, round(sub.period_ms // 1000 * clock.time_scale))
        sim_ms = clock.sim_ms(t_ms)
        events = [self.event_notification(es, sim_ms, period_s) for es in sub.body["eventSubscriptions"]]
        if self.form == "oai":
            return events
        notif: dict[str, Any] = {"subscriptionId": sub.id, "eventNotifications": events}
        if "notifCorrId" in sub.body:
            notif["notifCorrId"] = sub.body["notifCorrId"]
        return [[notif]]

    def _notify_loop(self) -> None:
        while not self._stop.wait(0.02):
            now = now_ms()
            due: list[tuple[_Subscription, int]] = []
            with self._lock:
                for sid, sub in list(self.subscriptions.items()):
                    if sub.end_ms is not None and sub.next_ms > sub.end_ms:
                        self.subscriptions.pop(sid)
                        log.info("subscription %s reached endTs", sid)
                        continue
                    if sub.next_ms <= now:
                        due.append((sub, sub.next_ms))
                        sub.next_ms += sub.period_ms
                        if sub.next_ms <= now - sub.period_ms:  # we fell behind: skip, do not burst
                            sub.next_ms = now + sub.period_ms
            for sub, t_ms in due:
                for body in self.notification_bodies(sub, t_ms):
                    self._send(sub, body)

    def _send(self, sub: _Subscription, body: Any) -> None:
        try:
            resp = self._http.post(
                sub.uri, content=orjson.dumps(body), headers={"Content-Type": "application/json"}
            )
            ok = resp.status_code in (200, 204)
        except httpx.HTTPError as exc:
            log.info("notification to %s failed: %s", sub.uri, exc)
            ok = False
        with self._lock:
            self.stats["notifications" if ok else "notify_errors"] += 1


def main(argv: list[str] | None = None) -> None:
    def options(parser) -> None:
        parser.add_argument("--cells", type=int, default=8)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--form", choices=["array", "oai"], default="array")

    NwdafSimulator.main(
        argv,
        "NWDAF simulator (3GPP TS 29.520 subset)",
        options,
        lambda a: NwdafSimulator(a.host, a.port, cells=a.cells, seed=a.seed, form=a.form),
    )


if __name__ == "__main__":
    main()
