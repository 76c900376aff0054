"""Builders for the Kubernetes objects of one model deployment.

Pure functions returning plain dicts, shared by the Kubernetes deploy backend and by
``manifests/`` (whose serving templates are generated from these builders, see
:func:`sample_deployment_objects`), so the two cannot drift.

Design (see docs/cluster.md): the InferenceService is predictor-only, in Knative
(Serverless) mode so it scales to zero between bursts. The Data Consumer pulls from Kafka and
receives no HTTP traffic, so Knative's request-driven autoscaler would park it at zero and a
KEDA ScaledObject cannot target a Knative revision; it therefore runs as a plain Deployment
(the same KServe transformer image and class) that KEDA scales on consumer-group lag.
"""

from __future__ import annotations

import re
from typing import Any

from aifabric.errors import InvalidRequest

IMAGE_VERSION = "0.1.0"
DEFAULT_REGISTRY = "ghcr.io/aifabric"
KAFKA_CLUSTER = "aifabric"
KAFKA_NAMESPACE = "dataops"
MLOPS_NAMESPACE = "mlops"
S3_SECRET = "aifabric-s3"
FABRIC_CONFIGMAP = "aifabric-config"
HTTP_PORT = 8080
RUN_AS_USER = 10001

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_TOPIC = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
# Knative appends "-predictor" and a revision suffix to the name; keep the result a DNS label.
_MAX_NAME = 45


def image(component: str, *, image_tag: str = IMAGE_VERSION, registry: str = DEFAULT_REGISTRY) -> str:
    """``<registry>/<component>:<tag>``; a moving ``latest`` tag is refused."""
    if not image_tag or image_tag == "latest":
        raise InvalidRequest(f"image tag {image_tag!r} is not a pinned version")
    return f"{registry.rstrip('/')}/{component}:{image_tag}"


def labels(component: str, *, name: str, tenant: str | None = None) -> dict[str, str]:
    """Recommended labels plus the tenant, which the API uses to list a tenant's objects."""
    out = {
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/part-of": "aifabric",
        "app.kubernetes.io/managed-by": "aifabric",
    }
    if tenant is not None:
        out["aifabric.io/tenant"] = tenant
    return out


def container_security() -> dict[str, Any]:
    """Restricted Pod Security profile for one container (accepted by Knative too)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


def http_probe(path: str, *, port: int = HTTP_PORT, period: int = 10, delay: int = 0) -> dict[str, Any]:
    probe: dict[str, Any] = {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }
    if delay:
        probe["initialDelaySeconds"] = delay
    return probe


def s3_env() -> list[dict[str, Any]]:
    """S3 and MLflow settings: endpoint from the ConfigMap, credentials from the Secret."""
    return [
        _env_from("configMapKeyRef", "AIFABRIC_S3__ENDPOINT", FABRIC_CONFIGMAP, "s3-endpoint"),
        _env_from(
            "configMapKeyRef", "AIFABRIC_MLFLOW__TRACKING_URI", FABRIC_CONFIGMAP, "mlflow-tracking-uri"
        ),
        _env_from("secretKeyRef", "AIFABRIC_S3__ACCESS_KEY", S3_SECRET, "access-key"),
        _env_from("secretKeyRef", "AIFABRIC_S3__SECRET_KEY", S3_SECRET, "secret-key"),
    ]


def _env_from(kind: str, name: str, ref: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {kind: {"name": ref, "key": key}}}


def consumer_name(isvc_name: str) -> str:
    """Name of the Data Consumer Deployment (and its ScaledObject) of an InferenceService."""
    return f"{isvc_name}-consumer"


def predictor_host(isvc_name: str, namespace: str) -> str:
    """Cluster-local host of the predictor's Knative service (KServe names it ``<isvc>-predictor``)."""
    return f"{isvc_name}-predictor.{namespace}.svc.cluster.local"


def inference_service(
    *,
    name: str,
    namespace: str,
    tenant: str,
    storage_uri: str,
    model_name: str,
    model_version: str,
    topics: list[str],
    results_topic: str,
    group_id: str,
    bootstrap_servers: str,
    image_tag: str,
    registry: str = DEFAULT_REGISTRY,
    min_replicas: int = 0,
    max_replicas: int = 3,
) -> dict:
    """A predictor-only ``serving.kserve.io/v1beta1`` InferenceService in Serverless mode.

    The Kafka wiring is not run here (the Data Consumer Deployment runs it) but is recorded in
    annotations, so the cluster alone tells which topics feed a deployment.
    """
    _check_name(name)
    _check_replicas(min_replicas, max_replicas)
    _check_kafka(topics, results_topic, group_id, bootstrap_servers)
    if not storage_uri:
        raise InvalidRequest("storage_uri is empty")
    meta_labels = labels("predictor", name=name, tenant=tenant) | {
        "aifabric.io/model": _label_value(model_name),
        "aifabric.io/model-version": _label_value(model_version),
    }
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": meta_labels,
            "annotations": {
                "serving.kserve.io/deploymentMode": "Serverless",
                "autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev",
                "aifabric.io/model-name": model_name,
                "aifabric.io/model-version": model_version,
                "aifabric.io/topics": ",".join(topics),
                "aifabric.io/results-topic": results_topic,
                "aifabric.io/consumer-group": group_id,
                "aifabric.io/bootstrap-servers": bootstrap_servers,
            },
        },
        "spec": {
            "predictor": {
                "minReplicas": min_replicas,
                "maxReplicas": max_replicas,
                "scaleMetric": "concurrency",
                "scaleTarget": 20,
                "serviceAccountName": "aifabric-predictor",
                "containers": [
                    {
                        "name": "kserve-container",
                        "image": image("predictor", image_tag=image_tag, registry=registry),
                        "args": ["--model_name", name, "--http_port", str(HTTP_PORT)],
                        "env": [
                            {"name": "AIFABRIC_MODEL_URI", "value": storage_uri},
                            *s3_env(),
                        ],
                        "ports": [{"containerPort": HTTP_PORT, "name": "http1", "protocol": "TCP"}],
                        "resources": resources("100m", "384Mi", "1", "1Gi"),
                        "readinessProbe": http_probe(f"/v2/models/{name}/ready", period=5),
                        "livenessProbe": http_probe("/v2/health/live", period=20, delay=10),
                        "securityContext": container_security(),
                    }
                ],
            }
        },
    }


def consumer_deployment(
    *,
    isvc_name: str,
    namespace: str,
    tenant: str,
    topics: list[str],
    results_topic: str,
    group_id: str,
    bootstrap_servers: str,
    image_tag: str,
    registry: str = DEFAULT_REGISTRY,
) -> dict:
    """The Data Consumer (KServe transformer class) as a Deployment that KEDA scales on lag.

    ``replicas`` is left out on purpose: KEDA owns it, and a value here would fight KEDA on
    every apply.
    """
    _check_name(isvc_name)
    _check_kafka(topics, results_topic, group_id, bootstrap_servers)
    name = consumer_name(isvc_name)
    meta_labels = labels("data-consumer", name=name, tenant=tenant)
    selector = {"app.kubernetes.io/name": "data-consumer", "app.kubernetes.io/instance": name}
    container = {
        "name": "data-consumer",
        "image": image("transformer", image_tag=image_tag, registry=registry),
        "args": [
            "--model_name",
            isvc_name,
            "--predictor_host",
            predictor_host(isvc_name, namespace),
        ],
        "env": [
            {"name": "AIFABRIC_KAFKA__BOOTSTRAP_SERVERS", "value": bootstrap_servers},
            {"name": "AIFABRIC_CONSUMER_TOPICS", "value": ",".join(topics)},
            {"name": "AIFABRIC_CONSUMER_GROUP", "value": group_id},
            {"name": "AIFABRIC_RESULTS_TOPIC", "value": results_topic},
        ],
        "ports": [{"containerPort": HTTP_PORT, "name": "http", "protocol": "TCP"}],
        "resources": resources("50m", "192Mi", "500m", "512Mi"),
        "readinessProbe": http_probe("/v2/health/ready"),
        "livenessProbe": http_probe("/v2/health/live", period=20, delay=10),
        "securityContext": container_security() | {"readOnlyRootFilesystem": True},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": meta_labels},
        "spec": {
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": meta_labels},
                "spec": {
                    "serviceAccountName": "aifabric-consumer",
                    "automountServiceAccountToken": False,
                    # Finish the batch in hand and commit its offsets before the pod goes.
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }


def kafka_topic(
    *,
    name: str,
    namespace: str,
    cluster: str = KAFKA_CLUSTER,
    partitions: int = 3,
    retention_ms: int = 604800000,
) -> dict:
    """A Strimzi ``kafka.strimzi.io/v1`` KafkaTopic.

    ``replicas`` is left to the broker's ``default.replication.factor`` so one builder fits the
    one-broker dev cluster and the three-broker prod cluster. Topic names that are not valid
    resource names (upper case, ``_``) go to ``spec.topicName``.
    """
    if not _TOPIC.match(name):
        raise InvalidRequest(f"invalid Kafka topic name {name!r}")
    if partitions < 1:
        raise InvalidRequest("partitions must be at least 1")
    if retention_ms < -1 or retention_ms == 0:
        raise InvalidRequest("retention_ms must be positive or -1 (unlimited)")
    resource = re.sub(r"[^a-z0-9.-]", "-", name.lower()).strip("-.")
    spec: dict[str, Any] = {"partitions": partitions, "config": {"retention.ms": retention_ms}}
    if resource != name:
        spec = {"topicName": name, **spec}
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {
            "name": resource,
            "namespace": namespace,
            "labels": {"strimzi.io/cluster": cluster, "app.kubernetes.io/part-of": "aifabric"},
        },
        "spec": spec,
    }


def consumer_scaled_object(
    *,
    name: str,
    namespace: str,
    isvc_name: str,
    bootstrap_servers: str,
    group_id: str,
    topics: list[str],
    lag_threshold: int = 500,
    min_replicas: int = 0,
    max_replicas: int = 3,
) -> dict:
    """A ``keda.sh/v1alpha1`` ScaledObject scaling the Data Consumer on consumer-group lag.

    One ``kafka`` trigger per topic (KEDA scales to the largest); replicas beyond the partition
    count would sit idle, which ``allowIdleConsumers: false`` prevents.
    """
    _check_replicas(min_replicas, max_replicas)
    if not topics:
        raise InvalidRequest("topics is empty")
    if lag_threshold < 1:
        raise InvalidRequest("lag_threshold must be at least 1")
    triggers = [
        {
            "type": "kafka",
            "name": f"lag-{i}",
            "metadata": {
                "bootstrapServers": bootstrap_servers,
                "consumerGroup": group_id,
                "topic": topic,
                "lagThreshold": str(lag_threshold),
                "activationLagThreshold": "0",
                "offsetResetPolicy": "earliest",
                "allowIdleConsumers": "false",
            },
        }
        for i, topic in enumerate(topics)
    ]
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels("data-consumer", name=name),
        },
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": consumer_name(isvc_name),
            },
            "minReplicaCount": min_replicas,
            "maxReplicaCount": max_replicas,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "triggers": triggers,
        },
    }


def deployment_objects(
    *,
    name: str,
    namespace: str,
    tenant: str,
    storage_uri: str,
    model_name: str,
    model_version: str,
    topics: list[str],
    results_topic: str,
    group_id: str,
    bootstrap_servers: str,
    image_tag: str,
    registry: str = DEFAULT_REGISTRY,
    min_replicas: int = 0,
    max_replicas: int = 3,
    lag_threshold: int = 500,
    kafka_namespace: str = KAFKA_NAMESPACE,
    kafka_cluster: str = KAFKA_CLUSTER,
) -> list[dict]:
    """Every object of one model deployment, in apply order.

    The results topic, the InferenceService, the Data Consumer Deployment and its
    ScaledObject. Input topics belong to the collections that feed them and are not created here.
    """
    kafka = {
        "topics": topics,
        "results_topic": results_topic,
        "group_id": group_id,
        "bootstrap_servers": bootstrap_servers,
    }
    return [
        kafka_topic(name=results_topic, namespace=kafka_namespace, cluster=kafka_cluster),
        inference_service(
            name=name,
            namespace=namespace,
            tenant=tenant,
            storage_uri=storage_uri,
            model_name=model_name,
            model_version=model_version,
            image_tag=image_tag,
            registry=registry,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            **kafka,
        ),
        consumer_deployment(
            isvc_name=name,
            namespace=namespace,
            tenant=tenant,
            image_tag=image_tag,
            registry=registry,
            **kafka,
        ),
        consumer_scaled_object(
            name=consumer_name(name),
            namespace=namespace,
            isvc_name=name,
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            topics=topics,
            lag_threshold=lag_threshold,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
        ),
    ]


# The parameters of the InferenceService template shipped in manifests/base/serving.
SAMPLE_DEPLOYMENT: dict[str, Any] = {
    "name": "traffic-anomaly",
    "namespace": MLOPS_NAMESPACE,
    "tenant": "default",
    "storage_uri": "models:/traffic-anomaly@champion",
    "model_name": "traffic-anomaly",
    "model_version": "champion",
    "topics": ["telemetry.nwdaf"],
    "results_topic": "traffic-anomaly.results",
    "group_id": "traffic-anomaly-consumer",
    "bootstrap_servers": f"{KAFKA_CLUSTER}-kafka-bootstrap.{KAFKA_NAMESPACE}.svc:9092",
    "image_tag": IMAGE_VERSION,
}


def sample_deployment_objects() -> list[dict]:
    """The objects of ``manifests/base/serving`` (regenerate with ``aifabric k8s templates``)."""
    return deployment_objects(**SAMPLE_DEPLOYMENT)


def _check_name(name: str) -> None:
    if len(name) > _MAX_NAME or not _DNS_LABEL.match(name):
        raise InvalidRequest(
            f"deployment name {name!r} must be a DNS label (lower case letters, digits, '-', "
            f"starting with a letter) of at most {_MAX_NAME} characters"
        )


def _check_replicas(min_replicas: int, max_replicas: int) -> None:
    if min_replicas < 0 or max_replicas < 1 or min_replicas > max_replicas:
        raise InvalidRequest(
            f"need 0 <= min_replicas <= max_replicas, >= 1; got {min_replicas}, {max_replicas}"
        )


def _check_kafka(topics: list[str], results_topic: str, group_id: str, bootstrap_servers: str) -> None:
    if not topics:
        raise InvalidRequest("topics is empty")
    for topic in [*topics, results_topic]:
        if not _TOPIC.match(topic):
            raise InvalidRequest(f"invalid Kafka topic name {topic!r}")
    if results_topic in topics:
        raise InvalidRequest("the results topic must not also be an input topic")
    if not group_id:
        raise InvalidRequest("group_id is empty")
    if not bootstrap_servers:
        raise InvalidRequest("bootstrap_servers is empty")


def _label_value(value: str) -> str:
    """Label values are at most 63 characters of ``[A-Za-z0-9._-]``, alphanumeric at both ends."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", value)[:63]
    return cleaned.strip("-._") or "none"
