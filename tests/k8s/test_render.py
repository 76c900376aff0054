"""kustomize renders every overlay, with secrets only from git-ignored env files."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from aifabric.errors import InvalidRequest
from aifabric.k8s import render as rendering

from .conftest import REPO


def test_both_overlays_exist() -> None:
    assert rendering.overlays(REPO / "manifests") == ["dev", "prod"]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlay_renders_the_whole_fabric(rendered: dict[str, list[dict]], overlay: str) -> None:
    objs = rendered[overlay]
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objs}
    expected = {
        ("Namespace", "mlops"),
        ("Namespace", "dataops"),
        ("Deployment", "aifabric-api"),
        ("Service", "aifabric-api"),
        ("HorizontalPodAutoscaler", "aifabric-api"),
        ("ServiceAccount", "aifabric-api"),
        ("Role", "aifabric-api"),
        ("RoleBinding", "aifabric-api"),
        ("Deployment", "aifabric-collector"),
        ("HorizontalPodAutoscaler", "aifabric-collector"),
        ("Deployment", "aifabric-adapter-nwdaf"),
        ("Deployment", "aifabric-mlflow"),
        ("StatefulSet", "aifabric-minio"),
        ("StatefulSet", "aifabric-postgres"),
        ("Kafka", "aifabric"),
        ("KafkaNodePool", "dual-role"),
        ("KafkaTopic", "telemetry.nwdaf"),
        ("ServingRuntime", "aifabric-predictor"),
        ("InferenceService", "traffic-anomaly"),
        ("ScaledObject", "traffic-anomaly-consumer"),
        ("NetworkPolicy", "default-deny-ingress"),
        ("ConfigMap", "aifabric-config"),
        ("Secret", "aifabric-s3"),
        ("Secret", "aifabric-postgres"),
    }
    assert expected <= kinds, expected - kinds
    namespaced = [o for o in objs if o["kind"] != "Namespace"]
    assert {o["metadata"].get("namespace") for o in namespaced} == {"mlops", "dataops"}
    postgres = next(
        o for o in objs if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "aifabric-postgres"
    )
    assert postgres["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_prod_differs_where_it_should(rendered: dict[str, list[dict]]) -> None:
    def pool(overlay: str) -> dict:
        return next(o for o in rendered[overlay] if o["kind"] == "KafkaNodePool")

    assert pool("dev")["spec"]["replicas"] == 1
    assert pool("prod")["spec"]["replicas"] == 3
    kafka = next(o for o in rendered["prod"] if o["kind"] == "Kafka")
    assert kafka["spec"]["kafka"]["config"]["default.replication.factor"] == 3
    assert any(o["kind"] == "PodDisruptionBudget" for o in rendered["prod"])


def test_rbac_is_namespaced_and_covers_the_deploy_backend(rendered: dict[str, list[dict]]) -> None:
    objs = rendered["prod"]
    assert not [o for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    granted = {
        (o["metadata"]["namespace"], group, resource)
        for o in objs
        if o["kind"] == "Role" and o["metadata"]["name"] == "aifabric-api"
        for rule in o["rules"]
        if "create" in rule["verbs"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert {
        ("mlops", "serving.kserve.io", "inferenceservices"),
        ("mlops", "keda.sh", "scaledobjects"),
        ("mlops", "apps", "deployments"),
        ("dataops", "kafka.strimzi.io", "kafkatopics"),
    } <= granted


def test_missing_secret_files_get_throwaway_values(kubectl: str, manifests_copy: Path) -> None:
    missing = rendering.missing_env_files(manifests_copy, "dev")
    assert {str(p.relative_to(manifests_copy)) for p in missing} == {
        "overlays/dev/secrets/s3.env",
        "overlays/dev/secrets/postgres.env",
    }
    secrets = [o for o in rendering.render("dev", root=manifests_copy) if o["kind"] == "Secret"]
    values = {base64.b64decode(v).decode() for s in secrets for v in s["data"].values()}
    assert "CHANGE_ME" not in values
    assert "aifabric" in values  # the username is no secret and is kept
    again = [o for o in rendering.render("dev", root=manifests_copy) if o["kind"] == "Secret"]
    assert again[0]["data"] != secrets[0]["data"]  # fresh each time: never a shared default
    assert not list(manifests_copy.rglob("*.env"))  # the copy in use was temporary


def test_require_secrets_refuses_missing_env_files(kubectl: str, manifests_copy: Path) -> None:
    with pytest.raises(InvalidRequest, match=r"secrets/s3\.env"):
        rendering.render("prod", root=manifests_copy, require_secrets=True)


def test_env_files_feed_the_secrets(kubectl: str, manifests_copy: Path) -> None:
    secrets_dir = manifests_copy / "overlays" / "prod" / "secrets"
    (secrets_dir / "s3.env").write_text("access-key=ak-test\nsecret-key=sk-test\n")
    (secrets_dir / "postgres.env").write_text("username=fabric\npassword=pw-test\n")
    objs = rendering.render("prod", root=manifests_copy, require_secrets=True)
    s3 = [o for o in objs if o["kind"] == "Secret" and o["metadata"]["name"] == "aifabric-s3"]
    assert {o["metadata"]["namespace"] for o in s3} == {"mlops", "dataops"}
    assert base64.b64decode(s3[0]["data"]["secret-key"]).decode() == "sk-test"


def test_unknown_overlay_is_a_clear_error(kubectl: str) -> None:
    with pytest.raises(InvalidRequest, match="unknown overlay 'staging'; known: dev, prod"):
        rendering.render("staging", root=REPO / "manifests")


def test_kustomize_errors_are_reported(kubectl: str, manifests_copy: Path) -> None:
    kustomization = manifests_copy / "base" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - does-not-exist.yaml\n")
    with pytest.raises(rendering.RenderError, match="does-not-exist"):
        rendering.render("dev", root=manifests_copy)
