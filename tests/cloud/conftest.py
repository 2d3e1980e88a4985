"""Fixtures of the cloud tests: the bundled portraits, real encoded images, settings and the real app."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from edgewatch.cloud.app import create_app
from edgewatch.config import CloudSettings

TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def asset(name: str) -> Path:
    return Path(str(resources.files("edgewatch.sim") / "assets" / name))


GRACE = asset("grace_hopper.jpg")
ASTRONAUT = asset("astronaut.jpg")


def encode(pixels: np.ndarray, ext: str = ".jpg") -> bytes:
    ok, data = cv2.imencode(ext, pixels)
    assert ok
    return data.tobytes()


@pytest.fixture(scope="session")
def grace_jpeg() -> bytes:
    return GRACE.read_bytes()


@pytest.fixture(scope="session")
def astronaut_jpeg() -> bytes:
    if not ASTRONAUT.is_file():
        pytest.skip("bundled astronaut.jpg not present yet")
    return ASTRONAUT.read_bytes()


@pytest.fixture(scope="session")
def blank_jpeg() -> bytes:
    """A real JPEG without any face: a grey wall with a soft gradient."""
    ramp = np.tile(np.linspace(90, 160, 640, dtype=np.uint8), (480, 1))
    return encode(cv2.merge([ramp, ramp, ramp]))


@pytest.fixture
def settings(tmp_path: Path) -> CloudSettings:
    return CloudSettings(token=TOKEN, db_path=tmp_path / "faces.db", backend="local")


@pytest.fixture
def client(settings: CloudSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def auth() -> dict[str, str]:
    """The Authorization header the ``settings`` token expects."""
    return dict(AUTH)


@pytest.fixture(scope="session")
def assets() -> dict[str, Path]:
    return {"grace": GRACE, "astronaut": ASTRONAUT}
