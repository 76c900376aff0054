"""The training pipeline: prepare -> train -> evaluate -> register, and its KFP IR compilation.

No ``from __future__ import annotations``: KFP reads the real annotation objects.
"""

from pathlib import Path

from kfp import compiler, dsl

from aifabric.kfp_pipelines.components import evaluate_op, prepare_op, register_op, train_op

__all__ = ["PIPELINE_NAME", "compile_pipeline", "training_pipeline"]

PIPELINE_NAME = "aifabric-training"


@dsl.pipeline(
    name=PIPELINE_NAME, description="Train, evaluate and register an anomaly model on a dataset version."
)
def training_pipeline(config: str) -> str:
    """``config`` is a :class:`~aifabric.kfp_pipelines.config.PipelineConfig` as JSON."""
    prep = prepare_op(config=config).set_display_name("prepare")
    fit = train_op(config=config, prepared=prep.outputs["prepared"]).set_display_name("train")
    fit.set_cpu_limit("2").set_memory_limit("4G")
    ev = evaluate_op(config=config, prepared=prep.outputs["prepared"], model=fit.outputs["model"])
    ev.set_display_name("evaluate")
    reg = register_op(
        config=config,
        prepared=prep.outputs["prepared"],
        model=fit.outputs["model"],
        evaluation=ev.outputs["evaluation"],
    ).set_display_name("register")
    return reg.output


def compile_pipeline(path: Path) -> Path:
    """Write the pipeline as KFP IR YAML (what a Kubeflow cluster runs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(training_pipeline, str(path))
    return path
