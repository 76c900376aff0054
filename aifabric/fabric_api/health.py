"""Health of every part the API depends on, probed concurrently with short timeouts."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from sqlalchemy import text

from aifabric.config import Settings
from aifabric.runtime.health import http_ok, kafka_ready, s3_ready


class PartHealth(BaseModel):
    name: str
    endpoint: str
    healthy: bool
    embedded: bool


class Health(BaseModel):
    status: str
    parts: list[PartHealth]


def _sql_ok(engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any driver error means "not healthy"
        return False


async def check(settings: Settings, engine) -> Health:
    s = settings.resolved()
    from aifabric.config import redact_url

    probes = {
        "broker": (s.kafka.bootstrap_servers, lambda: kafka_ready(s.kafka.bootstrap_servers)),
        "s3": (s.s3.endpoint, lambda: s3_ready(s.s3.endpoint)),
        "sql": (redact_url(s.sql.url.get_secret_value()), lambda: _sql_ok(engine)),
        "mlflow": (s.mlflow.tracking_uri, lambda: http_ok(f"{s.mlflow.tracking_uri}/health")),
    }
    results = await asyncio.gather(*(asyncio.to_thread(fn) for _, fn in probes.values()))
    parts = [
        PartHealth(name=name, endpoint=endpoint, healthy=ok, embedded=settings.embedded(name))
        for (name, (endpoint, _)), ok in zip(probes.items(), results, strict=True)
    ]
    return Health(status="ok" if all(p.healthy for p in parts) else "degraded", parts=parts)
