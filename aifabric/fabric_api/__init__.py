"""The fabric API: one REST surface over datasets, training, models, deployments and collections."""

from aifabric.fabric_api.app import create_app

__all__ = ["create_app"]
