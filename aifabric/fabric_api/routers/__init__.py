"""Every ``/api/v1`` router, included in one place (as the FastAPI template's ``api/main.py``)."""

from __future__ import annotations

from fastapi import APIRouter

from aifabric.fabric_api.routers import (
    admin,
    collections,
    datasets,
    deployments,
    index,
    models,
    topics,
    training,
)

api_router = APIRouter()
for module in (index, datasets, models, training, deployments, collections, topics, admin):
    api_router.include_router(module.router)

__all__ = ["api_router"]
