"""Durable alarm delivery from the edge to its sites' alarm nodes; storage trouble never delays an alarm.

An alarm is written to the SQLite outbox and sent to every alarm node of its site; it is re-sent every
``resend_interval`` until one of them acknowledges it, an alarm node that connects later gets every
unacknowledged alarm of its site at once, and a restarted edge picks its outbox up again. Alarm nodes
de-duplicate by event id, so re-sending is always safe.

Storing comes first but is waited for at most :data:`STORE_WAIT` seconds: when the outbox fails (full disk,
read-only file system, a database locked by another process) or is slow, the alarm is sent live anyway and
kept in memory (:attr:`AlarmDispatcher.unstored`), re-sent like any other, and storing it is retried every
round until it succeeds. :meth:`AlarmDispatcher.run` supervises the re-send loop (a loop that dies is
restarted with backoff), prunes acknowledged alarms after ``retention`` seconds, and :meth:`problem` tells
``/readyz`` when the outbox is failing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from edgewatch.edge.alarm_store import AlarmStore
from edgewatch.edge.events import AlarmAcknowledged, AlarmRaised, EventBus
from edgewatch.protocol import AlarmAck, AlarmEvent, SocketEvent, encode
from edgewatch.telemetry import get_logger
from edgewatch.telemetry.metrics import EdgeMetrics

log = get_logger(__name__)

#: ``emit(event_name, payload, to)`` — the Socket.IO server's emit, narrowed to what is needed here.
Emit = Callable[[str, dict[str, Any], str], Awaitable[None]]

#: Seconds an alarm waits for the outbox before it is sent live anyway (SQLite writes take milliseconds).
STORE_WAIT = 0.25
#: Alarms kept in memory while the outbox fails. Far above any real site's alarm count; beyond it the
#: oldest *acknowledged* ones go first, then the oldest (logged), so memory stays bounded.
MAX_UNSTORED = 10_000
#: Longest pause between restarts of a re-send loop that keeps dying.
MAX_RESTART_DELAY = 30.0


def site_room(site_id: str) -> str:
    return f"alarms:{site_id}"


@dataclass(slots=True)
class UnstoredAlarm:
    """An alarm the outbox has not taken yet: sent live, re-sent from memory, stored when it can be."""

    event: AlarmEvent
    last_sent: float | None = None
    acked_by: str | None = None
    acked_at: float | None = None


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


class AlarmDispatcher:
    """Outbox-first alarm sending; lives on the event loop, SQLite work runs in a thread."""

    def __init__(
        self, store: AlarmStore, emit: Emit, metrics: EdgeMetrics, resend_interval: float = 5.0,
        events: EventBus | None = None, retention: float | None = None,
    ) -> None:
        self.store = store
        self.events = events or EventBus()
        self.emit = emit
        self.metrics = metrics
        self.resend_interval = resend_interval
        self.retention = retention
        self._listeners: dict[str, set[str]] = {}  # site -> sids of connected alarm nodes
        #: Alarms sent but not (yet) in the outbox, by event id.
        self.unstored: dict[str, UnstoredAlarm] = {}
        self._store_error: str | None = None  # the last outbox failure, cleared by the next success
        self._loop_error: str | None = None  # why the re-send loop last died, until it runs a round again
        self._last_prune = 0.0
        self._round_failed = False

    def listeners(self, site_id: str) -> int:
        return len(self._listeners.get(site_id, ()))

    def problem(self) -> str | None:
        """Why the outbox is not healthy now (for ``/readyz``), or None."""
        return self._loop_error or self._store_error

    # ---- raising and acknowledging -------------------------------------------------------------------

    async def raise_alarm(self, event: AlarmEvent) -> None:
        """Store (waiting at most STORE_WAIT), then send; a failing or slow outbox never holds the alarm."""
        if event.event_id in self.unstored:
            return
        stored = await self._store_quickly(event)
        if stored is False:
            return  # this event id is already in the outbox
        self.metrics.alarms.labels(event.reason.value).inc()
        self.metrics.alarms_pending.inc()
        log.info("alarm_raised", trace_id=event.trace_id, event_id=event.event_id, site_id=event.site_id,
                 camera_id=event.camera_id, track_id=event.track_id, reason=event.reason.value,
                 detail=event.detail, listeners=self.listeners(event.site_id), stored=bool(stored))
        self.events.publish(AlarmRaised(event))
        await self._send(event, site_room(event.site_id))

    async def _store_quickly(self, event: AlarmEvent) -> bool | None:
        """True: stored now; False: already stored; None: not stored yet (kept in memory, retried)."""
        task = asyncio.ensure_future(self.store.add_async(event))
        done, _ = await asyncio.wait({task}, timeout=STORE_WAIT)
        if done and task.exception() is None:
            self._stored_ok()
            return task.result()
        self._keep(event)
        if done:
            self._store_failed("store", event, task.exception())  # type: ignore[arg-type]
        else:  # slow: it may still land; if it does, the memory copy goes
            task.add_done_callback(lambda t: self._late_store_done(t, event))
            self._store_error = f"outbox store took more than {STORE_WAIT} s (database locked or disk slow)"
            log.warning("alarm_store_slow", event_id=event.event_id, waited_s=STORE_WAIT)
        return None

    def _late_store_done(self, task: asyncio.Future[bool], event: AlarmEvent) -> None:
        if task.cancelled() or task.exception() is not None:
            return  # retried by the next round
        entry = self.unstored.get(event.event_id)
        if entry is not None and entry.acked_by is None:
            del self.unstored[event.event_id]
            self._stored_ok()

    def _keep(self, event: AlarmEvent) -> None:
        if len(self.unstored) >= MAX_UNSTORED:
            victim = next((k for k, v in self.unstored.items() if v.acked_by), next(iter(self.unstored)))
            lost = self.unstored.pop(victim)
            log.error("alarm_memory_full", event_id=victim, acked=lost.acked_by is not None, kept=MAX_UNSTORED)
        self.unstored[event.event_id] = UnstoredAlarm(event)

    def _store_failed(self, action: str, event: AlarmEvent | None, exc: BaseException) -> None:
        self.metrics.alarm_store_failures.inc()
        self._round_failed = True
        self._store_error = f"outbox {action} failing: {_reason(exc)}"
        log.warning("alarm_store_failed", action=action, event_id=event.event_id if event else None,
                    error=_reason(exc), kept_in_memory=len(self.unstored))

    def _stored_ok(self) -> None:
        if self._store_error is not None and not self.unstored:
            log.info("alarm_store_recovered")
            self._store_error = None

    async def node_joined(self, sid: str, site_id: str) -> None:
        """A (re)connected alarm node gets every unacknowledged alarm of its site."""
        self._listeners.setdefault(site_id, set()).add(sid)
        try:
            pending = await self.store.pending_async(site_id)
        except Exception as exc:  # noqa: BLE001 - the memory copies still go out below
            self._store_failed("read", None, exc)
            pending = []
        known = {e.event_id for e in pending}
        pending += [u.event for u in self.unstored.values()
                    if u.acked_by is None and u.event.site_id == site_id and u.event.event_id not in known]
        for event in pending:
            await self._send(event, sid)

    def node_left(self, sid: str, site_id: str) -> None:
        self._listeners.get(site_id, set()).discard(sid)

    async def acknowledged(self, ack: AlarmAck, site_id: str) -> None:
        event: AlarmEvent | None = None
        try:
            event = await self.store.acknowledge_async(ack.event_id, ack.node_id, site_id=site_id)
        except Exception as exc:  # noqa: BLE001 - unrecorded: the alarm is re-sent and acknowledged again
            self._store_failed("acknowledge", None, exc)
        entry = self.unstored.get(ack.event_id)
        if entry is not None and entry.event.site_id == site_id and entry.acked_by is None:
            entry.acked_by, entry.acked_at = ack.node_id, time.time()
            event = event or entry.event
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

    # ---- the supervised re-send loop -----------------------------------------------------------------

    async def run(self) -> None:
        """Re-send, retry storing and prune for ever; a loop that dies is logged in one line, shown on
        ``/readyz`` and restarted with backoff."""
        delay = min(self.resend_interval, 1.0)
        while True:
            try:
                await self.resend_forever()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop that delivers alarms must never stay dead
                self.metrics.alarm_resend_restarts.inc()
                self._loop_error = f"alarm re-send loop died ({_reason(exc)}); restarting"
                log.error("alarm_resend_died", error=_reason(exc), restart_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RESTART_DELAY)

    async def resend_forever(self) -> None:
        """Re-send what is unacknowledged and was last sent at least one interval ago. Raises when the
        outbox cannot even be read at the start (``run`` restarts it)."""
        pending = await self.store.pending_async()
        self.metrics.alarms_pending.set(len(pending) + sum(1 for u in self.unstored.values() if not u.acked_by))
        self._loop_error = None
        await self._prune_due()
        while True:
            await asyncio.sleep(self.resend_interval)
            try:
                await self.round()
            except Exception as exc:  # noqa: BLE001 - e.g. a full disk: one line, try again next round
                self._store_failed("re-send", None, exc)

    async def round(self) -> None:
        """One round: store what memory holds, re-send what is due, prune when due."""
        self._round_failed = False
        await self._store_unstored()
        cutoff = time.time() - self.resend_interval
        for entry in list(self.unstored.values()):
            due = entry.last_sent is None or entry.last_sent <= cutoff
            if entry.acked_by is None and due and self.listeners(entry.event.site_id):
                log.info("alarm_resent", trace_id=entry.event.trace_id, event_id=entry.event.event_id,
                         site_id=entry.event.site_id, stored=False)
                await self._send(entry.event, site_room(entry.event.site_id))
        for event in await self.store.pending_async(not_sent_since=cutoff):
            if self.listeners(event.site_id) and event.event_id not in self.unstored:
                log.info("alarm_resent", trace_id=event.trace_id, event_id=event.event_id, site_id=event.site_id)
                await self._send(event, site_room(event.site_id))
        await self._prune_due()
        if not self._round_failed:
            self._stored_ok()

    async def _store_unstored(self) -> None:
        for event_id, entry in list(self.unstored.items()):
            try:
                await self.store.add_async(entry.event)
                if entry.acked_by is not None:
                    await self.store.acknowledge_async(event_id, entry.acked_by)
            except Exception as exc:  # noqa: BLE001 - still failing: keep it, say so once per round
                self._store_failed("store", entry.event, exc)
                return
            self.unstored.pop(event_id, None)
            log.info("alarm_stored_late", event_id=event_id, acked=entry.acked_by is not None)

    async def _prune_due(self) -> None:
        if not self.retention:
            return
        now = time.time()
        if now - self._last_prune < min(self.retention / 10, 3600.0):
            return
        self._last_prune = now
        deleted = await self.store.prune_async(now - self.retention)
        if deleted:
            self.metrics.alarms_pruned.inc(deleted)
            log.info("alarms_pruned", deleted=deleted, retention_s=self.retention)

    async def _send(self, event: AlarmEvent, to: str) -> None:
        if not self.listeners(event.site_id):
            return  # nobody to hear it yet: it stays unsent in the outbox until an alarm node joins
        await self.emit(SocketEvent.ALARM.value, encode(event), to)
        entry = self.unstored.get(event.event_id)
        if entry is not None:
            entry.last_sent = time.time()
            return
        try:
            await self.store.mark_sent_async(event.event_id)
        except Exception as exc:  # noqa: BLE001 - it was sent; at worst it is re-sent one round early
            self._store_failed("mark-sent", event, exc)
