"""Camera tests talk to the REAL edge (``EdgeNode``: Socket.IO server, newest-wins buffers, NanoDet on ONNX
Runtime, SQLite alarm outbox), served by real uvicorn on loopback through the ``serve`` fixture.

What the edge saw is read from its own observability: its Prometheus registry and the JSON log lines it
writes (``frame_received`` with seq/bytes/captured_at per trace id, ``frame_processed`` with persons found).
Test images carry a person in some frames, so the real detector's answer tells which frame arrived where."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edgewatch.config import EdgeSettings
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.server import EdgeNode
from edgewatch.telemetry.logs import configure_logging

ASSETS = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets"
PERSON = cv2.imread(str(ASSETS / "grace_hopper.jpg"), cv2.IMREAD_COLOR)  # a portrait NanoDet finds (~0.8)
#: Frames of ``image_folder`` that show the person (an irregular pattern: order is visible in it).
PERSON_FRAMES = frozenset({0, 1, 4, 9, 10})


def scene(index: int, person: bool, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """Grey level ``20 * index`` (top-left corner kept plain), the index written in red, and optionally the
    person photo pasted right of centre (shifted a little per index, so every frame encodes differently)."""
    width, height = size
    image = np.full((height, width, 3), min(255, index * 20), dtype=np.uint8)
    cv2.putText(image, str(index), (40, height // 2 + 40), cv2.FONT_HERSHEY_SIMPLEX, 4, (0, 0, 255), 8)
    if person:
        h = height - 40
        w = round(h * PERSON.shape[1] / PERSON.shape[0])
        x = width - w - 10 - (index * 7) % 40
        image[20:20 + h, x:x + w] = cv2.resize(PERSON, (w, h), interpolation=cv2.INTER_AREA)
    return image


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Twelve real JPEGs (640x360) named out of creation order; frames in PERSON_FRAMES show a person."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in reversed(range(12)):
        assert cv2.imwrite(str(folder / f"frame_{index:03d}.jpg"), scene(index, index in PERSON_FRAMES))
    (folder / "notes.txt").write_text("not an image")
    return folder


def write_video(path: Path, frames: int = 20, fps: float = 10.0, size: tuple[int, int] = (320, 240),
                person_at: frozenset[int] = frozenset()) -> Path:
    """A real MJPG .avi whose frame i is filled with grey level 10*i (decodable back to its index); frames in
    ``person_at`` show the person photo instead (for tests that let the real edge tell them apart)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for index in range(frames):
        if index in person_at:
            writer.write(scene(index, True, size))
        else:
            writer.write(np.full((size[1], size[0], 3), min(255, index * 10), dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture
def video_file(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "clip.avi", **kwargs: Any) -> Path:
        return write_video(tmp_path / name, **kwargs)

    return make


# ---- the real edge --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def detector() -> Any:
    return create_detector("nanodet", input_size=320, confidence=0.5)


def edge_settings(tmp_path: Path, **overrides: Any) -> EdgeSettings:
    values: dict[str, Any] = {
        "sites": ["site1", "siteA"], "workers": 1, "frame_buffer": 20, "alarm_db": tmp_path / "edge-alarms.db",
        "input_size": 320, "confidence": 0.5, "verify_timeout": 30.0,
    }
    values.update(overrides)
    return EdgeSettings(**values)


@pytest.fixture
def real_edge(serve, detector, tmp_path: Path) -> Callable[..., tuple[EdgeNode, Any]]:
    """``real_edge(port=None, detector=None, **settings)`` -> (EdgeNode, server): a real edge on loopback."""

    def start(port: int | None = None, detector_source: Any = None, **overrides: Any) -> tuple[EdgeNode, Any]:
        node = EdgeNode(edge_settings(tmp_path, **overrides), detector_source or detector)
        return node, serve(node.app, port)

    return start


def edge_count(node: EdgeNode, metric: str, camera: str) -> int:
    """One of the edge's per-camera counters: received, processed, dropped, failed."""
    value = node.metrics.registry.get_sample_value(f"edgewatch_edge_frames_{metric}_total", {"camera": camera})
    return int(value or 0)


def unanswered(node: EdgeNode, camera: str) -> int:
    """Frames the edge got from ``camera`` and has not answered yet (no processed/dropped/failed ack)."""
    answered = sum(edge_count(node, m, camera) for m in ("processed", "dropped", "failed"))
    return edge_count(node, "received", camera) - answered


class Logs:
    """The JSON lines every node of this test process writes (edge and camera share the process)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.path.read_text().splitlines()] if self.path.exists() else []

    def of(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        return [e for e in self.all() if e["event"] == event and all(e.get(k) == v for k, v in fields.items())]

    def camera_drops(self) -> list[dict[str, Any]]:
        """The camera's ``frame_dropped`` lines (the edge's own drops say ``replaced_by_newer``)."""
        return [e for e in self.of("frame_dropped") if e["reason"] != "replaced_by_newer"]


@pytest.fixture
def logs(tmp_path: Path) -> Logs:
    path = configure_logging("camera-cam7", tmp_path / "logs")
    assert path is not None
    return Logs(path)
