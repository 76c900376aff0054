"""An edge application simulator: Prometheus exposition at ``/metrics`` from the traffic model.

Families (one series per app): ``edge_app_requests`` (counter), ``edge_app_active_sessions``,
``edge_app_latency_seconds``, ``edge_app_cpu_usage_ratio`` (gauges).

Run: ``python -m aifabric.adapters.simulators.edge_sim --port 18092``.
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from aifabric.adapters.httpserver import Request, Response
from aifabric.adapters.simulators.base import Simulator, now_ms
from aifabric.adapters.simulators.traffic import TrafficModel
from aifabric.config import LOOPBACK

log = logging.getLogger("aifabric.sim.edge")

APPS = ("video-analytics", "ar-render", "iot-gateway")
EXPOSITION = "text/plain; version=0.0.4; charset=utf-8"


class _EdgeCollector:
    def __init__(self, sim: EdgeSimulator) -> None:
        self.sim = sim

    def collect(self):
        now = now_ms()
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


class EdgeSimulator(Simulator):
    name = "edge"

    def __init__(
        self, host: str = LOOPBACK, port: int = 0, seed: int = 2, apps: tuple[str, ...] = APPS
    ) -> None:
        super().__init__(host, port, TrafficModel(list(apps), seed=seed))
        self.apps = apps
        self.scrapes = 0
        self._counters = {a: 0.0 for a in apps}
        self._last_ms = now_ms()
        self._lock = threading.Lock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_EdgeCollector(self))
        self.server.route("GET", "/metrics", self._metrics)
        self.server.route("GET", "/sim/stats", lambda req, rest: Response(200, {"scrapes": self.scrapes}))

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


def main(argv: list[str] | None = None) -> None:
    EdgeSimulator.main(
        argv,
        "edge application simulator (Prometheus exposition)",
        lambda parser: parser.add_argument("--seed", type=int, default=2),
        lambda a: EdgeSimulator(a.host, a.port, seed=a.seed),
    )


if __name__ == "__main__":
    main()
