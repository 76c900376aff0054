"""Run the training pipeline: locally through ``kfp.local`` or on a Kubeflow cluster via ``kfp.Client``.

Configuration picks the runner (``settings.kfp.host`` empty = local); nothing else branches on
local versus cluster. Either way the runner first creates the MLflow run (so its id and link are
known at once and training progress shows in the MLflow UI), then passes its id in the config.

Local runs execute each component as its own process (``SubprocessRunner(use_venv=False)``),
forked from a pre-warmed step server (:mod:`aifabric.kfp_pipelines.stepserver`): the stack's if
``settings.kfp.warm_step_server``, else one that lives as long as the run. The components read
endpoints from ``AIFABRIC_*`` variables, which :func:`run_local` sets for the duration of the run
from ``settings``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from pydantic import BaseModel

from aifabric.config import Settings
from aifabric.kfp_pipelines.config import PipelineConfig
from aifabric.kfp_pipelines.steps import RegisterResult, code_version
from aifabric.kfp_pipelines.tracking import MlflowError, MlflowRest

__all__ = ["LocalRunResult", "create_mlflow_run", "mlflow_run_url", "run_local", "submit_cluster"]

log = logging.getLogger("aifabric.kfp_pipelines.runner")


class LocalRunResult(BaseModel):
    model_config = {"protected_namespaces": ()}

    mlflow_run_id: str
    registered: RegisterResult
    wall_seconds: float


def mlflow_run_url(settings: Settings, run_id: str, experiment_id: str) -> str:
    """Link to the run in the MLflow UI."""
    base = settings.resolved().mlflow.tracking_uri.rstrip("/")
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def create_mlflow_run(settings: Settings, config: PipelineConfig) -> tuple[str, str]:
    """Create the run every step logs into; returns ``(run_id, experiment_id)``."""
    with MlflowRest(settings) as client:
        experiment_id = client.experiment_id(config.experiment)
        run_id = client.create_run(
            experiment_id,
            run_name=f"{config.model_name or config.definition}-{config.dataset}",
            tags={"tenant": config.tenant, "dataset": config.dataset, "definition": config.definition},
        )
        keys = ("dataset", "definition", "metric", "val_fraction", "test_fraction", "threshold")
        params = {key: getattr(config, key) for key in keys} | {"gate": config.gate.model_dump_json()}
        client.log_batch(run_id, params=params)
    return run_id, experiment_id


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """kfp.local streams every task's log to stdout; keep stdout for results (fd level, so
    subprocess output follows too)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def _component_env(settings: Settings) -> Iterator[None]:
    """``AIFABRIC_*`` for the component subprocesses, restored afterwards (not thread-safe)."""
    from aifabric.runtime.services import settings_env

    env = {**settings_env(settings), "TF_CPP_MIN_LOG_LEVEL": "2", "MLFLOW_ENABLE_TELEMETRY": "false"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _touch_artifacts(settings: Settings, run_id: str) -> None:
    try:
        with MlflowRest(settings) as client:
            client.list_artifacts(run_id)
    except (MlflowError, httpx.HTTPError) as exc:  # the steps' own uploads will report it
        log.warning("MLflow artifact store: %s", exc)


def run_local(
    settings: Settings, config: PipelineConfig, pipeline_root: Path | None = None
) -> LocalRunResult:
    """Run the pipeline through ``kfp.local`` and return what was registered.

    Marks the MLflow run FINISHED or FAILED at the end.
    """
    started = time.perf_counter()
    from aifabric.kfp_pipelines.stepserver import shared_socket_path, step_server

    root = pipeline_root or settings.data_dir / "kfp-local"
    root.mkdir(parents=True, exist_ok=True)
    shared = shared_socket_path(settings) if settings.kfp.warm_step_server else None
    # the step server first: its imports are the run's critical path; kfp's and the MLflow run's
    # creation overlap them
    with _component_env(settings), step_server(root / "step-server.log", shared=shared) as steps:
        from kfp import local

        from aifabric.kfp_pipelines.pipeline import training_pipeline

        client = MlflowRest(settings)
        if not config.mlflow_run_id:
            run_id, _ = create_mlflow_run(settings, config)
            config = config.model_copy(update={"mlflow_run_id": run_id})
        if not config.code_version:
            config = config.model_copy(update={"code_version": code_version()})
        # a tracking server sets its artifact store up on the first artifact request (≈0.4 s, once
        # per server): ask for it now, beside the step server's imports, not in the middle of a step
        touch = threading.Thread(target=_touch_artifacts, args=(settings, config.mlflow_run_id), daemon=True)
        touch.start()
        with client, _stdout_to_stderr():
            try:
                steps.use_for_kfp_steps()
                local.init(
                    runner=local.SubprocessRunner(use_venv=False),
                    pipeline_root=str(root),
                    raise_on_error=True,
                )
                task = training_pipeline(config=config.model_dump_json())
                registered = RegisterResult.model_validate_json(task.output)
            except BaseException:
                client.set_terminated(config.mlflow_run_id, "FAILED")
                raise
            client.set_terminated(config.mlflow_run_id, "FINISHED")
        touch.join()
    return LocalRunResult(
        mlflow_run_id=config.mlflow_run_id, registered=registered, wall_seconds=time.perf_counter() - started
    )


def submit_cluster(settings: Settings, config: PipelineConfig) -> str:
    """Submit the pipeline to the Kubeflow Pipelines endpoint ``settings.kfp.host``; return the KFP run id."""
    import kfp

    from aifabric.kfp_pipelines.pipeline import training_pipeline

    if not settings.kfp.host:
        raise ValueError("settings.kfp.host is empty: no Kubeflow Pipelines endpoint configured")
    if not config.mlflow_run_id:
        run_id, _ = create_mlflow_run(settings, config)
        config = config.model_copy(update={"mlflow_run_id": run_id})
    client = kfp.Client(host=settings.kfp.host)
    run = client.create_run_from_pipeline_func(
        training_pipeline,
        arguments={"config": config.model_dump_json()},
        experiment_name=config.experiment,
        run_name=f"{config.definition}-{config.dataset}",
    )
    return run.run_id
