"""The listening half of our fork servers (the serving one and the pipeline steps' one).

A Unix socket only its owner may use, and one selector that also wakes on signals (SIGCHLD when a
forked child ends, SIGTERM/SIGINT to stop), so a single loop accepts requests and reaps children.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

__all__ = ["drain", "listen", "reap"]


def listen(path: Path, backlog: int) -> tuple[selectors.BaseSelector, socket.socket, int]:
    """Bind ``path`` (mode 0600, replacing a stale socket); returns the selector with the listener
    and the signal wake-up pipe registered, the listener, and the pipe's read end.

    Call from the main thread (``signal.set_wakeup_fd``); SIGTERM/SIGINT handlers are the caller's.
    """
    sel = selectors.DefaultSelector()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o600)
    listener.listen(backlog)
    sel.register(listener, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    return sel, listener, wake_r


def drain(wake_r: int) -> None:
    """Empty the wake-up pipe (its bytes only say that a signal came)."""
    with contextlib.suppress(BlockingIOError):
        os.read(wake_r, 4096)


def reap(children: dict[int, socket.socket | None]) -> Iterator[tuple[int, int, socket.socket | None]]:
    """Every ended child of ``children`` (pid -> its client's connection), without waiting: each is
    removed, its client (if any) told ``{"exit": code}``, and ``(pid, exit code, connection)``
    yielded for the caller to log and close."""
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        code = os.waitstatus_to_exitcode(status)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.sendall(b'{"exit": %d}\n' % code)
        yield pid, code, conn
