"""``/api/v1``: who am I, and where are the docs, the MLflow UI and the Kubeflow dashboard."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from aifabric.fabric_api.deps import SettingsDep, TenantDep
from aifabric.fabric_api.health import Health, check
from aifabric.fabric_api.problems import responses
from aifabric.fabric_api.schemas import API_PREFIX, ApiIndex, ui_links

router = APIRouter(prefix=API_PREFIX, tags=["health"])


@router.get("", response_model=ApiIndex, responses=responses())
def index(request: Request, settings: SettingsDep, tenant: TenantDep) -> ApiIndex:
    return ApiIndex(
        version=request.app.version,
        tenant=tenant,
        links={
            "docs": "/docs",
            "openapi": "/openapi.json",
            "health": f"{API_PREFIX}/health",
            "metrics": "/metrics",
            **ui_links(settings),
        },
    )


@router.get(
    "/health", response_model=Health, responses={503: {"model": Health, "description": "a part is down"}}
)
async def health(request: Request) -> JSONResponse:
    """Each part's endpoint and health (no token needed); 503 when any part is down."""
    result = await check(request.app.state.base_settings, request.app.state.engine)
    return JSONResponse(result.model_dump(), status_code=200 if result.status == "ok" else 503)
