"""The cluster path: object builders, kustomize rendering and schema validation.

Only the builders are re-exported; rendering and validation import their heavier
dependencies (a subprocess, jsonschema, the schema files) when used.
"""

from aifabric.k8s.objects import (
    consumer_deployment,
    consumer_scaled_object,
    deployment_objects,
    inference_service,
    kafka_topic,
)

__all__ = [
    "consumer_deployment",
    "consumer_scaled_object",
    "deployment_objects",
    "inference_service",
    "kafka_topic",
]
