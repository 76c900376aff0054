"""Every rendered object validates against the official schemas, and the check can fail."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from aifabric.k8s import schemas
from aifabric.k8s.validate import validate_object, validate_objects


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_rendered_object_validates(rendered: dict[str, list[dict]], specs: Path, overlay: str) -> None:
    violations = validate_objects(rendered[overlay], root=specs)
    assert violations == [], "\n".join(map(str, violations))


def test_custom_resources_are_checked_against_their_crds(
    rendered: dict[str, list[dict]], specs: Path
) -> None:
    kinds = {(o["apiVersion"], o["kind"]) for o in rendered["prod"]}
    crds = schemas.crd_schemas(specs)
    for api_version, kind in kinds:
        group, version = schemas.split_api_version(api_version)
        core = (group, version, kind) in schemas.core_schemas(specs)[1]
        assert core or (group, version, kind) in crds, f"{api_version} {kind} has no schema"
    assert ("kafka.strimzi.io", "v1", "Kafka") in crds
    assert ("serving.kserve.io", "v1beta1", "InferenceService") in crds
    assert ("keda.sh", "v1alpha1", "ScaledObject") in crds
    assert ("sources.knative.dev", "v1beta1", "KafkaSource") in crds


def _find(objs: list[dict], kind: str) -> dict:
    return copy.deepcopy(next(o for o in objs if o["kind"] == kind))


# Each case breaks one object in one way; each must be reported at the broken path.
BROKEN = [
    ("Deployment", lambda o: o["spec"].__setitem__("replica", 2), "$.spec", "'replica' was unexpected"),
    (
        "Deployment",
        lambda o: o["spec"]["template"]["spec"]["containers"][0].__setitem__("imagePullPolice", "x"),
        "$.spec.template.spec.containers[0]",
        "'imagePullPolice' was unexpected",
    ),
    (
        "Deployment",
        lambda o: o["spec"]["template"]["spec"]["containers"][0].pop("name"),
        "$.spec.template.spec.containers[0]",
        "'name' is a required property",
    ),
    (
        "Service",
        lambda o: o["spec"]["ports"][0].__setitem__("port", "eighty"),
        "$.spec.ports[0].port",
        "type",
    ),
    ("ConfigMap", lambda o: o.__setitem__("date", {}), "$", "'date' was unexpected"),
    (
        "InferenceService",
        lambda o: o["spec"]["predictor"].__setitem__("minReplica", 0),
        "$.spec.predictor",
        "'minReplica' was unexpected",
    ),
    (
        "InferenceService",
        lambda o: o["metadata"].__setitem__("label", {}),
        "$.metadata",
        "'label' was unexpected",
    ),
    ("Kafka", lambda o: o["spec"]["kafka"]["listeners"][0].pop("tls"), "$.spec.kafka.listeners[0]", "'tls'"),
    ("KafkaNodePool", lambda o: o["spec"].__setitem__("roles", ["brokr"]), "$.spec.roles[0]", "'brokr'"),
    ("KafkaTopic", lambda o: o["spec"].__setitem__("partitions", 0), "$.spec.partitions", "minimum"),
    (
        "ScaledObject",
        lambda o: o["spec"]["triggers"][0]["metadata"].__setitem__("lagThreshold", 500),
        "$.spec.triggers[0].metadata.lagThreshold",
        "not of type 'string'",
    ),
    (
        "ServingRuntime",
        lambda o: o["spec"].__setitem__("container", []),
        "$.spec",
        "'container' was unexpected",
    ),
    ("NetworkPolicy", lambda o: o["spec"].__setitem__("podSelectr", {}), "$.spec", "'podSelectr'"),
]


@pytest.mark.parametrize(("kind", "breaker", "path", "message"), BROKEN)
def test_a_broken_object_fails(
    rendered: dict[str, list[dict]], specs: Path, kind: str, breaker: object, path: str, message: str
) -> None:
    obj = _find(rendered["prod"], kind)
    assert validate_object(obj, root=specs) == []
    breaker(obj)  # type: ignore[operator]
    violations = validate_object(obj, root=specs)
    assert any(v.path == path and message in v.message for v in violations), violations


def test_preserve_unknown_fields_and_int_or_string_are_honoured(specs: Path) -> None:
    topic = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {"name": "t", "labels": {"strimzi.io/cluster": "c"}},
        "spec": {"partitions": 1, "config": {"any.broker.setting": "x", "retention.ms": 1}},
    }
    assert validate_object(topic, root=specs) == []
    probe_port_by_name = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "x:1",
                    "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
                    "resources": {"limits": {"cpu": 1, "memory": "1Gi"}},
                }
            ]
        },
    }
    assert validate_object(probe_port_by_name, root=specs) == []
    probe_port_by_name["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = [80]
    assert validate_object(probe_port_by_name, root=specs)


def test_removed_or_unknown_api_versions_are_rejected(specs: Path) -> None:
    old = {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic", "metadata": {"name": "t"}}
    assert [v.message for v in validate_object(old, root=specs)] == [
        "no schema for kafka.strimzi.io/v1beta2 KafkaTopic"
    ]
    assert validate_object({"kind": "Pod"}, root=specs)[0].message == "apiVersion and kind are required"
    assert validate_object(["not", "a", "mapping"], root=specs)[0].message == "not a mapping"


def test_missing_specs_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFABRIC_SPECS_DIR", str(tmp_path))
    with pytest.raises(schemas.SpecsNotFound, match="set AIFABRIC_SPECS_DIR"):
        validate_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
