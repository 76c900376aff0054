"""Tenant-scoped names in the MLflow model registry.

MLflow's registry has no tenants: a registered model, its version numbers and its aliases are
global. Two tenants that both train a ``traffic-anomaly`` must neither share version numbers nor
move each other's ``champion`` alias, so a tenant's model is registered as ``<tenant>.<name>``.
Tenant names cannot contain a dot, so the first dot splits the two without ambiguity; the API and
the CLI show ``<name>`` only, and the MLflow UI shows the full name.
"""

from __future__ import annotations

__all__ = ["registry_name", "split_registry_name"]

SEPARATOR = "."


def registry_name(tenant: str, name: str) -> str:
    """The registered-model name of ``tenant``'s model ``name``."""
    if not tenant or SEPARATOR in tenant:
        raise ValueError(f"invalid tenant name {tenant!r}")
    return f"{tenant}{SEPARATOR}{name}"


def split_registry_name(registered: str) -> tuple[str, str] | None:
    """``(tenant, name)`` of a registered-model name, or ``None`` for a name outside the scheme."""
    tenant, sep, name = registered.partition(SEPARATOR)
    if not sep or not tenant or not name:
        return None
    return tenant, name
