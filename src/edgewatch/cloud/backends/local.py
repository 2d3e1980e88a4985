"""The offline backend: YuNet + SFace (see :mod:`face_models`) and a SQLite store of known embeddings.

Matching: cosine similarity between a face's SFace embedding and every enrolled embedding; a person's score
is their best face; the best person is a match when the score reaches ``threshold`` (OpenCV's documented
SFace threshold 0.363 by default). Enrolment keeps the LARGEST face of each photo.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgewatch.cloud.backends.base import Enrolment, PersonInfo, check_name, normal_name
from edgewatch.cloud.backends.face_models import (
    EMBEDDING_DIM,
    SFACE_COSINE_THRESHOLD,
    SFACE_FILE,
    DetectorOptions,
    Face,
    FaceModels,
)
from edgewatch.cloud.backends.store import FaceStore, Gallery, NewFace
from edgewatch.cloud.errors import BackendUnavailable, NoFaceInPhoto
from edgewatch.cloud.images import Image
from edgewatch.config import CloudSettings
from edgewatch.protocol import FaceMatch, FaceResult

MODEL_ID = SFACE_FILE.removesuffix(".onnx")


def best_matches(gallery: Gallery, faces: list[Face], threshold: float) -> list[FaceResult]:
    """Each face with its best-scoring person (a match only from ``threshold`` on)."""
    results = []
    for face in faces:
        match = None
        similarity = None
        if gallery.names:
            scores = gallery.matrix @ face.embedding
            best = int(np.argmax(scores))
            similarity = round(float(scores[best]), 4)
            if similarity >= threshold:
                match = FaceMatch(name=gallery.names[best], similarity=similarity)
        results.append(FaceResult(box=face.box, confidence=face.confidence, match=match, similarity=similarity))
    return results


class LocalBackend:
    name = "local"

    def __init__(self, db_path: Path | str, threshold: float = SFACE_COSINE_THRESHOLD,
                 detector: DetectorOptions | None = None, concurrency: int | None = None,
                 store_factory: Callable[[], Any] | None = None) -> None:
        """``store_factory`` builds the face store (default: the SQLite file ``db_path``); replicas sharing
        a PostgreSQL database pass one that builds a :class:`PgFaceStore`."""
        self.db_path = db_path
        self._store_factory = store_factory or (lambda: FaceStore(self.db_path, MODEL_ID, EMBEDDING_DIM))
        self.threshold = threshold
        self.detector_options = detector or DetectorOptions()
        self.concurrency = concurrency or max(1, min(4, os.cpu_count() or 1))
        self._models: FaceModels | None = None
        self._store: Any = None  # FaceStore or PgFaceStore: same interface
        self._start_lock = threading.Lock()
        self._error: str | None = "not started"

    @classmethod
    def from_settings(cls, settings: CloudSettings) -> LocalBackend:
        factory = None
        if settings.db_url is not None:
            url = settings.db_url.get_secret_value()
            interval = settings.db_refresh_interval

            def factory() -> Any:
                from edgewatch.cloud.backends.pg_store import PgFaceStore

                return PgFaceStore(url, MODEL_ID, EMBEDDING_DIM, refresh_interval=interval)

        return cls(settings.db_path, settings.match_threshold, store_factory=factory)

    # ---- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        with self._start_lock:
            if self._models is not None and self._store is not None:
                return
            try:
                models = FaceModels(self.detector_options)
                models.warm_up()
                store = self._store_factory()
            except Exception as exc:  # missing model files, unreadable database ...
                self._error = f"local backend failed to start: {type(exc).__name__}: {exc}"
                raise BackendUnavailable(self._error, retry_after=2) from exc  # start retried per request
            self._models, self._store, self._error = models, store, None

    def ready(self) -> str | None:
        """Why identify cannot be answered now (None when ready); a shared database that is away counts."""
        if self._error is None and self._store is not None and hasattr(self._store, "problem"):
            return self._store.problem()
        return self._error

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _parts(self) -> tuple[FaceModels, Any]:
        if self._models is None or self._store is None:
            self.start()
        assert self._models is not None and self._store is not None
        return self._models, self._store

    @property
    def store(self) -> Any:
        return self._parts()[1]

    # ---- identification -----------------------------------------------------------------------------

    def detect(self, image: Image) -> list[Face]:
        models, _ = self._parts()
        return models.faces(image.pixels)

    def identify(self, image: Image) -> list[FaceResult]:
        models, store = self._parts()
        faces = models.faces(image.pixels)
        return best_matches(store.gallery(), faces, self.threshold)

    # ---- known persons ------------------------------------------------------------------------------

    def add_person(self, name: str, photos: list[Image], *, create: bool = True,
                   exist_ok: bool = False) -> Enrolment:
        name = check_name(name)
        models, store = self._parts()
        new = []
        for photo in photos:  # every photo is checked before anything is written
            faces = models.faces(photo.pixels)
            if not faces:
                raise NoFaceInPhoto(photo.filename)
            face = faces[0]
            new.append(NewFace(embedding=face.embedding, sha256=hashlib.sha256(photo.data).hexdigest(),
                               source=photo.filename, box=",".join(f"{v:g}" for v in face.box)))
        added, created = store.add_faces(name, new, create=create, exist_ok=exist_ok)
        person = store.get_person(name)
        return Enrolment(name=name, faces=person.faces, added=added, created=created)

    def list_persons(self) -> list[PersonInfo]:
        return self._parts()[1].list_persons()

    def get_person(self, name: str) -> PersonInfo:
        return self._parts()[1].get_person(normal_name(name))

    def remove_person(self, name: str) -> int:
        return self._parts()[1].remove_person(normal_name(name))
