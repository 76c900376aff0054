"""The fabric API: one REST surface over datasets, training, models, deployments and collections.

``create_app`` is imported lazily so that importing the tenant tables (``aifabric.persistence.tables``)
does not pull FastAPI and every router into the collector or the CLI.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from aifabric.fabric_api.app import create_app

        return create_app
    raise AttributeError(name)
