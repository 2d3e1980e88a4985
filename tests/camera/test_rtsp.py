"""The camera against a REAL RTSP server (GStreamer's, from Debian, streaming RTP/JPEG on 127.0.0.1) and the
REAL edge: a normal stream, the server killed and restarted mid-stream, and the server down at start."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgewatch.camera.node import CameraNode
from edgewatch.config import CameraSettings

from .conftest import edge_count
from .gst_tools import RtspServer, require_gstreamer


@pytest.fixture
def rtsp(tmp_path: Path) -> Iterator[Any]:
    require_gstreamer()
    servers: list[RtspServer] = []

    def make(port: int) -> RtspServer:
        server = RtspServer(port, tmp_path)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def camera(edge_url: str, source: str, **overrides: Any) -> CameraSettings:
    values: dict[str, Any] = {
        "edge_url": edge_url, "source": source, "camera_id": "door", "fps": 5.0, "send_buffer": 1,
        "reconnect_delay": 0.2, "reconnect_delay_max": 1.0, "reconnect_jitter": 0.05, "source_timeout": 3.0,
    }
    values.update(overrides)
    return CameraSettings(**values)


async def test_streams_from_a_real_rtsp_server(rtsp, real_edge, logs, port: int) -> None:
    server = rtsp(port).start()
    edge, edge_server = real_edge()
    node = CameraNode(camera(edge_server.url, server.url, max_frames=8, send_buffer=8))

    stats = await asyncio.wait_for(node.run(), 90)

    assert stats.frames_sent == 8 == stats.frames_acked
    assert edge_count(edge, "processed", "door") == 8 and edge_count(edge, "failed", "door") == 0
    assert stats.source_failures == 0
    assert [e["source"] for e in logs.of("source_opened")] == [f"stream {server.url}"]
    sizes = {e["bytes"] for e in logs.of("frame_received")}
    assert len(sizes) > 1  # a moving test pattern: real, changing video, decoded and re-encoded


async def test_camera_resumes_when_the_rtsp_server_is_killed_and_restarted(
    rtsp, real_edge, logs, port: int, until
) -> None:
    server = rtsp(port).start()
    edge, edge_server = real_edge()
    node = CameraNode(camera(edge_server.url, server.url))
    task = asyncio.create_task(node.run())
    await until(lambda: edge_count(edge, "processed", "door") >= 4, timeout=60)

    await asyncio.to_thread(server.kill)  # gone mid-stream, no goodbye
    await until(lambda: node.stats.source_failures >= 2, timeout=60)  # noticed, and retried while down
    before = edge_count(edge, "received", "door")
    await asyncio.to_thread(server.start)  # back on the same port
    await until(lambda: edge_count(edge, "processed", "door") >= before + 4, timeout=90)
    node.stop()
    stats = await asyncio.wait_for(task, 30)

    assert stats.source_failures >= 2 and not task.cancelled()
    assert len(logs.of("source_opened")) == 2  # once per server life
    assert len(logs.of("source_failed")) == stats.source_failures
    assert edge_count(edge, "failed", "door") == 0


def test_camera_process_waits_for_an_rtsp_server_that_is_down_at_start(
    rtsp, real_edge, node_process, tmp_path: Path, port: int
) -> None:
    edge, edge_server = real_edge()
    server = rtsp(port)  # not started yet
    node = node_process([
        "camera", "--source", server.url, "--fps", "5", "--edge-url", edge_server.url, "--camera-id", "door",
        "--log-dir", str(tmp_path / "logs"), "--reconnect-delay", "0.2", "--reconnect-delay-max", "1",
        "--source-timeout", "3",
    ])
    log_file = tmp_path / "logs" / "camera-door.jsonl"

    def failures() -> list[dict[str, Any]]:
        if not log_file.exists():
            return []
        lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
        return [line for line in lines if line["event"] == "source_failed"]

    deadline = time.monotonic() + 60
    while len(failures()) < 2:  # it used to exit with status 2 here
        assert node.proc.poll() is None, node.output()
        assert time.monotonic() < deadline, "the camera did not retry the missing stream"
        time.sleep(0.1)
    assert all("cannot open stream" in e["error"] or "not opened" in e["error"] for e in failures())
    server.start()
    deadline = time.monotonic() + 90
    while edge_count(edge, "processed", "door") < 4:
        assert node.proc.poll() is None, node.output()
        assert time.monotonic() < deadline, "no frames after the RTSP server came up"
        time.sleep(0.1)
    stdout, stderr = node.stop(timeout=20)
    assert node.proc.returncode == 0, stderr[-2000:]
    assert "camera door:" in stdout
