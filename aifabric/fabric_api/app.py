"""FastAPI application factory: settings-bound state, problem handlers, routers, lifespan.

On start the schema is migrated, the embedded ``default`` tenant and its admin token are created
once, and recorded state is reconciled with the running processes. On stop the deployments this
process supervises and the training workers it started are stopped.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from aifabric.config import Settings, get_settings
from aifabric.fabric_api import health
from aifabric.fabric_api.metrics import install_metrics
from aifabric.fabric_api.operations import Operations
from aifabric.fabric_api.problems import Problem, ValidationIssue, install_handlers
from aifabric.fabric_api.routers import api_router
from aifabric.fabric_api.security import token_file
from aifabric.persistence import init_db, make_engine, session_factory
from aifabric.storage import ObjectStore

__all__ = ["create_app"]

log = logging.getLogger("aifabric.api")

DESCRIPTION = """The aifabric API (the paper's AI Manager / AI Fabric role): datasets, model definitions
and the model catalog, training, deployments, collections and topics.

Every `/api/v1` call needs `Authorization: Bearer <token>` (`aifabric tokens create --tenant NAME`;
the embedded stack writes an admin token to `<data_dir>/token`). Resources belong to the caller's
tenant: another tenant's resources answer 404. Long operations (training, deployment) answer 202
with a `Location` to poll. Errors are RFC 9457 `application/problem+json` documents.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    resolved = settings.resolved()
    engine = make_engine(resolved.sql.url.get_secret_value())
    sessions = session_factory(engine)
    operations = Operations()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from aifabric.fabric_api.reconcile import reconcile
        from aifabric.fabric_api.tenants import bootstrap

        await run_in_threadpool(init_db, engine)
        with sessions() as session:
            if await run_in_threadpool(bootstrap, session, token_file(settings)):
                log.info("created tenant 'default' and its admin token in %s", token_file(settings))
        await run_in_threadpool(reconcile, sessions, resolved, operations)
        yield
        await run_in_threadpool(_shutdown, resolved, operations)
        engine.dispose()

    app = FastAPI(title="aifabric", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = resolved
    app.state.base_settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.store = ObjectStore(resolved)
    app.state.operations = operations
    install_handlers(app)
    install_metrics(app)
    app.include_router(api_router)

    @app.get("/health", response_model=health.Health, tags=["health"], include_in_schema=False)
    async def get_health() -> JSONResponse:
        """Each part's endpoint and health; 503 when any part is down (the runtime probes this)."""
        result = await health.check(settings, engine)
        return JSONResponse(result.model_dump(), status_code=200 if result.status == "ok" else 503)

    app.openapi = lambda: _openapi(app)
    return app


def _shutdown(settings: Settings, operations: Operations) -> None:
    from aifabric.kfp_pipelines import service as training
    from aifabric.serving.backends.base import get_backend
    from aifabric.serving.backends.local import LocalBackend

    operations.shutdown()
    backend = get_backend(settings)
    if isinstance(backend, LocalBackend):
        backend.close()
    training.shutdown()


def _openapi(app: FastAPI) -> dict:
    """The generated document plus the shared problem schemas every error response refers to."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components["Problem"].pop("$defs", None)
    components["ValidationIssue"] = ValidationIssue.model_json_schema()
    app.openapi_schema = schema
    return schema
