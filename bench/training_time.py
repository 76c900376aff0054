"""Training time and pipeline wall time for one square-month (31 days x 144 slots = 4,464 slots).

Starts the embedded stack (broker, SeaweedFS, MLflow, API) in a temporary data dir on free
loopback ports, generates one square-month in the Milan format, onboards it as a dataset
version, runs the whole pipeline through kfp.local (prepare -> train -> evaluate -> register,
each a subprocess) and reports:

* ``fit_seconds``: ``model.fit`` of the definition (default: the pipeline's, ``lstm_ae_seasonal``;
  goal <= 60 s on 2 cores);
* ``pipeline_wall_seconds``: from submitting the pipeline to the registered model version;
* ``pipeline_overhead_seconds``: wall time minus fit time (goal <= 5 s), and where it goes
  (per-step wall times, measured from the kfp.local task outputs).

    python bench/training_time.py [--json] [--days 31] [--epochs N] [--definition NAME]
        [--warm-step-server]

``--warm-step-server`` turns on ``settings.kfp.warm_step_server`` (the supervisor runs a step
server that has imported TensorFlow and MLflow before any training) and waits until it has.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _free_block(size: int) -> int:
    for _ in range(200):
        base = 20000 + secrets.randbelow(35000)
        ok = True
        for port in range(base, base + size):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port block on loopback")


def _step_seconds(root: Path, started: float) -> dict[str, float]:
    """Per-task wall time from the mtimes of kfp.local's executor_output.json files (tasks run in order)."""
    outputs = sorted(root.glob("*/*/executor_output.json"), key=lambda p: p.stat().st_mtime)
    steps, previous = {}, started
    for path in outputs:
        finished = path.stat().st_mtime
        steps[path.parent.name.removesuffix("-op")] = round(finished - previous, 2)
        previous = finished
    return steps


def _wait_warm(log_file: Path, timeout: float = 120.0) -> None:
    from aifabric.kfp_pipelines.stepserver import ALL_PRELOADED

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_file.exists() and f"{ALL_PRELOADED}: all modules preloaded" in log_file.read_text():
            return
        time.sleep(0.2)
    raise TimeoutError(f"the step server did not finish its preloads in {timeout} s; see {log_file}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--epochs", type=int, default=0, help="0 = the definition's default")
    parser.add_argument("--definition", default="", help="model definition; empty = the pipeline default")
    parser.add_argument(
        "--warm-step-server",
        action="store_true",
        help="settings.kfp.warm_step_server: the stack's step server, warm before the run starts",
    )
    args = parser.parse_args()

    from aifabric.config import Settings
    from aifabric.datasets import service as datasets
    from aifabric.datasets.milan_generator import GeneratorConfig, generate
    from aifabric.datasets.schemas import DatasetCreate
    from aifabric.kfp_pipelines.config import PipelineConfig
    from aifabric.kfp_pipelines.runner import run_local
    from aifabric.kfp_pipelines.steps import TRAIN_JSON, TrainResult
    from aifabric.persistence import init_db, make_engine, session_factory
    from aifabric.runtime import Supervisor, bootstrap_storage, default_stages
    from aifabric.storage import ObjectStore

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        settings = Settings(
            data_dir=data_dir,
            kafka={"port": _free_block(1)},
            s3={"port": _free_block(12)},
            mlflow={"port": _free_block(1)},
            api={"port": _free_block(1)},
            kfp={"warm_step_server": args.warm_step_server},
        )
        stack_started = time.perf_counter()
        supervisor = Supervisor(
            settings,
            default_stages(settings),
            after_stage=lambda i: bootstrap_storage(settings) if i == 0 else None,
        )
        supervisor.start()
        stack_seconds = time.perf_counter() - stack_started
        try:
            resolved = settings.resolved()
            report = generate(
                data_dir / "milan", GeneratorConfig(squares=1, days=args.days, anomaly_rate=0.5, seed=1)
            )
            engine = make_engine(resolved.sql.url.get_secret_value())
            init_db(engine)
            onboard_started = time.perf_counter()
            with session_factory(engine)() as session:
                version = datasets.onboard(
                    session,
                    ObjectStore(resolved),
                    tenant="default",
                    create=DatasetCreate(name="square-month"),
                    files=[(f.name, f.read_bytes()) for f in report.files],
                    labels=(report.labels_file.name, report.labels_file.read_bytes()),
                )
            onboard_seconds = time.perf_counter() - onboard_started
            engine.dispose()
            if args.warm_step_server:  # a stack that is up has long finished its imports
                _wait_warm(settings.log_dir / "step-server.log")
            config = PipelineConfig(
                dataset=version.ref, train_params={"epochs": args.epochs} if args.epochs else {}
            )
            if args.definition:
                config = config.model_copy(update={"definition": args.definition})
            root = data_dir / "kfp-bench"
            started_wall = time.time()
            result = run_local(settings, config, pipeline_root=root)
            trained = TrainResult.model_validate_json(
                next(root.glob(f"*/train-op/model/{TRAIN_JSON}")).read_text()
            )
            steps = _step_seconds(root, started_wall)
        finally:
            supervisor.stop()

    summary = {
        "benchmark": "training_time",
        "slots": version.row_count,
        "definition": config.definition,
        "epochs": trained.epochs,
        "fit_seconds": round(trained.train_seconds, 2),
        "pipeline_wall_seconds": round(result.wall_seconds, 2),
        "pipeline_overhead_seconds": round(result.wall_seconds - trained.train_seconds, 2),
        "step_seconds": steps,
        "train_step_seconds": {k: round(v, 2) for k, v in trained.step_seconds.items()},
        "onboard_seconds": round(onboard_seconds, 2),
        "stack_start_seconds": round(stack_seconds, 2),
        "goals": {"fit_seconds": 60, "pipeline_overhead_seconds": 5},
        "step_server": "stack (warm)" if args.warm_step_server else "per run",
        "model_version": f"{result.registered.model_name}/{result.registered.model_version}",
    }
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return 0
    print(f"one square-month ({summary['slots']} slots), {config.definition} {summary['epochs']} epochs")
    print(f"  fit:               {summary['fit_seconds']:7.2f} s   (goal <= 60 s)")
    print(f"  pipeline wall:     {summary['pipeline_wall_seconds']:7.2f} s")
    print(f"  pipeline overhead: {summary['pipeline_overhead_seconds']:7.2f} s   (goal <= 5 s)")
    print("  steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
