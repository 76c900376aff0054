"""One supervised child process: how to start it, how to tell it is ready, how to stop it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ServiceSpec(BaseModel):
    """What the supervisor needs to run one part of the stack."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    argv: list[str]
    env: dict[str, str] = Field(default_factory=dict)
    cwd: Path | None = None
    log_file: Path
    endpoint: str
    ready: Callable[[], bool]
    ready_timeout: float = 60.0
    stop_timeout: float = 10.0
    prepare: Callable[[], None] | None = None


def stop_pid(pid: int, timeout: float, group: bool = True) -> bool:
    """SIGTERM the process (group), wait up to ``timeout``, then SIGKILL. True if it had to be killed."""
    send = os.killpg if group else os.kill
    try:
        send(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return False
        time.sleep(0.05)
    try:
        send(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # gone between the two checks: reading its stat gives ESRCH
        return False


class ManagedProcess:
    """A child in its own process group (so stop reaches its children too), logging to a file."""

    def __init__(self, spec: ServiceSpec) -> None:
        self.spec = spec
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self.started_at = 0.0
        self.ready_after: float | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        if self.spec.prepare is not None:
            self.spec.prepare()
        self.spec.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.spec.log_file, "ab", buffering=0)  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(
                self.spec.argv,
                env={**os.environ, **self.spec.env},
                cwd=self.spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self) -> None:
        """Poll the readiness probe until it answers, the process dies or the deadline passes."""
        deadline = time.monotonic() + self.spec.ready_timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(
                    f"{self.spec.name} exited with code {self.proc.returncode if self.proc else '?'} "
                    f"during start-up; see {self.spec.log_file}"
                )
            if self.spec.ready():
                self.ready_after = time.monotonic() - self.started_at
                return
            time.sleep(0.05)
        raise TimeoutError(
            f"{self.spec.name} not ready after {self.spec.ready_timeout}s; see {self.spec.log_file}"
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            stop_pid(self.proc.pid, self.spec.stop_timeout)
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL was already sent
            self.proc.wait(timeout=5)
