"""SQLite store of the local backend: known persons and their face embeddings.

Tables ``persons`` (name unique) and ``faces`` (one float32 embedding blob per enrolled photo, the model
that produced it, the photo's SHA-256 so re-enrolling the same photo is a no-op). WAL journal, so readers
never wait on a writer and the file survives restarts and crashes. One connection per store guarded by a
lock (requests run in several worker threads); other processes may write the same file at the same time
(``edgewatch persons --db`` beside a running cloud): ``PRAGMA data_version`` tells when to reload the
in-memory matrix used for matching.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgewatch.cloud.backends.base import PersonInfo
from edgewatch.cloud.errors import PersonExists, PersonNotFound

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    dim INTEGER NOT NULL,
    embedding BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    box TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    UNIQUE (person_id, model, sha256)
);
CREATE INDEX IF NOT EXISTS faces_person ON faces(person_id);
"""


@dataclass(frozen=True, slots=True)
class NewFace:
    embedding: np.ndarray
    sha256: str
    source: str = ""
    box: str = ""


@dataclass(frozen=True, slots=True)
class Gallery:
    """Every enrolled embedding of one model as a matrix, with the person name of each row."""

    names: tuple[str, ...]
    matrix: np.ndarray  # (n, dim) float32, rows L2-normalised


class FaceStore:
    def __init__(self, path: Path | str, model: str, dim: int) -> None:
        self.path = Path(path)
        self.model = model
        self.dim = dim
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Names and face embeddings are personal data: the store is created 0600 before SQLite opens it
            # (SQLite gives its -wal and -shm files the same mode).
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout = 10000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA foreign_keys = ON")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        self._gallery: Gallery | None = None
        self._gallery_version: int | None = None
        self._writes = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---- reads --------------------------------------------------------------------------------------

    def gallery(self) -> Gallery:
        """The current embeddings, reloaded only after this or another connection changed the file."""
        with self._lock:
            version = (self._db.execute("PRAGMA data_version").fetchone()[0], self._writes)
            if self._gallery is None or version != self._gallery_version:
                rows = self._db.execute(
                    "SELECT p.name, f.embedding FROM faces f JOIN persons p ON p.id = f.person_id "
                    "WHERE f.model = ? AND f.dim = ? ORDER BY f.id", (self.model, self.dim),
                ).fetchall()
                matrix = (np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), self.dim)
                          if rows else np.zeros((0, self.dim), np.float32))
                self._gallery = Gallery(tuple(r[0] for r in rows), matrix)
                self._gallery_version = version
            return self._gallery

    def list_persons(self) -> list[PersonInfo]:
        with self._lock:
            rows = self._db.execute(
                "SELECT p.name, COUNT(f.id) FROM persons p LEFT JOIN faces f ON f.person_id = p.id "
                "GROUP BY p.id ORDER BY p.name"
            ).fetchall()
        return [PersonInfo(name=name, faces=count) for name, count in rows]

    def get_person(self, name: str) -> PersonInfo:
        with self._lock:
            row = self._db.execute(
                "SELECT p.name, COUNT(f.id) FROM persons p LEFT JOIN faces f ON f.person_id = p.id "
                "WHERE p.name = ? GROUP BY p.id", (name,),
            ).fetchone()
        if row is None:
            raise PersonNotFound(name)
        return PersonInfo(name=row[0], faces=row[1])

    def count_faces(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM faces").fetchone()[0])

    # ---- writes (each one transaction) ------------------------------------------------------------

    def add_faces(self, name: str, faces: list[NewFace], *, create: bool, exist_ok: bool) -> tuple[int, bool]:
        """Add ``faces`` to ``name`` in one transaction; returns (faces added, person created).
        Photos already enrolled for this person (same SHA-256) are skipped."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT id FROM persons WHERE name = ?", (name,)).fetchone()
                created = False
                if row is None:
                    if not create:
                        raise PersonNotFound(name)
                    person_id = self._db.execute(
                        "INSERT INTO persons(name, created_at) VALUES (?, ?)", (name, now)
                    ).lastrowid
                    created = True
                elif not exist_ok:
                    raise PersonExists(name)
                else:
                    person_id = row[0]
                added = 0
                for face in faces:
                    vector = np.ascontiguousarray(face.embedding, dtype=np.float32).reshape(-1)
                    if vector.shape[0] != self.dim:
                        raise ValueError(f"embedding has {vector.shape[0]} dimensions, expected {self.dim}")
                    cursor = self._db.execute(
                        "INSERT OR IGNORE INTO faces(person_id, model, dim, embedding, sha256, source, box, "
                        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (person_id, self.model, self.dim, vector.tobytes(), face.sha256, face.source, face.box,
                         now),
                    )
                    added += cursor.rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._writes += 1
        return added, created

    def remove_person(self, name: str) -> int:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT id FROM persons WHERE name = ?", (name,)).fetchone()
                if row is None:
                    raise PersonNotFound(name)
                faces = self._db.execute("DELETE FROM faces WHERE person_id = ?", (row[0],)).rowcount
                self._db.execute("DELETE FROM persons WHERE id = ?", (row[0],))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._writes += 1
        return int(faces)
