"""Request dependencies as ``Annotated`` aliases: handlers never open sessions or parse tokens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from aifabric.config import Settings
from aifabric.errors import Forbidden
from aifabric.fabric_api.tenants import Principal, authenticate
from aifabric.storage import ObjectStore

__all__ = ["AdminDep", "PrincipalDep", "SessionDep", "SettingsDep", "StoreDep", "TenantDep"]


def get_settings(request: Request) -> Settings:
    """The resolved settings the app was created with."""
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def get_store(request: Request) -> ObjectStore:
    return request.app.state.store


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]


_bearer_scheme = HTTPBearer(auto_error=False, description="a token from 'aifabric tokens create'")


def get_principal(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
) -> Principal:
    principal = authenticate(session, credentials.credentials if credentials else None)
    request.state.tenant = principal.tenant  # for the access log; never the token
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_tenant(principal: PrincipalDep) -> str:
    return principal.tenant


TenantDep = Annotated[str, Depends(get_tenant)]


def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.admin:
        raise Forbidden("this operation needs an admin token")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]
