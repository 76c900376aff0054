"""``/admin``: tenants and tokens (admin tokens only). The CLI offers the same without the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from aifabric.fabric_api import tenants
from aifabric.fabric_api.deps import AdminDep, SessionDep
from aifabric.fabric_api.problems import responses
from aifabric.fabric_api.schemas import API_PREFIX
from aifabric.fabric_api.tenants import TenantCreate, TenantPublic, TokenCreate, TokenCreated, TokenPublic

router = APIRouter(prefix=f"{API_PREFIX}/admin", tags=["admin"])


@router.get("/tenants", response_model=list[TenantPublic], responses=responses(403))
def list_tenants(session: SessionDep, _: AdminDep) -> list[TenantPublic]:
    return tenants.list_tenants(session)


@router.post(
    "/tenants",
    status_code=status.HTTP_201_CREATED,
    response_model=TenantPublic,
    responses=responses(403, 409),
)
def create_tenant(body: TenantCreate, session: SessionDep, _: AdminDep) -> TenantPublic:
    return tenants.create_tenant(session, name=body.name)


@router.get("/tokens", response_model=list[TokenPublic], responses=responses(403))
def list_tokens(session: SessionDep, _: AdminDep) -> list[TokenPublic]:
    """Token metadata only: tokens are stored as digests and cannot be shown again."""
    return tenants.list_tokens(session)


@router.post(
    "/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenCreated, responses=responses(403, 404)
)
def create_token(body: TokenCreate, session: SessionDep, _: AdminDep) -> TokenCreated:
    """A new token for a tenant; the token is in this response only."""
    return tenants.create_token(session, tenant=body.tenant, description=body.description, admin=body.admin)


@router.post("/tokens/{token_id}/revoke", response_model=TokenPublic, responses=responses(403, 404))
def revoke_token(
    token_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], session: SessionDep, _: AdminDep
) -> TokenPublic:
    return tenants.revoke_token(session, token_id=token_id)
