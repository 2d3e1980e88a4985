"""Small thumbnails of the photos known persons were enrolled from, for the cloud console.

The face store keeps embeddings, not pictures, and Rekognition keeps neither in a form the console can
show, so the console stores a thumbnail (at most :data:`THUMB_SIDE` pixels a side, JPEG) of every photo it
enrolled, in table ``console_photos`` of its own SQLite file (beside the face store by default). The file is
created 0600: these are faces of real people. Photos enrolled by other means (the CLI, the API) have none.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

THUMB_SIDE = 240

_SCHEMA = """
CREATE TABLE IF NOT EXISTS console_photos (
    id         INTEGER PRIMARY KEY,
    person     TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    filename   TEXT NOT NULL,
    jpeg       BLOB NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (person, sha256)
);
CREATE INDEX IF NOT EXISTS console_photos_person ON console_photos(person);
"""


def thumbnail(pixels_bgr: object) -> bytes:
    """A JPEG of at most THUMB_SIDE pixels a side from OpenCV BGR pixels."""
    import cv2
    import numpy as np

    image = np.asarray(pixels_bgr)
    height, width = image.shape[:2]
    scale = min(1.0, THUMB_SIDE / max(height, width, 1))
    if scale < 1.0:
        image = cv2.resize(image, (max(1, int(width * scale)), max(1, int(height * scale))),
                           interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError("thumbnail could not be encoded")
    return encoded.tobytes()


class PhotoStore:
    """Thread-safe (one connection, one lock); calls block briefly: use a worker thread from async code."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))  # created private, never world-readable
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10.0)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA busy_timeout = 10000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, person: str, sha256: str, filename: str, jpeg: bytes) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO console_photos (person, sha256, filename, jpeg, created_at) "
                             "VALUES (?, ?, ?, ?, ?)", (person, sha256, filename[:200], jpeg, time.time()))

    def ids(self) -> dict[str, list[int]]:
        """Photo ids per person name."""
        with self._lock:
            rows = self._db.execute("SELECT person, id FROM console_photos ORDER BY id").fetchall()
        out: dict[str, list[int]] = {}
        for person, photo_id in rows:
            out.setdefault(person, []).append(int(photo_id))
        return out

    def get(self, photo_id: int) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT jpeg FROM console_photos WHERE id = ?", (photo_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def remove_person(self, person: str) -> int:
        with self._lock:
            return int(self._db.execute("DELETE FROM console_photos WHERE person = ?", (person,)).rowcount)
