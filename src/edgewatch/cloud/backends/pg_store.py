"""PostgreSQL store of the local backend, shared by several cloud replicas.

Same interface as :class:`~edgewatch.cloud.backends.store.FaceStore` (SQLite, the one-machine default), so
the backend does not care which one it has. Differences that matter for replicas:

* **Identify never waits on the database.** Each replica keeps the gallery (every embedding as one
  ``(n, dim)`` float32 matrix) in memory. A listener thread holds its own connection with
  ``LISTEN edgewatch_faces``; every enrolment change bumps a version row and sends ``NOTIFY`` in the same
  transaction, so the other replicas reload within one round trip. The listener also polls the version
  every ``refresh_interval`` seconds: a lost notification (reconnect, proxy) is caught within that.
* **Fail secure.** A replica that has lost the database cannot know whether a person was removed since its
  last load; recognising them as known could let a revoked person through. So when the listener has not
  reached the database for ``stale_after`` seconds, :meth:`gallery` raises ``BackendUnavailable`` (503 +
  ``Retry-After``: the edge retries another replica, and failing that raises an ``unverified`` alarm), and
  :meth:`problem` makes ``/readyz`` fail. Both recover by themselves when the database returns.
* **Migrations** are plain versioned SQL (:data:`MIGRATIONS`), applied at start under a transaction-scoped
  advisory lock, so replicas that start together apply each step exactly once.

psycopg 3 (the maintained PostgreSQL driver); embeddings are ``bytea`` (float32, little-endian), which at
the sizes here (thousands of faces × 128 dims) loads in milliseconds; pgvector would only pay with
server-side nearest-neighbour search over far larger galleries (see docs/scaling.md).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edgewatch.cloud.backends.base import PersonInfo
from edgewatch.cloud.backends.store import Gallery, NewFace
from edgewatch.cloud.errors import BackendUnavailable, PersonExists, PersonNotFound
from edgewatch.telemetry import get_logger

log = get_logger(__name__)

CHANNEL = "edgewatch_faces"
#: Key of the advisory lock that serialises migrations between replicas (any constant bigint).
MIGRATION_LOCK = 0x6564_6765_7761_7463

#: (version, SQL). Append only: a released step is never edited.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """
        CREATE TABLE persons (
            id BIGSERIAL PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE faces (
            id BIGSERIAL PRIMARY KEY,
            person_id BIGINT NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            dim INTEGER NOT NULL,
            embedding BYTEA NOT NULL,
            sha256 TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT '',
            box TEXT NOT NULL DEFAULT '',
            created_at DOUBLE PRECISION NOT NULL,
            UNIQUE (person_id, model, sha256)
        );
        CREATE INDEX faces_person ON faces(person_id);
        CREATE TABLE gallery_version (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version BIGINT NOT NULL
        );
        INSERT INTO gallery_version VALUES (1, 0);
    """),
)

#: libpq options: give up on a dead server in seconds, not the kernel's minutes.
_CONNECT_OPTIONS: dict[str, Any] = {
    "connect_timeout": 5, "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
    "keepalives_count": 2, "tcp_user_timeout": 5000, "application_name": "edgewatch-cloud",
}


def redact_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` → ``postgresql://user:***@host/db`` (for logs and errors)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def migrate(conn: Any) -> int:
    """Apply the migrations this database lacks; returns the schema version. ``conn``: a psycopg
    connection not in a transaction."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for version, sql in MIGRATIONS:
            if version in done:
                continue
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations(version) VALUES (%s)", (version,))
            log.info("db_migrated", version=version)
    return max(v for v, _ in MIGRATIONS)


class PgFaceStore:
    """Known persons and face embeddings in PostgreSQL, with an in-memory gallery kept current.

    ``url``: a libpq URL (``postgresql://user:pass@host:5432/db``). Raises ``BackendUnavailable`` from the
    constructor when the database cannot be reached or migrated, and from every method while it is away.
    """

    def __init__(self, url: str, model: str, dim: int, *, refresh_interval: float = 2.0,
                 stale_after: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        import psycopg

        self._psycopg = psycopg
        self.url = url
        self.model = model
        self.dim = dim
        self.refresh_interval = refresh_interval
        self.stale_after = stale_after if stale_after is not None else max(3.0, 2.5 * refresh_interval)
        self._clock = clock
        self._lock = threading.Lock()  # guards the request connection
        self._reload_lock = threading.Lock()  # one reload at a time, so a newer gallery is never replaced
        self._conn: Any = None
        self._gallery: Gallery | None = None
        self._version: int | None = None
        self._last_ok = 0.0
        self._error: str | None = "gallery not loaded yet"
        self._closing = threading.Event()
        self.reloads = 0
        with self._lock:
            conn = self._connection()
            migrate(conn)
        self._reload_from(self._listen_connect())
        self._listener = threading.Thread(target=self._listen, name="pg-gallery-listener", daemon=True)
        self._listener.start()

    # ---- connections --------------------------------------------------------------------------------

    def _connect(self, autocommit: bool) -> Any:
        try:
            return self._psycopg.connect(self.url, autocommit=autocommit, **_CONNECT_OPTIONS)
        except self._psycopg.Error as exc:
            raise BackendUnavailable(f"face database unreachable ({redact_url(self.url)}): "
                                     f"{_first_line(exc)}", retry_after=5) from None

    def _connection(self) -> Any:
        """The request connection (caller holds ``_lock``), reconnected after a failure."""
        if self._conn is None or self._conn.closed:
            self._conn = self._connect(autocommit=True)
        return self._conn

    def _listen_connect(self) -> Any:
        conn = self._connect(autocommit=True)
        conn.execute(f"LISTEN {CHANNEL}")
        return conn

    # ---- the listener: keeps the gallery current and the health known -------------------------------

    def _listen(self) -> None:
        conn: Any = None
        backoff = 0.5
        while not self._closing.is_set():
            try:
                if conn is None or conn.closed:
                    conn = self._listen_connect()
                    self._reload_from(conn)  # notifications may have been missed while away
                    if self._error is not None:
                        log.info("face_db_recovered")
                    backoff = 0.5
                notified = any(True for _ in conn.notifies(timeout=self.refresh_interval))
                self._reload_from(conn, force=notified)
            except Exception as exc:  # noqa: BLE001 - database away: mark unhealthy, retry with backoff
                if self._error is None or "unreachable" not in self._error:
                    log.error("face_db_lost", error=_first_line(exc), url=redact_url(self.url))
                self._error = f"face database unreachable: {_first_line(exc)}"
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
                self._closing.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _reload_from(self, conn: Any, *, force: bool = True) -> None:
        with self._reload_lock:
            self._reload_locked(conn, force)

    def _reload_locked(self, conn: Any, force: bool) -> None:
        version = conn.execute("SELECT version FROM gallery_version WHERE id = 1").fetchone()[0]
        if force or version != self._version or self._gallery is None:
            rows = conn.execute(
                "SELECT p.name, f.embedding FROM faces f JOIN persons p ON p.id = f.person_id "
                "WHERE f.model = %s AND f.dim = %s ORDER BY f.id", (self.model, self.dim),
            ).fetchall()
            matrix = (np.frombuffer(b"".join(bytes(r[1]) for r in rows), "<f4").reshape(len(rows), self.dim)
                      if rows else np.zeros((0, self.dim), np.float32))
            self._gallery = Gallery(tuple(r[0] for r in rows), matrix.astype(np.float32, copy=False))
            self._version = version
            self.reloads += 1
        self._last_ok = self._clock()
        self._error = None

    # ---- health -------------------------------------------------------------------------------------

    def problem(self) -> str | None:
        """Why this replica must not answer now (None when it may): database lost for longer than
        ``stale_after``, or the gallery never loaded."""
        if self._gallery is None:
            return self._error or "gallery not loaded yet"
        age = self._clock() - self._last_ok
        if age > self.stale_after:
            return self._error or f"face database not reached for {age:.1f} s"
        return None

    def _healthy(self) -> None:
        problem = self.problem()
        if problem is not None:
            raise BackendUnavailable(problem, retry_after=5)

    # ---- reads --------------------------------------------------------------------------------------

    def gallery(self) -> Gallery:
        """The in-memory gallery; never touches the database. Raises ``BackendUnavailable`` while stale."""
        self._healthy()
        assert self._gallery is not None
        return self._gallery

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._connection().execute(sql, params).fetchall()
            except self._psycopg.OperationalError as exc:
                self._drop_connection()
                raise BackendUnavailable(f"face database unreachable: {_first_line(exc)}") from None

    def list_persons(self) -> list[PersonInfo]:
        rows = self._query("SELECT p.name, COUNT(f.id) FROM persons p LEFT JOIN faces f ON f.person_id = p.id "
                           "GROUP BY p.id ORDER BY p.name")
        return [PersonInfo(name=name, faces=int(count)) for name, count in rows]

    def get_person(self, name: str) -> PersonInfo:
        rows = self._query("SELECT p.name, COUNT(f.id) FROM persons p LEFT JOIN faces f ON f.person_id = p.id "
                           "WHERE p.name = %s GROUP BY p.id", (name,))
        if not rows:
            raise PersonNotFound(name)
        return PersonInfo(name=rows[0][0], faces=int(rows[0][1]))

    def count_faces(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM faces")[0][0])

    # ---- writes (each one transaction, each announced to every replica) ------------------------------

    def add_faces(self, name: str, faces: list[NewFace], *, create: bool, exist_ok: bool) -> tuple[int, bool]:
        """Add ``faces`` to ``name`` in one transaction; returns (faces added, person created)."""
        now = time.time()
        vectors = []
        for face in faces:
            vector = np.ascontiguousarray(face.embedding, dtype="<f4").reshape(-1)
            if vector.shape[0] != self.dim:
                raise ValueError(f"embedding has {vector.shape[0]} dimensions, expected {self.dim}")
            vectors.append(vector)

        def write(conn: Any) -> tuple[int, bool]:
            row = conn.execute("SELECT id FROM persons WHERE name = %s FOR UPDATE", (name,)).fetchone()
            created = False
            if row is None:
                if not create:
                    raise PersonNotFound(name)
                row = conn.execute(
                    "INSERT INTO persons(name, created_at) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING "
                    "RETURNING id", (name, now)).fetchone()
                if row is None:  # another replica created the same person a moment ago
                    raise PersonExists(name)
                created = True
            elif not exist_ok:
                raise PersonExists(name)
            added = 0
            for face, vector in zip(faces, vectors, strict=True):
                cursor = conn.execute(
                    "INSERT INTO faces(person_id, model, dim, embedding, sha256, source, box, created_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (row[0], self.model, self.dim, vector.tobytes(), face.sha256, face.source, face.box, now))
                added += cursor.rowcount
            return added, created

        return self._write(write)

    def remove_person(self, name: str) -> int:
        def write(conn: Any) -> int:
            row = conn.execute("SELECT id FROM persons WHERE name = %s FOR UPDATE", (name,)).fetchone()
            if row is None:
                raise PersonNotFound(name)
            removed = conn.execute("DELETE FROM faces WHERE person_id = %s", (row[0],)).rowcount
            conn.execute("DELETE FROM persons WHERE id = %s", (row[0],))
            return int(removed)

        return self._write(write)

    def _write(self, body: Callable[[Any], Any]) -> Any:
        with self._lock:
            try:
                conn = self._connection()
                with conn.transaction():
                    result = body(conn)
                    conn.execute("UPDATE gallery_version SET version = version + 1 WHERE id = 1")
                    conn.execute(f"NOTIFY {CHANNEL}")  # delivered at commit, to every replica
            except self._psycopg.OperationalError as exc:
                self._drop_connection()
                raise BackendUnavailable(f"face database unreachable: {_first_line(exc)}") from None
        # This replica's own listener gets the NOTIFY too; reloading here as well makes "enrol, then
        # identify on the same replica" consistent without waiting for it.
        with contextlib.suppress(Exception):
            conn = self._connect(autocommit=True)
            try:
                self._reload_from(conn)
            finally:
                conn.close()
        return result

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        self._closing.set()
        self._listener.join(timeout=self.refresh_interval + 2)
        with self._lock:
            self._drop_connection()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

