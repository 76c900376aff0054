"""The fabric's deployment policies, beyond what the schemas say.

Every long-running container has CPU and memory requests and limits, runs as non-root and has
readiness and liveness probes; every image is pinned (no ``latest``, no bare name); and no
secret value is ever committed (secrets come from git-ignored env files only).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from aifabric.k8s.validate import Violation

_POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
_SECRET_KEY = re.compile(r"(password|secret|token|key|credential)", re.IGNORECASE)
PLACEHOLDER = "CHANGE_ME"


def check_objects(objs: Iterable[dict[str, Any]]) -> list[Violation]:
    """Policy violations of rendered objects."""
    out: list[Violation] = []
    for obj in objs:
        kind = obj.get("kind", "?")
        name = obj.get("metadata", {}).get("name", "?")

        def bad(path: str, message: str, kind: str = kind, name: str = name) -> None:
            out.append(Violation(kind=kind, name=name, path=path, message=message))

        for path, container, pod_security, long_running in _containers(obj):
            _check_container(path, container, pod_security, long_running, bad)
        if kind == "KafkaNodePool":
            _check_resources("$.spec.resources", obj.get("spec", {}).get("resources"), bad)
    return out


def _containers(obj: dict[str, Any]) -> Iterator[tuple[str, dict, dict, bool]]:
    """(path, container, pod securityContext, long-running?) for each container of ``obj``."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    pods: list[tuple[str, dict, bool]] = []
    if kind in _POD_TEMPLATE_KINDS:
        pods.append(("$.spec.template.spec", spec.get("template", {}).get("spec", {}), kind != "Job"))
    elif kind == "CronJob":
        job = spec.get("jobTemplate", {}).get("spec", {})
        pods.append(("$.spec.jobTemplate.spec.template.spec", job.get("template", {}).get("spec", {}), False))
    elif kind == "InferenceService":
        for component in ("predictor", "transformer", "explainer"):
            if component in spec:
                pods.append((f"$.spec.{component}", spec[component], True))
    elif kind == "ServingRuntime":
        pods.append(("$.spec", spec, True))
    for base, pod, long_running in pods:
        security = pod.get("securityContext") or {}
        for field in ("containers", "initContainers"):
            for i, container in enumerate(pod.get(field) or []):
                yield f"{base}.{field}[{i}]", container, security, long_running and field == "containers"


def _check_container(path: str, container: dict, pod_security: dict, long_running: bool, bad: Any) -> None:
    _check_resources(f"{path}.resources", container.get("resources"), bad)
    own = (container.get("securityContext") or {}).get("runAsNonRoot")
    if not (own is True or (own is None and pod_security.get("runAsNonRoot") is True)):
        bad(f"{path}.securityContext", "container may run as root (set runAsNonRoot: true)")
    if (container.get("securityContext") or {}).get("allowPrivilegeEscalation") is not False:
        bad(f"{path}.securityContext", "allowPrivilegeEscalation is not false")
    if long_running:
        for probe in ("readinessProbe", "livenessProbe"):
            if not container.get(probe):
                bad(f"{path}.{probe}", f"no {probe}")
    image = container.get("image")
    if image is not None and not pinned(image):
        bad(f"{path}.image", f"image {image!r} is not pinned to a version (no tag, or 'latest')")


def _check_resources(path: str, resources: Any, bad: Any) -> None:
    resources = resources or {}
    for section in ("requests", "limits"):
        missing = [r for r in ("cpu", "memory") if r not in (resources.get(section) or {})]
        if missing:
            bad(f"{path}.{section}", f"no {section} for {', '.join(missing)}")


def pinned(image: str) -> bool:
    """True for ``repo:tag`` with a tag other than ``latest``, or a ``@sha256:`` digest."""
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


# -- the repository ------------------------------------------------------------------------


def scan_secrets(repo: Path) -> list[Violation]:
    """Committed-secret violations under ``repo`` (manifests, docker, docs).

    A Secret object with data, a secretGenerator with ``literals``, an ``*.env`` file that git
    does not ignore, or an ``*.env.example`` whose secret-looking key has a real value.
    """
    out: list[Violation] = []
    files = [p for d in ("manifests", "docker", "docs") for p in sorted((repo / d).rglob("*")) if p.is_file()]
    for path in files:
        rel = str(path.relative_to(repo))
        if path.suffix in (".yaml", ".yml"):
            out += _scan_yaml(path, rel)
        elif path.name.endswith(".env.example"):
            out += _scan_example(path, rel)
        elif path.suffix == ".env" and not _ignored(repo, path):
            out.append(Violation(kind="File", name=rel, path="$", message="env file is not git-ignored"))
    return out


def _scan_yaml(path: Path, rel: str) -> list[Violation]:
    out = []
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "Secret" and (doc.get("data") or doc.get("stringData")):
            out.append(Violation(kind="Secret", name=rel, path="$.data", message="Secret with literal data"))
        for i, gen in enumerate(doc.get("secretGenerator") or []):
            if gen.get("literals"):
                out.append(
                    Violation(
                        kind="Kustomization",
                        name=rel,
                        path=f"$.secretGenerator[{i}].literals",
                        message="secret literals in a committed kustomization; use a git-ignored env file",
                    )
                )
    return out


def _scan_example(path: Path, rel: str) -> list[Violation]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        key, sep, value = line.partition("=")
        if (
            sep
            and not line.lstrip().startswith("#")
            and _SECRET_KEY.search(key)
            and value.strip() != PLACEHOLDER
        ):
            out.append(
                Violation(
                    kind="File", name=rel, path=f"line {n}", message=f"{key.strip()} must be {PLACEHOLDER}"
                )
            )
    return out


def _ignored(repo: Path, path: Path) -> bool:
    proc = subprocess.run(["git", "-C", str(repo), "check-ignore", "-q", str(path)], capture_output=True)
    return proc.returncode == 0
