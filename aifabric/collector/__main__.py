"""``python -m aifabric.collector``: the collector as a long-lived process.

Serves ``GET /health`` (200 while the reconcile loop is healthy, 503 otherwise) and ``POST /wake``
(reconcile now: the API calls it when a collection is created or stopped, so an idle collector can
poll SQL only every ``--idle-tick`` seconds) on loopback at ``--port`` (default: API port + 13).
SIGTERM stops every adapter (upstream subscriptions are deleted) but keeps job states, so the next
start resumes the running jobs.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from aifabric.adapters.httpserver import JsonHttpServer, Response
from aifabric.collector.process import collector_port
from aifabric.collector.runner import Collector
from aifabric.config import LOOPBACK, get_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="aifabric Data Collector")
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--tick", type=float, default=1.0, help="seconds between reconcile passes")
    parser.add_argument(
        "--idle-tick", type=float, default=10.0, help="the same while no job is pending or running"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from aifabric.persistence import init_db, make_engine, session_factory

    settings = get_settings()
    engine = make_engine(settings.resolved().sql.url.get_secret_value())
    init_db(engine)
    collector = Collector(
        settings, session_factory(engine), tick_s=args.tick, idle_tick_s=args.idle_tick
    ).start()

    def health(req, rest) -> Response:
        body = {
            "status": "ok" if collector.last_error is None else "degraded",
            "streams": len(collector.live),
        }
        if collector.last_error:
            body["error"] = collector.last_error
        return Response(200 if collector.last_error is None else 503, body)

    server = JsonHttpServer(args.host, args.port or collector_port(settings), name="collector")

    def wake(req, rest) -> Response:
        collector.wake()
        return Response(202, {"status": "reconciling"})

    server.route("GET", "/health", health)
    server.route("POST", "/wake", wake)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    server.start()
    logging.getLogger("aifabric.collector").info("collector on %s", server.url)
    done.wait()
    server.stop()
    collector.stop()
    engine.dispose()


if __name__ == "__main__":
    main()
