"""How the edge sees its cloud, for ``/readyz``: reachable or not (a periodic probe of the cloud's own
``/readyz``) and the state of the cloud client's circuit breaker.

A cloud in trouble makes the edge *degraded*, never unready: frames are still detected and tracked, and a
person who cannot be verified still ends as an ``unverified`` alarm (fail secure). So ``/readyz`` stays 200
with ``"status": "degraded"`` and a ``cloud`` object saying why; only the detector decides readiness.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from edgewatch.security.tls import client_context
from edgewatch.telemetry.logs import get_logger

log = get_logger(__name__)


@dataclass
class CloudProbeResult:
    status: str = "unknown"  # unknown (not probed yet), ok, not_ready (answered, not 200), unreachable
    error: str | None = None
    checked_at: float | None = None  # monotonic


class CloudProbe:
    """GETs ``{base_url}/readyz`` every ``interval`` seconds with a short ``timeout`` (its own client, so a
    probe never waits behind identify requests). ``await run()`` until cancelled; ``result`` is the last."""

    def __init__(self, base_url: str, interval: float = 10.0, timeout: float = 3.0,
                 ca_file: Path | None = None) -> None:
        self.url = base_url.rstrip("/") + "/readyz"
        #: an https cloud is verified like identify requests are (its CA file, else the system store)
        self.verify: ssl.SSLContext | bool = client_context(ca_file) if self.url.lower().startswith("https://") else True
        self.interval = interval
        self.timeout = timeout
        self.result = CloudProbeResult()

    async def check(self, client: httpx.AsyncClient) -> CloudProbeResult:
        try:
            response = await client.get(self.url)
        except httpx.HTTPError as exc:
            result = CloudProbeResult("unreachable", f"{type(exc).__name__}: {exc}"[:200], time.monotonic())
        else:
            if response.status_code == 200:
                result = CloudProbeResult("ok", None, time.monotonic())
            else:
                result = CloudProbeResult("not_ready", f"cloud /readyz answered {response.status_code}",
                                          time.monotonic())
        if result.status != self.result.status:
            (log.info if result.status == "ok" else log.warning)(
                "cloud_health", status=result.status, previous=self.result.status, error=result.error)
        self.result = result
        return result

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout, verify=self.verify) as client:
            while True:
                await self.check(client)
                await asyncio.sleep(self.interval)

    def snapshot(self) -> dict[str, Any]:
        r = self.result
        out: dict[str, Any] = {"status": r.status}  # no URL: it may carry credentials
        if r.error:
            out["error"] = r.error
        if r.checked_at is not None:
            out["checked_s_ago"] = round(time.monotonic() - r.checked_at, 1)
        return out


async def cloud_readiness(probe: CloudProbe | None, breaker_state: dict[str, Any] | None) -> dict[str, Any]:
    """The ``cloud`` object of the edge's ``/readyz``: ``status`` is ``ok`` only when the probe reached a
    ready cloud and the circuit breaker is closed; ``not_configured`` without a cloud URL."""
    if probe is None:
        return {"status": "not_configured"}
    out = probe.snapshot()
    if breaker_state is not None:
        out["breaker"] = breaker_state
        # An opened breaker whose cool-down is over lets the next request through as a trial: not a
        # problem by itself while the probe reaches the cloud.
        opened = breaker_state.get("state") == "opened" and not breaker_state.get("cooldown_over", False)
        if opened and out["status"] == "ok":
            out["status"] = "breaker_open"
        if breaker_state.get("auth_failure"):  # reachable, but it refuses this edge: nobody gets verified
            out["status"] = "auth_failed"
            out["error"] = breaker_state["auth_failure"]
    return out
