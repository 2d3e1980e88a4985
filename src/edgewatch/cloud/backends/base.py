"""The interface every backend implements, and the one verdict rule they all share.

Backends are synchronous and may block (model inference, AWS calls): the app runs them in worker threads.
They raise the typed errors of :mod:`edgewatch.cloud.errors` and nothing else on purpose; anything else is
an internal error (HTTP 500), which the edge retries and which never becomes ``known``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from edgewatch.cloud.errors import InvalidRequest
from edgewatch.cloud.images import Image
from edgewatch.protocol import FaceResult, Verdict

#: Person names: 1-64 characters, letters (any script), digits, space, ``_ . - '``; not starting with a space.
NAME_PATTERN = re.compile(r"^[^\W_][\w .'\-]{0,63}$")


class PersonInfo(BaseModel):
    """A known person as the API and the CLI show it."""

    model_config = ConfigDict(frozen=True)

    name: str
    faces: int


class Enrolment(BaseModel):
    """The answer to adding photos: the person afterwards and how many faces the photos added."""

    model_config = ConfigDict(frozen=True)

    name: str
    faces: int
    added: int
    created: bool


def normal_name(name: str) -> str:
    """A person name in Unicode NFC: ``Zoë`` typed with a combining diaeresis is the same person as ``Zoë``
    typed with the precomposed letter (and never a second person who looks the same)."""
    return unicodedata.normalize("NFC", name or "")


def check_name(name: str) -> str:
    """A person name in NFC (:func:`normal_name`), or :class:`InvalidRequest` saying what is allowed."""
    name = normal_name(name)
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidRequest(
            f"invalid person name {name!r}: 1-64 letters, digits, spaces or _ . - ' (not starting with a space)"
        )
    return name


def verdict_for(faces: list[FaceResult]) -> Verdict:
    """``no_face`` without faces; ``known`` only when EVERY face found matched a known person; otherwise
    ``intruder``. Fail secure: an unknown face beside a known one (two people in one crop) is an intruder,
    and a face that could not be searched (too small, backend refused the crop) counts as unmatched."""
    if not faces:
        return Verdict.NO_FACE
    if all(face.match is not None for face in faces):
        return Verdict.KNOWN
    return Verdict.INTRUDER


@runtime_checkable
class Backend(Protocol):
    #: ``local`` or ``rekognition``: metric label and ``IdentifyResult.backend``.
    name: str
    #: Similarity (0..1) from which a face counts as a match; reported as ``IdentifyResult.threshold``.
    threshold: float
    #: Concurrent calls worth running (worker threads given to this backend).
    concurrency: int

    def start(self) -> None:
        """Prepare (load models, open the store, create the collection). Raises BackendUnavailable."""

    def ready(self) -> str | None:
        """None when able to answer, else why not (for ``/readyz``)."""

    def identify(self, image: Image) -> list[FaceResult]:
        """Faces found in ``image``, largest first, each with its best match (or none)."""

    def add_person(self, name: str, photos: list[Image], *, create: bool = True,
                   exist_ok: bool = False) -> Enrolment:
        """Enrol photos under ``name``. ``create``: the person may be new; ``exist_ok``: may already exist.
        All-or-nothing: a photo without a face (NoFaceInPhoto) leaves the store unchanged."""

    def list_persons(self) -> list[PersonInfo]: ...

    def get_person(self, name: str) -> PersonInfo:
        """Raises PersonNotFound."""

    def remove_person(self, name: str) -> int:
        """Remove a person and all their faces; returns how many faces. Raises PersonNotFound."""

    def close(self) -> None: ...
