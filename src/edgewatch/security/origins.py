"""Which browser origins may open the edge's WebSocket (and long-polling) connection.

python-engineio's ``cors_allowed_origins=[]`` does not mean "none": it switches the Origin check *off*
(``engineio/async_server.py``: the check runs only ``if self.cors_allowed_origins != []``), and its default
same-origin check assumes ``http`` behind uvicorn's TLS (the ASGI driver takes the scheme from
``X-Forwarded-Proto`` only). This policy, passed to engineio as a callable, accepts:

- a request without an ``Origin`` header (camera and alarm nodes are not browsers; they need a credential);
- the edge's own origin, ``http(s)://<Host header>`` with the scheme the edge really serves (or the one a
  TLS-terminating proxy states in ``X-Forwarded-Proto``): the console served by the edge itself;
- origins listed in the ``allowed_origins`` setting, compared exactly (scheme, host and port).

Everything else (``Origin: http://evil.example``) is refused with HTTP 400 before any Socket.IO handshake.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class OriginPolicy:
    def __init__(self, allowed: Iterable[str], tls: bool) -> None:
        self.allowed = frozenset(origin.rstrip("/").lower() for origin in allowed)
        self.scheme = "https" if tls else "http"

    def __call__(self, origin: str | None, environ: Mapping[str, Any] | None = None) -> bool:
        if not origin:
            return True
        origin = origin.rstrip("/").lower()
        if origin in self.allowed:
            return True
        environ = environ or {}
        host = str(environ.get("HTTP_HOST", "")).lower()
        if not host:
            return False
        schemes = {self.scheme}
        forwarded = environ.get("HTTP_X_FORWARDED_PROTO")
        if forwarded:
            schemes.add(str(forwarded).split(",")[0].strip().lower())
        return origin in {f"{scheme}://{host}" for scheme in schemes}
