"""``/models``: onboarded model definitions and the catalog of registered model versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, UploadFile, status
from starlette.concurrency import run_in_threadpool

from aifabric.fabric_api import catalog
from aifabric.fabric_api.deps import AdminDep, SessionDep, SettingsDep, StoreDep, TenantDep
from aifabric.fabric_api.problems import PayloadTooLarge, responses
from aifabric.fabric_api.schemas import API_PREFIX
from aifabric.models import catalog as definitions
from aifabric.models.catalog import MAX_SOURCE_BYTES, DefinitionPublic

router = APIRouter(prefix=f"{API_PREFIX}/models", tags=["models"])

ModelName = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$", description="registered model")
]
DefinitionName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]


@router.get("", response_model=catalog.RegisteredModelsPublic, responses=responses())
def list_models(settings: SettingsDep, tenant: TenantDep) -> catalog.RegisteredModelsPublic:
    """Discovery: registered models with this tenant's versions, aliases and lineage."""
    return catalog.list_models(settings, tenant=tenant)


@router.get("/definitions", response_model=list[DefinitionPublic], responses=responses())
def list_definitions(session: SessionDep, tenant: TenantDep) -> list[DefinitionPublic]:
    """Onboarded model definitions (built in: ``lstm_ae``, ``lstm_ae_log``, ``lstm_ae_cyclic``,
    ``lstm_ae_seasonal``)."""
    return definitions.list_definitions(session, tenant=tenant)


@router.post(
    "/definitions",
    status_code=status.HTTP_201_CREATED,
    response_model=DefinitionPublic,
    responses=responses(403, 413),
)
async def onboard_definition(
    session: SessionDep,
    store: StoreDep,
    principal: AdminDep,
    file: Annotated[UploadFile, File(description="a Python module with one ModelDefinition subclass")],
    class_name: Annotated[str | None, Form(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = None,
) -> DefinitionPublic:
    """Check (in a separate interpreter) and store a definition module. Definitions are code: admin only."""
    source = await file.read(MAX_SOURCE_BYTES + 1)
    if len(source) > MAX_SOURCE_BYTES:
        raise PayloadTooLarge(f"a definition module may have at most {MAX_SOURCE_BYTES} bytes")
    return await run_in_threadpool(
        definitions.onboard_definition,
        session,
        store,
        tenant=principal.tenant,
        filename=file.filename or "",
        source=source,
        class_name=class_name,
        uploaded_by=f"token:{principal.token_id[:8]}",
    )


@router.get("/definitions/{name}", response_model=DefinitionPublic, responses=responses(404))
def get_definition(name: DefinitionName, session: SessionDep, tenant: TenantDep) -> DefinitionPublic:
    return definitions.get_definition(session, tenant=tenant, name=name)


@router.get("/{name}", response_model=catalog.RegisteredModelPublic, responses=responses(404))
def get_model(name: ModelName, settings: SettingsDep, tenant: TenantDep) -> catalog.RegisteredModelPublic:
    """A registered model: versions with metrics, aliases, lineage to dataset versions, MLflow links."""
    return catalog.get_model(settings, tenant=tenant, name=name)


@router.get("/{name}/best", response_model=catalog.ModelVersionPublic, responses=responses(404))
def best_version(
    name: ModelName,
    settings: SettingsDep,
    tenant: TenantDep,
    metric: Annotated[str, Query(pattern=r"^[A-Za-z0-9_.]{1,128}$")] = "eval.roc_auc",
) -> catalog.ModelVersionPublic:
    """The version with the highest ``metric`` (gate-passed versions first): what to deploy."""
    return catalog.best_version(settings, tenant=tenant, name=name, metric=metric)


@router.get("/{name}/versions/{version}", response_model=catalog.ModelVersionPublic, responses=responses(404))
def get_version(
    name: ModelName,
    version: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="version number or alias")],
    settings: SettingsDep,
    tenant: TenantDep,
) -> catalog.ModelVersionPublic:
    """One version (by number or alias) with its input schema, metrics and lineage."""
    return catalog.get_version(settings, tenant=tenant, name=name, version=version)
