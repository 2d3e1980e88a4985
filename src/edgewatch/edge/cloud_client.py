"""The edge's client of the cloud's ``POST /v1/identify``: reused connections, bounded concurrency,
jittered retries for transient failures, and a circuit breaker.

While the breaker is open the edge does not wait on a dead cloud: calls fail at once with
:class:`CloudUnavailable`, the edge keeps detecting and tracking, and the persons it cannot verify become
``unverified`` alarms (fail secure). Once the breaker's cool-down passes, one trial call decides whether
verification resumes. Retries use tenacity and the breaker purgatory: both are small, maintained and async.

This client is the ONE layer that retries a busy cloud (the cloud answers Rekognition throttling at once
with 503 + ``Retry-After`` instead of retrying itself): before another attempt it waits at least the
answer's ``Retry-After`` (seconds; an HTTP date is ignored) unless another cloud replica is ready to
take the retry at once, and gives up at once when that wait would end after its time budget (``budget``, default ``timeout``), so one identification never takes longer
than the budget plus one request. The person then stays unverified and the edge asks again later.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from edgewatch.edge.cloud_replicas import ReplicaSet, split_urls
from edgewatch.protocol import IdentifyResult, ProtocolError, decode
from edgewatch.security.tls import client_context
from edgewatch.telemetry import get_logger

log = get_logger(__name__)

_BREAKER = "cloud-identify"


class CloudError(Exception):
    """Identification failed; the person stays unverified."""


class CloudUnavailable(CloudError):
    """The cloud cannot be reached, answered 5xx, or the breaker is open. Worth trying again later."""


class CloudRejected(CloudError):
    """The cloud refused the request itself (4xx: bad token, bad image). Retrying the same call won't help."""


class CloudBusy(CloudUnavailable):
    """The cloud answered 5xx/429 with ``Retry-After``: it should not be asked again before then."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: Longest ``Retry-After`` taken at its word, seconds (a larger one is clipped to this).
MAX_RETRY_AFTER = 300.0


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (0..MAX_RETRY_AFTER), or None when absent or not a number of seconds."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


@dataclass(frozen=True, slots=True)
class CloudClientOptions:
    timeout: float = 5.0
    attempts: int = 3
    backoff_max: float = 2.0
    max_concurrency: int = 4
    breaker_failures: int = 3
    breaker_cooldown: float = 5.0
    #: CA that signs the cloud's certificate (https URLs; the system trust store when None)
    ca_file: Path | None = None
    #: Seconds one identify() may spend waiting between attempts and in them (None: ``timeout``).
    budget: float | None = None


class CloudClient:
    """Async client of the cloud service. Create it inside a running loop; ``aclose()`` when done.

    ``base_url`` is one URL or several separated by commas (cloud replicas): requests go round robin to
    the replicas, and a retry after a failure goes to another replica (:class:`ReplicaSet`)."""

    def __init__(self, base_url: str, token: str | None, options: CloudClientOptions | None = None) -> None:
        self.options = options or CloudClientOptions()
        self.replicas = ReplicaSet(split_urls(base_url), cooldown=self.options.breaker_cooldown)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        verify: ssl.SSLContext | bool = True
        if any(url.lower().startswith("https://") for url in split_urls(base_url)):
            verify = client_context(self.options.ca_file)  # never off: a wrong CA fails the handshake
        self._http = httpx.AsyncClient(
            verify=verify,
            headers=headers,
            timeout=self.options.timeout,
            limits=httpx.Limits(max_connections=self.options.max_concurrency),
        )
        self._slots = asyncio.Semaphore(self.options.max_concurrency)
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=self.options.breaker_failures,
            default_ttl=self.options.breaker_cooldown,
            exclude=[CloudRejected],
        )

    #: Set when the cloud refused the edge's token (401/403), cleared by the next answered request.
    auth_failure: str | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def breaker_state(self) -> dict[str, Any]:
        """The circuit breaker for ``/readyz``: ``state`` (closed, opened, half-opened), ``failures``, and
        for an opened one whether its cool-down is over (the next request is a trial; purgatory's
        ``opened_at`` is wall-clock time)."""
        context = (await self._breakers.get_breaker(_BREAKER)).context
        out: dict[str, Any] = {"state": context.state, "failures": context.failure_count or 0}
        if context.state == "opened" and context.opened_at is not None:
            out["cooldown_over"] = time.time() > context.opened_at + context.ttl
        if self.auth_failure is not None:
            out["auth_failure"] = self.auth_failure
        return out

    async def identify(
        self, image_jpeg: bytes, *, site_id: str, camera_id: str, trace_id: str, track_id: int | None = None
    ) -> IdentifyResult:
        """Ask the cloud who is in ``image_jpeg``; raises :class:`CloudError` when there is no answer.
        ``track_id`` only labels the log lines (requests per track are counted from them)."""
        started = time.perf_counter()
        try:
            breaker = await self._breakers.get_breaker(_BREAKER)
            async with breaker:
                result = await self._identify_with_retries(image_jpeg, site_id, camera_id, trace_id)
        except OpenedState:
            log.warning("cloud_request_skipped", trace_id=trace_id, camera_id=camera_id, track_id=track_id,
                        reason="circuit_open")
            raise CloudUnavailable("cloud circuit breaker is open") from None
        except CloudError as exc:
            log.warning(
                "cloud_request_failed", trace_id=trace_id, camera_id=camera_id, track_id=track_id, error=str(exc),
                ms=round((time.perf_counter() - started) * 1000, 2),
            )
            raise
        log.info(
            "cloud_request", trace_id=trace_id, camera_id=camera_id, track_id=track_id, verdict=result.verdict.value,
            faces=len(result.faces), ms=round((time.perf_counter() - started) * 1000, 2),
            cloud_ms=result.elapsed_ms,
        )
        return result

    async def _identify_with_retries(
        self, image_jpeg: bytes, site_id: str, camera_id: str, trace_id: str
    ) -> IdentifyResult:
        budget = self.options.budget if self.options.budget is not None else self.options.timeout
        deadline = time.monotonic() + budget
        backoff = wait_random_exponential(multiplier=0.1, max=self.options.backoff_max)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            # Retry-After speaks for the replica that answered: with another replica ready, ask it now.
            busy = error.retry_after if isinstance(error, CloudBusy) and not self.replicas.available() else 0.0
            return max(backoff(state), busy)

        def out_of_budget(state: RetryCallState) -> bool:
            return time.monotonic() + wait(state) > deadline

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.options.attempts) | out_of_budget,
            wait=wait,
            retry=retry_if_exception_type(CloudUnavailable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._post(image_jpeg, site_id, camera_id, trace_id)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _post(self, image_jpeg: bytes, site_id: str, camera_id: str, trace_id: str) -> IdentifyResult:
        async with self._slots:
            url = self.replicas.pick()
            try:
                result = await self._post_to(url, image_jpeg, site_id, camera_id, trace_id)
            except CloudUnavailable:
                self.replicas.failed(url)  # the retry goes to another replica
                raise
        self.replicas.succeeded(url)
        return result

    async def _post_to(self, url: str, image_jpeg: bytes, site_id: str, camera_id: str,
                       trace_id: str) -> IdentifyResult:
        try:
            response = await self._http.post(
                f"{url}/v1/identify",
                files={"image": ("crop.jpg", image_jpeg, "image/jpeg")},
                data={"site_id": site_id, "camera_id": camera_id, "trace_id": trace_id},
            )
        except httpx.HTTPError as exc:  # connect errors, timeouts, broken connections
            raise CloudUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            message = f"cloud answered {response.status_code}: {response.text[:200]}"
            retry_after = retry_after_seconds(response.headers.get("retry-after"))
            if retry_after is not None:
                raise CloudBusy(f"{message} (retry after {retry_after:g} s)", retry_after)
            raise CloudUnavailable(message)
        if response.status_code in (401, 403):
            # A wrong or missing token does not heal by retrying: remember it for /readyz (every person
            # would end as "unverified" while it lasts) until a request is answered again.
            self.auth_failure = f"cloud answered {response.status_code}: the edge's cloud token is missing or wrong"
            raise CloudRejected(f"cloud answered {response.status_code}: {response.text[:200]}")
        if response.status_code >= 400:
            raise CloudRejected(f"cloud answered {response.status_code}: {response.text[:200]}")
        self.auth_failure = None
        try:
            return decode(IdentifyResult, response.json())
        except (ValueError, ProtocolError) as exc:
            raise CloudUnavailable(f"cloud answer is not an IdentifyResult: {exc}") from exc
