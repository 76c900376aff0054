"""A pre-warmed step worker for local pipeline runs: each step without the import bill.

kfp.local starts a new interpreter per component, and each one imports kfp, numpy, pandas,
scikit-learn, MLflow, TensorFlow and our code again: seconds per step on 2 cores, most of the
pipeline's overhead. The step server is one process per local run that imports all of that once
and ``os.fork()``s one child per step. The contract is unchanged: kfp.local still runs the
component's ``sh -ec`` command, which calls ``python3 -m kfp.dsl.executor_main`` with the same
arguments; only ``python3`` is a launcher for :mod:`aifabric.kfp_pipelines.stepclient`, which
passes argv, environment, working directory and its stdio descriptors to this server. The
forked child runs ``kfp.dsl.executor_main`` as ``__main__`` with them, so outputs, artifacts,
logs and exit codes are those of a cold run. The compiled IR for a cluster does not change.

Each child is its own process: ``setsid`` (the server stops its whole group), its own
environment and working directory, reseeded RNGs, and ``PR_SET_PDEATHSIG`` so it cannot outlive
a killed server. A child whose client disconnects (kfp.local's task killed) is stopped. The
server stops its children and exits on SIGTERM and when the process that started it is gone.

Preloading: what every step needs is imported before the server listens; TensorFlow (train),
MLflow, scikit-learn and matplotlib (evaluate), then pandas and the SQL/S3 clients
(prepare) are imported while steps run (or after 2 s idle): TensorFlow's import (≈3 s on 2 idle
cores) overlaps prepare, which imports its own libraries meanwhile in its child (≈0.5 s, on the
other core), and the others overlap the fit. Importing TensorFlow before ``fork`` is safe
here: its import leaves only idle threads, and children fit and predict as in a fresh process
(tests/kfp_pipelines/test_pipeline.py trains through the server).

Same idea as :mod:`aifabric.serving.forkserver`, which forks long-lived services with a log file
each; a step is a short task whose stdio and exit code belong to its caller, hence this module.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import hashlib
import importlib
import json
import logging
import os
import runpy
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from aifabric.config import Settings
from aifabric.runtime import unixserver
from aifabric.runtime.process import ManagedProcess, ServiceSpec

__all__ = [
    "PRELOAD",
    "PRELOAD_LATER",
    "StepServer",
    "main",
    "shared_socket_path",
    "step_server",
    "step_server_spec",
]

log = logging.getLogger("aifabric.kfp_pipelines.stepserver")

# What every step imports, before the server listens ...
PRELOAD = (
    "kfp.dsl.executor_main",
    "numpy",
    "pydantic",
    "httpx",
    "aifabric.kfp_pipelines.steps",
    "aifabric.kfp_pipelines.tracking",
)
# ... then, while steps run: train's (TensorFlow: the critical path of a run, as prepare takes
# well under its import), evaluate's (MLflow, scikit-learn, matplotlib: while train fits) and
# last prepare's own (pandas, SQL, S3): the first prepare of a per-run server imports those
# itself, in parallel with the server's TensorFlow import, instead of delaying it.
PRELOAD_LATER = (
    # Keras without scikit-learn and matplotlib, which it imports only for extras (keras_preload)
    "aifabric.kfp_pipelines.keras_preload:import_keras_deferring_extras",
    "aifabric.models.lstm_ae",
    "onnxruntime",
    "mlflow",
    "mlflow.onnx",
    "mlflow.pyfunc",  # what log_model imports on first use ...
    "git",  # ... and, through the run's git context, GitPython
    "onnx",
    # mlflow's map of installed distributions, built on a process's first log_model (≈0.3 s of
    # the evaluate step otherwise); a "module:function" entry is called once imported
    "mlflow.utils.requirements_utils:_init_modules_to_packages_map",
    "sklearn.ensemble",
    "sklearn.metrics",
    "matplotlib.pyplot",
    "aifabric.kfp_pipelines.keras_preload:complete_keras",
    "pandas",
    "sqlalchemy",
    "aifabric.datasets.service",
    "aifabric.persistence",
    "aifabric.storage",
)
STOP_TIMEOUT = 5.0
IDLE_BEFORE_PRELOAD = 2.0  # seconds
ALL_PRELOADED = "warm"  # logged once the later preloads are done (bench/training_time.py waits for it)
_PR_SET_PDEATHSIG = 1


def _import(name: str) -> None:
    """Import ``module``, or import ``module:function`` and call the function (a warm-up)."""
    module, _, function = name.partition(":")
    try:
        imported = importlib.import_module(module)
        if function:
            getattr(imported, function)()
    except (ImportError, AttributeError) as exc:  # a lighter preload only costs the child the work
        log.warning("cannot preload %s: %s", name, exc)


# -- the server process ----------------------------------------------------------------------------


class _Stopped(BaseException):
    """SIGTERM arrived during a preload."""


def _child(request: dict, fds: list[int]) -> None:
    """In the forked child: own session, the client's stdio/env/cwd, run the executor; never returns."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the server's sockets, pipe and selector
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        import random

        import numpy as np

        random.seed()
        np.random.seed()
        sys.argv = ["python3", *request["argv"]]
        runpy.run_module("kfp.dsl.executor_main", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # the step's traceback goes to its log, as in a cold run
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


class _Server:
    """Single-threaded (fork-safe) accept / fork / reap loop; imports ``later`` modules when idle."""

    def __init__(self, path: Path, later: tuple[str, ...]) -> None:
        self.path = path
        self.later = list(later)
        self.parent = os.getppid()
        self.children: dict[int, socket.socket] = {}  # pid -> the client connection
        self.pending: dict[socket.socket, tuple[bytes, list[int]]] = {}  # request read so far, fds
        self.kill_at: dict[int, float] = {}  # pid -> when SIGKILL follows the SIGTERM
        self.stop = False
        self.importing = False
        self.quiet_since = time.monotonic()  # when the server last listened, forked or reaped
        self.sel, self.listener, self.wake_r = unixserver.listen(path, backlog=16)
        signal.signal(signal.SIGTERM, self._terminate)
        signal.signal(signal.SIGINT, self._terminate)

    def _terminate(self, *_) -> None:
        self.stop = True
        if self.importing:  # a preload can take seconds: do not make the stop wait for it
            raise _Stopped

    def serve(self) -> None:
        while not self.stop:
            events = self.sel.select(timeout=0 if self._preload_now() else 0.2)
            for key, _ in events:
                if key.fileobj is self.listener:
                    conn, _ = self.listener.accept()
                    self.pending[conn] = (b"", [])
                    self.sel.register(conn, selectors.EVENT_READ)
                elif key.fileobj == self.wake_r:
                    unixserver.drain(self.wake_r)
                else:
                    self._read(key.fileobj)  # type: ignore[arg-type]
            self._reap()
            self._escalate()
            if os.getppid() != self.parent:
                log.info("the process that started the step server is gone; stopping")
                break
            if not events and self._preload_now():
                name = self.later.pop(0)
                started = time.monotonic()
                self.importing = True
                try:
                    _import(name)
                except _Stopped:
                    break
                finally:
                    self.importing = False
                log.info("preloaded %s in %.2fs", name, time.monotonic() - started)
                if not self.later:
                    gc.collect()
                    gc.freeze()
                    log.info("%s: all modules preloaded", ALL_PRELOADED)
        self._shutdown()

    def _preload_now(self) -> bool:
        """Import the later modules while a step runs (the first, prepare, needs none of them) or
        once nothing asked for a step for a moment: not while a request is on its way, as the
        next step's is right after a step ends (an import in progress would delay its fork)."""
        return bool(self.later) and (
            bool(self.children) or time.monotonic() - self.quiet_since > IDLE_BEFORE_PRELOAD
        )

    def _read(self, conn: socket.socket) -> None:
        if conn not in self.pending:  # a running step's client: readable only when it went away
            self._client_gone(conn)
            return
        try:
            data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        except OSError:
            data, fds = b"", []
        buffered, have = self.pending[conn]
        if not data:
            for fd in [*have, *fds]:
                os.close(fd)
            self._drop(conn)
            return
        self.pending[conn] = (buffered + data, have + fds)
        if b"\n" not in self.pending[conn][0]:
            return
        raw, fds = self.pending.pop(conn)
        try:
            request = json.loads(raw.partition(b"\n")[0])
            if len(fds) != 3 or not isinstance(request.get("argv"), list):
                raise ValueError("a request is one JSON line with argv, env, cwd and 3 descriptors")
        except ValueError as exc:
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"error": str(exc)}).encode() + b"\n")
            for fd in fds:
                os.close(fd)
            self._drop(conn)
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request, fds)
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        self.quiet_since = time.monotonic()
        log.info("forked step %s as pid %d", request["argv"][-1:], pid)
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")

    def _client_gone(self, conn: socket.socket) -> None:
        self.sel.unregister(conn)
        for pid, c in self.children.items():
            if c is conn:
                log.warning("client of pid %d went away; stopping the step", pid)
                self._signal(pid, signal.SIGTERM)
                self.kill_at[pid] = time.monotonic() + STOP_TIMEOUT

    def _drop(self, conn: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(conn)
        self.pending.pop(conn, None)
        conn.close()

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    def _escalate(self) -> None:
        now = time.monotonic()
        for pid, when in list(self.kill_at.items()):
            if pid not in self.children:
                del self.kill_at[pid]
            elif now >= when:
                self._signal(pid, signal.SIGKILL)
                del self.kill_at[pid]

    def _reap(self) -> None:
        for pid, code, conn in unixserver.reap(self.children):
            self.quiet_since = time.monotonic()
            log.info("pid %d exited with %d", pid, code)
            if conn is not None:
                self._drop(conn)

    def _shutdown(self) -> None:
        """Stop the running steps (SIGTERM, then SIGKILL), answer their clients, close."""
        for pid in self.children:
            self._signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.children and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.05)
        for pid in list(self.children):
            self._signal(pid, signal.SIGKILL)
        while self.children:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
            self._reap()
        for conn in list(self.pending):
            self._drop(conn)
        self.listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="aifabric pipeline step server")
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--no-later", action="store_true", help="skip PRELOAD_LATER (steps import it)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    for name in PRELOAD:
        _import(name)
    server = _Server(args.socket, () if args.no_later else PRELOAD_LATER)
    elapsed = time.monotonic() - started
    log.info("preloaded %d modules in %.2fs; listening on %s", len(PRELOAD), elapsed, args.socket)
    server.serve()


# -- the runner side -------------------------------------------------------------------------------


def _connectable(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(path))
        return True
    except OSError:
        return False


def shared_socket_path(settings: Settings) -> Path:
    """Where the stack's warm step server listens (``settings.kfp.warm_step_server``); AF_UNIX
    paths are limited to 107 bytes, so a long data dir maps to a fixed name in the temp dir."""
    path = settings.data_dir / "step-server.sock"
    if len(str(path)) > 100:
        digest = hashlib.sha1(str(settings.data_dir.resolve()).encode()).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / f"aifabric-steps-{digest}.sock"
    return path


def step_server_spec(settings: Settings) -> ServiceSpec:
    """The stack's warm step server, supervised like the other services: TensorFlow and MLflow are
    imported before a training starts, so no run pays for them (at the cost of a resident process)."""
    from aifabric.runtime.services import settings_env

    path = shared_socket_path(settings)
    return ServiceSpec(
        name="step-server",
        argv=[sys.executable, "-m", __name__, "--socket", str(path)],
        env=settings_env(settings),
        log_file=settings.log_dir / "step-server.log",
        endpoint=f"unix://{path}",
        ready=lambda: _connectable(path),
        ready_timeout=60,
        stop_timeout=STOP_TIMEOUT + 5,
    )


class StepServer:
    """A step server for kfp.local steps: the run's own process, or the stack's (``shared``), and
    the launcher kfp.local runs instead of python3."""

    def __init__(
        self,
        log_file: Path,
        ready_timeout: float = 60.0,
        preload_later: bool = True,
        shared: Path | None = None,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="aifabric-steps-"))  # short: AF_UNIX paths <= 107 bytes
        self.socket = shared or self.dir / "steps.sock"
        self.launcher = self.dir / "python3"
        client = Path(__file__).with_name("stepclient.py")
        self.launcher.write_text(
            f'#!/bin/sh\nexec "{sys.executable}" -I -S "{client}" "{self.socket}" "$@"\n'
        )
        self.launcher.chmod(0o700)
        self.proc: ManagedProcess | None = None
        if shared is None:
            self.proc = ManagedProcess(
                ServiceSpec(
                    name="step-server",
                    argv=[
                        sys.executable,
                        "-m",
                        __name__,
                        "--socket",
                        str(self.socket),
                        *([] if preload_later else ["--no-later"]),
                    ],
                    log_file=log_file,
                    endpoint=f"unix://{self.socket}",
                    ready=lambda: _connectable(self.socket),
                    ready_timeout=ready_timeout,
                    stop_timeout=STOP_TIMEOUT + 5,
                )
            )
        self._kfp_environment: Callable | None = None

    def start(self) -> None:
        """Start the run's server (returns at once; :meth:`wait_ready` waits for the first preloads)."""
        if self.proc is not None:
            self.proc.start()

    def wait_ready(self) -> None:
        if self.proc is not None:
            self.proc.wait_ready()
        elif not _connectable(self.socket):
            raise RuntimeError(f"the stack's step server at {self.socket} does not answer")

    def stop(self) -> None:
        """Stop the run's server (the stack's keeps running) and remove the launcher."""
        if self.proc is not None:
            self.proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def use_for_kfp_steps(self) -> bool:
        """Wait until the server is ready, then make kfp.local's subprocess runner start steps
        through it (until :func:`step_server` ends). False (logged) if it cannot: steps start cold."""
        try:
            self.wait_ready()
        except (RuntimeError, TimeoutError) as exc:
            log.warning("step server unavailable, steps start cold: %s", exc)
            return False
        from kfp.local import subprocess_task_handler as handler

        original = self._kfp_environment = self._kfp_environment or handler.environment
        launcher = str(self.launcher)

        @contextlib.contextmanager
        def environment(use_venv: bool, runner_config=None, has_pip_install: bool = False) -> Iterator[str]:
            if use_venv or has_pip_install:
                with original(use_venv, runner_config, has_pip_install) as executable:
                    yield executable
            else:
                yield launcher

        handler.environment = environment
        return True

    def restore_kfp(self) -> None:
        if self._kfp_environment is not None:
            from kfp.local import subprocess_task_handler as handler

            handler.environment, self._kfp_environment = self._kfp_environment, None


@contextlib.contextmanager
def step_server(
    log_file: Path, preload_later: bool = True, shared: Path | None = None
) -> Iterator[StepServer]:
    """The step server for one run: the stack's at ``shared`` if it answers, else one started now
    (it preloads while the caller prepares the run) and stopped, with kfp.local restored, when the
    block ends. Call :meth:`StepServer.use_for_kfp_steps` before the pipeline runs. kfp.local
    resolves the interpreter of a step through ``subprocess_task_handler.environment``: the one
    seam that keeps its command and contract."""
    use_shared = shared is not None and _connectable(shared)
    server = StepServer(log_file, preload_later=preload_later, shared=shared if use_shared else None)
    try:
        server.start()
        yield server
    finally:
        server.restore_kfp()
        server.stop()


if __name__ == "__main__":
    main()
