"""Memory and idle CPU of the embedded stack with 1, 2 and 3 models + Data Consumers.

Starts the whole stack (broker, S3, MLflow, API, collector) in a temporary data dir, registers a
sample bundle and deploys it 1, 2, 3 times (local backend: predictor + consumer per deployment,
forked from the serving fork server). After each step it lets the stack settle and samples, with
psutil over every process of each part (children included): RSS, PSS (shared pages counted once:
forked children share the fork server's imports, so summing RSS double-counts them) and CPU time
over ``--seconds`` while idle (millicores). Split like the paper: MLOps = models + consumers +
fork server + MLflow; DataOps = broker + collector; plus S3 and the API apart.
Usage: python bench/footprint.py [--json] [--seconds 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAPER = {"mlops_mb": [3200, 4000], "dataops_mb": [180, 250], "mlops_mc": [45, 70], "dataops_mc": [8, 12]}
GOAL = {"total_mb_at_3": 1200, "idle_millicores_at_3": 20}
MLOPS = ("models", "consumers", "forkserver", "mlflow")
DATAOPS = ("broker", "collector")


def _tree(pid: int | None) -> list[psutil.Process]:
    if not pid:
        return []
    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _sample(groups: dict[str, list[int]], seconds: float) -> dict[str, dict[str, float]]:
    """Each process counts once, in the first group (in ``groups`` order) whose tree holds it."""
    procs: dict[str, list[psutil.Process]] = {}
    seen: set[int] = set()
    for g, pids in groups.items():
        procs[g] = [p for pid in pids for p in _tree(pid) if p.pid not in seen]
        seen.update(p.pid for p in procs[g])

    def cpu(ps):
        total = 0.0
        for p in ps:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    before = {g: cpu(ps) for g, ps in procs.items()}
    time.sleep(seconds)
    out = {}
    for g, ps in procs.items():
        rss = pss = 0
        for p in ps:
            try:
                m = p.memory_full_info()
                rss += m.rss
                pss += m.pss
            except psutil.NoSuchProcess:
                pass
        out[g] = {
            "processes": len(ps),
            "rss_mb": round(rss / 2**20, 1),
            "pss_mb": round(pss / 2**20, 1),
            "millicores": round((cpu(ps) - before[g]) / seconds * 1000, 1),
        }
    return out


def _sum(parts: dict[str, dict[str, float]], names) -> dict[str, float]:
    return {
        k: round(sum(parts[n][k] for n in names if n in parts), 1) for k in ("rss_mb", "pss_mb", "millicores")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=10.0)
    # Longer than the consumers' idle pause delay (AIFABRIC_CONSUMER_IDLE_AFTER_S, 5 s + 0.5 s to
    # confirm): "idle" is the steady state of a stack without traffic, not its first seconds.
    parser.add_argument("--settle", type=float, default=8.0)
    args = parser.parse_args()

    from aifabric.broker import KafkaAdmin
    from aifabric.persistence import init_db, make_engine, session_factory
    from aifabric.runtime import Supervisor, bootstrap_storage, default_stages
    from aifabric.serving import service
    from aifabric.serving.backends.base import get_backend
    from aifabric.serving.models import DeploymentCreate
    from aifabric.serving.sample_bundle import write_sample_bundle
    from tests.conftest import make_settings, register_bundle

    tmp = Path(tempfile.mkdtemp(prefix="aifabric-footprint-"))
    settings = make_settings(tmp)
    sup = Supervisor(
        settings,
        default_stages(settings),
        after_stage=lambda i: bootstrap_storage(settings) if i == 0 else None,
    )
    sup.start()
    steps = []
    try:
        s = settings.resolved()
        register_bundle(s, write_sample_bundle(tmp / "bundle"), "fp", "bundles/fp", "bench", alias="champion")
        KafkaAdmin(s).ensure_topic("fp.in", partitions=2)
        engine = make_engine(s.sql.url.get_secret_value())
        init_db(engine)
        backend = get_backend(s)
        parts = {p.spec.name: p.pid for p in sup.procs}
        with session_factory(engine)() as session:
            for n in (1, 2, 3):
                dep = service.deploy(
                    session,
                    s,
                    "bench",
                    DeploymentCreate(name=f"m{n}", model="fp", alias="champion", topics=["fp.in"]),
                )
                if dep.state != "ready":
                    raise SystemExit(f"deployment {n} failed: {dep.reason}")
                deps = service.list_deployments(session, s, "bench").data
                groups = {
                    "models": [c.pid for d in deps for c in d.components if c.component == "predictor"],
                    "consumers": [c.pid for d in deps for c in d.components if c.component == "consumer"],
                    "forkserver": [backend._forkserver.proc.pid] if backend._forkserver else [],
                }
                groups |= {name: [pid] for name, pid in parts.items()}
                time.sleep(args.settle)
                sample = _sample(groups, args.seconds)
                steps.append(
                    {
                        "deployments": n,
                        "parts": sample,
                        "mlops": _sum(sample, MLOPS),
                        "dataops": _sum(sample, DATAOPS),
                        "total": _sum(sample, list(sample)),
                    }
                )
        backend.close()
    finally:
        sup.stop()
    last = steps[-1]["total"]
    out = {
        "steps": steps,
        "paper": PAPER,
        "goal": GOAL,
        "goal_met": {
            "total_mb_at_3 (pss)": last["pss_mb"] <= GOAL["total_mb_at_3"],
            "total_mb_at_3 (rss)": last["rss_mb"] <= GOAL["total_mb_at_3"],
            "idle_millicores_at_3": last["millicores"] <= GOAL["idle_millicores_at_3"],
        },
    }
    if args.json:
        sys.stdout.write(orjson.dumps(out).decode() + "\n")
        return
    for st in steps:
        print(f"{st['deployments']} model(s) + consumer(s):")
        for name, v in st["parts"].items():
            print(
                f"  {name:11s} {v['processes']:3d} procs  RSS {v['rss_mb']:7.1f} MB  "
                f"PSS {v['pss_mb']:7.1f} MB  {v['millicores']:6.1f} mc"
            )
        for name in ("mlops", "dataops", "total"):
            v = st[name]
            print(
                f"  = {name:9s} RSS {v['rss_mb']:7.1f} MB  PSS {v['pss_mb']:7.1f} MB  "
                f"{v['millicores']:6.1f} mc"
            )
    print(f"paper: MLOps {PAPER['mlops_mb']} MB, DataOps {PAPER['dataops_mb']} MB; goal at 3+3: {GOAL}")


if __name__ == "__main__":
    main()
