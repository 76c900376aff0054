"""``aifabric tenants create|list`` and ``aifabric tokens create|list|revoke``: admin commands on SQL.

They work on the configured database directly (no API needed), so the first token of a tenant
can be made before anything runs. A token is printed once, to stdout, and never stored in clear.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from aifabric.config import get_settings

app = typer.Typer(help="Tenants: create, list.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens: create (printed once), list, revoke.", no_args_is_help=True)
console = Console(stderr=True)


def _session():
    from aifabric.persistence import open_session

    return open_session(get_settings())


@app.command("create")
def create_tenant(name: str = typer.Argument(..., help="tenant name (lowercase DNS label)")) -> None:
    """Create a tenant; then give it a token with 'aifabric tokens create --tenant NAME'."""
    from aifabric.fabric_api import tenants

    with _session() as session:
        tenant = tenants.create_tenant(session, name=name)
    console.print(f"created tenant {tenant.name}")


@app.command("list")
def list_tenants() -> None:
    from aifabric.fabric_api import tenants

    with _session() as session:
        rows = tenants.list_tenants(session)
    table = Table("tenant", "created")
    for t in rows:
        table.add_row(t.name, f"{t.created_at:%Y-%m-%d %H:%M}")
    Console().print(table)


@tokens_app.command("create")
def create_token(
    tenant: str = typer.Option(..., "--tenant", help="tenant the token acts for"),
    description: str = typer.Option("", help="what the token is for"),
    admin: bool = typer.Option(False, help="may also manage tenants, tokens and model definitions"),
) -> None:
    """Create a token and print it once (stdout); only its SHA-256 digest is stored."""
    from aifabric.fabric_api import tenants

    with _session() as session:
        created = tenants.create_token(session, tenant=tenant, description=description, admin=admin)
    console.print(f"token {created.id} for tenant {created.tenant} (shown once; export AIFABRIC_TOKEN=...):")
    sys.stdout.write(created.token + "\n")


@tokens_app.command("list")
def list_tokens(tenant: str = typer.Option(None, "--tenant", help="only this tenant's tokens")) -> None:
    from aifabric.fabric_api import tenants

    with _session() as session:
        rows = tenants.list_tokens(session, tenant=tenant)
    table = Table("id", "tenant", "admin", "created", "revoked", "description")
    for t in rows:
        table.add_row(
            t.id,
            t.tenant,
            "yes" if t.admin else "no",
            f"{t.created_at:%Y-%m-%d %H:%M}",
            f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "-",
            t.description,
        )
    Console().print(table)


@tokens_app.command("revoke")
def revoke_token(token_id: str = typer.Argument(..., help="token id (from 'aifabric tokens list')")) -> None:
    """Revoke a token: requests with it answer 401 from now on."""
    from aifabric.fabric_api import tenants

    with _session() as session:
        tenants.revoke_token(session, token_id=token_id)
    console.print(f"revoked token {token_id}")
