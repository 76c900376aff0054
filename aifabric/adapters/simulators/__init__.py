"""Simulated sources for the embedded default, the demo and the tests: an NWDAF (TS 29.520
subset), a RAN (E2SM-KPM indications through the xApp-forwarder protocol, plus the xApp SQLite
layout) and an edge application (Prometheus exposition). Values come from :mod:`.traffic`.

Ports are fixed offsets from the API port so that every process finds them without new settings.
"""

from __future__ import annotations

import sys

from aifabric.config import LOOPBACK, Settings

SIMULATOR_PORT_OFFSETS = {"nwdaf": 10, "ran": 11, "edge": 12}
MODULES = {"nwdaf": "nwdaf_sim", "ran": "ran_sim", "edge": "edge_sim"}


def simulator_port(settings: Settings, name: str) -> int:
    return settings.api.port + SIMULATOR_PORT_OFFSETS[name]


def simulator_url(settings: Settings, name: str) -> str:
    return f"http://{LOOPBACK}:{simulator_port(settings, name)}"


def ran_sqlite_path(settings: Settings):
    return settings.data_dir / "ran-sim" / "xapp_db.sqlite3"


def simulator_specs(settings: Settings) -> list:
    """One :class:`aifabric.runtime.ServiceSpec` per simulator (``aifabric up --simulators``)."""
    from aifabric.runtime import ServiceSpec
    from aifabric.runtime.health import http_ok

    specs = []
    for name, module in MODULES.items():
        url = simulator_url(settings, name)
        argv = [
            sys.executable,
            "-m",
            f"aifabric.adapters.simulators.{module}",
            "--port",
            str(simulator_port(settings, name)),
        ]
        if name == "ran":
            argv += ["--sqlite", str(ran_sqlite_path(settings))]
        specs.append(
            ServiceSpec(
                name=f"{name}-sim",
                argv=argv,
                log_file=settings.log_dir / f"{name}-sim.log",
                endpoint=url,
                ready=lambda url=url: http_ok(f"{url}/health"),
                ready_timeout=30,
                stop_timeout=5,
            )
        )
    return specs
