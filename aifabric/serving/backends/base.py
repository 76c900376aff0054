"""The deploy-backend plug point: one interface, a local and a Kubernetes implementation.

As in Feast, a short name maps to a dotted path (:data:`BACKEND_CLASS_FOR_TYPE`) and any other
``"package.module:Class"`` is imported as given; ``settings.serving.backend`` picks one, and
nothing else in the fabric branches on local versus cluster.
"""

from __future__ import annotations

import importlib
import threading
from abc import ABC, abstractmethod

from aifabric.config import Settings
from aifabric.errors import InvalidRequest
from aifabric.serving.models import ComponentStatus, DeploymentSpec, DeployOutcome

__all__ = ["BACKEND_CLASS_FOR_TYPE", "DeployBackend", "get_backend"]

BACKEND_CLASS_FOR_TYPE = {
    "local": "aifabric.serving.backends.local:LocalBackend",
    "kubernetes": "aifabric.serving.backends.kubernetes:KubernetesBackend",
}


class DeployBackend(ABC):
    """Runs a deployment's predictor and Data Consumer somewhere and reports on them."""

    name: str

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def deploy(self, spec: DeploymentSpec) -> DeployOutcome:
        """Start both components; return when both are ready (or one failed), with timings."""

    @abstractmethod
    def status(self, spec: DeploymentSpec) -> list[ComponentStatus]:
        """Current state of each component: pending / ready / failed (+ reason) / stopped."""

    @abstractmethod
    def undeploy(self, spec: DeploymentSpec) -> None:
        """Stop and remove every component; idempotent."""

    @abstractmethod
    def redeploy(self, old: DeploymentSpec, new: DeploymentSpec) -> DeployOutcome:
        """Switch to ``new``'s model version without losing records.

        Both specs share the consumer group, so the new consumer continues from the offsets the old
        one committed after its last published batch: records are scored at least once.
        """


_instances: dict[tuple[str, str], DeployBackend] = {}
_lock = threading.Lock()


def get_backend(settings: Settings) -> DeployBackend:
    """The backend ``settings.serving.backend`` names; one instance per process and data dir,
    because the local backend owns (supervises) the processes it started."""
    kind = settings.serving.backend
    path = BACKEND_CLASS_FOR_TYPE.get(kind, kind)
    if ":" not in path:
        raise InvalidRequest(
            f"serving backend {kind!r} is neither {sorted(BACKEND_CLASS_FOR_TYPE)} nor 'module:Class'"
        )
    key = (path, str(settings.data_dir))
    with _lock:
        if key not in _instances:
            module_name, _, cls_name = path.partition(":")
            cls = getattr(importlib.import_module(module_name), cls_name, None)
            if not (isinstance(cls, type) and issubclass(cls, DeployBackend)):
                raise InvalidRequest(f"{path} is not a DeployBackend subclass")
            _instances[key] = cls(settings)
        return _instances[key]
