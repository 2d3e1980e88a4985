"""Person names as Rekognition ``ExternalImageId`` values and back, one-to-one (two names never share an id,
so enrolling "Zoé Adams" can never merge with, or remove, "Zoë Adams")."""

from __future__ import annotations

import re
import unicodedata

from edgewatch.cloud.errors import InvalidRequest

#: Rekognition's limit on ``ExternalImageId``.
MAX_EXTERNAL_ID = 255
_KEPT = re.compile(r"[a-zA-Z0-9.\-]")
_ESCAPE = re.compile(r":([0-9a-f]{1,6}):|_")


def external_image_id(name: str) -> str:
    """A person name as a Rekognition ``ExternalImageId`` (pattern ``[a-zA-Z0-9_.\\-:]+``), one-to-one.

    ASCII letters, digits, ``.`` and ``-`` stay; a space becomes ``_`` (so ``Grace Hopper`` keeps the id
    earlier versions gave it); every other character, ``_`` included, becomes ``:hex:`` of its code point
    (``Zoë`` -> ``Zo:eb:``). ``:`` never stands for itself, so :func:`person_name` inverts this exactly.
    Names are NFC-normalised first: ``Zoë`` typed with a combining diaeresis is the same person.
    Raises :class:`~edgewatch.cloud.errors.InvalidRequest` when the id would exceed 255 characters."""
    parts = []
    for char in unicodedata.normalize("NFC", name):
        if _KEPT.fullmatch(char):
            parts.append(char)
        elif char == " ":
            parts.append("_")
        else:
            parts.append(f":{ord(char):x}:")
    encoded = "".join(parts)
    if len(encoded) > MAX_EXTERNAL_ID:
        raise InvalidRequest(f"person name {name!r} is too long for Rekognition once encoded "
                             f"({len(encoded)} of at most {MAX_EXTERNAL_ID} characters); use a shorter name")
    return encoded


def person_name(external_id: str) -> str:
    """The person name an ``ExternalImageId`` stands for (inverse of :func:`external_image_id`)."""
    return _ESCAPE.sub(lambda m: " " if m.group(0) == "_" else chr(int(m.group(1), 16)), external_id)
