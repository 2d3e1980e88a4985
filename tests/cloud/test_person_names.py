"""Person names map to backend ids one-to-one (issue 10): "Zoë Adams" and "Zoé Adams" are two persons in
Rekognition (see also test_rekognition.py, botocore's Stubber) and in the local store (real SQLite), and
removing one keeps the other."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from edgewatch.cloud.backends.local import LocalBackend
from edgewatch.cloud.backends.rekognition import MAX_EXTERNAL_ID, external_image_id, person_name
from edgewatch.cloud.errors import InvalidRequest
from edgewatch.cloud.images import load_image

REKOGNITION_ID = re.compile(r"^[a-zA-Z0-9_.\-:]+$")  # ExternalImageId's pattern in the API model

NAMES = ["Zoë Adams", "Zoé Adams", "Zoe Adams", "Zo_ Adams", "Zo  Adams", "Zo__Adams", "O'Brien", "Ana-María",
         "李小龙", "Grace Hopper", "grace hopper", "J.R.R. Tolkien", "Ελένη", "a", "x" * 64]


def test_encoding_is_one_to_one_and_valid() -> None:
    ids = [external_image_id(name) for name in NAMES]
    assert len(set(ids)) == len(NAMES)
    for name, external_id in zip(NAMES, ids, strict=True):
        assert REKOGNITION_ID.fullmatch(external_id) and len(external_id) <= MAX_EXTERNAL_ID
        assert person_name(external_id) == name
    assert external_image_id("Grace Hopper") == "Grace_Hopper"  # ids of earlier versions still work
    # The same name typed decomposed (e + combining diaeresis) is the same person, not a look-alike.
    assert external_image_id(unicodedata.normalize("NFD", "Zoë Adams")) == external_image_id("Zoë Adams")


def test_name_too_long_once_encoded_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="too long for Rekognition"):
        external_image_id("龍" * 60)


def test_local_store_keeps_zoe_and_zoe_apart(tmp_path: Path, grace_jpeg: bytes, astronaut_jpeg: bytes) -> None:
    backend = LocalBackend(tmp_path / "faces.db")
    try:
        backend.add_person("Zoë Adams", [load_image(grace_jpeg, "a.jpg")])
        backend.add_person("Zoé Adams", [load_image(astronaut_jpeg, "b.jpg")])
        # Decomposed spelling of an existing name: the same person, so "exists".
        decomposed = unicodedata.normalize("NFD", "Zoë Adams")
        with pytest.raises(Exception, match="already exists"):
            backend.add_person(decomposed, [load_image(astronaut_jpeg, "c.jpg")], create=True, exist_ok=False)
        assert {p.name for p in backend.list_persons()} == {"Zoë Adams", "Zoé Adams"}
        assert backend.remove_person(decomposed) == 1
        assert [p.name for p in backend.list_persons()] == ["Zoé Adams"]
    finally:
        backend.close()
