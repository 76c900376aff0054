"""The process that runs one training run: ``python -m aifabric.kfp_pipelines.worker <training id>``.

Started by :func:`aifabric.kfp_pipelines.service.start_training` with the settings in its
environment. It creates the MLflow run, runs the pipeline (locally, or on the cluster and waits),
and records the outcome (model version, bundle URI, metrics, or the error) in SQL. SIGTERM
(``stop_training``) ends it; the run is then marked ``stopped`` by the caller.
"""

from __future__ import annotations

import re
import signal
import sys
import traceback

from aifabric.config import get_settings
from aifabric.kfp_pipelines.config import PipelineConfig
from aifabric.kfp_pipelines.runner import create_mlflow_run, mlflow_run_url, run_local, submit_cluster
from aifabric.kfp_pipelines.service import TrainingRunRow
from aifabric.kfp_pipelines.tracking import MlflowRest
from aifabric.persistence import make_engine, session_factory
from aifabric.persistence.db import utcnow
from aifabric.registered_names import split_registry_name


def _cluster_outcome(settings, config: PipelineConfig, kfp_run_id: str) -> dict:
    """Wait for the KFP run, then read what its register step wrote to the MLflow run."""
    import kfp
    import mlflow

    state = kfp.Client(host=settings.kfp.host).wait_for_run_completion(kfp_run_id, timeout=24 * 3600)
    if str(state.state).upper() not in ("SUCCEEDED", "RUNTIMESTATE.SUCCEEDED"):
        raise RuntimeError(f"KFP run {kfp_run_id} ended {state.state}")
    run = mlflow.MlflowClient(settings.resolved().mlflow.tracking_uri).get_run(config.mlflow_run_id)
    registered, _, version = run.data.tags.get("model_version", "/").partition("/")
    _, name = split_registry_name(registered) or ("", registered)
    return {"model_name": name, "model_version": version, "bundle_uri": run.data.tags.get("bundle_uri")}


def main(training_id: str) -> int:
    settings = get_settings()
    engine = make_engine(settings.resolved().sql.url.get_secret_value())
    Session = session_factory(engine)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with Session() as session:
        row = session.get(TrainingRunRow, training_id)
        if row is None:
            print(f"training run {training_id} not found", file=sys.stderr)
            return 2
        row.status, row.started_at = "running", utcnow()
        session.commit()
        try:
            config = PipelineConfig.model_validate(row.config)
            run_id, experiment_id = create_mlflow_run(settings, config)
            config = config.model_copy(update={"mlflow_run_id": run_id})
            row.mlflow_run_id, row.mlflow_url = run_id, mlflow_run_url(settings, run_id, experiment_id)
            session.commit()
            if settings.kfp.host:
                row.kfp_run_id = submit_cluster(settings, config)
                session.commit()
                outcome = _cluster_outcome(settings, config, row.kfp_run_id)
                row.model_name, row.model_version = outcome["model_name"], outcome["model_version"]
                row.bundle_uri = outcome["bundle_uri"]
            else:
                result = run_local(
                    settings, config, pipeline_root=settings.data_dir / "kfp-local" / training_id
                )
                reg = result.registered
                row.model_name, row.model_version, row.bundle_uri = (
                    reg.model_name,
                    reg.model_version,
                    reg.bundle_uri,
                )
                row.alias = reg.alias
                row.metrics = _metrics(settings, run_id)
            row.status = "succeeded"
        except SystemExit:
            session.rollback()
            raise
        except BaseException as exc:
            session.rollback()
            traceback.print_exc()
            row.status, row.error = "failed", _reason(exc, row.log_file)
        row.finished_at = utcnow()
        session.commit()
    engine.dispose()
    return 0 if row.status == "succeeded" else 1


def _metrics(settings, run_id: str) -> dict:
    with MlflowRest(settings) as client:
        metrics = client.get_run(run_id)["data"].get("metrics", [])
    keep = ("eval.", "baseline.", "train_seconds")
    return {m["key"]: m["value"] for m in metrics if m["key"].startswith(keep)}


def _reason(exc: BaseException, log_file: str) -> str:
    """The user-facing cause. A failed kfp.local task only says FAILURE; its traceback went to this
    worker's log, so take the last exception line from there."""
    reason = re.sub(r"\x1b\[[0-9;]*m", "", f"{type(exc).__name__}: {exc}")
    try:
        with open(log_file, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()[-400:]
    except OSError:
        return reason
    pattern = re.compile(r"^\s*([\w.]+(Error|Exception|Request|NotFound|Conflict|Unavailable)): (.+)$")
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    causes = [m for m in map(pattern.match, map(lambda ln: ansi.sub("", ln), lines)) if m]
    causes = [m for m in causes if "finished with status" not in m.group(3)]
    if causes:
        last = causes[-1]
        reason = f"{last.group(1).rsplit('.', 1)[-1]}: {last.group(3)}"
    return f"{reason} (log: {log_file})"[:2000]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
