"""KFP v2 lightweight components: thin wrappers that call ``steps`` with the run's config.

No ``from __future__ import annotations`` here: KFP reads the real annotation objects.

Each function body is shipped to the executor as source, so it imports what it needs. Settings
(endpoints and credentials) come from the executor's environment (``AIFABRIC_*``), never from
parameters, so no secret lands in the pipeline spec or in KFP's metadata. ``COMPONENT_IMAGE``
is the image a Kubeflow cluster runs them in (it must contain aifabric[train], hence kfp):
``install_kfp_package=False`` spares every task a ``pip install kfp`` (seconds per step in kfp.local).
"""

import os

from kfp import dsl
from kfp.dsl import Artifact, Input, Output

__all__ = ["COMPONENT_IMAGE", "evaluate_op", "prepare_op", "register_op", "train_op"]

COMPONENT_IMAGE = os.environ.get("AIFABRIC_COMPONENT_IMAGE", "ghcr.io/aifabric/aifabric-train:0.1.0")


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def prepare_op(config: str, prepared: Output[Artifact]) -> str:
    """Load the dataset version, build scaled windows and the split."""
    from pathlib import Path

    from aifabric.config import get_settings
    from aifabric.kfp_pipelines import steps
    from aifabric.kfp_pipelines.config import PipelineConfig

    result = steps.prepare(get_settings(), PipelineConfig.model_validate_json(config), Path(prepared.path))
    return result.model_dump_json()


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def train_op(config: str, prepared: Input[Artifact], model: Output[Artifact]) -> str:
    """Fit the model definition and export ONNX."""
    from pathlib import Path

    from aifabric.config import get_settings
    from aifabric.kfp_pipelines import steps
    from aifabric.kfp_pipelines.config import PipelineConfig

    cfg = PipelineConfig.model_validate_json(config)
    result = steps.train(get_settings(), cfg, Path(prepared.path), Path(model.path))
    return result.model_dump_json()


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def evaluate_op(
    config: str, prepared: Input[Artifact], model: Input[Artifact], evaluation: Output[Artifact]
) -> str:
    """Calibrate, build the scoring bundle, compare with the baselines."""
    from pathlib import Path

    from aifabric.config import get_settings
    from aifabric.kfp_pipelines import steps
    from aifabric.kfp_pipelines.config import PipelineConfig

    cfg = PipelineConfig.model_validate_json(config)
    result = steps.evaluate(get_settings(), cfg, Path(prepared.path), Path(model.path), Path(evaluation.path))
    return result.model_dump_json()


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def register_op(
    config: str, prepared: Input[Artifact], model: Input[Artifact], evaluation: Input[Artifact]
) -> str:
    """Register the model version in MLflow and move the alias if the gate passed."""
    from pathlib import Path

    from aifabric.config import get_settings
    from aifabric.kfp_pipelines import steps
    from aifabric.kfp_pipelines.config import PipelineConfig

    cfg = PipelineConfig.model_validate_json(config)
    result = steps.register(get_settings(), cfg, Path(prepared.path), Path(model.path), Path(evaluation.path))
    return result.model_dump_json()
