"""The deploy backend's builders: valid objects, one shape with manifests/, clear input errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aifabric.errors import InvalidRequest
from aifabric.k8s import objects
from aifabric.k8s.cli import serving_template
from aifabric.k8s.policy import check_objects
from aifabric.k8s.validate import validate_objects

from .conftest import REPO

PARAMS = {
    "name": "cell-load",
    "namespace": "mlops",
    "tenant": "operator-a",
    "storage_uri": "s3://mlflow/1/abc/artifacts/model",
    "model_name": "cell-load-ae",
    "model_version": "7",
    "topics": ["telemetry.ran", "telemetry.edge"],
    "results_topic": "cell_load.Results",
    "group_id": "cell-load-consumer",
    "bootstrap_servers": "aifabric-kafka-bootstrap.dataops.svc:9092",
    "image_tag": "0.1.0",
}


def test_sample_deployment_validates_and_passes_policy(specs: Path) -> None:
    objs = objects.deployment_objects(**PARAMS)
    assert [o["kind"] for o in objs] == ["KafkaTopic", "InferenceService", "Deployment", "ScaledObject"]
    assert validate_objects(objs, root=specs) == []
    assert check_objects(objs) == []


def test_inference_service_shape() -> None:
    isvc = objects.inference_service(**PARAMS)
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    assert isvc["metadata"]["labels"]["aifabric.io/tenant"] == "operator-a"
    predictor = isvc["spec"]["predictor"]
    assert predictor["minReplicas"] == 0
    assert "transformer" not in isvc["spec"]  # the Data Consumer is a KEDA-scaled Deployment
    container = predictor["containers"][0]
    assert container["image"] == "ghcr.io/aifabric/predictor:0.1.0"
    assert container["args"] == ["--model_name", "cell-load", "--http_port", "8080"]
    env = {e["name"]: e for e in container["env"]}
    assert env["AIFABRIC_MODEL_URI"]["value"] == PARAMS["storage_uri"]
    assert env["AIFABRIC_S3__SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "aifabric-s3",
        "key": "secret-key",
    }
    assert isvc["metadata"]["annotations"]["aifabric.io/topics"] == "telemetry.ran,telemetry.edge"


def test_consumer_is_wired_to_kafka_and_the_predictor() -> None:
    _, _, deployment, scaled = objects.deployment_objects(**PARAMS, registry="registry.example/ai")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/ai/transformer:0.1.0"
    assert container["args"] == [
        "--model_name",
        "cell-load",
        "--predictor_host",
        "cell-load-predictor.mlops.svc.cluster.local",
    ]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {
        "AIFABRIC_KAFKA__BOOTSTRAP_SERVERS": PARAMS["bootstrap_servers"],
        "AIFABRIC_CONSUMER_TOPICS": "telemetry.ran,telemetry.edge",
        "AIFABRIC_CONSUMER_GROUP": "cell-load-consumer",
        "AIFABRIC_RESULTS_TOPIC": "cell_load.Results",
    }
    assert "replicas" not in deployment["spec"]  # KEDA owns the replica count
    assert scaled["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "cell-load-consumer",
    }
    assert [t["metadata"]["topic"] for t in scaled["spec"]["triggers"]] == ["telemetry.ran", "telemetry.edge"]
    assert {t["metadata"]["consumerGroup"] for t in scaled["spec"]["triggers"]} == {"cell-load-consumer"}
    assert scaled["spec"]["minReplicaCount"] == 0


def test_kafka_topic_keeps_names_that_are_not_resource_names() -> None:
    topic = objects.kafka_topic(
        name="cell_load.Results", namespace="dataops", partitions=6, retention_ms=3600000
    )
    assert topic["metadata"]["name"] == "cell-load.results"
    assert topic["spec"] == {
        "topicName": "cell_load.Results",
        "partitions": 6,
        "config": {"retention.ms": 3600000},
    }
    assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "aifabric"
    plain = objects.kafka_topic(name="telemetry.ran", namespace="dataops")
    assert "topicName" not in plain["spec"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Cell_Load"}, "DNS label"),
        ({"name": "x" * 46}, "at most 45"),
        ({"image_tag": "latest"}, "not a pinned version"),
        ({"topics": []}, "topics is empty"),
        ({"topics": ["bad topic"]}, "invalid Kafka topic name"),
        ({"results_topic": "telemetry.ran"}, "must not also be an input topic"),
        ({"group_id": ""}, "group_id is empty"),
        ({"bootstrap_servers": ""}, "bootstrap_servers is empty"),
        ({"min_replicas": 4}, "min_replicas <= max_replicas"),
        ({"storage_uri": ""}, "storage_uri is empty"),
    ],
)
def test_bad_input_is_refused_with_a_reason(change: dict, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        objects.deployment_objects(**(PARAMS | change))


def test_scaled_object_input_checks() -> None:
    common = {
        "name": "x",
        "namespace": "mlops",
        "isvc_name": "x",
        "bootstrap_servers": "b:9092",
        "group_id": "g",
    }
    with pytest.raises(InvalidRequest, match="lag_threshold"):
        objects.consumer_scaled_object(**common, topics=["t"], lag_threshold=0)
    with pytest.raises(InvalidRequest, match="topics is empty"):
        objects.consumer_scaled_object(**common, topics=[])
    with pytest.raises(InvalidRequest, match="partitions"):
        objects.kafka_topic(name="t", namespace="dataops", partitions=0)


def test_manifests_serving_template_is_the_builder_output() -> None:
    """manifests/base/serving is generated from the builders; regenerate with `aifabric k8s templates`."""
    committed = (REPO / "manifests" / "base" / "serving" / "traffic-anomaly.yaml").read_text()
    assert committed == serving_template(), "run `aifabric k8s templates`"
    assert list(yaml.safe_load_all(committed)) == objects.sample_deployment_objects()


def test_rendered_isvc_equals_builder_output_but_for_overlay_labels(rendered: dict[str, list[dict]]) -> None:
    built = {(o["kind"], o["metadata"]["name"]): o for o in objects.sample_deployment_objects()}
    for overlay, objs in rendered.items():
        matched = 0
        for obj in objs:
            key = (obj["kind"], obj["metadata"]["name"])
            if key in built and obj["metadata"].get("namespace") == built[key]["metadata"]["namespace"]:
                expected = built[key]
                labels = {
                    k: v for k, v in obj["metadata"]["labels"].items() if k != "aifabric.io/environment"
                }
                assert labels == expected["metadata"].get("labels", {}) | {
                    "app.kubernetes.io/part-of": "aifabric"
                }
                assert obj["spec"] == expected["spec"], (overlay, key)
                matched += 1
        assert matched == len(built), overlay
