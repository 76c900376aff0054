"""Starts the embedded parts in dependency order, waits for each to be healthy, restarts a
part that dies (with backoff) and stops everything in reverse order."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import orjson
from pydantic import BaseModel

from aifabric.config import Settings
from aifabric.runtime.process import ManagedProcess, ServiceSpec

log = logging.getLogger("aifabric.runtime")

MAX_BACKOFF = 30.0


class PartState(BaseModel):
    name: str
    endpoint: str
    pid: int | None = None
    embedded: bool = True
    log_file: str | None = None
    restarts: int = 0
    ready_after_s: float | None = None


class StackState(BaseModel):
    """What ``stack.json`` in the data dir records for ``status`` and ``down``."""

    supervisor_pid: int
    started_at: datetime
    ready: bool = False
    error: str | None = None
    parts: dict[str, PartState] = {}


def default_stages(
    settings: Settings, extra: list[ServiceSpec] | None = None, collector: bool = True
) -> list[list[ServiceSpec]]:
    """Two stages: the infrastructure (broker, S3, MLflow: none needs another to start, and MLflow's
    schema migration is the long pole, so it starts at once), then the fabric processes."""
    from aifabric.collector.process import collector_spec
    from aifabric.runtime import services

    first = []
    if settings.embedded("broker"):
        first.append(services.broker_spec(settings))
    if settings.embedded("s3"):
        first.append(services.s3_spec(settings))
    if settings.embedded("mlflow"):
        first.append(services.mlflow_spec(settings))
    second = [services.api_spec(settings), *([collector_spec(settings)] if collector else []), *(extra or [])]
    if settings.kfp.warm_step_server and not settings.kfp.host:
        from aifabric.kfp_pipelines.stepserver import step_server_spec

        second.append(step_server_spec(settings))
    return [s for s in (first, second) if s]


class Supervisor:
    """Runs a list of stages; each stage's parts start together and must be ready before the next."""

    def __init__(
        self,
        settings: Settings,
        stages: list[list[ServiceSpec]] | None = None,
        after_stage: Callable[[int], None] | None = None,
        state_file: bool = True,
    ) -> None:
        self.settings = settings
        self.stages = stages if stages is not None else default_stages(settings)
        self.after_stage = after_stage
        self.procs: list[ManagedProcess] = []
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self._write_state = state_file
        self.state = StackState(supervisor_pid=os.getpid(), started_at=datetime.now(UTC))

    @property
    def state_path(self):
        return self.settings.data_dir / "stack.json"

    def save_state(self) -> None:
        if not self._write_state:
            return
        for p in self.procs:
            self.state.parts[p.spec.name] = PartState(
                name=p.spec.name,
                endpoint=p.spec.endpoint,
                pid=p.pid,
                log_file=str(p.spec.log_file),
                restarts=p.restarts,
                ready_after_s=p.ready_after,
            )
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(self.state.model_dump(mode="json"), option=orjson.OPT_INDENT_2))
        tmp.replace(self.state_path)

    def start(self) -> None:
        """Start every stage in order; on failure stop what was started and re-raise."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.save_state()
        try:
            for i, stage in enumerate(self.stages):
                procs = [ManagedProcess(spec) for spec in stage]
                for p in procs:
                    p.start()
                    self.procs.append(p)
                self.save_state()
                with ThreadPoolExecutor(max_workers=len(procs)) as pool:
                    for fut in [pool.submit(p.wait_ready) for p in procs]:
                        fut.result()
                if self.after_stage:
                    self.after_stage(i)
        except BaseException as exc:
            self.state.error = str(exc)
            self.save_state()
            self.stop()
            raise
        self.state.ready = True
        self.save_state()
        self._monitor = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self._monitor.start()

    def _watch(self) -> None:
        """Restart dead parts with exponential backoff until asked to stop."""
        next_try: dict[str, float] = {}
        while not self._stop.wait(0.5):
            for p in self.procs:
                if p.alive() or self._stop.is_set():
                    continue
                now = time.monotonic()
                due = next_try.get(p.spec.name)
                if due is None:
                    backoff = min(MAX_BACKOFF, 2.0**p.restarts)
                    next_try[p.spec.name] = now + backoff
                    log.warning(
                        "%s exited (code %s); restarting in %.0fs", p.spec.name, p.proc.returncode, backoff
                    )
                    continue
                if now < due:
                    continue
                next_try.pop(p.spec.name)
                p.restarts += 1
                p.start()
                self.save_state()

    def stop(self) -> None:
        """Stop parts in reverse start order (SIGTERM, then SIGKILL after each part's timeout)."""
        self._stop.set()
        if self._monitor is not None:
            self._monitor.join(timeout=5)
        for p in reversed(self.procs):
            p.stop()
        if self._write_state and self.state_path.exists():
            self.state_path.unlink()

    def request_stop(self) -> None:
        """Signal-safe: make :meth:`wait` return; the caller then calls :meth:`stop`."""
        self._stop.set()

    def wait(self) -> None:
        """Block until :meth:`stop` is called (from a signal handler)."""
        while not self._stop.wait(1.0):
            pass
