"""``/training``: start a training run (202, poll the run), status, metrics, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from aifabric.config import Settings
from aifabric.fabric_api.deps import SessionDep, SettingsDep, TenantDep
from aifabric.fabric_api.problems import responses
from aifabric.fabric_api.schemas import API_PREFIX, TrainingMetrics, TrainingsView, TrainingView, ui_links
from aifabric.kfp_pipelines import service
from aifabric.kfp_pipelines.service import TrainingCreate, TrainingPublic

router = APIRouter(prefix=f"{API_PREFIX}/training", tags=["training"])

TrainingId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="training run id")]


def view(run: TrainingPublic, settings: Settings) -> TrainingView:
    links = {"self": f"{API_PREFIX}/training/{run.id}", **ui_links(settings)}
    if run.mlflow_url:
        links["mlflow_run"] = run.mlflow_url
    if run.model_name and run.model_version:
        links["model_version"] = f"{API_PREFIX}/models/{run.model_name}/versions/{run.model_version}"
    name, _, number = run.dataset.partition("@")
    if name:
        links["dataset_version"] = f"{API_PREFIX}/datasets/{name}/versions/{number or 'latest'}"
    return TrainingView(**run.model_dump(), links=links)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TrainingView,
    responses=responses(404),
)
def start_training(
    body: TrainingCreate, response: Response, session: SessionDep, settings: SettingsDep, tenant: TenantDep
) -> TrainingView:
    """Start the training pipeline on a dataset version; poll ``Location`` for status and metrics."""
    run = service.start_training(session, settings, tenant=tenant, create=body)
    response.headers["Location"] = f"{API_PREFIX}/training/{run.id}"
    return view(run, settings)


@router.get("", response_model=TrainingsView, responses=responses())
def list_training(
    session: SessionDep,
    settings: SettingsDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TrainingsView:
    """This tenant's training runs, newest first."""
    data = [view(r, settings) for r in service.list_trainings(session, tenant=tenant, limit=limit)]
    return TrainingsView(data=data, count=len(data))


@router.get("/{training_id}", response_model=TrainingView, responses=responses(404))
def get_training(
    training_id: TrainingId, session: SessionDep, settings: SettingsDep, tenant: TenantDep
) -> TrainingView:
    """Status, progress (epochs), metrics, the registered model version and the MLflow link."""
    return view(service.get_training(session, settings, tenant=tenant, training_id=training_id), settings)


@router.get("/{training_id}/metrics", response_model=TrainingMetrics, responses=responses(404))
def training_metrics(
    training_id: TrainingId, session: SessionDep, settings: SettingsDep, tenant: TenantDep
) -> TrainingMetrics:
    """Evaluation metrics and per-epoch progress (the numbers the MLflow UI shows)."""
    run = service.get_training(session, settings, tenant=tenant, training_id=training_id)
    return TrainingMetrics(
        id=run.id, status=run.status, metrics=run.metrics, progress=run.progress, mlflow_url=run.mlflow_url
    )


@router.post("/{training_id}/cancel", response_model=TrainingView, responses=responses(404, 409))
def cancel_training(
    training_id: TrainingId, session: SessionDep, settings: SettingsDep, tenant: TenantDep
) -> TrainingView:
    """Stop a queued or running training (409 when it has already ended)."""
    return view(service.stop_training(session, settings, tenant=tenant, training_id=training_id), settings)
