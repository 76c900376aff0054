"""``/deployments``: deploy a model version with its Data Consumer (202), status, timings, results,
redeploy (202), undeploy.

Deploying takes seconds, so the service call runs as a background operation; the handler returns
202 as soon as the deployment row exists (``Location`` is the deployment to poll) or answers the
error when the request fails before that (unknown model, conflict). While an operation runs, reads
of that deployment do not write (the operation owns its row).
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlalchemy import select

from aifabric.config import Settings
from aifabric.errors import Conflict, Forbidden, InvalidRequest, NotFound
from aifabric.fabric_api import catalog
from aifabric.fabric_api.deps import PrincipalDep, SessionDep, SettingsDep, TenantDep
from aifabric.fabric_api.operations import Operations
from aifabric.fabric_api.problems import responses
from aifabric.fabric_api.schemas import API_PREFIX, DeploymentsView, DeploymentView
from aifabric.fabric_api.tenants import Principal
from aifabric.records import ScoreResult
from aifabric.serving import service
from aifabric.serving.models import DeploymentCreate, DeploymentPublic, DeploymentRedeploy, DeploymentTiming
from aifabric.serving.tables import DeploymentRow

router = APIRouter(prefix=f"{API_PREFIX}/deployments", tags=["deployments"])

DeploymentId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="deployment id")]
ROW_WAIT_S = 120.0


def _ops(request: Request) -> Operations:
    return request.app.state.operations


def _view(request: Request, dep: DeploymentPublic) -> DeploymentView:
    op = _ops(request).get((dep.tenant, dep.name))
    return DeploymentView(
        **dep.model_dump(),
        operation=op,
        links={
            "self": f"{API_PREFIX}/deployments/{dep.id}",
            "timings": f"{API_PREFIX}/deployments/{dep.id}/timings",
            "results": f"{API_PREFIX}/deployments/{dep.id}/results",
            "model_version": f"{API_PREFIX}/models/{dep.model_name}/versions/{dep.model_version}",
        },
    )


def _check_model(
    settings: Settings, principal: Principal, ref: DeploymentCreate | DeploymentRedeploy
) -> None:
    """A tenant deploys only registry versions it can see; raw bundle URIs (any path) are admin only."""
    if ref.model_uri:
        if not principal.admin:
            raise Forbidden("deploying a bundle by model_uri needs an admin token; use model + version/alias")
        return
    catalog.get_version(
        settings, tenant=principal.tenant, name=ref.model or "", version=ref.version or ref.alias or ""
    )


def _row(session, tenant: str, deployment_id: str) -> DeploymentRow:
    row = session.get(DeploymentRow, deployment_id)
    if row is None or row.tenant != tenant:
        raise NotFound(f"deployment {deployment_id!r} does not exist")
    return row


def _read_only(session, settings: Settings, tenant: str, deployment_id: str) -> DeploymentPublic:
    for dep in service.list_deployments(session, settings, tenant).data:
        if dep.id == deployment_id:
            return dep
    raise NotFound(f"deployment {deployment_id!r} does not exist")


def _mark_failed(request: Request, tenant: str, name: str, reason: str) -> None:
    with request.app.state.sessions() as session:
        row = session.scalar(
            select(DeploymentRow).where(DeploymentRow.tenant == tenant, DeploymentRow.name == name)
        )
        if row is not None and row.state == "pending":
            row.state, row.reason = "failed", reason[:2000]
            session.commit()


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeploymentView,
    responses=responses(403, 404, 409),
)
def create_deployment(
    body: DeploymentCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> DeploymentView:
    """Deploy a model version (pinned once; an alias is resolved now) on input topics.

    Returns 202 with the deployment (state ``pending``); poll ``Location`` until ``ready`` or ``failed``.
    """
    tenant = principal.tenant
    _check_model(settings, principal, body)
    exists = session.scalar(
        select(DeploymentRow.id).where(DeploymentRow.tenant == tenant, DeploymentRow.name == body.name)
    )
    if exists is not None:
        raise Conflict(f"deployment {body.name!r} exists already (id {exists}); undeploy or redeploy it")
    sessions = request.app.state.sessions

    def deploy() -> DeploymentPublic:
        with sessions() as own:
            return service.deploy(own, settings, tenant, body)

    future = _ops(request).submit(
        (tenant, body.name), "deploy", deploy, lambda reason: _mark_failed(request, tenant, body.name, reason)
    )
    deadline = time.monotonic() + ROW_WAIT_S
    while True:
        session.expire_all()
        found = session.scalar(
            select(DeploymentRow.id).where(DeploymentRow.tenant == tenant, DeploymentRow.name == body.name)
        )
        if found is not None:
            break
        if future.done():
            future.result()  # raises the error that stopped it before the row existed
            continue
        if time.monotonic() > deadline:
            raise Conflict(f"deployment {body.name!r} was not recorded within {ROW_WAIT_S:.0f}s")
        time.sleep(0.05)
    response.headers["Location"] = f"{API_PREFIX}/deployments/{found}"
    return _view(request, _read_only(session, settings, tenant, found))


@router.get("", response_model=DeploymentsView, responses=responses())
def list_deployments(
    request: Request, session: SessionDep, settings: SettingsDep, tenant: TenantDep
) -> DeploymentsView:
    """This tenant's deployments (last recorded state; GET one for its live state)."""
    data = [_view(request, d) for d in service.list_deployments(session, settings, tenant).data]
    return DeploymentsView(data=data, count=len(data))


@router.get("/{deployment_id}", response_model=DeploymentView, responses=responses(404))
def get_deployment(
    deployment_id: DeploymentId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    tenant: TenantDep,
) -> DeploymentView:
    """Live state of each component (pending / ready / failed + reason) and the latest timings."""
    row = _row(session, tenant, deployment_id)
    if _ops(request).running((tenant, row.name)):
        return _view(request, _read_only(session, settings, tenant, deployment_id))
    return _view(request, service.get_deployment(session, settings, tenant, deployment_id))


@router.delete(
    "/{deployment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=responses(404, 409),
)
def delete_deployment(
    deployment_id: DeploymentId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    tenant: TenantDep,
) -> Response:
    """Undeploy: stop both components and forget the deployment (its results topic stays)."""
    row = _row(session, tenant, deployment_id)
    if _ops(request).running((tenant, row.name)):
        raise Conflict(f"deployment {row.name!r} has an operation in progress; retry when it ends")
    service.undeploy(session, settings, tenant, deployment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{deployment_id}/redeploy",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeploymentView,
    responses=responses(403, 404, 409),
)
def redeploy(
    deployment_id: DeploymentId,
    body: DeploymentRedeploy,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> DeploymentView:
    """Switch to another version of the same model; the consumer group's offsets carry over. 202: poll."""
    tenant = principal.tenant
    row = _row(session, tenant, deployment_id)
    if body.model and body.model != row.model_name:
        raise InvalidRequest(f"redeploy keeps the model ({row.model_name}); got {body.model}")
    if row.state == "pending":
        raise Conflict(f"deployment {row.name!r} is still starting; retry when it is ready or failed")
    _check_model(settings, principal, body)
    sessions = request.app.state.sessions

    def run() -> DeploymentPublic:
        with sessions() as own:
            return service.redeploy(own, settings, tenant, deployment_id, body)

    _ops(request).submit((tenant, row.name), "redeploy", run, lambda reason: None)
    response.headers["Location"] = f"{API_PREFIX}/deployments/{deployment_id}"
    return _view(request, _read_only(session, settings, tenant, deployment_id))


@router.get("/{deployment_id}/timings", response_model=list[DeploymentTiming], responses=responses(404))
def timings(
    deployment_id: DeploymentId, session: SessionDep, settings: SettingsDep, tenant: TenantDep
) -> list[DeploymentTiming]:
    """Request -> ready of every deploy and redeploy: model, consumer and combined ms (Table I)."""
    return service.timings(session, settings, tenant, deployment_id)


@router.get("/{deployment_id}/results", response_model=list[ScoreResult], responses=responses(404))
def results(
    deployment_id: DeploymentId,
    session: SessionDep,
    settings: SettingsDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[ScoreResult]:
    """The newest ``limit`` anomaly scores from the deployment's results topic (newest last)."""
    return service.latest_results(session, settings, tenant, deployment_id, limit)
