"""ASGI guard in front of the app: bearer-token check and request-body limits, both BEFORE the body is
read, so an unauthenticated or oversized upload costs the server nothing.

- Every path except :data:`OPEN_PATHS` needs ``Authorization: Bearer <token>`` when a token is configured
  (compared in constant time); otherwise 401.
- Uploads are limited by ``Content-Length`` when it is sent (413 at once) and by counting the bytes that
  actually arrive (chunked bodies, or a lying header): past the limit the request ends with 413.

A rejected request's body is read and discarded (up to :data:`DRAIN_FACTOR` times the limit) before the
answer is sent: a client still writing its upload would otherwise see the connection reset instead of the
401/413 (and the edge would take a rejection for an outage). Beyond that the connection is closed.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException

from edgewatch.security.metrics_access import MetricsAccess

#: Liveness/readiness and the API documentation need no token.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
#: Bodies of rejected requests are drained up to this many times the route's limit.
DRAIN_FACTOR = 2
#: Limit used for draining on routes without an upload limit.
DEFAULT_DRAIN = 1024 * 1024
#: Seconds a refused request's body is read before the connection is simply closed: a client without a
#: token must not hold a connection open by trickling its upload.
DRAIN_TIMEOUT = 3.0


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` while FastAPI reads a body past the limit (FastAPI re-raises HTTPException)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")
        self.limit = limit


class Guard:
    def __init__(self, app: Any, token: str | None, body_limit: Callable[[str], int | None],
                 on_reject: Callable[[str], None] | None = None, metrics_access: MetricsAccess | None = None) -> None:
        self.app = app
        #: /metrics: the API token or the metrics token, or nothing on loopback (edgewatch.security.metrics_access)
        self.metrics_access = metrics_access
        self.token = token.encode() if token else None
        self.body_limit = body_limit
        self.on_reject = on_reject or (lambda code: None)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = self.body_limit(path) if scope.get("method") in ("POST", "PUT", "PATCH") else None
        drain_cap = DRAIN_FACTOR * (limit or DEFAULT_DRAIN)
        declared: int | None = None
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await self._reject(send, 400, "invalid_request", "Content-Length is not a number")
                return
        drainable = declared is None or declared <= drain_cap
        if path == "/metrics" and self.metrics_access is not None:
            denied = self.metrics_access.check(_header(scope, b"authorization"))
            if denied is not None:
                drained = await _drain(receive, drain_cap)
                await self._reject(send, denied.status, "unauthorized" if denied.status == 401 else "forbidden",
                                   denied.detail, {"www-authenticate": 'Bearer realm="edgewatch-cloud"'},
                                   close=not drained)
                return
            await self.app(scope, receive, send)
            return
        if self.token is not None and path not in OPEN_PATHS and not self._authorised(scope):
            drained = drainable and await _drain(receive, drain_cap)
            await self._reject(send, 401, "unauthorized", "missing or wrong bearer token",
                               {"www-authenticate": 'Bearer realm="edgewatch-cloud"'}, close=not drained)
            return
        if limit is None:
            await self.app(scope, receive, send)
            return
        if declared is not None and declared > limit:
            drained = drainable and await _drain(receive, drain_cap)
            await self._reject(send, 413, "payload_too_large",
                               f"request body of {declared} bytes is larger than the limit of {limit} bytes",
                               close=not drained)
            return
        received = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if message.get("more_body", False):
                        await _drain(receive, drain_cap - received)
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)

    def _authorised(self, scope: dict[str, Any]) -> bool:
        header = _header(scope, b"authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return False
        assert self.token is not None
        return secrets.compare_digest(value.strip().encode(), self.token)

    async def _reject(self, send: Any, status: int, code: str, detail: str,
                      headers: dict[str, str] | None = None, close: bool = False) -> None:
        self.on_reject(code)
        body = json.dumps({"error": code, "detail": detail}).encode()
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if close:
            raw.append((b"connection", b"close"))
        raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})


async def _drain(receive: Any, cap: int, timeout: float = DRAIN_TIMEOUT) -> bool:
    """Read and discard the rest of a request body, at most ``cap`` bytes and ``timeout`` seconds (reading it
    lets a client that is still sending see the answer). True when the body was read to its end; False
    when it was cut short, and the answer must close the connection."""
    seen = 0
    try:
        async with asyncio.timeout(timeout):
            while seen <= cap:
                message = await receive()
                if message["type"] != "http.request":
                    return True
                seen += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return True
    except TimeoutError:
        return False
    return False


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None
