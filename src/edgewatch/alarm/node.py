"""The alarm node: stays connected to its site's edge, acknowledges every alarm and acts on each once.

The edge re-sends an alarm until some node of the site acknowledges it, so this node acknowledges every
copy (its ack may have been lost) but acts only on the first (de-duplication by event id). The ack goes out
before any action runs and never waits for one: a slow webhook must not make the edge re-send. An alarm for
another site is logged and left unacknowledged (acknowledging it would tell the edge it was handled).
"""

from __future__ import annotations

import asyncio
import inspect
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from edgewatch.alarm.actions import ConsoleAction, WebhookAction
from edgewatch.alarm.snapshots import SnapshotFolderAction
from edgewatch.camera.link import EdgeLink
from edgewatch.config import AlarmSettings
from edgewatch.integrations.webhooks import read_secret
from edgewatch.protocol import (
    AlarmAck,
    AlarmEvent,
    Hello,
    NodeRole,
    ProtocolError,
    SocketEvent,
    decode,
    encode,
)
from edgewatch.telemetry.health import Health, NodeHTTP
from edgewatch.telemetry.logs import get_logger
from edgewatch.telemetry.metrics import AlarmNodeMetrics

AlarmCallback = Callable[[AlarmEvent], Awaitable[Any] | Any]


#: How long an ack waits for the link when an alarm arrives during the connection handshake (seconds).
ACK_WAIT = 2.0


class AlarmNode:
    """One alarm node. ``await run()`` until ``await stop()``; ``received`` lists unique alarms in order.
    ``run`` raises :class:`EdgeRefused` when the edge refuses the node permanently (unknown site ...)."""

    def __init__(
        self,
        settings: AlarmSettings,
        on_alarm: AlarmCallback | None = None,
        *,
        console: bool = True,
        console_stream: TextIO | None = None,
        webhook_attempts: int = 3,
        webhook_backoff: float = 0.5,
        metrics_host: str | None = None,
        remember: int = 10_000,
    ) -> None:
        self.settings = settings
        self.metrics = AlarmNodeMetrics()
        self.metrics_host = metrics_host if metrics_host is not None else settings.metrics_host
        self.log = get_logger(__name__, node_id=settings.node_id)
        self.received: list[AlarmEvent] = []
        self.acks_sent = 0
        self.duplicates = 0
        self.ignored = 0
        self._remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._actions: list[AlarmCallback] = []
        if console:
            self._actions.append(ConsoleAction(console_stream))
        self.webhook: WebhookAction | None = None
        if settings.webhook_url:
            self.webhook = WebhookAction(
                settings.webhook_url, settings.node_id, settings.webhook_timeout, webhook_attempts,
                webhook_backoff, on_failure=self.metrics.webhook_failures.inc,
                secret=read_secret(settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
                                   settings.webhook_secret_file, "webhook_secret"),
                snapshots=settings.webhook_snapshots,
            )
            self._actions.append(self.webhook)
        if settings.snapshot_dir is not None:
            self._actions.append(SnapshotFolderAction(settings.snapshot_dir))
        if on_alarm is not None:
            self._actions.append(on_alarm)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        self.link = EdgeLink(
            settings, Hello(role=NodeRole.ALARM, node_id=settings.node_id, site_id=settings.site_id),
            on_connect=lambda: self.metrics.connected.set(1),
            on_disconnect=lambda _reason: self.metrics.connected.set(0),
        )
        self.connected: asyncio.Event = self.link.connected
        self.link.on(SocketEvent.ALARM, self._on_alarm)
        self.link.on(SocketEvent.ERROR, self._on_error)

    async def run(self) -> None:
        s = self.settings
        server = (NodeHTTP(self.metrics.registry, s.metrics_port, self.metrics_host, self.health)
                  if s.metrics_port is not None else None)
        self.log.info("alarm_node_started", site_id=s.site_id, edge_url=s.edge_url,
                      webhook=self.webhook is not None)
        await self.link.start()
        stopped = asyncio.create_task(self._stop.wait())
        refused = asyncio.create_task(self.link.failed.wait())
        try:
            await asyncio.wait({stopped, refused}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            refused.cancel()
            await self.link.close()
            if self._tasks:  # let running actions (a webhook retry) finish, within reason
                _done, pending = await asyncio.wait(set(self._tasks), timeout=s.webhook_timeout)
                for task in pending:
                    task.cancel()
            if self.webhook is not None:
                await self.webhook.aclose()
            if server is not None:
                server.shutdown()
            self.log.info("alarm_node_stopped", received=len(self.received), duplicates=self.duplicates,
                          ignored=self.ignored, acks_sent=self.acks_sent)
        if self.link.refused is not None:  # refused for good: the command turns this into an exit status
            raise self.link.refused

    async def stop(self) -> None:
        self._stop.set()

    def health(self) -> Health:
        """Healthy only while connected to the edge (an alarm node that cannot hear alarms is down). Read
        by ``/healthz`` on the metrics port (another thread)."""
        connected = self.link.connected.is_set()
        detail = {"node_id": self.settings.node_id, "site_id": self.settings.site_id, "connected": connected,
                  "alarms": len(self.received), "acks_sent": self.acks_sent}
        return Health(True, detail=detail) if connected else Health(False, "not connected to the edge", detail)

    async def _on_error(self, payload: Any) -> None:
        self.log.warning("edge_error", detail=str(payload)[:300])

    async def _on_alarm(self, payload: Any) -> None:
        try:
            event = decode(AlarmEvent, payload)
        except ProtocolError as exc:
            self.ignored += 1
            self.log.warning("alarm_rejected", error=str(exc))
            return
        if event.site_id != self.settings.site_id:
            self.ignored += 1
            self.log.warning("alarm_other_site", trace_id=event.trace_id, event_id=event.event_id,
                             site_id=event.site_id, own_site_id=self.settings.site_id)
            return
        ack = encode(AlarmAck(event_id=event.event_id, node_id=self.settings.node_id))
        if event.event_id in self._seen:
            # our earlier ack may have been lost
            acked = await self.link.emit(SocketEvent.ALARM_ACK, ack, wait_connected=ACK_WAIT)
            self.acks_sent += acked
            self.duplicates += 1
            self.metrics.duplicates.inc()
            self.log.info("alarm_duplicate", trace_id=event.trace_id, event_id=event.event_id, acked=acked)
            return
        self._remember_id(event.event_id)
        self.received.append(event)
        self.metrics.alarms.labels(str(event.reason)).inc()
        # Act first, acknowledge after: the ack tells the edge to stop re-sending, so it must not go out
        # before the alarm has sounded here. Synchronous actions (the console line) finish before the ack;
        # slow ones (a webhook) continue in the background with their own retries.
        for action in self._actions:
            self._act(action, event)
        acked = await self.link.emit(SocketEvent.ALARM_ACK, ack, wait_connected=ACK_WAIT)
        self.acks_sent += acked
        self.log.info(
            "alarm_received", trace_id=event.trace_id, event_id=event.event_id, site_id=event.site_id,
            camera_id=event.camera_id, reason=str(event.reason), track_id=event.track_id, detail=event.detail,
            raised_at=event.raised_at, acked=acked,
        )

    def _remember_id(self, event_id: str) -> None:
        self._seen[event_id] = None
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        if len(self.received) > self._remember:
            del self.received[: len(self.received) - self._remember]

    def _act(self, action: AlarmCallback, event: AlarmEvent) -> None:
        """Run one action; an awaitable result continues as a background task. A failing action is
        logged and never stops the node or the other actions."""
        def failed(exc: Exception) -> None:
            self.log.error("alarm_action_failed", trace_id=event.trace_id, event_id=event.event_id,
                           action=type(action).__name__, error=f"{type(exc).__name__}: {exc}")

        try:
            result = action(event)
        except Exception as exc:  # noqa: BLE001
            failed(exc)
            return
        if not inspect.isawaitable(result):
            return

        async def finish() -> None:
            try:
                await result
            except Exception as exc:  # noqa: BLE001
                failed(exc)

        task = asyncio.create_task(finish())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

