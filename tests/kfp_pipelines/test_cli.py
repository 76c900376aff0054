"""``aifabric train run`` follows a run to the end with a progress bar; ``train status|list``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aifabric.kfp_pipelines.cli import train_app
from aifabric.models.catalog import onboard_definition
from aifabric.runtime.services import settings_env
from aifabric.storage import ObjectStore

pytestmark = pytest.mark.integration

DEFINITION_FILE = Path(__file__).parents[1] / "models" / "mean_window_definition.py"


def test_train_run_follows_to_the_end(stack, train_session, milan_version, monkeypatch):
    for key, value in settings_env(stack).items():
        monkeypatch.setenv(key, value)
    onboard_definition(
        train_session,
        ObjectStore(stack),
        tenant="default",
        filename=DEFINITION_FILE.name,
        source=DEFINITION_FILE.read_bytes(),
    )
    runner = CliRunner()
    result = runner.invoke(
        train_app,
        ["run", "--dataset", milan_version.ref, "--definition", "mean_window", "--model-name", "cli-mean"],
    )
    assert result.exit_code == 0, result.output
    final = json.loads(result.stdout)
    assert final["status"] == "succeeded" and final["model_name"] == "cli-mean"
    assert final["progress"]["epochs_done"] == 2
    status = json.loads(runner.invoke(train_app, ["status", final["id"]]).stdout)
    assert status["model_version"] == final["model_version"]
    assert "succeeded" in runner.invoke(train_app, ["list"]).stdout
    missing = runner.invoke(train_app, ["status", "nope"])
    assert missing.exit_code != 0
