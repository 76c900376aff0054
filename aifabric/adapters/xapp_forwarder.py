"""xApp-side KPM forwarder: runs next to a FlexRIC near-RT RIC and forwards E2SM-KPM indications
to FlexRIC adapters over HTTP (the protocol of :mod:`aifabric.adapters.flexric`).

FlexRIC's Python bindings (``xapp_sdk``, SWIG) exist only on an xApp host and cannot be installed
from PyPI, so they are an optional import; :class:`KpmForwarder` takes the module as a parameter
so anything with the same surface (``init``, ``conn_e2_nodes``, ``report_kpm_sm``,
``rm_report_kpm_sm``, ``kpm_cb``) can drive it.

Run on the xApp host: ``python -m aifabric.adapters.xapp_forwarder --port 18091``.
"""

from __future__ import annotations

import argparse
import logging
import queue
import threading
import time
import uuid
from types import ModuleType
from typing import Any

import httpx
import orjson

from aifabric.adapters.flexric import SUBSCRIPTIONS_PATH, e2node_id
from aifabric.adapters.httpserver import JsonHttpServer, Request, Response, problem
from aifabric.config import LOOPBACK

log = logging.getLogger("aifabric.xapp_forwarder")

INTERVALS_MS = (1, 2, 5, 10, 100, 1000)


def load_xapp_sdk() -> ModuleType | None:
    try:
        import xapp_sdk  # type: ignore[import-not-found]
    except ImportError:
        return None
    return xapp_sdk


def node_identity(node_id: Any) -> dict[str, Any]:
    """A FlexRIC ``global_e2_node_id_t`` as the forwarder's ``e2node`` object."""
    nb = getattr(node_id, "nb_id", None)
    nb = getattr(nb, "nb_id", nb)  # newer bindings wrap nb_id in a struct
    cu_du = getattr(node_id, "cu_du_id", None)
    return {
        "ngran_node": str(getattr(node_id, "type", "gNB")),
        "mcc": f"{int(node_id.plmn.mcc):03d}",
        "mnc": f"{int(node_id.plmn.mnc):0{int(getattr(node_id.plmn, 'mnc_digit_len', 2))}d}",
        "nb_id": int(nb),
        "cu_du_id": int(cu_du) if cu_du not in (None, 0) else None,
    }


def indication_json(node: dict[str, Any], ind: Any, period_ms: int, ric: Any = None) -> dict[str, Any]:
    """A KPM indication (SWIG object: ``hdr``, ``MeasInfo``, ``MeasData``) as forwarder JSON."""
    start = int(getattr(getattr(ind, "hdr", None), "collectStartTime", 0) or time.time() * 1_000_000)
    if start < 10**12:  # some bindings report seconds
        start *= 1_000_000
    names = [str(mi.measName) for mi in ind.MeasInfo]
    int_kind = getattr(ric, "INTEGER_MEAS_VALUE", 0)
    real_kind = getattr(ric, "REAL_MEAS_VALUE", 1)
    rows = []
    for md in ind.MeasData:
        row: list[int | float | None] = []
        for rec in md.measRecord:
            kind = getattr(rec, "value", None)
            if kind == int_kind:
                row.append(int(rec.int_val))
            elif kind == real_kind:
                row.append(float(rec.real_val))
            else:
                row.append(None)
        rows.append(row)
    return {
        "e2node": node,
        "collectStartTime": start,
        "granulPeriod": period_ms,
        "measInfoList": names,
        "measData": rows,
    }


class KpmForwarder:
    """Serves ``/kpm/subscriptions``; each subscription is one KPM report per connected E2 node."""

    def __init__(self, ric: Any, host: str = LOOPBACK, port: int = 0) -> None:
        self.ric = ric
        self.subs: dict[str, dict[str, Any]] = {}
        self._out: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=10_000)
        self._http = httpx.Client(timeout=2.0)
        self._lock = threading.Lock()
        s = self.server = JsonHttpServer(host, port, name="xapp-forwarder")
        s.route("GET", "/health", lambda req, rest: Response(200, {"status": "ok"}))
        s.route("POST", SUBSCRIPTIONS_PATH, self._create)
        s.route("DELETE", SUBSCRIPTIONS_PATH, self._delete)
        self._sender = threading.Thread(target=self._send_loop, name="xapp-forwarder-send", daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> KpmForwarder:
        self._sender.start()
        self.server.start()
        return self

    def stop(self) -> None:
        for sid in list(self.subs):
            self._remove(sid)
        self.server.stop()
        self._out.put(None)
        self._sender.join(timeout=5)
        self._http.close()

    def _interval(self, period_ms: int) -> Any:
        best = min(INTERVALS_MS, key=lambda ms: abs(ms - period_ms))
        return getattr(self.ric, f"Interval_ms_{best}"), best

    def _create(self, req: Request, rest: list[str]) -> Response:
        try:
            body = orjson.loads(req.body)
        except orjson.JSONDecodeError:
            return problem(400, "body is not JSON")
        uri = body.get("notificationURI") if isinstance(body, dict) else None
        if not isinstance(uri, str) or not uri.startswith("http"):
            return problem(400, "notificationURI (http) is required")
        interval, period_ms = self._interval(int(body.get("period_ms") or 1000))
        wanted_nodes = set(body.get("e2nodes") or [])
        wanted_names = set(body.get("measurements") or [])
        sid = uuid.uuid4().hex[:12]
        handles = []
        for conn in self.ric.conn_e2_nodes():
            node = node_identity(conn.id)
            if (
                wanted_nodes
                and e2node_id(node["mcc"], node["mnc"], node["nb_id"], node["cu_du_id"]) not in wanted_nodes
            ):
                continue
            cb = self._callback(uri, node, period_ms, wanted_names)
            handles.append((self.ric.report_kpm_sm(conn.id, interval, cb), cb))
        with self._lock:
            self.subs[sid] = {"uri": uri, "handles": handles}
        return Response(
            201,
            {"id": sid, "e2nodes": len(handles)},
            headers={"Location": f"{self.url}{SUBSCRIPTIONS_PATH}/{sid}"},
        )

    def _callback(self, uri: str, node: dict[str, Any], period_ms: int, names: set[str]) -> Any:
        forwarder = self

        class _Callback(self.ric.kpm_cb):  # the RIC calls handle() from its own thread
            def __init__(self) -> None:
                forwarder.ric.kpm_cb.__init__(self)

            def handle(self, ind: Any) -> None:
                msg = indication_json(node, ind, period_ms, forwarder.ric)
                if names:
                    keep = [i for i, n in enumerate(msg["measInfoList"]) if n in names]
                    msg["measInfoList"] = [msg["measInfoList"][i] for i in keep]
                    msg["measData"] = [[row[i] for i in keep] for row in msg["measData"]]
                try:
                    forwarder._out.put_nowait((uri, orjson.dumps(msg)))
                except queue.Full:
                    log.warning("forward queue full: dropping a KPM indication for %s", uri)

        return _Callback()

    def _delete(self, req: Request, rest: list[str]) -> Response:
        if len(rest) != 1 or rest[0] not in self.subs:
            return problem(404, "no such subscription")
        self._remove(rest[0])
        return Response(204)

    def _remove(self, sid: str) -> None:
        with self._lock:
            sub = self.subs.pop(sid, None)
        for handle, _cb in (sub or {}).get("handles", []):
            self.ric.rm_report_kpm_sm(handle)

    def _send_loop(self) -> None:
        while (item := self._out.get()) is not None:
            uri, body = item
            try:
                self._http.post(uri, content=body, headers={"Content-Type": "application/json"})
            except httpx.HTTPError as exc:
                log.info("forwarding to %s failed: %s", uri, exc)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="FlexRIC xApp-side KPM forwarder")
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ric = load_xapp_sdk()
    if ric is None:
        parser.exit(2, "xapp_sdk (FlexRIC's Python bindings) is not importable: run this on an xApp host\n")
    ric.init()
    fwd = KpmForwarder(ric, args.host, args.port)
    fwd._sender.start()
    log.info("KPM forwarder on %s", fwd.url)
    fwd.server.serve_forever()


if __name__ == "__main__":
    main()
