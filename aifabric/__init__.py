"""aifabric: an AI Fabric for 5G/6G networks joining DataOps and MLOps."""

from aifabric.config import Settings, get_settings
from aifabric.errors import AifabricError
from aifabric.records import InvalidRecord, Record

__all__ = ["AifabricError", "InvalidRecord", "Record", "Settings", "get_settings"]
__version__ = "0.1.0"
