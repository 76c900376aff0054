"""``aifabric data generate|onboard|list|show`` against the session's stack."""

from __future__ import annotations

import json
import secrets

import pytest
from typer.testing import CliRunner

from aifabric.datasets.cli import app
from aifabric.runtime.services import settings_env


def test_generate_writes_milan_files(tmp_path):
    result = CliRunner().invoke(app, ["generate", "--out", str(tmp_path), "--squares", "2", "--days", "2"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sms-call-internet-mi-2013-11-01.txt",
        "sms-call-internet-mi-2013-11-02.txt",
    ]
    bad = CliRunner().invoke(app, ["generate", "--out", str(tmp_path), "--start", "1.11.2013"])
    assert bad.exit_code != 0 and "not a date" in bad.output


@pytest.mark.integration
def test_onboard_list_show(stack, tmp_path, monkeypatch):
    for key, value in settings_env(stack).items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    assert (
        runner.invoke(app, ["generate", "--out", str(tmp_path), "--days", "1", "--anomalies", "1"]).exit_code
        == 0
    )
    name = "cli-" + secrets.token_hex(3)
    files = sorted(str(p) for p in tmp_path.glob("*.txt"))
    result = runner.invoke(app, ["onboard", name, *files, "--labels", str(tmp_path / "labels.csv")])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["list"])
    assert name in listed.output
    shown = json.loads(runner.invoke(app, ["show", f"{name}@1"]).stdout)
    assert shown["ref"] == f"{name}@1" and shown["labelled_rows"] > 0
