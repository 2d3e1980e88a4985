"""A phone photo over 5 MB is enrolled, scaled down first, through `persons --db` (a real subprocess, real
SQLite, real face model) and through a real cloud over HTTP (issue 10, face recognition)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgewatch
from edgewatch.cloud.access import PHOTO_MAX_BYTES, HttpAccess
from edgewatch.cloud.app import create_app
from edgewatch.cloud.images import load_image
from edgewatch.cloud.sizing import fit_file_bytes
from edgewatch.config import CloudSettings

SOURCE_ROOT = str(Path(edgewatch.__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def phone_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Grace Hopper's portrait at 3600x4200 with sensor-like noise, JPEG quality 98: over 5 MB."""
    from importlib import resources

    portrait = cv2.imread(str(resources.files("edgewatch.sim") / "assets" / "grace_hopper.jpg"))
    big = cv2.resize(portrait, (3600, 4200), interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(7).normal(0, 12, big.shape)
    big = np.clip(big.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("phone") / "IMG_0001.jpg"
    path.write_bytes(cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 98])[1].tobytes())
    assert path.stat().st_size > PHOTO_MAX_BYTES
    return path


def test_fit_keeps_small_files_and_shrinks_large_ones(phone_photo: Path, grace_jpeg: bytes) -> None:
    assert fit_file_bytes(grace_jpeg, PHOTO_MAX_BYTES) is grace_jpeg
    shrunk = fit_file_bytes(phone_photo.read_bytes(), PHOTO_MAX_BYTES)
    assert len(shrunk) <= PHOTO_MAX_BYTES
    assert max(load_image(shrunk).pixels.shape[:2]) == 1920


def test_persons_db_enrols_a_phone_photo(phone_photo: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": SOURCE_ROOT}
    db = tmp_path / "faces.db"
    added = subprocess.run([sys.executable, "-m", "edgewatch", "persons", "--db", str(db), "add", "grace",
                            str(phone_photo)], capture_output=True, text=True, timeout=300, env=env, check=False)
    assert added.returncode == 0, added.stderr
    assert "1 face(s) added" in added.stdout
    from importlib import resources

    portrait = str(resources.files("edgewatch.sim") / "assets" / "grace_hopper.jpg")
    answer = subprocess.run([sys.executable, "-m", "edgewatch", "identify", "--db", str(db), portrait],
                            capture_output=True, text=True, timeout=300, env=env, check=False)
    assert answer.returncode == 0 and ": known - grace" in answer.stdout, answer.stdout + answer.stderr


def test_persons_over_http_enrols_a_phone_photo(phone_photo: Path, tmp_path: Path, serve,
                                                grace_jpeg: bytes) -> None:
    app = create_app(CloudSettings(token="t0ken", db_path=tmp_path / "faces.db"))
    server = serve(app)
    access = HttpAccess(server.url, "t0ken")
    try:
        enrolment = access.add_person("grace", [phone_photo])  # the cloud's limit is 5 MB
        assert enrolment["added"] == 1 and enrolment["created"]
    finally:
        access.close()
