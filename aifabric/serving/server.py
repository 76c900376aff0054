"""Run ``kserve.Model`` objects in KServe's ModelServer, bound to the right address.

KServe 0.21 binds its REST server to ``0.0.0.0``. Processes of the embedded fabric must bind
loopback only, while a pod must listen on every interface: :func:`serve_models` binds
``AIFABRIC_SERVING_HOST``, else ``0.0.0.0`` inside Kubernetes (``KUBERNETES_SERVICE_HOST`` is set
in every pod) and ``127.0.0.1`` elsewhere. It also stops the models (``Model.stop``) when the
server exits on SIGTERM, so the Data Consumer can finish and commit its batch, after awaiting
their ``aclose()`` (if they have one) on the server's event loop, where their async clients live.

Per-request log lines (uvicorn's access log and KServe's two ``kserve.trace`` timing lines) are
off unless ``AIFABRIC_SERVING_ACCESS_LOG=1``: three unbuffered writes per request cost more than
scoring one window, and the per-record HTTP path makes one request per record.
"""

from __future__ import annotations

import asyncio
import logging
import os

from kserve import Model, ModelServer
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.predictor_config import PredictorConfig
from kserve.protocol.rest.server import RESTServer

__all__ = ["bind_host", "serve_models"]


def bind_host() -> str:
    if host := os.environ.get("AIFABRIC_SERVING_HOST"):
        return host
    return "0.0.0.0" if os.environ.get("KUBERNETES_SERVICE_HOST") else "127.0.0.1"


class _BoundModelServer(ModelServer):
    """A single-worker ModelServer (REST only) whose listen address is configurable."""

    def __init__(self, host: str, **kwargs) -> None:
        super().__init__(enable_grpc=False, workers=1, enable_latency_logging=False, **kwargs)
        self.host = host

    def start(self, models: list[Model]) -> None:
        self._register_and_check_atleast_one_model_is_ready(models)
        self._rest_server = RESTServer(
            FASTAPI_APP_IMPORT_STRING,
            self.dataplane,
            self.model_repository_extension,
            self.http_port,
            grace_period=5,
            event_loop=self.event_loop,
            timeout_keep_alive=self.timeout_keep_alive,
        )
        self._rest_server.config.host = self.host
        if os.environ.get("AIFABRIC_SERVING_ACCESS_LOG", "0") != "1":
            for name in ("uvicorn.access", "kserve.trace"):
                logging.getLogger(name).setLevel(logging.WARNING)
        self.servers.append(self._rest_server.start())
        self.setup_event_loop()

        async def serve() -> None:
            try:
                await self._serve()
            finally:
                for model in models:
                    if aclose := getattr(model, "aclose", None):
                        await aclose()

        try:
            asyncio.run(serve())
        finally:
            for model in models:
                model.stop()


def serve_models(models: list[Model], http_port: int, predictor_host: str | None = None) -> None:
    """Serve ``models`` until SIGTERM/SIGINT (uvicorn's handlers), then stop them."""
    config = PredictorConfig(predictor_host, "v1") if predictor_host else None
    _BoundModelServer(bind_host(), http_port=http_port, predictor_config=config).start(models)
