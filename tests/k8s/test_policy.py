"""Policies: resources, non-root, probes, pinned images, and no secret committed."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest

from aifabric.k8s.policy import check_objects, pinned, scan_secrets

from .conftest import REPO


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_rendered_overlays_follow_the_policies(rendered: dict[str, list[dict]], overlay: str) -> None:
    violations = check_objects(rendered[overlay])
    assert violations == [], "\n".join(map(str, violations))


def test_policies_catch_each_breach(rendered: dict[str, list[dict]]) -> None:
    deployment = copy.deepcopy(next(o for o in rendered["prod"] if o["kind"] == "Deployment"))
    pod = deployment["spec"]["template"]["spec"]
    pod.pop("securityContext")
    container = pod["containers"][0]
    container["resources"]["limits"].pop("memory")
    container.pop("livenessProbe")
    container["securityContext"] = {"allowPrivilegeEscalation": True}
    container["image"] = "ghcr.io/aifabric/api:latest"
    messages = {(v.path.rsplit(".", 1)[-1], v.message) for v in check_objects([deployment])}
    assert messages == {
        ("limits", "no limits for memory"),
        ("securityContext", "container may run as root (set runAsNonRoot: true)"),
        ("securityContext", "allowPrivilegeEscalation is not false"),
        ("livenessProbe", "no livenessProbe"),
        ("image", "image 'ghcr.io/aifabric/api:latest' is not pinned to a version (no tag, or 'latest')"),
    }
    pool = copy.deepcopy(next(o for o in rendered["prod"] if o["kind"] == "KafkaNodePool"))
    pool["spec"].pop("resources")
    assert len(check_objects([pool])) == 2


def test_image_pinning() -> None:
    assert pinned("ghcr.io/aifabric/api:0.1.0")
    assert pinned("localhost:5000/api@sha256:" + "0" * 64)
    assert not pinned("localhost:5000/api")
    assert not pinned("postgres")
    assert not pinned("postgres:latest")


def test_no_secret_is_committed() -> None:
    assert scan_secrets(REPO) == []
    examples = list((REPO / "manifests").rglob("*.env.example"))
    assert len(examples) == 4


def test_secret_scan_catches_literals(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("*.env\n")
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: v}\n"
    )
    (manifests / "kustomization.yaml").write_text(
        "secretGenerator:\n  - name: s\n    literals: [password=hunter2]\n"
    )
    (manifests / "db.env.example").write_text("username=app\npassword=hunter2\n")
    (manifests / "ignored.env").write_text("password=local-only\n")
    found = {(v.name, v.path) for v in scan_secrets(tmp_path)}
    assert found == {
        ("manifests/secret.yaml", "$.data"),
        ("manifests/kustomization.yaml", "$.secretGenerator[0].literals"),
        ("manifests/db.env.example", "line 2"),
    }
    (tmp_path / ".gitignore").write_text("")
    assert ("manifests/ignored.env", "$") in {(v.name, v.path) for v in scan_secrets(tmp_path)}
