"""Embedded stack launcher: ``aifabric up`` / ``status`` / ``down``."""

from aifabric.runtime.process import ManagedProcess, ServiceSpec, stop_pid
from aifabric.runtime.stack import PartStatus, Stack, StackStatus, bootstrap_storage
from aifabric.runtime.supervisor import Supervisor, default_stages

__all__ = [
    "ManagedProcess",
    "PartStatus",
    "ServiceSpec",
    "Stack",
    "StackStatus",
    "Supervisor",
    "bootstrap_storage",
    "default_stages",
    "stop_pid",
]
