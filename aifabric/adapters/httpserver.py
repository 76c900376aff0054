"""A tiny threaded JSON-over-HTTP server on loopback, shared by the adapters' notification
receivers and the simulators: both need a real HTTP endpoint, neither needs a web framework
(start-up in milliseconds, no event loop to bridge into the adapters' threads)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from aifabric.config import LOOPBACK

log = logging.getLogger("aifabric.adapters.http")

MAX_BODY = 64 * 1024 * 1024


class Request:
    """What a route handler sees of one request."""

    def __init__(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, headers: dict
    ) -> None:
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.headers = headers

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


class Response:
    def __init__(
        self,
        status: int = 200,
        body: Any = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.status = status
        self.headers = headers or {}
        self.content_type = content_type
        if body is None:
            self.body = b""
        elif isinstance(body, bytes | str):
            self.body = body.encode() if isinstance(body, str) else body
        else:
            self.body = orjson.dumps(body)


def problem(status: int, detail: str, cause: str | None = None) -> Response:
    """An RFC 7807 / 3GPP ``ProblemDetails`` answer."""
    body = {"status": status, "detail": detail}
    if cause:
        body["cause"] = cause
    return Response(status, body, content_type="application/problem+json")


Handler = Callable[[Request, list[str]], Response]


class JsonHttpServer:
    """Routes ``(method, path prefix)`` to handlers; the rest of the path is split into segments.

    Longest prefix wins. A handler exception answers 500 with the message, never kills the server.
    """

    def __init__(self, host: str = LOOPBACK, port: int = 0, name: str = "http") -> None:
        self.routes: list[tuple[str, str, Handler]] = []
        self.name = name
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with server._conn_lock:
                    server._connections.add(self.connection)

            def finish(self) -> None:
                with server._conn_lock:
                    server._connections.discard(self.connection)
                super().finish()

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._send(problem(413, f"body larger than {MAX_BODY} bytes"))
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, parts.path, parse_qs(parts.query), body, dict(self.headers))
                self._send(server.dispatch(req))

            def _send(self, resp: Response) -> None:
                self.send_response(resp.status)
                if resp.body or resp.status not in (204, 304):
                    self.send_header("Content-Type", resp.content_type)
                self.send_header("Content-Length", str(len(resp.body)))
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if resp.body:
                    self.wfile.write(resp.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("%s: " + fmt, server.name, *args)

        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self._httpd.server_address[0]
        return f"http://{host}:{self.port}"

    def route(self, method: str, prefix: str, handler: Handler) -> None:
        self.routes.append((method, prefix.rstrip("/"), handler))
        self.routes.sort(key=lambda r: -len(r[1]))

    def dispatch(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        known_path = False
        for method, prefix, handler in self.routes:
            if path == prefix or path.startswith(prefix + "/"):
                known_path = True
                if method != req.method:
                    continue
                rest = [p for p in path[len(prefix) :].split("/") if p]
                try:
                    return handler(req, rest)
                except Exception as exc:  # a handler bug must answer, not kill the server thread
                    log.exception("%s: %s %s failed", self.name, req.method, req.path)
                    return problem(500, f"{type(exc).__name__}: {exc}")
        if known_path:
            return problem(405, f"{req.method} not allowed on {req.path}")
        return problem(404, f"no resource at {req.path}")

    def start(self) -> JsonHttpServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop accepting, and cut kept-alive connections so clients notice at once."""
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._conn_lock:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
