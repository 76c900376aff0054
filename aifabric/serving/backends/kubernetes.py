"""The cluster deploy backend: builds a deployment's objects with ``aifabric.k8s.objects`` and
applies them with the ``kubernetes`` client (create, or replace when the object exists).

Objects: the results KafkaTopic (Strimzi ``kafka.strimzi.io/v1``), the predictor-only
InferenceService (Serverless, ``minReplicas: 0``), the Data Consumer Deployment with its Kafka
settings, and a KEDA ScaledObject scaling that consumer on consumer-group lag (see the design note
in ``aifabric/k8s/objects.py``). Readiness is read from the InferenceService's ``Ready`` condition
and the Deployment's replica counts; timings are request -> ready as observed by polling.
"""

from __future__ import annotations

import time
from typing import Any

from aifabric.errors import InvalidRequest, Unavailable
from aifabric.serving.backends.base import DeployBackend
from aifabric.serving.models import ComponentStatus, DeploymentSpec, DeploymentTiming, DeployOutcome

__all__ = ["KubernetesBackend"]

IMAGE_TAG_ENV = "AIFABRIC_IMAGE_TAG"


def _plural(kind: str) -> str:
    return {
        "InferenceService": "inferenceservices",
        "KafkaTopic": "kafkatopics",
        "ScaledObject": "scaledobjects",
    }[kind]


class KubernetesBackend(DeployBackend):
    name = "kubernetes"

    def __init__(
        self, settings, api_client: Any = None, ready_timeout: float = 300.0, poll: float = 1.0
    ) -> None:
        super().__init__(settings)
        self._api_client = api_client
        self.ready_timeout = ready_timeout
        self.poll = poll

    # -- clients ------------------------------------------------------------------------------

    @property
    def api_client(self):
        if self._api_client is None:
            from kubernetes import config
            from kubernetes.client import ApiClient

            try:
                config.load_incluster_config()
            except config.ConfigException:
                try:
                    config.load_kube_config()
                except config.ConfigException as exc:
                    raise Unavailable(
                        f"no Kubernetes configuration (in-cluster or kubeconfig): {exc}"
                    ) from None
            self._api_client = ApiClient()
        return self._api_client

    def _custom(self):
        from kubernetes.client import CustomObjectsApi

        return CustomObjectsApi(self.api_client)

    def _apps(self):
        from kubernetes.client import AppsV1Api

        return AppsV1Api(self.api_client)

    # -- objects -------------------------------------------------------------------------------

    def objects(self, spec: DeploymentSpec) -> list[dict]:
        """Every object of ``spec`` in apply order (what :meth:`deploy` sends)."""
        import os

        from aifabric.k8s.objects import deployment_objects

        return deployment_objects(
            name=spec.name,
            namespace=self.settings.serving.namespace,
            tenant=spec.tenant,
            storage_uri=spec.model_uri,
            model_name=spec.model_name,
            model_version=spec.model_version,
            topics=spec.topics,
            results_topic=spec.results_topic,
            group_id=spec.group_id,
            bootstrap_servers=self.settings.resolved().kafka.bootstrap_servers,
            image_tag=os.environ.get(IMAGE_TAG_ENV, "0.1.0"),
        )

    def apply(self, obj: dict) -> None:
        """Create ``obj``, or replace it (keeping its resourceVersion) when it exists."""
        from kubernetes.client.exceptions import ApiException

        meta = obj["metadata"]
        ns, name, kind = meta["namespace"], meta["name"], obj["kind"]
        try:
            if kind == "Deployment":
                try:
                    self._apps().create_namespaced_deployment(ns, obj)
                except ApiException as exc:
                    if exc.status != 409:
                        raise
                    self._apps().replace_namespaced_deployment(name, ns, obj)
                return
            group, version = obj["apiVersion"].split("/")
            api = self._custom()
            try:
                api.create_namespaced_custom_object(group, version, ns, _plural(kind), obj)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                current = api.get_namespaced_custom_object(group, version, ns, _plural(kind), name)
                obj = {**obj, "metadata": {**meta, "resourceVersion": current["metadata"]["resourceVersion"]}}
                api.replace_namespaced_custom_object(group, version, ns, _plural(kind), name, obj)
        except ApiException as exc:
            if exc.status in (400, 403, 422):
                raise InvalidRequest(
                    f"the cluster refused {kind}/{name}: {exc.status} {exc.reason}"
                ) from None
            raise Unavailable(f"Kubernetes API error on {kind}/{name}: {exc.status} {exc.reason}") from None

    def delete(self, obj: dict) -> None:
        from kubernetes.client.exceptions import ApiException

        meta = obj["metadata"]
        try:
            if obj["kind"] == "Deployment":
                self._apps().delete_namespaced_deployment(meta["name"], meta["namespace"])
            else:
                group, version = obj["apiVersion"].split("/")
                self._custom().delete_namespaced_custom_object(
                    group, version, meta["namespace"], _plural(obj["kind"]), meta["name"]
                )
        except ApiException as exc:
            if exc.status != 404:
                raise Unavailable(
                    f"cannot delete {obj['kind']}/{meta['name']}: {exc.status} {exc.reason}"
                ) from None

    # -- interface ----------------------------------------------------------------------------

    def deploy(self, spec: DeploymentSpec) -> DeployOutcome:
        t0 = time.monotonic()
        for obj in self.objects(spec):
            self.apply(obj)
        return self._await(spec, t0, "deploy")

    def redeploy(self, old: DeploymentSpec, new: DeploymentSpec) -> DeployOutcome:
        """Replacing the objects in place: the InferenceService rolls to a new revision and the
        consumer Deployment rolls pod by pod; both keep the same consumer group."""
        t0 = time.monotonic()
        for obj in self.objects(new):
            self.apply(obj)
        return self._await(new, t0, "redeploy")

    def undeploy(self, spec: DeploymentSpec) -> None:
        # The results topic stays: its records outlive the deployment that wrote them.
        for obj in reversed(self.objects(spec)[1:]):
            self.delete(obj)

    def _await(self, spec: DeploymentSpec, t0: float, kind: str) -> DeployOutcome:
        ready_at: dict[str, float] = {}
        deadline = t0 + self.ready_timeout
        while True:
            comps = self.status(spec)
            for c in comps:
                if c.state == "ready" and c.component not in ready_at:
                    ready_at[c.component] = (time.monotonic() - t0) * 1000
            if len(ready_at) == 2 or any(c.state == "failed" for c in comps) or time.monotonic() > deadline:
                break
            time.sleep(self.poll)
        timing = None
        if len(ready_at) == 2:
            timing = DeploymentTiming(
                model_version=spec.model_version,
                model_ms=ready_at["predictor"],
                consumer_ms=ready_at["consumer"],
                combined_ms=max(ready_at.values()),
                kind=kind,  # type: ignore[arg-type]
            )
        return DeployOutcome(components=comps, timing=timing)

    def status(self, spec: DeploymentSpec) -> list[ComponentStatus]:
        from kubernetes.client.exceptions import ApiException

        from aifabric.k8s.objects import consumer_name

        ns = self.settings.serving.namespace
        try:
            isvc = self._custom().get_namespaced_custom_object(
                "serving.kserve.io", "v1beta1", ns, "inferenceservices", spec.name
            )
            predictor = _isvc_status(isvc)
        except ApiException as exc:
            predictor = ComponentStatus(
                component="predictor", state="failed", reason=f"{exc.status} {exc.reason}"
            )
        try:
            dep = self._apps().read_namespaced_deployment(consumer_name(spec.name), ns)
            consumer = _deployment_status(dep)
        except ApiException as exc:
            consumer = ComponentStatus(
                component="consumer", state="failed", reason=f"{exc.status} {exc.reason}"
            )
        return [predictor, consumer]


def _isvc_status(isvc: dict) -> ComponentStatus:
    conditions = {c.get("type"): c for c in (isvc.get("status") or {}).get("conditions", [])}
    ready = conditions.get("Ready")
    url = (isvc.get("status") or {}).get("url", "")
    if ready and ready.get("status") == "True":
        return ComponentStatus(component="predictor", state="ready", endpoint=url)
    if ready and ready.get("status") == "False" and ready.get("reason") not in (None, "", "Unknown"):
        return ComponentStatus(
            component="predictor", state="failed", reason=f"{ready.get('reason')}: {ready.get('message', '')}"
        )
    return ComponentStatus(
        component="predictor", state="pending", reason=(ready or {}).get("message", "starting")
    )


def _deployment_status(dep: Any) -> ComponentStatus:
    status = dep.status
    wanted = dep.spec.replicas if dep.spec.replicas is not None else 1
    available = (status.available_replicas or 0) if status else 0
    if wanted == 0:
        return ComponentStatus(component="consumer", state="ready", reason="scaled to zero (no lag)")
    if available >= 1:
        return ComponentStatus(component="consumer", state="ready")
    for cond in (status.conditions or []) if status else []:
        if cond.type == "Progressing" and cond.status == "False":
            return ComponentStatus(
                component="consumer", state="failed", reason=f"{cond.reason}: {cond.message}"
            )
    return ComponentStatus(component="consumer", state="pending", reason="waiting for an available replica")
