"""Fixtures: a real scoring bundle (tiny ONNX graph, no TensorFlow) and a registered model version."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from aifabric.config import Settings
from aifabric.serving.sample_bundle import write_sample_bundle
from aifabric.storage import ObjectStore


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory) -> Path:
    return write_sample_bundle(tmp_path_factory.mktemp("bundle"), model_name="traffic")


def register(settings: Settings, name: str, directory: Path, prefix: str, alias: str | None = None) -> str:
    """Upload a bundle to S3 and register it as a new MLflow version with a bundle_uri tag (REST)."""
    store = ObjectStore(settings, bucket=settings.s3.mlflow_bucket)
    for f in directory.iterdir():
        store.put_file(f"{prefix}/{f.name}", f)
    uri = f"s3://{settings.s3.mlflow_bucket}/{prefix}"
    api = f"{settings.mlflow.tracking_uri}/api/2.0/mlflow"
    httpx.post(f"{api}/registered-models/create", json={"name": name}, timeout=30)  # exists: fine
    resp = httpx.post(
        f"{api}/model-versions/create",
        json={"name": name, "source": uri, "tags": [{"key": "bundle_uri", "value": uri}]},
        timeout=30,
    )
    resp.raise_for_status()
    version = resp.json()["model_version"]["version"]
    if alias:
        httpx.post(
            f"{api}/registered-models/alias",
            json={"name": name, "alias": alias, "version": version},
            timeout=30,
        ).raise_for_status()
    return str(version)


@pytest.fixture(scope="session")
def registered(stack: Settings, bundle_dir: Path) -> tuple[str, str]:
    """(model name, version) of the sample bundle in the session's MLflow, alias ``champion``."""
    return "traffic", register(stack, "traffic", bundle_dir, "bundles/traffic-v1", alias="champion")
