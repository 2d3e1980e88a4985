"""The small HTTP port of a node without a web server (camera, alarm node): Prometheus ``/metrics`` and a
``/healthz`` that means something.

``/healthz`` answers 200 with ``{"status": "ok", ...}`` while the node's own check passes and 503 with
``{"status": "unhealthy", "reason": ..., ...}`` otherwise; a container HEALTHCHECK or an orchestrator probe
reads only the status code. The check is a callable the node provides, run on the server's thread, so it
must only read plain attributes (no awaiting, no locks held by the loop).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


@dataclass(frozen=True)
class Health:
    """One answer of a node's health check: ``healthy``, a short ``reason`` when not, and ``detail``."""

    healthy: bool
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": "ok" if self.healthy else "unhealthy"}
        if self.reason:
            out["reason"] = self.reason
        out.update(self.detail)
        return out


class _Handler(BaseHTTPRequestHandler):
    server: _NodeHTTPServer
    protocol_version = "HTTP/1.1"
    timeout = 10  # seconds a client may take to send its request: a silent connection cannot hold a thread

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            try:
                health = self.server.health()
            except Exception as exc:  # noqa: BLE001 - a failing check is an unhealthy node, not a 500
                health = Health(False, f"health check failed: {type(exc).__name__}")
            body = json.dumps(health.body(), default=str).encode()
            self._send(200 if health.healthy else 503, body, "application/json")
        else:
            self._send(404, b'{"error": "not found"}', "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:  # probes every few seconds: not worth a log line
        return


#: Connections served at once; more are closed at once (scrapers and probes need one or two).
MAX_CONNECTIONS = 16


class _NodeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], registry: CollectorRegistry, health: Callable[[], Health]) -> None:
        self.registry = registry
        self.health = health
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class NodeHTTP:
    """``/metrics`` and ``/healthz`` on ``host:port`` from a background thread; ``shutdown()`` stops it.
    Raises ``OSError`` when the port cannot be bound (the command turns it into one clear line)."""

    def __init__(self, registry: CollectorRegistry, port: int, host: str, health: Callable[[], Health]) -> None:
        self._server = _NodeHTTPServer((host, port), registry, health)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"node-http-{port}", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
