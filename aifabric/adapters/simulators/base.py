"""What every simulator shares: a loopback HTTP server with ``/health`` and ``/sim/anomalies``
(labelled anomalies injected into its traffic model), background threads that stop with it, and
a process entry point that the supervisor can stop with SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Self

from pydantic import ValidationError

from aifabric.adapters.httpserver import JsonHttpServer, Request, Response, problem
from aifabric.adapters.simulators.traffic import Anomaly, TrafficModel
from aifabric.config import LOOPBACK

__all__ = ["Simulator", "now_ms"]

log = logging.getLogger("aifabric.adapters.simulators")


def now_ms() -> int:
    return int(time.time() * 1000)


class Simulator:
    """Subclasses add their routes to ``self.server`` and their loops to ``self.threads``."""

    name = "sim"

    def __init__(self, host: str, port: int, model: TrafficModel) -> None:
        self.model = model
        self.threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.server = JsonHttpServer(host, port, name=f"{self.name}-sim")
        self.server.route("GET", "/health", lambda req, rest: Response(200, {"status": "ok"}))
        self.server.route("POST", "/sim/anomalies", self._inject)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> Self:
        """Serve in background threads (tests, benchmarks)."""
        self.server.start()
        for t in self.threads:
            t.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the foreground (the process entry point)."""
        for t in self.threads:
            t.start()
        try:
            self.server.serve_forever()
        finally:
            self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        self.server.stop()
        for t in self.threads:
            t.join(timeout=5)
        self.close()

    def close(self) -> None:
        """Release what the subclass holds (HTTP clients), after its threads have ended."""

    def _inject(self, req: Request, rest: list[str]) -> Response:
        try:
            anomaly = Anomaly.model_validate_json(req.body)
        except ValidationError as exc:
            return problem(400, str(exc.errors()[0]["msg"]))
        self.model.inject(anomaly)
        return Response(201, anomaly.model_dump())

    @classmethod
    def main(
        cls,
        argv: list[str] | None,
        description: str,
        options: Callable[[argparse.ArgumentParser], None],
        build: Callable[[argparse.Namespace], Simulator],
    ) -> None:
        """Parse ``--host/--port`` and the simulator's ``options``, then serve until SIGTERM."""
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument("--host", default=LOOPBACK)
        parser.add_argument("--port", type=int, required=True)
        options(parser)
        args = parser.parse_args(argv)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        sim = build(args)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        log.info("%s on %s", description, sim.url)
        sim.serve_forever()
