"""The embedded deploy backend: predictor and Data Consumer as separate supervised processes.

Each component is a :class:`aifabric.serving.forkserver.ForkedProcess` (a ``ManagedProcess``: own
process group, log file, SIGTERM then SIGKILL) on a loopback port allocated here,
readiness-gated by KServe's ``/v2/models/NAME/ready`` (for the consumer: bundle loaded and group
joined). Components are forked from a pre-imported fork server that the backend starts at once,
so a deployment does not pay ≈3 s of ``import kserve`` per process; set
``AIFABRIC_SERVING_FORKSERVER=0`` for plain (cold) processes. A monitor thread restarts a
component that dies, with exponential backoff, so each one can crash, be killed or be
restarted independently; any number of deployments (of any tenant) run side by side.

The backend instance owns its processes (``get_backend`` keeps one per process). A deployment
started by another process (e.g. before an API restart) is still stopped by ``undeploy`` through
the pids recorded in SQL, and reported ``failed`` ("not supervised") when its pids are gone.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aifabric.config import LOOPBACK
from aifabric.runtime.health import http_ok
from aifabric.runtime.process import ServiceSpec, pid_alive, stop_pid
from aifabric.runtime.services import settings_env
from aifabric.serving.backends.base import DeployBackend
from aifabric.serving.forkserver import ForkedProcess, ForkServer
from aifabric.serving.models import ComponentStatus, DeploymentSpec, DeploymentTiming, DeployOutcome

__all__ = ["LocalBackend"]

log = logging.getLogger("aifabric.serving.local")

MAX_BACKOFF = 30.0
READY_TIMEOUT = 120.0


def _ready(port: int, path: str) -> bool:
    """KServe's readiness route, probed with the standard library: an httpx client per probe
    (TLS context and all) costs more than the probe itself when polled every 50 ms."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=0.5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@dataclass
class _Component:
    name: str  # "predictor" | "consumer"
    proc: ForkedProcess
    port: int
    ready: bool = False
    failed: str = ""
    next_restart: float | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def status(self) -> ComponentStatus:
        if self.failed:
            state, reason = "failed", self.failed
        elif not self.proc.alive():
            code = self.proc.returncode
            state, reason = (
                "pending",
                f"exited with code {code}; restarting (restart {self.proc.restarts + 1})",
            )
        elif self.ready and self.proc.spec.ready():
            state, reason = "ready", ""
        else:
            state, reason = "pending", "starting"
        return ComponentStatus(
            component=self.name,  # type: ignore[arg-type]
            state=state,
            reason=reason,
            endpoint=self.endpoint,
            pid=self.proc.pid,
            restarts=self.proc.restarts,
        )


@dataclass
class _Deployment:
    spec: DeploymentSpec
    components: dict[str, _Component] = field(default_factory=dict)


class LocalBackend(DeployBackend):
    name = "local"

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self._deployments: dict[str, _Deployment] = {}
        self._ports: set[int] = set()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._forkserver: ForkServer | None = None
        if os.environ.get("AIFABRIC_SERVING_FORKSERVER", "1") != "0":
            self._forkserver = ForkServer(
                settings.log_dir / "serving" / "forkserver.log", settings.data_dir, settings_env(settings)
            )
            self._forkserver.start()  # imports in the background; the first deploy waits for it
        self._monitor = threading.Thread(target=self._watch, name="serving-monitor", daemon=True)
        self._monitor.start()

    # -- ports and specs --------------------------------------------------------------------

    def _allocate_port(self) -> int:
        with self._lock:
            port = self.settings.serving.port_range_start
            while True:
                if port not in self._ports:
                    with socket.socket() as s:
                        try:
                            s.bind((LOOPBACK, port))
                        except OSError:
                            port += 1
                            continue
                    self._ports.add(port)
                    return port
                port += 1

    def _process(self, spec: ServiceSpec) -> ForkedProcess:
        return ForkedProcess(spec, self._forkserver)

    def _log_file(self, spec: DeploymentSpec, component: str):
        return (
            self.settings.log_dir
            / "serving"
            / f"{spec.tenant}-{spec.name}-{spec.model_version}-{component}.log"
        )

    def _predictor(self, spec: DeploymentSpec, port: int) -> ServiceSpec:
        path = f"/v2/models/{spec.name}/ready"
        return ServiceSpec(
            name=f"{spec.name}-predictor",
            argv=[
                sys.executable,
                "-m",
                "aifabric.serving.predictor",
                "--model_name",
                spec.name,
                "--http_port",
                str(port),
            ],
            env=settings_env(self.settings)
            | {"AIFABRIC_MODEL_URI": spec.model_uri, "AIFABRIC_SERVING_HOST": LOOPBACK},
            log_file=self._log_file(spec, "predictor"),
            endpoint=f"http://{LOOPBACK}:{port}",
            ready=lambda: _ready(port, path),
            ready_timeout=READY_TIMEOUT,
            stop_timeout=10,
        )

    def _consumer(self, spec: DeploymentSpec, port: int, predictor_port: int) -> ServiceSpec:
        path = f"/v2/models/{spec.name}/ready"
        env = settings_env(self.settings) | {
            "AIFABRIC_SERVING_HOST": LOOPBACK,
            "AIFABRIC_CONSUMER_TOPICS": ",".join(spec.topics),
            "AIFABRIC_CONSUMER_GROUP": spec.group_id,
            "AIFABRIC_RESULTS_TOPIC": spec.results_topic,
            "AIFABRIC_CONSUMER_METRICS": ",".join(spec.metric_ids),
            "AIFABRIC_CONSUMER_MAX_LATENESS_MS": str(spec.max_lateness_ms),
        }
        return ServiceSpec(
            name=f"{spec.name}-consumer",
            argv=[
                sys.executable,
                "-m",
                "aifabric.transformers.consumer",
                "--model_name",
                spec.name,
                "--predictor_host",
                f"{LOOPBACK}:{predictor_port}",
                "--http_port",
                str(port),
            ],
            env=env,
            log_file=self._log_file(spec, "consumer"),
            endpoint=f"http://{LOOPBACK}:{port}",
            ready=lambda: _ready(port, path),
            ready_timeout=READY_TIMEOUT,
            stop_timeout=35,  # the consumer finishes and commits its batch on SIGTERM
        )

    # -- start and wait -------------------------------------------------------------------------

    def _start(self, comp: _Component, t0: float) -> float:
        """Wait until ``comp`` is ready; return ms since ``t0`` (or mark it failed and raise)."""
        try:
            comp.proc.wait_ready()
        except (RuntimeError, TimeoutError) as exc:
            comp.failed = str(exc)
            raise
        comp.ready = True
        return (time.monotonic() - t0) * 1000

    def deploy(self, spec: DeploymentSpec) -> DeployOutcome:
        t0 = time.monotonic()
        p_port, c_port = self._allocate_port(), self._allocate_port()
        pred = _Component("predictor", self._process(self._predictor(spec, p_port)), p_port)
        cons = _Component("consumer", self._process(self._consumer(spec, c_port, p_port)), c_port)
        dep = _Deployment(spec, {"predictor": pred, "consumer": cons})
        with self._lock:
            self._deployments[spec.deployment_id] = dep
        # Both start at once: the consumer waits for the predictor's bundle by itself.
        pred.proc.start()
        c_start = time.monotonic()
        cons.proc.start()
        timing = None
        with ThreadPoolExecutor(2) as pool:
            f_pred = pool.submit(self._start, pred, t0)
            f_cons = pool.submit(self._start, cons, c_start)
            try:
                model_ms, consumer_ms = f_pred.result(), f_cons.result()
                timing = DeploymentTiming(
                    model_version=spec.model_version,
                    model_ms=model_ms,
                    consumer_ms=consumer_ms,
                    combined_ms=(time.monotonic() - t0) * 1000,
                )
            except (RuntimeError, TimeoutError) as exc:
                log.warning("deployment %s failed to start: %s", spec.name, exc)
        return DeployOutcome(components=[c.status() for c in dep.components.values()], timing=timing)

    def redeploy(self, old: DeploymentSpec, new: DeploymentSpec) -> DeployOutcome:
        """New predictor first; then the old consumer commits and stops; then the new consumer
        resumes the same group from those offsets; then the old predictor goes."""
        t0 = time.monotonic()
        with self._lock:
            prev = self._deployments.get(old.deployment_id)
        p_port = self._allocate_port()
        pred = _Component("predictor", self._process(self._predictor(new, p_port)), p_port)
        pred.proc.start()
        try:
            model_ms = self._start(pred, t0)
        except (RuntimeError, TimeoutError):
            pred.proc.stop()
            self._release(pred)
            return DeployOutcome(components=[pred.status(), *self.status(old)[1:]])
        if prev is not None:
            self._stop_component(prev.components["consumer"])
        else:
            self._stop_recorded(old, "consumer")
        c_port = self._allocate_port()
        cons = _Component("consumer", self._process(self._consumer(new, c_port, p_port)), c_port)
        c_start = time.monotonic()
        cons.proc.start()
        with self._lock:
            self._deployments[new.deployment_id] = _Deployment(new, {"predictor": pred, "consumer": cons})
        timing = None
        try:
            consumer_ms = self._start(cons, c_start)
            timing = DeploymentTiming(
                model_version=new.model_version,
                model_ms=model_ms,
                consumer_ms=consumer_ms,
                combined_ms=(time.monotonic() - t0) * 1000,
                kind="redeploy",
            )
        except (RuntimeError, TimeoutError) as exc:
            log.warning("redeploy of %s: new consumer failed: %s", new.name, exc)
        if prev is not None:
            self._stop_component(prev.components["predictor"])
        else:
            self._stop_recorded(old, "predictor")
        return DeployOutcome(components=[pred.status(), cons.status()], timing=timing)

    # -- status and stop ------------------------------------------------------------------------

    def status(self, spec: DeploymentSpec) -> list[ComponentStatus]:
        with self._lock:
            dep = self._deployments.get(spec.deployment_id)
        if dep is not None:
            return [c.status() for c in dep.components.values()]
        out = []
        for known in spec.components:
            if (
                known.pid
                and pid_alive(known.pid)
                and http_ok(f"{known.endpoint}/v2/health/ready", timeout=0.5)
            ):
                out.append(
                    known.model_copy(update={"state": "ready", "reason": "running, not supervised here"})
                )
            elif known.state == "stopped":
                out.append(known)
            else:
                out.append(
                    known.model_copy(
                        update={"state": "failed", "reason": "process gone (not supervised here)"}
                    )
                )
        return out

    def undeploy(self, spec: DeploymentSpec) -> None:
        with self._lock:
            dep = self._deployments.pop(spec.deployment_id, None)
        if dep is None:
            for component in ("consumer", "predictor"):
                self._stop_recorded(spec, component)
            return
        for name in ("consumer", "predictor"):
            self._stop_component(dep.components[name])

    def _stop_component(self, comp: _Component) -> None:
        comp.failed = "stopped"
        comp.proc.stop()
        self._release(comp)

    def _release(self, comp: _Component) -> None:
        with self._lock:
            self._ports.discard(comp.port)

    @staticmethod
    def _stop_recorded(spec: DeploymentSpec, component: str) -> None:
        for known in spec.components:
            if known.component == component and known.pid and pid_alive(known.pid):
                stop_pid(known.pid, 35 if component == "consumer" else 10)

    def close(self) -> None:
        """Stop every deployment this backend started (process exit, tests)."""
        self._stop.set()
        with self._lock:
            deps = list(self._deployments.values())
            self._deployments.clear()
        for dep in deps:
            for name in ("consumer", "predictor"):
                self._stop_component(dep.components[name])
        if self._forkserver is not None:
            self._forkserver.stop()

    def _watch(self) -> None:
        """Restart components that died, with exponential backoff (1, 2, 4 ... 30 s)."""
        while not self._stop.wait(0.2):
            with self._lock:
                comps = [c for d in self._deployments.values() for c in d.components.values()]
            now = time.monotonic()
            for c in comps:
                if c.failed or c.proc.pid is None or c.proc.alive():
                    continue
                if c.next_restart is None:
                    backoff = min(MAX_BACKOFF, 2.0**c.proc.restarts)
                    c.next_restart = now + backoff
                    log.warning(
                        "%s exited (code %s); restart in %.0fs",
                        c.proc.spec.name,
                        c.proc.returncode,
                        backoff,
                    )
                elif now >= c.next_restart:
                    c.next_restart = None
                    c.proc.restarts += 1
                    c.proc.start()
