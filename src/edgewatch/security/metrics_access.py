"""Who may read ``/metrics`` of the edge and the cloud (camera ids, pending alarms, request counts).

With a token configured, a request needs ``Authorization: Bearer <one of the tokens>`` (compared in constant
time). With none, ``/metrics`` answers only when the server is bound to a loopback address (a scraper on the
same host); bound to any other address it answers 403 and says how to set a token.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass


def is_loopback(host: str) -> bool:
    """Whether a listen address is loopback-only (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Denied:
    status: int  # 401 (no or wrong token) or 403 (no token configured, not on loopback)
    detail: str


class MetricsAccess:
    def __init__(self, tokens: Iterable[str | None], bound_host: str) -> None:
        self.tokens = tuple(t.encode() for t in tokens if t)
        self.loopback = is_loopback(bound_host)

    def check(self, authorization: str | None) -> Denied | None:
        """None when the request may read the metrics, else why not."""
        if not self.tokens:
            if self.loopback:
                return None
            return Denied(403, "metrics are served without a token only on loopback: set EDGEWATCH_METRICS_TOKEN")
        scheme, _, value = (authorization or "").partition(" ")
        presented = value.strip().encode()
        ok = False
        if scheme.lower() == "bearer" and presented:
            for token in self.tokens:  # no early exit: timing does not tell which token matched
                ok |= secrets.compare_digest(presented, token)
        return None if ok else Denied(401, "missing or wrong bearer token for /metrics")
