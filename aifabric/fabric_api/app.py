"""FastAPI application factory: builds settings-bound state and includes the routers."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from aifabric.config import Settings, get_settings
from aifabric.errors import AifabricError
from aifabric.fabric_api import health
from aifabric.persistence import init_db, make_engine, session_factory


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    resolved = settings.resolved()
    engine = make_engine(resolved.sql.url.get_secret_value())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        init_db(engine)
        yield
        engine.dispose()

    app = FastAPI(title="aifabric", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)

    @app.exception_handler(AifabricError)
    async def _aifabric_error(request: Request, exc: AifabricError) -> JSONResponse:
        return JSONResponse(
            {"type": "about:blank", "title": exc.title, "status": exc.status, "detail": exc.detail},
            status_code=exc.status,
            media_type="application/problem+json",
        )

    @app.get("/health", response_model=health.Health, tags=["health"])
    async def get_health() -> JSONResponse:
        """Each part's endpoint and health; 503 when any part is down."""
        result = await health.check(settings, engine)
        return JSONResponse(result.model_dump(), status_code=200 if result.status == "ok" else 503)

    return app
