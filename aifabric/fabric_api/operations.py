"""Long operations (deploy, redeploy, restart) run in a small thread pool; the API answers 202 at once.

The deployment row itself is the resource to poll; the operation tracked here says whether work
on it is still under way, or why it failed. One operation per deployment at a time: a second one
is a conflict. Operations live in this process only -- after a restart the reconciler decides
from the deployment rows and the processes what is running.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from aifabric.errors import AifabricError, Conflict
from aifabric.persistence.db import utcnow

__all__ = ["OperationPublic", "Operations"]

log = logging.getLogger("aifabric.api")


class OperationPublic(BaseModel):
    kind: Literal["deploy", "redeploy", "restart"]
    state: Literal["running", "succeeded", "failed"]
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = Field(None, description="why it failed")


class Operations:
    """Background operations keyed by ``(tenant, deployment name)``."""

    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="operation")
        self._ops: dict[tuple[str, str], OperationPublic] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> OperationPublic | None:
        with self._lock:
            return self._ops.get(key)

    def running(self, key: tuple[str, str]) -> bool:
        op = self.get(key)
        return op is not None and op.state == "running"

    def submit(
        self, key: tuple[str, str], kind: str, fn: Callable[[], object], on_error: Callable[[str], None]
    ) -> Future:
        """Run ``fn`` in the background; ``on_error(reason)`` records a failure on the resource."""
        with self._lock:
            current = self._ops.get(key)
            if current is not None and current.state == "running":
                raise Conflict(f"deployment {key[1]!r} has a {current.kind} in progress; retry when it ends")
            op = OperationPublic(kind=kind, state="running", started_at=utcnow())  # type: ignore[arg-type]
            self._ops[key] = op

        def run() -> object:
            try:
                result = fn()
            except BaseException as exc:
                reason = exc.detail if isinstance(exc, AifabricError) else f"{type(exc).__name__}: {exc}"
                if not isinstance(exc, AifabricError):
                    log.error("%s of %s failed", kind, key[1], exc_info=exc)
                with self._lock:
                    op.state, op.error, op.finished_at = "failed", reason, utcnow()
                try:
                    on_error(reason)
                except Exception:  # recording the failure must not hide the original error
                    log.exception("recording the failed %s of %s", kind, key[1])
                raise
            with self._lock:
                op.state, op.finished_at = "succeeded", utcnow()
            return result

        return self._pool.submit(run)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
