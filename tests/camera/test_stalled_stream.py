"""A live stream that stalls with its connection open (a real MJPEG-over-HTTP server on loopback): the camera
logs, reopens and carries on when the stream resumes; it never crashes (it used to die with SIGSEGV when
the capture was released under its blocked reading thread)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgewatch.camera.live import LiveCaptureSource, StuckReaders
from edgewatch.camera.node import CameraNode
from edgewatch.camera.source_base import SourceError
from edgewatch.camera.sources import open_source
from edgewatch.config import CameraSettings

from .conftest import edge_count
from .mjpeg_server import MjpegServer


@pytest.fixture
def mjpeg() -> Iterator[Any]:
    servers: list[MjpegServer] = []

    def start(**kwargs: Any) -> MjpegServer:
        server = MjpegServer(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def poll(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def grey(frame: Any) -> int:
    return int(frame.image.mean())


def test_stalled_reader_is_abandoned_never_released_and_capped(mjpeg) -> None:
    """FFmpeg's own timeout (``capture_timeout``) far above the source's: the grabber stays stuck inside
    OpenCV; the source is closed and reopened without touching that capture, and the cap holds."""
    server = mjpeg(frames_before_stall=5)
    stuck = StuckReaders(limit=1)
    source = LiveCaptureSource(server.url, 1.0, capture_timeout=4.0, stuck=stuck)
    frames = []
    with pytest.raises(SourceError, match="no frame for 1 s"):
        while True:
            frames.append(source.read())
    assert frames and server.stalls == 1
    source.close()  # the grabber is still inside cap.read(): abandoned, not released
    assert stuck.alive() == 1 and stuck.total == 1

    capped = source.reopen()  # the cap (1) is reached: no new capture, an immediate, clear failure
    with pytest.raises(SourceError, match="still stuck inside OpenCV"):
        capped.read()
    capped.close()
    assert server.connections == 1

    server.stalled.clear()  # the stream resumes; FFmpeg's timeout frees the stuck grabber, which
    poll(lambda: stuck.alive() == 0, 30, "the stuck reader to return")  # releases its own capture
    fresh = source.reopen()
    frame = fresh.read()
    assert frame is not None and frame.index == 0 and server.connections == 2
    fresh.close()
    assert stuck.alive() == 0 and stuck.total == 1


def test_ffmpeg_timeout_ends_a_stalled_read_without_abandoning(mjpeg) -> None:
    server = mjpeg(frames_before_stall=3)
    source = open_source(server.url, live_timeout=1.0)
    assert isinstance(source, LiveCaptureSource)
    with pytest.raises(SourceError):
        while True:
            source.read()
    source.close()
    assert source.stuck.total == 0  # FFmpeg's read timeout let the grabber leave OpenCV by itself


def test_stream_down_at_start_fails_its_read_and_is_retried(mjpeg, port: int) -> None:
    source = open_source(f"http://127.0.0.1:{port}/video.mjpg", live_timeout=1.0)  # nothing listens yet
    with pytest.raises(SourceError, match="cannot open stream"):
        source.read()
    source.close()


def test_camera_process_survives_a_stalled_stream_and_resumes(
    mjpeg, real_edge, node_process, tmp_path: Path
) -> None:
    server = mjpeg(frames_before_stall=10)
    edge, edge_server = real_edge()
    node = node_process([
        "camera", "--source", server.url, "--fps", "10", "--edge-url", edge_server.url, "--camera-id", "cam5",
        "--log-dir", str(tmp_path / "logs"), "--reconnect-delay", "0.2", "--reconnect-delay-max", "1",
        "--source-timeout", "1.5",
    ])
    log_file = tmp_path / "logs" / "camera-cam5.jsonl"

    def events(name: str) -> list[dict[str, Any]]:
        if not log_file.exists():
            return []
        lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
        return [line for line in lines if line["event"] == name]

    def alive() -> bool:
        assert node.proc.poll() is None, f"camera died with {node.proc.returncode}: {node.output()[1][-2000:]}"
        return True

    # the stream stalls after 10 frames, again on every reconnection, for several timeouts
    poll(lambda: alive() and len(events("source_failed")) >= 3, 60, "the camera to notice the stall 3 times")
    assert server.stalls >= 3 and server.connections >= 3
    before = edge_count(edge, "received", "cam5")
    assert before >= 1
    server.stalled.clear()  # the stream resumes
    poll(lambda: alive() and edge_count(edge, "received", "cam5") >= before + 15, 60, "frames after the resume")
    stdout, stderr = node.stop(timeout=20)

    assert node.proc.returncode == 0, stderr[-2000:]
    failures = events("source_failed")
    # whichever timeout fires first: the source's own wait, or FFmpeg's read timeout inside the grabber
    assert all("no frame for 1.5 s" in e["error"] or "stopped delivering frames" in e["error"]
               for e in failures), failures
    assert len(events("source_opened")) >= 4  # each reconnection opened a fresh capture
    assert "camera cam5:" in stdout


async def test_stream_password_never_reaches_descriptions_or_logs(logs, port: int) -> None:
    url = f"rtsp://admin:s3cret-pw@127.0.0.1:{port}/cam"  # nothing listens: the source fails and is retried
    node = CameraNode(CameraSettings(edge_url=f"http://127.0.0.1:{port}", source=url, source_timeout=0.5,
                                     reconnect_delay=0.1, reconnect_delay_max=0.2))
    task = asyncio.create_task(node.run())
    deadline = time.monotonic() + 30
    while len(logs.of("source_failed")) < 2:
        assert time.monotonic() < deadline, "the stream was not retried"
        await asyncio.sleep(0.05)
    node.stop()
    await asyncio.wait_for(task, 20)

    assert node.source is not None and node.source.description == f"stream rtsp://admin:***@127.0.0.1:{port}/cam"
    text = logs.path.read_text()
    assert "admin:***@" in text and "s3cret-pw" not in text
