"""Fixtures: a real scoring bundle (tiny ONNX graph, no TensorFlow) and a registered model version."""

from __future__ import annotations

from pathlib import Path

import pytest

from aifabric.config import Settings
from aifabric.serving.sample_bundle import write_sample_bundle
from tests.conftest import register_bundle


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory) -> Path:
    return write_sample_bundle(tmp_path_factory.mktemp("bundle"), model_name="traffic")


@pytest.fixture(scope="session")
def registered(stack: Settings, bundle_dir: Path) -> tuple[str, str]:
    """(model name, version) of tenant ``acme``'s sample bundle in MLflow, alias ``champion``."""
    return "traffic", register_bundle(
        stack, bundle_dir, "traffic", "bundles/traffic-v1", "acme", alias="champion"
    )
