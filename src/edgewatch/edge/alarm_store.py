"""Durable alarm outbox: every alarm is written to SQLite before it is sent, and stays pending until an
alarm node of its site acknowledges it.

This is what makes "never silently drop an intruder" hold across an edge restart or an alarm node that is
offline: pending alarms are re-sent periodically and to every alarm node that (re)connects, and alarm
nodes de-duplicate by event id. SQLite calls are short but still block, so the async API runs them in a
thread; one connection guarded by a lock keeps writes ordered.

Opening is careful, because the outbox may hold the only copy of an alarm: a file that is not an SQLite
database, is truncated, unreadable, or has corrupted pages (``PRAGMA quick_check``) raises
:class:`AlarmStoreError` (one line naming the file) *before* anything is written to it, so it is never
overwritten or deleted; the operator decides. The database, its WAL and shared-memory files are created
0600 (alarms carry snapshots of people). Acknowledged alarms are deleted after a retention period
(:meth:`AlarmStore.prune`), and the freed pages are returned with an incremental vacuum.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path

from edgewatch.protocol import AlarmEvent

#: The first 16 bytes of every SQLite 3 database file.
SQLITE_MAGIC = b"SQLite format 3\x00"
#: Seconds a write waits for a lock held by another process before failing (it is then retried later).
BUSY_TIMEOUT = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alarms (
    event_id   TEXT PRIMARY KEY,
    site_id    TEXT NOT NULL,
    raised_at  REAL NOT NULL,
    body       TEXT NOT NULL,
    sent_count INTEGER NOT NULL DEFAULT 0,
    last_sent  REAL,
    acked_at   REAL,
    acked_by   TEXT
);
CREATE INDEX IF NOT EXISTS alarms_pending ON alarms (site_id, acked_at);
CREATE INDEX IF NOT EXISTS alarms_acked ON alarms (acked_at);
"""


class AlarmStoreError(RuntimeError):
    """The outbox file cannot be used; the message is one line naming the file and the reason."""


def _check_existing(path: Path) -> None:
    """Refuse a file that is not a healthy SQLite database, reading it only (nothing is written)."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(SQLITE_MAGIC))
    except IsADirectoryError:
        raise AlarmStoreError(f"{path} is a directory, not an SQLite file") from None
    except OSError as exc:
        raise AlarmStoreError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if not magic:
        return  # an empty file: SQLite makes it a new database
    if magic != SQLITE_MAGIC:
        raise AlarmStoreError(f"{path} is not an SQLite database (left untouched)")
    # Read-only, and "immutable" (no -wal/-shm files created) unless a WAL left by a crash must be read too.
    wal = Path(f"{path}-wal").exists()
    uri = f"{path.resolve().as_uri()}?mode=ro{'' if wal else '&immutable=1'}"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT)
    except sqlite3.Error as exc:
        raise AlarmStoreError(f"{path} cannot be opened: {exc}") from None
    try:
        rows = [row[0] for row in db.execute("PRAGMA quick_check(5)").fetchall()]
    except sqlite3.Error as exc:
        raise AlarmStoreError(f"{path} is corrupt or truncated: {exc} (left untouched)") from None
    finally:
        db.close()
    if rows != ["ok"]:
        found = "; ".join(" ".join(str(row).split()) for row in rows)
        raise AlarmStoreError(f"{path} is corrupt: {found[:300]} (left untouched)")


def _private(path: Path) -> None:
    """The outbox and SQLite's side files readable by the edge's user only."""
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if candidate.stat().st_mode & 0o077:
                candidate.chmod(0o600)


class AlarmStore:
    """SQLite-backed alarm outbox (``:memory:`` works for tests that need no restart)."""

    def __init__(self, path: Path | str) -> None:
        """Open (or create) the outbox. Raises :class:`AlarmStoreError` for a file that cannot be used."""
        self.path = None if str(path) == ":memory:" else Path(path)
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if self.path.exists() or self.path.is_symlink():
                    _check_existing(self.path)
                else:  # created 0600 before SQLite sees it; SQLite gives its WAL and -shm the same mode
                    os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except OSError as exc:
                raise AlarmStoreError(f"{path} cannot be created: {exc.strerror or exc}") from None
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                       timeout=BUSY_TIMEOUT)
        except sqlite3.Error as exc:
            raise AlarmStoreError(f"{path} cannot be opened: {exc}") from None
        self._lock = threading.Lock()
        try:
            with self._lock:
                if not self._db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
                    self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # only before the first table
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")  # an alarm must survive a power cut once stored
                self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self._db.close()
            raise AlarmStoreError(f"{path} cannot be used: {exc}") from None
        if self.path is not None:
            _private(self.path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- synchronous core (called from a worker thread) ------------------------------------------------

    def add(self, event: AlarmEvent) -> bool:
        """Store an alarm; returns False when this event id is already stored."""
        body = event.model_dump_json()
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO alarms (event_id, site_id, raised_at, body) VALUES (?, ?, ?, ?)",
                (event.event_id, event.site_id, event.raised_at, body),
            )
            return cursor.rowcount == 1

    def pending(self, site_id: str | None = None, *, not_sent_since: float | None = None) -> list[AlarmEvent]:
        """Unacknowledged alarms, oldest first; optionally of one site, or not sent since a time."""
        query = "SELECT body FROM alarms WHERE acked_at IS NULL"
        params: list[object] = []
        if site_id is not None:
            query += " AND site_id = ?"
            params.append(site_id)
        if not_sent_since is not None:
            query += " AND (last_sent IS NULL OR last_sent <= ?)"
            params.append(not_sent_since)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY raised_at", params).fetchall()
        return [AlarmEvent.model_validate_json(body) for (body,) in rows]

    def mark_sent(self, event_id: str, when: float | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE alarms SET sent_count = sent_count + 1, last_sent = ? WHERE event_id = ?",
                (when or time.time(), event_id),
            )

    def acknowledge(
        self, event_id: str, node_id: str, when: float | None = None, *, site_id: str | None = None
    ) -> AlarmEvent | None:
        """Record the first ack of an alarm. Returns the event on its first ack, None for a repeat, an
        unknown id, or (with ``site_id``) an alarm of another site: a node can only acknowledge alarms
        of its own site, so a stray ack never stops another site's alarm from being re-sent."""
        query = "SELECT body FROM alarms WHERE event_id = ? AND acked_at IS NULL"
        params: list[object] = [event_id]
        if site_id is not None:
            query += " AND site_id = ?"
            params.append(site_id)
        with self._lock:
            row = self._db.execute(query, params).fetchone()
            if row is None:
                return None
            self._db.execute(
                "UPDATE alarms SET acked_at = ?, acked_by = ? WHERE event_id = ?",
                (when or time.time(), node_id, event_id),
            )
        return AlarmEvent.model_validate_json(row[0])

    def prune(self, acked_before: float) -> int:
        """Delete alarms acknowledged before ``acked_before`` (epoch seconds), snapshots included, and give
        the freed pages back to the file system. Returns how many were deleted."""
        with self._lock:
            deleted = self._db.execute(
                "DELETE FROM alarms WHERE acked_at IS NOT NULL AND acked_at < ?", (acked_before,)
            ).rowcount
            if deleted:
                self._db.executescript("PRAGMA incremental_vacuum;")  # sqlite3_exec steps it to the end
        return int(deleted)

    def counts(self) -> dict[str, int]:
        with self._lock:
            total, acked = self._db.execute(
                "SELECT COUNT(*), COUNT(acked_at) FROM alarms"
            ).fetchone()
        return {"total": int(total), "acked": int(acked), "pending": int(total) - int(acked)}

    # -- async facade (never blocks the event loop) ---------------------------------------------------

    async def add_async(self, event: AlarmEvent) -> bool:
        return await asyncio.to_thread(self.add, event)

    async def pending_async(
        self, site_id: str | None = None, *, not_sent_since: float | None = None
    ) -> list[AlarmEvent]:
        return await asyncio.to_thread(self.pending, site_id, not_sent_since=not_sent_since)

    async def mark_sent_async(self, event_id: str) -> None:
        await asyncio.to_thread(self.mark_sent, event_id)

    async def prune_async(self, acked_before: float) -> int:
        return await asyncio.to_thread(self.prune, acked_before)

    async def acknowledge_async(
        self, event_id: str, node_id: str, *, site_id: str | None = None
    ) -> AlarmEvent | None:
        return await asyncio.to_thread(self.acknowledge, event_id, node_id, site_id=site_id)
