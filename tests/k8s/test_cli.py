"""`aifabric k8s render|validate|templates`."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from aifabric.k8s.cli import app

runner = CliRunner()


def test_render_prints_the_overlay(kubectl: str) -> None:
    result = runner.invoke(app, ["render", "--overlay", "prod"])
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert any(d["kind"] == "InferenceService" for d in docs)
    assert next(d for d in docs if d["kind"] == "KafkaNodePool")["spec"]["replicas"] == 3


def test_render_unknown_overlay_says_why(kubectl: str) -> None:
    result = runner.invoke(app, ["render", "--overlay", "nope"])
    assert result.exit_code == 2
    assert "unknown overlay 'nope'" in result.output


def test_validate_passes_on_the_shipped_overlays(kubectl: str, specs: object) -> None:
    for overlay in ("dev", "prod"):
        result = runner.invoke(app, ["validate", "--overlay", overlay])
        assert result.exit_code == 0, result.output
        assert " 0 violations" in result.output


def test_templates_check_passes() -> None:
    result = runner.invoke(app, ["templates", "--check"])
    assert result.exit_code == 0, result.output


def test_validate_fails_on_a_broken_overlay(kubectl: str, specs: object, manifests_copy, monkeypatch) -> None:
    api = manifests_copy / "base" / "api.yaml"
    api.write_text(api.read_text().replace("minReplicas: 1", "minReplica: 1"))
    monkeypatch.setenv("AIFABRIC_MANIFESTS_DIR", str(manifests_copy))
    result = runner.invoke(app, ["validate", "--overlay", "dev"])
    assert result.exit_code == 1
    assert (
        "HorizontalPodAutoscaler/aifabric-api $.spec: Additional properties are not allowed" in result.output
    )
