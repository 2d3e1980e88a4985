"""What an alarm node does with an alarm: a console line for the person watching, and an optional webhook.

The webhook body is the alarm event as JSON *without* the snapshot bytes (a snapshot may weigh megabytes
and most receivers - chat, paging, home automation - want the facts); ``snapshot_bytes`` says whether the
edge attached one and how large it was (``frame_bytes`` likewise for the annotated frame); with
``webhook_snapshots`` (the default) both pictures come along base64-encoded. Failures are retried a few times with backoff, then logged;
they never stop the node.

With a secret (``webhook_secret`` / ``webhook_secret_file``) every POST is signed: the
``X-Edgewatch-Signature: t=<unix>,v1=<hex>`` header is an HMAC-SHA256 over the timestamp and the exact body
bytes (:mod:`edgewatch.integrations.webhooks`, which also has the receiver's check). Each attempt is signed
afresh, so a retry is never rejected as too old. ``X-Edgewatch-Event-Id`` lets a receiver drop the copies a
retry may produce.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import httpx

from edgewatch.integrations.webhooks import SIGNATURE_HEADER, sign
from edgewatch.protocol import AlarmEvent
from edgewatch.telemetry.logs import get_logger

log = get_logger(__name__)


def alarm_line(event: AlarmEvent) -> str:
    """``ALARM intruder site1/cam2 2026-01-01T10:00:00Z track 3: detail (event ab12...)``."""
    when = datetime.fromtimestamp(event.raised_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    track = f" track {event.track_id}" if event.track_id is not None else ""
    zone = f" zone {event.zone}" if event.zone else ""
    text = event.detail
    if event.zone and text.endswith(f" (zone {event.zone})"):  # the edge adds the zone to the detail too
        text = text[: -len(f" (zone {event.zone})")]
    detail = f": {text}" if text else ""
    return (f"ALARM {event.reason} {event.site_id}/{event.camera_id}{zone} {when}{track}{detail} "
            f"(event {event.event_id})")


class ConsoleAction:
    """Writes one line per alarm to ``stream`` (standard output, looked up at write time, by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def __call__(self, event: AlarmEvent) -> None:
        stream = self.stream or sys.stdout
        stream.write(alarm_line(event) + "\n")
        stream.flush()


def webhook_body(event: AlarmEvent, node_id: str, *, snapshots: bool = False) -> dict[str, Any]:
    """The JSON a webhook receives: every event field except the snapshot bytes, whose sizes are given.
    With ``snapshots`` the pictures come along base64-encoded: ``frame_jpeg_base64`` (full frame, box
    drawn, zone named) and ``snapshot_jpeg_base64`` (the crop sent to the cloud)."""
    body = event.model_dump(mode="json", exclude={"snapshot_jpeg", "frame_jpeg"})
    body["snapshot_bytes"] = len(event.snapshot_jpeg) if event.snapshot_jpeg is not None else None
    body["frame_bytes"] = len(event.frame_jpeg) if event.frame_jpeg is not None else None
    if snapshots:
        for name in ("frame_jpeg", "snapshot_jpeg"):
            data = getattr(event, name)
            body[f"{name}_base64"] = base64.b64encode(data).decode("ascii") if data is not None else None
    body["node_id"] = node_id
    return body


class WebhookAction:
    """POSTs each alarm to ``url``; retries transport errors, 429 and 5xx answers with doubling backoff."""

    def __init__(
        self, url: str, node_id: str, timeout: float = 5.0, attempts: int = 3, backoff: float = 0.5,
        on_failure: Any = None, secret: bytes | None = None, snapshots: bool = False,
    ) -> None:
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"webhook_url must be an http(s) URL, got {url!r}")
        self.url = url
        self.node_id = node_id
        self.attempts = attempts
        self.backoff = backoff
        self.on_failure = on_failure
        self._secret = secret
        self.snapshots = snapshots
        self.client = httpx.AsyncClient(timeout=timeout)

    async def __call__(self, event: AlarmEvent) -> bool:
        body = json.dumps(webhook_body(event, self.node_id, snapshots=self.snapshots),
                          separators=(",", ":")).encode("utf-8")
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            started = time.monotonic()
            error: str
            try:
                response = await self.client.post(self.url, content=body, headers=self._headers(event, body))
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                ms = round((time.monotonic() - started) * 1000, 2)
                if response.is_success:
                    log.info("webhook_sent", trace_id=event.trace_id, event_id=event.event_id,
                             status=response.status_code, attempt=attempt, ms=ms)
                    return True
                error = f"HTTP {response.status_code}"
                if response.status_code != 429 and response.status_code < 500:
                    break  # the receiver refuses this request: repeating it will not help
            if attempt < self.attempts:
                log.warning("webhook_retry", trace_id=event.trace_id, event_id=event.event_id, error=error,
                            attempt=attempt, retry_in_s=delay)
                await asyncio.sleep(delay)
                delay *= 2
        # The host only: webhook URLs often carry a secret token in their path.
        log.error("webhook_failed", trace_id=event.trace_id, event_id=event.event_id,
                  host=httpx.URL(self.url).host, error=error, attempts=attempt)
        if self.on_failure is not None:
            self.on_failure()
        return False

    def _headers(self, event: AlarmEvent, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "X-Edgewatch-Event-Id": event.event_id}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        return headers

    async def aclose(self) -> None:
        await self.client.aclose()
