"""A RAN simulator: N gNBs emitting E2SM-KPM indications, fed by the traffic model.

It speaks the xApp-forwarder protocol of :mod:`aifabric.adapters.flexric` (``POST /kpm/subscriptions``,
``DELETE /kpm/subscriptions/{id}``, indications POSTed to the subscriber every period) and can
also write the BubbleRAN xApp SQLite layout (``KPM_IND_MEAS_DATA_INFO``, one row per value)
every second, for the adapter's SQLite mode.

Run: ``python -m aifabric.adapters.simulators.ran_sim --port 18091 [--sqlite PATH]``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from aifabric.adapters.flexric import KPM_MEASUREMENTS, KPM_TABLE, SUBSCRIPTIONS_PATH, e2node_id
from aifabric.adapters.httpserver import Request, Response, problem
from aifabric.adapters.simulators.base import Simulator, now_ms
from aifabric.adapters.simulators.traffic import TrafficModel
from aifabric.config import LOOPBACK

log = logging.getLogger("aifabric.sim.ran")

PRBS = 106  # 40 MHz at 30 kHz sub-carrier spacing
REAL = {"DRB.UEThpDl", "DRB.UEThpUl", "DRB.RlcSduDelayDl"}

KPM_TABLE_DDL = f"""
CREATE TABLE IF NOT EXISTS {KPM_TABLE} (
    tstamp INTEGER NOT NULL,
    ngran_node TEXT NOT NULL,
    e2node_mcc INTEGER NOT NULL,
    e2node_mnc INTEGER NOT NULL,
    e2node_nb_id INTEGER NOT NULL,
    e2node_cu_du_id TEXT,
    gran_period_ms INTEGER NOT NULL,
    meas_name TEXT NOT NULL,
    meas_value_type TEXT NOT NULL,
    meas_value_int INTEGER,
    meas_value_real REAL
)
"""


def kpm_values(model: TrafficModel, node: str, t_ms: int, period_ms: int) -> dict[str, int | float]:
    """One granularity period of every KPM measurement for one gNB."""
    act = model.activity(node, t_ms)
    thp_dl = round(150_000 * act, 1)
    thp_ul = round(30_000 * model.activity(node, t_ms, "ul"), 1)
    used_dl = min(PRBS, round(PRBS * 0.55 * act))
    used_ul = min(PRBS, round(PRBS * 0.30 * act))
    return {
        "DRB.UEThpDl": thp_dl,
        "DRB.UEThpUl": thp_ul,
        "DRB.RlcSduDelayDl": round(800 + 1500 * act, 1),
        "DRB.PdcpSduVolumeDL": int(thp_dl * period_ms / 1000 / 8),
        "DRB.PdcpSduVolumeUL": int(thp_ul * period_ms / 1000 / 8),
        "RRU.PrbTotDl": used_dl,
        "RRU.PrbTotUl": used_ul,
        "RRU.PrbUsedDl": used_dl,
        "RRU.PrbUsedUl": used_ul,
        "RRU.PrbAvailDl": PRBS - used_dl,
        "RRU.PrbAvailUl": PRBS - used_ul,
    }


class _Sub:
    def __init__(
        self, sid: str, uri: str, period_ms: int, names: list[str], nodes: set[str], now_ms: int
    ) -> None:
        self.id, self.uri, self.period_ms, self.names, self.nodes = sid, uri, period_ms, names, nodes
        self.next_ms = now_ms


class RanSimulator(Simulator):
    name = "ran"

    def __init__(
        self,
        host: str = LOOPBACK,
        port: int = 0,
        nodes: int = 4,
        seed: int = 1,
        sqlite_path: Path | None = None,
        sqlite_period_ms: int = 1000,
    ) -> None:
        self.nodes = [
            {"ngran_node": "gNB", "mcc": "001", "mnc": "01", "nb_id": i + 1, "cu_du_id": None}
            for i in range(nodes)
        ]
        self.node_ids = [e2node_id(n["mcc"], n["mnc"], n["nb_id"], None) for n in self.nodes]
        super().__init__(host, port, TrafficModel(self.node_ids, seed=seed))
        self.sqlite_path = sqlite_path
        self.sqlite_period_ms = sqlite_period_ms
        self.subscriptions: dict[str, _Sub] = {}
        self.stats = {"created": 0, "deleted": 0, "indications": 0, "notify_errors": 0, "sqlite_rows": 0}
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=2.0)
        s = self.server
        s.route("POST", SUBSCRIPTIONS_PATH, self._create)
        s.route("DELETE", SUBSCRIPTIONS_PATH, self._delete)
        s.route("GET", "/sim/stats", lambda req, rest: Response(200, self.snapshot()))
        self.threads.append(threading.Thread(target=self._notify_loop, name="ran-sim-notify", daemon=True))
        if sqlite_path is not None:
            self.threads.append(
                threading.Thread(target=self._sqlite_loop, name="ran-sim-sqlite", daemon=True)
            )

    def close(self) -> None:
        self._http.close()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {**self.stats, "active": sorted(self.subscriptions)}

    def _create(self, req: Request, rest: list[str]) -> Response:
        try:
            body = orjson.loads(req.body)
        except orjson.JSONDecodeError:
            return problem(400, "body is not JSON")
        if not isinstance(body, dict) or not str(body.get("notificationURI", "")).startswith("http"):
            return problem(400, "notificationURI (http) is required")
        period = body.get("period_ms")
        if not isinstance(period, int) or period < 1:
            return problem(400, "period_ms must be a positive integer")
        names = body.get("measurements") or sorted(KPM_MEASUREMENTS)
        nodes = set(body.get("e2nodes") or [])
        sid = uuid.uuid4().hex[:12]
        with self._lock:
            self.subscriptions[sid] = _Sub(sid, body["notificationURI"], period, names, nodes, now_ms())
            self.stats["created"] += 1
        return Response(201, {"id": sid}, headers={"Location": f"{self.url}{SUBSCRIPTIONS_PATH}/{sid}"})

    def _delete(self, req: Request, rest: list[str]) -> Response:
        with self._lock:
            if len(rest) != 1 or self.subscriptions.pop(rest[0], None) is None:
                return problem(404, "no such subscription")
            self.stats["deleted"] += 1
        return Response(204)

    def indications(
        self, t_ms: int, period_ms: int, names: list[str], nodes: set[str]
    ) -> list[dict[str, Any]]:
        out = []
        for node, node_id in zip(self.nodes, self.node_ids, strict=True):
            if nodes and node_id not in nodes:
                continue
            values = kpm_values(self.model, node_id, t_ms, period_ms)
            out.append(
                {
                    "e2node": node,
                    "collectStartTime": t_ms * 1000,
                    "granulPeriod": period_ms,
                    "measInfoList": names,
                    "measData": [[values.get(n) for n in names]],
                }
            )
        return out

    def _notify_loop(self) -> None:
        while not self._stop.wait(0.01):
            now = now_ms()
            due = []
            with self._lock:
                for sub in self.subscriptions.values():
                    if sub.next_ms <= now:
                        due.append((sub, sub.next_ms))
                        sub.next_ms += sub.period_ms
                        if sub.next_ms <= now - sub.period_ms:
                            sub.next_ms = now + sub.period_ms
            for sub, t_ms in due:
                body = self.indications(t_ms, sub.period_ms, sub.names, sub.nodes)
                try:
                    resp = self._http.post(
                        sub.uri, content=orjson.dumps(body), headers={"Content-Type": "application/json"}
                    )
                    ok = resp.status_code in (200, 204)
                except httpx.HTTPError:
                    ok = False
                with self._lock:
                    self.stats["indications" if ok else "notify_errors"] += 1

    def write_sqlite(self, conn: sqlite3.Connection, t_ms: int) -> int:
        rows = []
        for node, node_id in zip(self.nodes, self.node_ids, strict=True):
            for name, value in kpm_values(self.model, node_id, t_ms, self.sqlite_period_ms).items():
                real = name in REAL
                rows.append(
                    (
                        t_ms * 1000,
                        node["ngran_node"],
                        int(node["mcc"]),
                        int(node["mnc"]),
                        node["nb_id"],
                        None,
                        self.sqlite_period_ms,
                        name,
                        "REAL_MEAS_VALUE" if real else "INTEGER_MEAS_VALUE",
                        None if real else value,
                        value if real else None,
                    )
                )
        with conn:
            conn.executemany(f"INSERT INTO {KPM_TABLE} VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        return len(rows)

    def _sqlite_loop(self) -> None:
        assert self.sqlite_path is not None
        self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.sqlite_path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(KPM_TABLE_DDL)
        next_ms = now_ms()
        try:
            while not self._stop.wait(max(0.0, (next_ms - now_ms()) / 1000)):
                n = self.write_sqlite(conn, next_ms)
                with self._lock:
                    self.stats["sqlite_rows"] += n
                next_ms += self.sqlite_period_ms
        finally:
            conn.close()


def main(argv: list[str] | None = None) -> None:
    def options(parser) -> None:
        parser.add_argument("--nodes", type=int, default=4)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--sqlite", type=Path, default=None, help="also write KPM rows here")

    RanSimulator.main(
        argv,
        "RAN simulator (E2SM-KPM indications, xApp SQLite layout)",
        options,
        lambda a: RanSimulator(a.host, a.port, nodes=a.nodes, seed=a.seed, sqlite_path=a.sqlite),
    )


if __name__ == "__main__":
    main()
