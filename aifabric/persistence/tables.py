"""Imports every module that declares tables, so metadata is complete for migrations."""

# Each subsystem adds its table module here.
from aifabric.collector import tables as _collector  # noqa: F401
from aifabric.datasets import tables as datasets_tables  # noqa: F401
from aifabric.fabric_api import tenants as tenant_tables  # noqa: F401
from aifabric.kfp_pipelines import service as training_tables  # noqa: F401
from aifabric.models import catalog as model_definition_tables  # noqa: F401
from aifabric.serving import tables as serving_tables  # noqa: F401
