"""Run ``kserve.Model`` objects in KServe's ModelServer, bound to the right address.

KServe 0.21 binds its REST server to ``0.0.0.0``. Processes of the embedded fabric must bind
loopback only, while a pod must listen on every interface: :func:`serve_models` binds
``AIFABRIC_SERVING_HOST``, else ``0.0.0.0`` inside Kubernetes (``KUBERNETES_SERVICE_HOST`` is set
in every pod) and ``127.0.0.1`` elsewhere. It also stops the models (``Model.stop``) when the
server exits on SIGTERM, so the Data Consumer can finish and commit its batch, after awaiting
their ``aclose()`` (if they have one) on the server's event loop, where their async clients live.

Idle wake-ups: uvicorn's main loop wakes ten times a second to check for shutdown (≈2.5 millicores
per idle process, the largest part of an idle predictor). :class:`_QuietServer` ticks once a second
instead, and a shutdown signal wakes it at once, so nothing but the idle cost changes.

Per-request log lines (uvicorn's access log and KServe's two ``kserve.trace`` timing lines) are
off unless ``AIFABRIC_SERVING_ACCESS_LOG=1``: three unbuffered writes per request cost more than
scoring one window, and the per-record HTTP path makes one request per record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

import uvicorn
from kserve import Model, ModelServer
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.predictor_config import PredictorConfig
from kserve.protocol.rest.server import RESTServer

__all__ = ["bind_host", "serve_models"]


def bind_host() -> str:
    if host := os.environ.get("AIFABRIC_SERVING_HOST"):
        return host
    return "0.0.0.0" if os.environ.get("KUBERNETES_SERVICE_HOST") else "127.0.0.1"


class _QuietServer(uvicorn.Server):
    """uvicorn's server with a 1 s tick (date header, exit check) that a shutdown cuts short."""

    async def main_loop(self) -> None:
        self._exit = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000  # every tick is a "once per second" tick
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 1.0)
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        if (loop := getattr(self, "_loop", None)) is not None:
            loop.call_soon_threadsafe(self._exit.set)


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
        self._rest_server._server = _QuietServer(self._rest_server.config)  # no SSL here to refresh
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
