"""The console's view of the alarm outbox, and the operators' handling of alarms (a table of its own).

Reads the outbox's ``alarms`` table (:mod:`edgewatch.edge.alarm_store`) through a second SQLite connection
to the same file, without the snapshots except for the one alarm asked for, and keeps what operators did in
``alarm_handling`` (handled when, by whom, with which note) and the cloud's best similarity of each alarm in
``alarm_similarity``. Handling is separate from delivery: an alarm node's acknowledgement says an alarm
sounded, an operator's "handled" says a person looked at it. WAL mode lets both connections work at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from edgewatch.protocol import AlarmEvent

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alarm_handling (
    event_id   TEXT PRIMARY KEY,
    handled_at REAL NOT NULL,
    handled_by TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS alarm_similarity (
    event_id   TEXT PRIMARY KEY,
    similarity REAL NOT NULL
);
"""
MAX_NOTE = 2000


@dataclass(frozen=True, slots=True)
class AlarmRow:
    """One alarm as the console lists it; times are seconds since the epoch."""

    event_id: str
    site_id: str
    camera_id: str
    track_id: int | None
    reason: str
    detail: str
    raised_at: float
    has_snapshot: bool
    similarity: float | None
    sent_count: int
    acked_at: float | None
    acked_by: str | None
    handled_at: float | None
    handled_by: str | None
    note: str


class AlarmLog:
    """Thread-safe; every method blocks briefly on SQLite, so async code calls it through ``asyncio.to_thread``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10.0)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA busy_timeout = 10000")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def recent(self, limit: int = 50, offset: int = 0) -> list[AlarmRow]:
        """Alarms newest first (without their snapshots)."""
        query = """
            SELECT a.event_id, a.site_id, json_extract(a.body, '$.camera_id'), json_extract(a.body, '$.track_id'),
                   json_extract(a.body, '$.reason'), json_extract(a.body, '$.detail'), a.raised_at,
                   json_extract(a.body, '$.snapshot_jpeg') IS NOT NULL,
                   COALESCE(s.similarity, json_extract(a.body, '$.similarity')),
                   a.sent_count, a.acked_at, a.acked_by, h.handled_at, h.handled_by, h.note
            FROM alarms a
            LEFT JOIN alarm_handling h ON h.event_id = a.event_id
            LEFT JOIN alarm_similarity s ON s.event_id = a.event_id
            ORDER BY a.raised_at DESC LIMIT ? OFFSET ?"""
        with self._lock:
            rows = self._db.execute(query, (limit, offset)).fetchall()
        return [AlarmRow(r[0], r[1], r[2] or "?", r[3], r[4] or "?", r[5] or "", r[6], bool(r[7]),
                         None if r[8] is None else float(r[8]), int(r[9] or 0), r[10], r[11], r[12], r[13],
                         r[14] or "") for r in rows]

    def snapshot(self, event_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM alarms WHERE event_id = ?", (event_id,)).fetchone()
        if row is None:
            return None
        return AlarmEvent.model_validate_json(row[0]).snapshot_jpeg  # the protocol's own JSON encoding

    def exists(self, event_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM alarms WHERE event_id = ?", (event_id,)).fetchone() is not None

    def mark_handled(self, event_id: str, operator: str, note: str) -> bool:
        """Record (or update) an operator's handling of an alarm; False when the alarm does not exist."""
        note = note.strip()[:MAX_NOTE]
        with self._lock:
            if self._db.execute("SELECT 1 FROM alarms WHERE event_id = ?", (event_id,)).fetchone() is None:
                return False
            self._db.execute(
                "INSERT INTO alarm_handling (event_id, handled_at, handled_by, note) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(event_id) DO UPDATE SET handled_at = excluded.handled_at, "
                "handled_by = excluded.handled_by, note = excluded.note",
                (event_id, time.time(), operator, note),
            )
        return True

    def record_similarity(self, event_id: str, similarity: float) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO alarm_similarity (event_id, similarity) VALUES (?, ?)",
                             (event_id, float(similarity)))
