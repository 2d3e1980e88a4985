"""A real python-socketio server standing in for the edge: it records what cameras send and answers each
frame with a FrameAck, as the edge does. Served by real uvicorn on loopback through the ``serve`` fixture."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import socketio

from edgewatch.protocol import (
    ErrorMessage,
    Frame,
    FrameAck,
    FrameStatus,
    Hello,
    ProtocolError,
    SocketEvent,
    decode,
    encode,
)


class RecordingEdge:
    """Records hellos and decoded frames (with the server's receive time); acks frames unless told not to."""

    def __init__(self, ack: bool = True) -> None:
        self.ack = ack
        self.hellos: list[Hello] = []
        self.frames: list[Frame] = []
        self.received_at: list[float] = []
        self.rejected: list[str] = []
        self.reject_seq: set[int] = set()  # frames answered with an ``error`` event instead of an ack
        self.refuse_first = 0  # connections refused (as an edge refuses an unknown camera) before accepting
        self.refused = 0
        self.lock = threading.Lock()

    def app(self) -> Any:
        """A fresh ASGI app (a restarted edge is a new server with no memory of old sessions)."""
        sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)

        @sio.event
        async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
            try:
                hello = decode(Hello, auth)
            except ProtocolError as exc:
                raise socketio.exceptions.ConnectionRefusedError(str(exc)) from None
            if self.refused < self.refuse_first:
                self.refused += 1
                raise socketio.exceptions.ConnectionRefusedError("not now")
            with self.lock:
                self.hellos.append(hello)

        @sio.on(SocketEvent.FRAME)
        async def frame(sid: str, payload: Any) -> None:
            received = time.time()
            try:
                msg = decode(Frame, payload)
            except ProtocolError as exc:
                self.rejected.append(str(exc))
                await sio.emit(SocketEvent.ERROR, encode(ErrorMessage(code="bad_frame", detail=str(exc))), to=sid)
                return
            with self.lock:
                self.frames.append(msg)
                self.received_at.append(received)
            if msg.seq in self.reject_seq:
                await sio.emit(SocketEvent.ERROR, encode(ErrorMessage(
                    code="unknown_camera", detail="test rejection", trace_id=msg.trace_id)), to=sid)
                return
            if self.ack:
                ack = FrameAck(camera_id=msg.camera_id, seq=msg.seq, trace_id=msg.trace_id,
                               status=FrameStatus.PROCESSED, queue_ms=1.5, inference_ms=12.0)
                await sio.emit(SocketEvent.FRAME_ACK, encode(ack), to=sid)

        return socketio.ASGIApp(sio)


@pytest.fixture
def edge() -> RecordingEdge:
    return RecordingEdge()


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Twelve real JPEGs (640x360) whose pixel content encodes their index, named out of creation order."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in reversed(range(12)):
        image = np.full((360, 640, 3), index * 20, dtype=np.uint8)
        cv2.putText(image, str(index), (40, 200), cv2.FONT_HERSHEY_SIMPLEX, 4, (0, 0, 255), 8)
        assert cv2.imwrite(str(folder / f"frame_{index:03d}.jpg"), image)
    (folder / "notes.txt").write_text("not an image")
    return folder


def write_video(path: Path, frames: int = 20, fps: float = 10.0, size: tuple[int, int] = (320, 240)) -> Path:
    """A real MJPG .avi whose frame i is filled with grey level 10*i (decodable back to its index)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for index in range(frames):
        writer.write(np.full((size[1], size[0], 3), min(255, index * 10), dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture
def video_file(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "clip.avi", **kwargs: Any) -> Path:
        return write_video(tmp_path / name, **kwargs)

    return make
