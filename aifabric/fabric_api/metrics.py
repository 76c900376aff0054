"""Prometheus ``/metrics``: request counts and latencies per route, plus fabric resource gauges.

Each app has its own registry (several apps can live in one test process). Routes are labelled
by their template (``/api/v1/deployments/{deployment_id}``), never by the raw path, to keep the
label set small; resource gauges are read from SQL at scrape time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

__all__ = ["install_metrics"]


class _Resources(Collector):
    """Counts of fabric resources by state, per tenant."""

    def __init__(self, sessions) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from aifabric.collector.tables import CollectionJob
        from aifabric.datasets.tables import DatasetVersionRow
        from aifabric.kfp_pipelines.service import TrainingRunRow
        from aifabric.serving.tables import DeploymentRow

        specs = [
            ("aifabric_deployments", "Deployments by state", DeploymentRow, DeploymentRow.state),
            ("aifabric_training_runs", "Training runs by status", TrainingRunRow, TrainingRunRow.status),
            ("aifabric_collections", "Collections by state", CollectionJob, CollectionJob.state),
            ("aifabric_dataset_versions", "Dataset versions", DatasetVersionRow, None),
        ]
        with self.sessions() as session:
            for name, doc, table, column in specs:
                labels = ["tenant", "state"] if column is not None else ["tenant"]
                family = GaugeMetricFamily(name, doc, labels=labels)
                cols = [table.tenant] + ([column] if column is not None else [])
                for *keys, count in session.execute(select(*cols, func.count()).group_by(*cols)).all():
                    family.add_metric([str(k) for k in keys], count)
                yield family


def install_metrics(app: FastAPI) -> None:
    registry = CollectorRegistry()
    requests = Counter(
        "aifabric_api_requests", "HTTP requests", ["method", "route", "status"], registry=registry
    )
    latency = Histogram(
        "aifabric_api_request_seconds", "HTTP request latency", ["method", "route"], registry=registry
    )
    registry.register(_Resources(app.state.sessions))

    @app.middleware("http")
    async def _measure(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        latency.labels(request.method, template).observe(time.perf_counter() - start)
        requests.labels(request.method, template, str(response.status_code)).inc()
        return response

    @app.get(
        "/metrics", tags=["health"], response_class=Response, responses={200: {"content": {"text/plain": {}}}}
    )
    def metrics() -> Response:
        """Prometheus text exposition (no token needed)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
