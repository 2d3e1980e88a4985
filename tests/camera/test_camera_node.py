"""The camera node against a real python-socketio server on loopback (uvicorn), as it talks to an edge."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from edgewatch.camera.encoding import encode_jpeg
from edgewatch.camera.node import CameraNode
from edgewatch.config import CameraSettings
from edgewatch.protocol import NodeRole
from edgewatch.telemetry.logs import configure_logging


def settings(url: str, source: Path | str, **overrides: Any) -> CameraSettings:
    values: dict[str, Any] = {
        "edge_url": url, "source": str(source), "camera_id": "cam7", "site_id": "siteA", "fps": 20.0,
        "reconnect_delay": 0.1, "reconnect_delay_max": 0.5, "reconnect_jitter": 0.05,
    }
    values.update(overrides)
    return CameraSettings(**values)


def decode_jpeg(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a decodable JPEG"
    return image


def log_events(log_dir: Path, node: str) -> list[dict[str, Any]]:
    path = log_dir / f"{node}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_streams_folder_in_order_with_unique_trace_ids(serve, edge, image_folder: Path, tmp_path: Path) -> None:
    configure_logging("camera-cam7", tmp_path / "logs")
    server = serve(edge.app())
    node = CameraNode(settings(server.url, image_folder, send_buffer=20))

    stats = await asyncio.wait_for(node.run(), 30)  # returns at the folder's end (no loop)

    assert [hello.role for hello in edge.hellos] == [NodeRole.CAMERA]
    assert (edge.hellos[0].node_id, edge.hellos[0].site_id) == ("cam7", "siteA")
    assert [frame.seq for frame in edge.frames] == list(range(12))
    assert len({frame.trace_id for frame in edge.frames}) == 12
    assert all(frame.camera_id == "cam7" and frame.site_id == "siteA" for frame in edge.frames)
    # sorted by name: frame_000 .. frame_011, whose grey level is 20 * index
    levels = [int(np.median(decode_jpeg(frame.jpeg)[:20, :20])) for frame in edge.frames]
    assert all(abs(level - 20 * index) <= 3 for index, level in enumerate(levels)), levels
    assert (stats.frames_read, stats.frames_sent, stats.frames_acked, stats.frames_dropped) == (12, 12, 12, 0)
    assert len(stats.rtt_ms) == 12 and all(rtt > 0 for rtt in stats.rtt_ms)

    events = log_events(tmp_path / "logs", "camera-cam7")
    sent = [e for e in events if e["event"] == "frame_sent"]
    acked = [e for e in events if e["event"] == "frame_acked"]
    assert [e["trace_id"] for e in sent] == [f.trace_id for f in edge.frames]
    assert {e["trace_id"] for e in acked} == {f.trace_id for f in edge.frames}
    assert all(e["queue_ms"] == 1.5 and e["inference_ms"] == 12.0 and e["rtt_ms"] > 0 for e in acked)
    assert any(e["event"] == "connected" for e in events)


async def test_frame_rate_is_limited_by_time(serve, edge, image_folder: Path) -> None:
    server = serve(edge.app())
    node = CameraNode(settings(server.url, image_folder, fps=5.0, loop=True, send_buffer=5))
    task = asyncio.create_task(node.run())
    await asyncio.sleep(1.6)
    node.stop()
    stats = await asyncio.wait_for(task, 15)

    captured = [frame.captured_at for frame in edge.frames]
    assert len(captured) >= 3, "the camera should be streaming"
    most_in_one_second = max(sum(1 for t in captured if start <= t < start + 1.0) for start in captured)
    assert most_in_one_second <= 7, f"{most_in_one_second} frames within 1 s at fps=5"
    assert stats.frames_read <= 12  # 1.6 s at 5 fps, with slack: never a read-as-fast-as-possible loop


async def test_reconnects_after_edge_restart_and_sends_only_newest(
    serve, edge, image_folder: Path, until, tmp_path: Path
) -> None:
    configure_logging("camera-cam7", tmp_path / "logs")
    first = serve(edge.app())
    node = CameraNode(settings(first.url, image_folder, fps=10.0, loop=True, send_buffer=2))
    task = asyncio.create_task(node.run())
    await until(lambda: len(edge.frames) >= 3, timeout=15)

    await asyncio.to_thread(first.stop)  # the edge goes away ...
    before = len(edge.frames)
    await until(lambda: not node.link.connected.is_set(), timeout=10)
    await asyncio.sleep(1.0)  # ... for about ten frame slots
    serve(edge.app(), port=first.port)  # ... and comes back on the same port, with no memory of us
    await until(lambda: len(edge.frames) >= before + 3, timeout=20)
    node.stop()
    stats = await asyncio.wait_for(task, 15)

    assert len(edge.hellos) == 2
    old, new = edge.frames[:before], edge.frames[before:]
    last_old, first_new = max(f.seq for f in old), min(f.seq for f in new)
    assert min(f.seq for f in new) > last_old, "nothing stale is replayed after the reconnect"
    assert [f.seq for f in new] == sorted(f.seq for f in new)
    gap = first_new - last_old - 1
    assert gap >= 3, f"frames produced during the outage should have been dropped (gap {gap})"
    # every frame of the outage is accounted for: dropped from the buffer or lost in flight
    assert stats.frames_dropped + stats.frames_unacked >= gap
    assert stats.frames_dropped >= gap - node.settings.max_in_flight
    events = log_events(tmp_path / "logs", "camera-cam7")
    drops = [e for e in events if e["event"] == "frame_dropped"]
    assert len(drops) == stats.frames_dropped
    assert {e["reason"] for e in drops} >= {"disconnected"}
    assert [e["event"] for e in events].count("connected") == 2
    assert any(e["event"] == "disconnected" for e in events)


async def test_slow_edge_limits_frames_in_flight_and_drops_oldest(
    serve, edge, image_folder: Path, until, tmp_path: Path
) -> None:
    configure_logging("camera-cam7", tmp_path / "logs")
    edge.ack = False  # an edge that never answers: the camera must not pile frames onto it
    server = serve(edge.app())
    node = CameraNode(settings(server.url, image_folder, loop=True, max_in_flight=2, send_buffer=1),
                      ack_timeout=30)
    task = asyncio.create_task(node.run())
    await until(lambda: node.stats.frames_dropped >= 4, timeout=15)
    node.stop()
    stats = await asyncio.wait_for(task, 15)

    assert len(edge.frames) == 2 == stats.frames_sent  # max_in_flight, then nothing until an ack
    drops = [e for e in log_events(tmp_path / "logs", "camera-cam7") if e["event"] == "frame_dropped"]
    assert drops and {e["reason"] for e in drops} == {"edge_slow"}
    dropped_seqs = [e["seq"] for e in drops]
    assert dropped_seqs == sorted(dropped_seqs) and min(dropped_seqs) >= 2  # always the oldest buffered


async def test_edge_error_is_logged_and_camera_keeps_streaming(serve, edge, image_folder: Path) -> None:
    edge.reject_seq = {1}
    server = serve(edge.app())
    node = CameraNode(settings(server.url, image_folder, send_buffer=20, max_in_flight=1))

    stats = await asyncio.wait_for(node.run(), 30)

    assert [f.seq for f in edge.frames] == list(range(12))  # frame 1 rejected, the rest still sent
    assert stats.edge_errors == 1
    assert stats.frames_acked == 11 and stats.frames_unacked == 1


async def test_resize_and_quality(serve, edge, image_folder: Path) -> None:
    server = serve(edge.app())
    node = CameraNode(settings(server.url, image_folder, send_buffer=20, max_width=200, jpeg_quality=40))

    await asyncio.wait_for(node.run(), 30)

    assert len(edge.frames) == 12
    shapes = {decode_jpeg(frame.jpeg).shape for frame in edge.frames}
    assert shapes == {(112, 200, 3)}  # 640x360 -> 200 wide, aspect kept (360 * 200 / 640 = 112.5)
    original = cv2.imread(str(image_folder / "frame_005.jpg"))
    assert edge.frames[5].jpeg == encode_jpeg(original, 200, 40)


async def test_max_frames_and_metrics_port(serve, edge, image_folder: Path) -> None:
    server = serve(edge.app())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        metrics_port = sock.getsockname()[1]
    node = CameraNode(
        settings(server.url, image_folder, fps=5.0, loop=True, max_frames=5, metrics_port=metrics_port),
        metrics_host="127.0.0.1",
    )
    scraped: list[str] = []

    async def scrape() -> None:
        async with httpx.AsyncClient() as client:
            while not scraped or "edgewatch_camera_frames_acked_total" not in scraped[-1]:
                try:
                    scraped.append((await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text)
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)

    scraper = asyncio.create_task(scrape())
    stats = await asyncio.wait_for(node.run(), 30)
    scraper.cancel()

    assert stats.frames_sent == 5 and stats.frames_acked == 5
    assert [f.seq for f in edge.frames] == sorted(f.seq for f in edge.frames) and len(edge.frames) == 5
    text = scraped[-1]
    assert 'edgewatch_camera_frames_sent_total{camera="cam7"}' in text
    assert "edgewatch_camera_rtt_seconds_bucket" in text


async def test_first_connection_retries_until_the_edge_starts(serve, edge, image_folder: Path, until, port: int) -> None:
    node = CameraNode(settings(f"http://127.0.0.1:{port}", image_folder, loop=True, fps=10.0))
    task = asyncio.create_task(node.run())
    await asyncio.sleep(0.8)  # the camera starts first (a container race), nothing listens yet
    assert not edge.frames
    serve(edge.app(), port=port)
    await until(lambda: len(edge.frames) >= 2, timeout=20)
    node.stop()
    stats = await asyncio.wait_for(task, 15)
    assert stats.frames_dropped >= 3  # frames of the wait were not queued up and sent late
    assert min(f.seq for f in edge.frames) >= 3


async def test_refused_connection_is_retried_with_backoff(serve, edge, image_folder: Path, until) -> None:
    edge.refuse_first = 2  # python-socketio does not retry a refusal; the node must
    server = serve(edge.app())
    node = CameraNode(settings(server.url, image_folder, loop=True, fps=10.0))
    task = asyncio.create_task(node.run())
    await until(lambda: len(edge.frames) >= 2, timeout=20)
    node.stop()
    await asyncio.wait_for(task, 15)
    assert edge.refused == 2 and len(edge.hellos) == 1


async def test_stop_while_the_edge_was_never_reachable(image_folder: Path, port: int) -> None:
    node = CameraNode(settings(f"http://127.0.0.1:{port}", image_folder, loop=True, fps=10.0))
    task = asyncio.create_task(node.run())
    await asyncio.sleep(0.5)
    node.stop()  # e.g. Ctrl-C while the edge is down: no hang in the connect retry loop
    stats = await asyncio.wait_for(task, 10)
    assert stats.frames_sent == 0 and stats.frames_read >= 2
    assert stats.frames_dropped == stats.frames_read - 1  # only the newest frame was ever kept
    assert stats.summary()["frames_sent"] == 0
