"""Each pipeline step is a fresh subprocess, so what a step imports is its overhead."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("tensorflow", "keras", "mlflow", "sklearn", "pandas", "matplotlib")


@pytest.mark.parametrize(
    "module",
    ["aifabric.kfp_pipelines.steps", "aifabric.kfp_pipelines.tracking", "aifabric.kfp_pipelines.runner"],
)
def test_step_modules_import_no_heavy_library(module):
    """Heavy libraries load inside the step that needs them: TF in train, pandas in prepare,
    scikit-learn, matplotlib and mlflow (to log the model) in evaluate; register and the runner
    use REST."""
    code = f"import sys, {module}; print([m for m in {HEAVY!r} if m in sys.modules])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"{module} imports {proc.stdout.strip()}"


def test_components_do_not_pip_install_kfp():
    """kfp.local would run ``pip install kfp`` before every step (seconds each) otherwise."""
    from aifabric.kfp_pipelines.components import evaluate_op, prepare_op, register_op, train_op

    for op in (prepare_op, train_op, evaluate_op, register_op):
        command = " ".join(op.component_spec.implementation.container.command)
        assert "pip install" not in command and "kfp.dsl.executor_main" in command
