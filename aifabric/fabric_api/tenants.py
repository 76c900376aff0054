"""Tenants and their bearer tokens: tables and keyword-only operations (API, CLI and tests).

Every fabric resource carries a ``tenant`` column; a token maps a request to exactly one tenant.
Admin tokens may also manage tenants and tokens. Only token digests are stored.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Boolean, DateTime, ForeignKey, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from aifabric.errors import Conflict, NotFound, Unauthorized
from aifabric.fabric_api.security import generate_token, hash_token
from aifabric.persistence.db import Base, utcnow

__all__ = [
    "DEFAULT_TENANT",
    "TENANT_PATTERN",
    "Principal",
    "TenantPublic",
    "TenantRow",
    "TokenCreated",
    "TokenPublic",
    "TokenRow",
    "authenticate",
    "bootstrap",
    "create_tenant",
    "create_token",
    "list_tenants",
    "list_tokens",
    "revoke_token",
]

DEFAULT_TENANT = "default"
TENANT_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,62}[a-z0-9])?$"


class TenantRow(Base):
    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: uuid.uuid4().hex)
    tenant: Mapped[str] = mapped_column(ForeignKey("tenants.name", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(256), default="")
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Principal(BaseModel):
    """Who is calling: the tenant every query is filtered by."""

    tenant: str
    token_id: str
    admin: bool = False


class TenantPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    created_at: datetime


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TENANT_PATTERN, examples=["operator-a"])


class TokenPublic(BaseModel):
    """A token's metadata; the token itself is never shown again."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant: str
    description: str
    admin: bool
    created_at: datetime
    revoked_at: datetime | None


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(pattern=TENANT_PATTERN)
    description: str = Field("", max_length=256)
    admin: bool = False


class TokenCreated(TokenPublic):
    token: str = Field(description="the bearer token; shown only in this response")


def create_tenant(session: Session, *, name: str) -> TenantPublic:
    """Raises Conflict when the tenant exists."""
    TenantCreate(name=name)  # validates the name
    if session.get(TenantRow, name) is not None:
        raise Conflict(f"tenant {name!r} exists already")
    row = TenantRow(name=name)
    session.add(row)
    session.commit()
    return TenantPublic.model_validate(row)


def list_tenants(session: Session) -> list[TenantPublic]:
    return [
        TenantPublic.model_validate(r) for r in session.scalars(select(TenantRow).order_by(TenantRow.name))
    ]


def create_token(
    session: Session, *, tenant: str, description: str = "", admin: bool = False
) -> TokenCreated:
    """A new token for an existing tenant; the clear token is returned once and not stored."""
    if session.get(TenantRow, tenant) is None:
        raise NotFound(f"tenant {tenant!r} does not exist; create it first")
    token = generate_token()
    row = TokenRow(tenant=tenant, digest=hash_token(token), description=description, admin=admin)
    session.add(row)
    session.commit()
    return TokenCreated(**TokenPublic.model_validate(row).model_dump(), token=token)


def list_tokens(session: Session, *, tenant: str | None = None) -> list[TokenPublic]:
    query = select(TokenRow).order_by(TokenRow.created_at)
    if tenant is not None:
        query = query.where(TokenRow.tenant == tenant)
    return [TokenPublic.model_validate(r) for r in session.scalars(query)]


def revoke_token(session: Session, *, token_id: str, tenant: str | None = None) -> TokenPublic:
    """Revoke by id (idempotent); with ``tenant`` only that tenant's tokens are found."""
    row = session.get(TokenRow, token_id)
    if row is None or (tenant is not None and row.tenant != tenant):
        raise NotFound(f"token {token_id!r} does not exist")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.commit()
    return TokenPublic.model_validate(row)


def authenticate(session: Session, token: str | None) -> Principal:
    """The principal of a bearer token; Unauthorized for a missing, unknown or revoked token."""
    if not token:
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    row = session.scalar(select(TokenRow).where(TokenRow.digest == hash_token(token)))
    if row is None or row.revoked_at is not None:
        raise Unauthorized("the bearer token is unknown or revoked")
    return Principal(tenant=row.tenant, token_id=row.id, admin=row.admin)


def bootstrap(session: Session, token_file: Path) -> bool:
    """Embedded convenience: a ``default`` tenant and an admin token in ``token_file`` (mode 0600).

    Runs once per database: nothing happens when the tenant exists. Returns True when it created them.
    """
    if session.get(TenantRow, DEFAULT_TENANT) is not None:
        return False
    try:
        create_tenant(session, name=DEFAULT_TENANT)
    except (Conflict, IntegrityError):  # another process bootstrapped at the same moment
        session.rollback()
        return False
    created = create_token(session, tenant=DEFAULT_TENANT, description="embedded admin", admin=True)
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.unlink(missing_ok=True)
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(created.token + "\n")
    return True
