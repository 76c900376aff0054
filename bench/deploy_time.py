"""Deployment time (request -> ready) of model, consumer and both, over n local deployments.

Starts its own embedded stack (broker, S3, MLflow) in a temporary data dir, registers a sample
bundle, then deploys and undeploys n times through ``aifabric.serving.service``. The local
backend forks components from its pre-imported fork server, which starts with the backend (as it
does when the API starts); its start-up time is reported apart. ``--cold`` disables the fork
server (every component imports KServe itself).
Usage: python bench/deploy_time.py [--json] [-n 10] [--cold]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAPER = {"model_ms": 7580, "consumer_ms": 3350, "combined_ms": 8350}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("-n", type=int, default=10)
    parser.add_argument("--cold", action="store_true", help="no fork server: cold processes")
    args = parser.parse_args()
    if args.cold:
        os.environ["AIFABRIC_SERVING_FORKSERVER"] = "0"

    import time

    from aifabric.broker import KafkaAdmin
    from aifabric.persistence import init_db, make_engine, session_factory
    from aifabric.runtime import Supervisor, bootstrap_storage, default_stages
    from aifabric.serving import service
    from aifabric.serving.backends.base import get_backend
    from aifabric.serving.models import DeploymentCreate
    from aifabric.serving.sample_bundle import write_sample_bundle
    from tests.conftest import make_settings, register_bundle

    tmp = Path(tempfile.mkdtemp(prefix="aifabric-bench-"))
    settings = make_settings(tmp)
    sup = Supervisor(
        settings,
        default_stages(settings),
        after_stage=lambda i: bootstrap_storage(settings) if i == 0 else None,
    )
    sup.start()
    try:
        s = settings.resolved()
        register_bundle(
            s, write_sample_bundle(tmp / "bundle"), "bench", "bundles/bench", "bench", alias="champion"
        )
        KafkaAdmin(s).ensure_topic("bench.in")
        engine = make_engine(s.sql.url.get_secret_value())
        init_db(engine)
        t0 = time.monotonic()
        backend = get_backend(s)
        if backend._forkserver is not None:
            backend._forkserver.wait_ready()
        forkserver_ms = (time.monotonic() - t0) * 1000 if backend._forkserver is not None else None
        runs = []
        with session_factory(engine)() as session:
            for i in range(args.n):
                dep = service.deploy(
                    session,
                    s,
                    "bench",
                    DeploymentCreate(name=f"d{i}", model="bench", alias="champion", topics=["bench.in"]),
                )
                if dep.state != "ready" or dep.timings is None:
                    raise SystemExit(f"deployment {i} failed: {dep.reason}")
                runs.append(dep.timings)
                service.undeploy(session, s, "bench", dep.id)
        get_backend(s).close()
    finally:
        sup.stop()
    out = {"n": len(runs), "mode": "cold" if args.cold else "forkserver", "paper_ms": PAPER}
    out["forkserver_start_ms"] = round(forkserver_ms, 1) if forkserver_ms is not None else None
    for key in ("model_ms", "consumer_ms", "combined_ms"):
        vals = [getattr(t, key) for t in runs]
        out[key] = {
            "mean": round(statistics.mean(vals), 1),
            "stdev": round(statistics.stdev(vals), 1) if len(vals) > 1 else 0.0,
            "p50": round(statistics.median(vals), 1),
        }
    out["goal_combined_p50_ms"] = 1500
    out["goal_met"] = out["combined_ms"]["p50"] <= 1500
    if args.json:
        sys.stdout.write(orjson.dumps(out).decode() + "\n")
        return
    print(f"{len(runs)} local deployments (request -> ready, {out['mode']}), ms")
    if forkserver_ms is not None:
        print(f"  fork server start (once, with the backend): {forkserver_ms:.0f} ms")
    for key in ("model_ms", "consumer_ms", "combined_ms"):
        m = out[key]
        print(
            f"  {key:12s} mean {m['mean']:8.1f}  sd {m['stdev']:7.1f}  p50 {m['p50']:8.1f}"
            f"   paper {PAPER[key]}"
        )


if __name__ == "__main__":
    main()
