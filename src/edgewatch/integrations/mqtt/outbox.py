"""Per-alarm MQTT delivery state, beside the edge's durable alarm outbox (same SQLite file, own table).

The edge writes every alarm to the ``alarms`` table of its outbox (:mod:`edgewatch.edge.alarm_store`) before
anything is sent. This module reads that table - columns ``event_id``, ``raised_at`` and ``body`` (the
alarm's JSON) - and keeps, in ``mqtt_outbox``, when the broker acknowledged each alarm (PUBACK of a QoS 1
publish). An alarm is pending for MQTT until then, whatever happens to the edge, the broker or the network
in between, so a restart of either loses none. Alarms stored before MQTT was first switched on are marked
skipped (``published_at = 0``) rather than flooding the broker with history.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from edgewatch.integrations.mqtt.messages import binary_fields
from edgewatch.protocol import AlarmEvent
from edgewatch.telemetry import get_logger

log = get_logger(__name__)

#: Failed publishes of one alarm after which it is sent without its snapshot.
SNAPSHOT_ATTEMPTS = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mqtt_outbox (
    event_id     TEXT PRIMARY KEY,
    published_at REAL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
"""


class MqttOutbox:
    """Which stored alarms the broker has not acknowledged yet. Blocking methods run in a worker thread
    through the ``*_async`` facade; one connection guarded by a lock keeps writes ordered."""

    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10.0)
        self._lock = threading.Lock()
        with self._lock:
            # Losing the last "published" marks in a power cut only means publishing those alarms again
            # (consumers drop copies by event id), so this connection's commits need no fsync of their own.
            self._db.execute("PRAGMA synchronous=NORMAL")
            fresh = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'mqtt_outbox'").fetchone() is None
            self._db.executescript(_SCHEMA)
            if fresh:
                skipped = self._db.execute(
                    "INSERT OR IGNORE INTO mqtt_outbox (event_id, published_at) SELECT event_id, 0 FROM alarms"
                ).rowcount
                if skipped:
                    log.info("mqtt_outbox_created", skipped_earlier_alarms=skipped)
            else:  # alarms removed by the outbox's retention leave no delivery state behind
                self._db.execute("DELETE FROM mqtt_outbox WHERE event_id NOT IN (SELECT event_id FROM alarms)")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def pending(self, limit: int = 100) -> list[AlarmEvent]:
        """Alarms not yet acknowledged by the broker, oldest first. An alarm that failed
        :data:`SNAPSHOT_ATTEMPTS` times comes without its pictures (a broker may refuse large messages; the
        alarm itself must get through). A row that cannot be read is set aside, logged once."""
        with self._lock:
            rows = self._db.execute(
                "SELECT a.event_id, a.body, COALESCE(m.attempts, 0) FROM alarms a "
                "LEFT JOIN mqtt_outbox m ON m.event_id = a.event_id "
                "WHERE m.published_at IS NULL ORDER BY a.raised_at LIMIT ?", (limit,)).fetchall()
        events = []
        for event_id, body, attempts in rows:
            try:
                event = AlarmEvent.model_validate_json(body)
            except ValueError as exc:  # a row nobody can read must not block the ones behind it
                log.error("mqtt_outbox_unreadable_alarm", event_id=str(event_id)[:64], error=str(exc)[:300])
                self.mark_published(event_id, when=0.0)
                continue
            if attempts >= SNAPSHOT_ATTEMPTS:
                event = event.model_copy(update=dict.fromkeys(binary_fields(event)))
            events.append(event)
        return events

    def mark_published(self, event_ids: str | list[str], when: float | None = None) -> None:
        """Record the broker's acknowledgement of one alarm or several (one transaction)."""
        ids = [event_ids] if isinstance(event_ids, str) else list(event_ids)
        stamp = time.time() if when is None else when
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO mqtt_outbox (event_id, published_at, attempts) VALUES (?, ?, 1) "
                    "ON CONFLICT(event_id) DO UPDATE SET published_at = excluded.published_at, "
                    "attempts = attempts + 1, last_error = NULL",
                    [(event_id, stamp) for event_id in ids])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def mark_failed(self, event_id: str, error: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO mqtt_outbox (event_id, attempts, last_error) VALUES (?, 1, ?) "
                "ON CONFLICT(event_id) DO UPDATE SET attempts = attempts + 1, last_error = excluded.last_error",
                (event_id, error[:500]))

    def counts(self) -> dict[str, int]:
        with self._lock:
            published, = self._db.execute(
                "SELECT COUNT(*) FROM mqtt_outbox WHERE published_at > 0").fetchone()
            pending, = self._db.execute(
                "SELECT COUNT(*) FROM alarms a LEFT JOIN mqtt_outbox m ON m.event_id = a.event_id "
                "WHERE m.published_at IS NULL").fetchone()
        return {"published": int(published), "pending": int(pending)}

    async def pending_async(self, limit: int = 100) -> list[AlarmEvent]:
        return await asyncio.to_thread(self.pending, limit)

    async def mark_published_async(self, event_ids: str | list[str], *, skipped: bool = False) -> None:
        """Acknowledged now; or, with ``skipped``, set aside for good (``published_at = 0``)."""
        await asyncio.to_thread(self.mark_published, event_ids, 0.0 if skipped else None)

    async def mark_failed_async(self, event_id: str, error: str) -> None:
        await asyncio.to_thread(self.mark_failed, event_id, error)
