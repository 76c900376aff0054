"""The compiled pipeline is valid KFP IR (parsed by KFP's own PipelineSpec proto) and holds no secrets."""

from __future__ import annotations

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from aifabric.kfp_pipelines.pipeline import PIPELINE_NAME, compile_pipeline


def test_compiled_yaml_is_valid_kfp_ir(tmp_path):
    path = compile_pipeline(tmp_path / "pipeline.yaml")
    doc = yaml.safe_load(path.read_text())
    spec = json_format.ParseDict(doc, pipeline_spec_pb2.PipelineSpec())
    assert spec.pipeline_info.name == PIPELINE_NAME
    assert spec.schema_version == "2.1.0"
    tasks = spec.root.dag.tasks
    assert set(tasks) == {"prepare-op", "train-op", "evaluate-op", "register-op"}
    assert list(tasks["train-op"].dependent_tasks) == ["prepare-op"]
    assert set(tasks["register-op"].dependent_tasks) == {"prepare-op", "train-op", "evaluate-op"}
    assert set(spec.root.input_definitions.parameters) == {"config"}
    executors = spec.deployment_spec["executors"]
    assert all("aifabric" in e["container"]["image"] for e in executors.values())
    text = path.read_text().lower()
    assert "secret_key" not in text and "access_key" not in text


def test_cli_compiles(tmp_path):
    from typer.testing import CliRunner

    from aifabric.kfp_pipelines.cli import app

    out = tmp_path / "p.yaml"
    result = CliRunner().invoke(app, ["compile", str(out)])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(out.read_text())["pipelineInfo"]["name"] == PIPELINE_NAME
