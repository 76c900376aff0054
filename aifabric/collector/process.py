"""The collector as a process of the embedded stack: its loopback port, its service spec, and
the ``POST /wake`` the API sends it when a collection is created or stopped."""

from __future__ import annotations

import contextlib
import sys

import httpx

from aifabric.config import LOOPBACK, Settings

__all__ = ["collector_port", "collector_spec", "wake_collector"]

COLLECTOR_PORT_OFFSET = 13


def collector_port(settings: Settings) -> int:
    return settings.api.port + COLLECTOR_PORT_OFFSET


def collector_spec(settings: Settings):
    """The :class:`aifabric.runtime.ServiceSpec` that runs the collector beside the API."""
    from aifabric.runtime import ServiceSpec
    from aifabric.runtime.health import http_ok
    from aifabric.runtime.services import settings_env

    url = f"http://{LOOPBACK}:{collector_port(settings)}"
    return ServiceSpec(
        name="collector",
        argv=[sys.executable, "-m", "aifabric.collector", "--port", str(collector_port(settings))],
        env=settings_env(settings),
        log_file=settings.log_dir / "collector.log",
        endpoint=url,
        ready=lambda: http_ok(f"{url}/health"),
        ready_timeout=60,
        stop_timeout=20,
    )


def wake_collector(settings: Settings) -> None:
    """Ask the collector process to reconcile now; best effort (it polls anyway, only slower)."""
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(f"http://{LOOPBACK}:{collector_port(settings)}/wake", timeout=0.5)
