"""A fork server for the local deploy backend: deployment time without the import bill.

``import kserve`` (pandas, the kubernetes client, FastAPI ...) takes ≈3 s of CPU, and a deployment
starts two such processes on a 2-core machine: most of a cold deployment is imports. The fork
server is one long-lived process that has imported KServe, onnxruntime, numpy, confluent-kafka and
the predictor and consumer modules once; each predictor or Data Consumer is ``os.fork()``-ed from
it and runs the module's ``main(argv)``. The KServe contract is unchanged (the child still builds a
``kserve.Model`` and serves it with KServe's ``ModelServer``), and the children share the
imported pages copy-on-write, which also lowers the stack's memory (``gc.freeze`` keeps the
collector from dirtying them).

Each child is still its own supervised process: ``setsid`` (own process group, so SIGTERM then
SIGKILL reaches everything it starts), its own log file, its own environment. The fork server
reaps its children and reports each exit code over the Unix-socket connection that asked for the
fork; :class:`ForkedProcess` (a :class:`ManagedProcess` the backend supervises) turns that into
``alive()`` / ``returncode``. If the fork server cannot be used, :class:`ForkedProcess` starts the
component as a plain subprocess (a cold start), so a deployment never depends on it.

Wire protocol (one JSON object per line): request ``{"module", "argv", "env", "log_file"}``;
answers ``{"pid": N}`` (or ``{"error": reason}``), later ``{"exit": code}``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import logging
import os
import selectors
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

from aifabric.runtime import unixserver
from aifabric.runtime.process import ManagedProcess, ServiceSpec, pid_alive, stop_pid

__all__ = ["FORKABLE", "ForkServer", "ForkServerError", "ForkedProcess", "main"]

log = logging.getLogger("aifabric.serving.forkserver")

# Modules a child may run (their ``main(argv)``); everything they import is preloaded.
FORKABLE = ("aifabric.serving.predictor", "aifabric.transformers.consumer")
# What a child would otherwise import after the fork (found by diffing sys.modules in a child).
PRELOAD = (
    "kserve",
    "kserve.model_server",
    "onnxruntime",
    "numpy",
    "confluent_kafka",
    "httpx",
    "httpcore",
    "pydantic.v1",
    "uvicorn.lifespan.on",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.websockets.auto",
    "aifabric.serving.server",
    "aifabric.models.lstm_ae",
    *FORKABLE,
)


class ForkServerError(RuntimeError):
    """The fork server is not running or refused a request."""


# -- the server process ----------------------------------------------------------------------------


def _child(request: dict) -> None:
    """In the forked child: detach, redirect output, run ``module.main(argv)``; never returns."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the server's sockets, pipe and selector
        fd = os.open(request["log_file"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        os.close(null)
        os.environ.clear()
        os.environ.update(request["env"])
        import random

        import numpy as np

        random.seed()
        np.random.seed()
        module = importlib.import_module(request["module"])
        sys.argv = [request["module"], *request["argv"]]
        module.main(request["argv"])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # report anything in the child's log, then exit non-zero
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


class _Server:
    """Single-threaded (fork-safe) accept / fork / reap loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parent = os.getppid()
        self.children: dict[int, socket.socket] = {}
        self.clients: set[socket.socket] = set()
        self.buffers: dict[socket.socket, bytes] = {}
        self.stop = False
        self.sel, self.listener, self.wake_r = unixserver.listen(path, backlog=64)
        signal.signal(signal.SIGTERM, self._terminate)
        signal.signal(signal.SIGINT, self._terminate)

    def _terminate(self, *_):
        self.stop = True

    def serve(self) -> None:
        while not self.stop:
            for key, _ in self.sel.select(timeout=1.0):
                if key.fileobj is self.listener:
                    conn, _ = self.listener.accept()
                    self.clients.add(conn)
                    self.buffers[conn] = b""
                    self.sel.register(conn, selectors.EVENT_READ)
                elif key.fileobj == self.wake_r:
                    unixserver.drain(self.wake_r)
                else:
                    self._read(key.fileobj)  # type: ignore[arg-type]
            self._reap()
            if os.getppid() != self.parent:  # the backend that started us is gone
                log.info("parent exited; fork server stops (its children keep running)")
                break
        self.listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _drop(self, conn: socket.socket) -> None:
        self.sel.unregister(conn)
        self.clients.discard(conn)
        self.buffers.pop(conn, None)
        conn.close()

    def _read(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:  # the client went away; its child (if any) keeps running
            for pid, c in list(self.children.items()):
                if c is conn:
                    self.children[pid] = None  # type: ignore[assignment]
            self._drop(conn)
            return
        self.buffers[conn] += data
        if b"\n" not in self.buffers[conn]:
            return
        line, _, _ = self.buffers[conn].partition(b"\n")
        self.sel.unregister(conn)  # one request per connection; the answer comes on exit
        try:
            request = orjson.loads(line)
            if request.get("module") not in FORKABLE:
                raise ValueError(f"module {request.get('module')!r} is not one of {FORKABLE}")
        except ValueError as exc:
            conn.sendall(orjson.dumps({"error": str(exc)}) + b"\n")
            self.clients.discard(conn)
            conn.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        self.children[pid] = conn
        log.info("forked %s as pid %d", request["module"], pid)
        with contextlib.suppress(OSError):
            conn.sendall(orjson.dumps({"pid": pid}) + b"\n")

    def _reap(self) -> None:
        for pid, code, conn in unixserver.reap(self.children):
            log.info("pid %d exited with %d", pid, code)
            if conn is not None:
                self.clients.discard(conn)
                conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="aifabric serving fork server")
    parser.add_argument("--socket", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    t0 = time.monotonic()
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # a lighter preload only costs start-up time in the children
            log.warning("cannot preload %s: %s", name, exc)
    gc.collect()
    gc.freeze()  # imported objects stay out of the collector's way: their pages stay shared
    server = _Server(args.socket)
    log.info("preloaded %s in %.2fs; listening on %s", ", ".join(PRELOAD), time.monotonic() - t0, args.socket)
    server.serve()


# -- the backend side ----------------------------------------------------------------------------


def _socket_path(data_dir: Path) -> Path:
    """A per-backend socket path; AF_UNIX paths are limited to 107 bytes."""
    path = data_dir / "serving" / f"forkserver-{os.getpid()}.sock"
    if len(str(path)) > 100:
        path = Path(tempfile.gettempdir()) / f"aifabric-forkserver-{os.getpid()}-{id(data_dir):x}.sock"
    return path


class ForkServer:
    """The fork server process of one local backend (started at once, used when ready)."""

    def __init__(self, log_file: Path, data_dir: Path, env: dict[str, str], ready_timeout: float = 60.0):
        self.path = _socket_path(data_dir)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = ManagedProcess(
            ServiceSpec(
                name="serving-forkserver",
                argv=[sys.executable, "-m", "aifabric.serving.forkserver", "--socket", str(self.path)],
                env=env,
                log_file=log_file,
                endpoint=f"unix://{self.path}",
                ready=self._connectable,
                ready_timeout=ready_timeout,
                stop_timeout=5,
            )
        )
        self._lock = threading.Lock()
        self._ready = False

    def _connectable(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(str(self.path))
            return True
        except OSError:
            return False

    def start(self) -> None:
        """Start the server process (returns at once; :meth:`fork` waits for it)."""
        with self._lock:
            if not self.proc.alive():
                self._ready = False
                self.proc.start()

    def wait_ready(self) -> None:
        with self._lock:
            if not self.proc.alive():
                self._ready = False
                self.proc.start()
            if not self._ready:
                try:
                    self.proc.wait_ready()
                except (RuntimeError, TimeoutError) as exc:
                    raise ForkServerError(str(exc)) from None
                self._ready = True

    def fork(
        self, module: str, argv: list[str], env: dict[str, str], log_file: Path
    ) -> tuple[int, socket.socket]:
        """Fork ``module.main(argv)``; return its pid and the connection that reports its exit."""
        self.wait_ready()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(self.path))
            conn.sendall(
                orjson.dumps({"module": module, "argv": argv, "env": env, "log_file": str(log_file)}) + b"\n"
            )
            conn.settimeout(30)
            reader = conn.makefile("rb")
            answer = orjson.loads(reader.readline() or b"{}")
        except (OSError, ValueError) as exc:
            conn.close()
            raise ForkServerError(f"fork server at {self.path}: {exc}") from None
        if "pid" not in answer:
            conn.close()
            raise ForkServerError(f"fork server refused {module}: {answer.get('error', 'no answer')}")
        conn.settimeout(None)
        return int(answer["pid"]), conn

    def stop(self) -> None:
        self.proc.stop()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class ForkedProcess(ManagedProcess):
    """A :class:`ManagedProcess` whose process is forked by the :class:`ForkServer`.

    ``spec.argv`` must be ``[python, "-m", module, *args]`` with ``module`` in :data:`FORKABLE`;
    otherwise, or if the fork server fails, it starts as a plain subprocess.
    """

    def __init__(self, spec: ServiceSpec, server: ForkServer | None) -> None:
        super().__init__(spec)
        self.server = server
        self._pid: int | None = None
        self._exit: int | None = None
        self._reported = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._pid if self._pid is not None else super().pid

    @property
    def returncode(self) -> int | None:
        if self._pid is not None:
            return self._exit
        return self.proc.returncode if self.proc else None

    def start(self) -> None:
        argv = self.spec.argv
        forkable = self.server is not None and len(argv) > 2 and argv[1] == "-m" and argv[2] in FORKABLE
        if forkable:
            self.spec.log_file.parent.mkdir(parents=True, exist_ok=True)
            try:
                env = {**os.environ, **self.spec.env}
                pid, conn = self.server.fork(argv[2], argv[3:], env, self.spec.log_file)
            except ForkServerError as exc:
                log.warning("%s: %s; starting it as a plain process", self.spec.name, exc)
            else:
                self.proc, self._pid, self._exit = None, pid, None
                self._reported = threading.Event()
                self._watcher = threading.Thread(
                    target=self._watch,
                    args=(conn, self._reported),
                    name=f"{self.spec.name}-exit",
                    daemon=True,
                )
                self._watcher.start()
                self.started_at = time.monotonic()
                return
        self._pid = None
        super().start()

    def _watch(self, conn: socket.socket, reported: threading.Event) -> None:
        """Wait for the fork server's exit report (EOF without one: the server died)."""
        with conn, conn.makefile("rb") as reader:
            try:
                line = reader.readline()
            except OSError:
                line = b""
        if line:
            with contextlib.suppress(ValueError):
                self._exit = int(orjson.loads(line)["exit"])
        reported.set()

    def alive(self) -> bool:
        if self._pid is None:
            return super().alive()
        if self._exit is not None:
            return False
        if self._reported.is_set():  # the fork server died: fall back to the pid
            return pid_alive(self._pid)
        return True

    def stop(self) -> None:
        if self._pid is None:
            super().stop()
            return
        if self.alive():
            stop_pid(self._pid, self.spec.stop_timeout)
        self._reported.wait(timeout=5)


if __name__ == "__main__":
    main()
