"""Durable alarm delivery from the edge to its sites' alarm nodes.

An alarm is written to the SQLite outbox before anything is sent, then sent to every alarm node of its
site; it is re-sent every ``resend_interval`` until one of them acknowledges it, an alarm node that connects
later gets every unacknowledged alarm of its site at once, and a restarted edge picks its outbox up again.
Alarm nodes de-duplicate by event id, so re-sending is always safe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from edgewatch.edge.alarm_store import AlarmStore
from edgewatch.edge.events import AlarmAcknowledged, AlarmRaised, EventBus
from edgewatch.protocol import AlarmAck, AlarmEvent, SocketEvent, encode
from edgewatch.telemetry import get_logger
from edgewatch.telemetry.metrics import EdgeMetrics

log = get_logger(__name__)

#: ``emit(event_name, payload, to)`` — the Socket.IO server's emit, narrowed to what is needed here.
Emit = Callable[[str, dict[str, Any], str], Awaitable[None]]


def site_room(site_id: str) -> str:
    return f"alarms:{site_id}"


class AlarmDispatcher:
    """Outbox-first alarm sending; lives on the event loop, SQLite work runs in a thread."""

    def __init__(
        self, store: AlarmStore, emit: Emit, metrics: EdgeMetrics, resend_interval: float = 5.0,
        events: EventBus | None = None,
    ) -> None:
        self.store = store
        self.events = events or EventBus()
        self.emit = emit
        self.metrics = metrics
        self.resend_interval = resend_interval
        self._listeners: dict[str, set[str]] = {}  # site -> sids of connected alarm nodes

    def listeners(self, site_id: str) -> int:
        return len(self._listeners.get(site_id, ()))

    async def raise_alarm(self, event: AlarmEvent) -> None:
        """Store, then send. Storing first means a crash right after still delivers it on restart."""
        if not await self.store.add_async(event):
            return
        self.metrics.alarms.labels(event.reason.value).inc()
        self.metrics.alarms_pending.inc()
        log.info("alarm_raised", trace_id=event.trace_id, event_id=event.event_id, site_id=event.site_id,
                 camera_id=event.camera_id, track_id=event.track_id, reason=event.reason.value,
                 detail=event.detail, listeners=self.listeners(event.site_id))
        self.events.publish(AlarmRaised(event))
        await self._send(event, site_room(event.site_id))

    async def node_joined(self, sid: str, site_id: str) -> None:
        """A (re)connected alarm node gets every unacknowledged alarm of its site."""
        self._listeners.setdefault(site_id, set()).add(sid)
        for event in await self.store.pending_async(site_id):
            await self._send(event, sid)

    def node_left(self, sid: str, site_id: str) -> None:
        self._listeners.get(site_id, set()).discard(sid)

    async def acknowledged(self, ack: AlarmAck, site_id: str) -> None:
        event = await self.store.acknowledge_async(ack.event_id, ack.node_id, site_id=site_id)
        if event is None:
            log.debug("alarm_ack_ignored", event_id=ack.event_id, node_id=ack.node_id, site_id=site_id,
                      reason="repeat, unknown id, or another site's alarm")
            return
        delivery = max(0.0, time.time() - event.raised_at)
        self.metrics.alarm_delivery.observe(delivery)
        self.metrics.alarms_pending.dec()
        log.info("alarm_acked", trace_id=event.trace_id, event_id=event.event_id, site_id=site_id,
                 node_id=ack.node_id, reason=event.reason.value, delivery_ms=round(delivery * 1000, 2))
        self.events.publish(AlarmAcknowledged(site_id, event.event_id, ack.node_id))

    async def resend_forever(self) -> None:
        """Re-send what is unacknowledged and was last sent at least one interval ago."""
        pending = await self.store.pending_async()
        self.metrics.alarms_pending.set(len(pending))
        while True:
            await asyncio.sleep(self.resend_interval)
            try:
                await self._resend_due()
            except Exception:  # e.g. a transient SQLite error: try again next round, never stop resending
                log.exception("alarm_resend_failed")

    async def _resend_due(self) -> None:
        cutoff = time.time() - self.resend_interval
        for event in await self.store.pending_async(not_sent_since=cutoff):
            if self.listeners(event.site_id):
                log.info("alarm_resent", trace_id=event.trace_id, event_id=event.event_id, site_id=event.site_id)
                await self._send(event, site_room(event.site_id))

    async def _send(self, event: AlarmEvent, to: str) -> None:
        if not self.listeners(event.site_id):
            return  # nobody to hear it yet: it stays unsent in the outbox until an alarm node joins
        await self.emit(SocketEvent.ALARM.value, encode(event), to)
        await self.store.mark_sent_async(event.event_id)
