"""The embedded stack facade behind ``aifabric up``, ``status`` and ``down``.

``up`` starts a detached supervisor process (``python -m aifabric.runtime``) that owns every
part, so the parts keep being supervised after the CLI returns; ``down`` stops the supervisor,
which stops its parts, and then makes sure no recorded process is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import orjson
from pydantic import BaseModel

from aifabric.config import Settings
from aifabric.errors import Conflict
from aifabric.runtime.health import http_ok, kafka_ready, s3_ready
from aifabric.runtime.process import pid_alive, stop_pid
from aifabric.runtime.services import settings_env
from aifabric.runtime.supervisor import StackState


class PartStatus(BaseModel):
    name: str
    endpoint: str
    embedded: bool
    pid: int | None = None
    healthy: bool
    restarts: int = 0
    log_file: str | None = None


class StackStatus(BaseModel):
    running: bool
    supervisor_pid: int | None = None
    parts: list[PartStatus]

    @property
    def healthy(self) -> bool:
        return all(p.healthy for p in self.parts)


def bootstrap_storage(settings: Settings) -> None:
    """Create the buckets the fabric and MLflow write to."""
    from aifabric.storage import ObjectStore

    store = ObjectStore(settings)
    store.ensure_bucket()
    store.ensure_bucket(settings.resolved().s3.mlflow_bucket)


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def state_path(self):
        return self.settings.data_dir / "stack.json"

    def read_state(self) -> StackState | None:
        try:
            return StackState.model_validate(orjson.loads(self.state_path.read_bytes()))
        except (FileNotFoundError, ValueError):
            return None

    def running(self) -> StackState | None:
        state = self.read_state()
        if state is not None and pid_alive(state.supervisor_pid):
            return state
        return None

    def up(self, timeout: float = 180.0, simulators: bool = False) -> StackStatus:
        """Start the supervisor detached and wait until every part is healthy."""
        if (state := self.running()) is not None:
            raise Conflict(
                f"the stack is already running (supervisor pid {state.supervisor_pid}, data dir "
                f"{self.settings.data_dir}); use 'aifabric status' or 'aifabric down'"
            )
        self.state_path.unlink(missing_ok=True)
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **settings_env(self.settings)}
        if simulators:
            env["AIFABRIC_SIMULATORS"] = "1"
        log_file = self.settings.log_dir / "supervisor.log"
        with open(log_file, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "aifabric.runtime"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.read_state()
            if state is not None and state.ready:
                return self.status()
            if proc.poll() is not None:
                tail = log_file.read_text(errors="replace").splitlines()[-15:]
                raise RuntimeError("the stack failed to start:\n" + "\n".join(tail))
            time.sleep(0.1)
        self.down()
        raise TimeoutError(f"the stack was not healthy within {timeout}s; see {log_file}")

    def down(self, timeout: float = 60.0) -> list[str]:
        """Stop the supervisor and anything it recorded. Returns the names of parts stopped."""
        state = self.read_state()
        if state is None:
            return []
        if pid_alive(state.supervisor_pid):
            stop_pid(state.supervisor_pid, timeout, group=False)
        for part in state.parts.values():
            if part.pid and pid_alive(part.pid):
                stop_pid(part.pid, 10.0)
        self.state_path.unlink(missing_ok=True)
        return list(state.parts)

    def status(self) -> StackStatus:
        s = self.settings.resolved()
        state = self.running()
        parts_state = state.parts if state else {}
        probes = {
            "broker": (s.kafka.bootstrap_servers, lambda: kafka_ready(s.kafka.bootstrap_servers)),
            "s3": (s.s3.endpoint, lambda: s3_ready(s.s3.endpoint)),
            "mlflow": (s.mlflow.tracking_uri, lambda: http_ok(f"{s.mlflow.tracking_uri}/health")),
            "api": (s.api_url, lambda: http_ok(f"{s.api_url}/health", accept=(200, 503))),
        }
        parts = []
        for name, (endpoint, probe) in probes.items():
            embedded = name == "api" or self.settings.embedded(name)
            rec = parts_state.get(name)
            parts.append(
                PartStatus(
                    name=name,
                    endpoint=endpoint,
                    embedded=embedded,
                    pid=rec.pid if rec and rec.pid and pid_alive(rec.pid) else None,
                    healthy=probe(),
                    restarts=rec.restarts if rec else 0,
                    log_file=rec.log_file if rec else None,
                )
            )
        for name, rec in parts_state.items():
            if name in probes:
                continue
            alive = bool(rec.pid and pid_alive(rec.pid))
            parts.append(
                PartStatus(
                    name=name,
                    endpoint=rec.endpoint,
                    embedded=True,
                    pid=rec.pid if alive else None,
                    healthy=alive,
                    restarts=rec.restarts,
                    log_file=rec.log_file,
                )
            )
        return StackStatus(
            running=state is not None, supervisor_pid=state.supervisor_pid if state else None, parts=parts
        )
