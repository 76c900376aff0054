"""An edge application simulator: Prometheus exposition at ``/metrics`` from the traffic model.

Families (one series per app): ``edge_app_requests`` (counter), ``edge_app_active_sessions``,
``edge_app_latency_seconds``, ``edge_app_cpu_usage_ratio`` (gauges).

Run: ``python -m aifabric.adapters.simulators.edge_sim --port 18092``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from pydantic import ValidationError

from aifabric.adapters.httpserver import JsonHttpServer, Request, Response, problem
from aifabric.adapters.simulators.traffic import Anomaly, TrafficModel
from aifabric.config import LOOPBACK

log = logging.getLogger("aifabric.sim.edge")

APPS = ("video-analytics", "ar-render", "iot-gateway")
EXPOSITION = "text/plain; version=0.0.4; charset=utf-8"


class _EdgeCollector:
    def __init__(self, sim: EdgeSimulator) -> None:
        self.sim = sim

    def collect(self):
        now = int(time.time() * 1000)
        requests = CounterMetricFamily("edge_app_requests", "Requests served", labels=["app"])
        sessions = GaugeMetricFamily("edge_app_active_sessions", "Open client sessions", labels=["app"])
        latency = GaugeMetricFamily("edge_app_latency_seconds", "Mean request latency", labels=["app"])
        cpu = GaugeMetricFamily("edge_app_cpu_usage_ratio", "CPU used / CPU limit", labels=["app"])
        for app in self.sim.apps:
            act = self.sim.model.activity(app, now)
            requests.add_metric([app], self.sim.requests_total(app, now))
            sessions.add_metric([app], round(40 * act))
            latency.add_metric([app], round(0.015 + 0.04 * act, 4))
            cpu.add_metric([app], round(min(1.0, 0.1 + 0.35 * act), 4))
        yield from (requests, sessions, latency, cpu)


class EdgeSimulator:
    def __init__(
        self, host: str = LOOPBACK, port: int = 0, seed: int = 2, apps: tuple[str, ...] = APPS
    ) -> None:
        self.apps = apps
        self.model = TrafficModel(list(apps), seed=seed)
        self.scrapes = 0
        self._counters = {a: 0.0 for a in apps}
        self._last_ms = int(time.time() * 1000)
        self._lock = threading.Lock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_EdgeCollector(self))
        s = self.server = JsonHttpServer(host, port, name="edge-sim")
        s.route("GET", "/health", lambda req, rest: Response(200, {"status": "ok"}))
        s.route("GET", "/metrics", self._metrics)
        s.route("GET", "/sim/stats", lambda req, rest: Response(200, {"scrapes": self.scrapes}))
        s.route("POST", "/sim/anomalies", self._inject)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> EdgeSimulator:
        self.server.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.stop()

    def requests_total(self, app: str, now_ms: int) -> float:
        """A monotonic counter: ~100 requests/s at activity 1, integrated since start."""
        with self._lock:
            elapsed = max(0, now_ms - self._last_ms) / 1000
            for a in self.apps:
                self._counters[a] += 100 * self.model.activity(a, now_ms) * elapsed
            self._last_ms = max(self._last_ms, now_ms)
            return float(int(self._counters[app]))

    def _metrics(self, req: Request, rest: list[str]) -> Response:
        with self._lock:
            self.scrapes += 1
        return Response(200, generate_latest(self.registry), content_type=EXPOSITION)

    def _inject(self, req: Request, rest: list[str]) -> Response:
        try:
            anomaly = Anomaly.model_validate_json(req.body)
        except ValidationError as exc:
            return problem(400, str(exc.errors()[0]["msg"]))
        self.model.inject(anomaly)
        return Response(201, anomaly.model_dump())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="edge application simulator (Prometheus exposition)")
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sim = EdgeSimulator(args.host, args.port, seed=args.seed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log.info("edge simulator on %s", sim.url)
    sim.serve_forever()


if __name__ == "__main__":
    main()
