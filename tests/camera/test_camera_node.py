"""The camera node against the REAL edge (EdgeNode with NanoDet, served by uvicorn on loopback).

What the edge received is read from the edge itself: its metrics and its JSON log lines. The frames of
``image_folder`` differ in content (grey level, digit, and a person in PERSON_FRAMES), so the byte size the
edge logs and the persons its detector finds show which frame arrived in which position."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import httpx
import pytest
import socketio

from edgewatch.camera.encoding import encode_jpeg
from edgewatch.camera.link import EdgeRefused
from edgewatch.camera.node import CameraNode
from edgewatch.config import CameraSettings
from edgewatch.protocol import (
    ErrorMessage,
    Frame,
    FrameAck,
    FrameStatus,
    RefusalCode,
    SocketEvent,
    decode,
    encode,
)

from .conftest import PERSON_FRAMES, edge_count, unanswered


def settings(url: str, source: Path | str, **overrides: Any) -> CameraSettings:
    values: dict[str, Any] = {
        "edge_url": url, "source": str(source), "camera_id": "cam7", "site_id": "siteA", "fps": 20.0,
        "reconnect_delay": 0.1, "reconnect_delay_max": 0.5, "reconnect_jitter": 0.05,
    }
    values.update(overrides)
    return CameraSettings(**values)


def encoded_sizes(folder: Path, max_width: int | None = None, quality: int = 85) -> list[int]:
    """Sizes of the JPEGs the camera must produce from frame_000 .. frame_011, in name order."""
    return [len(encode_jpeg(cv2.imread(str(folder / f"frame_{i:03d}.jpg"), cv2.IMREAD_COLOR), max_width, quality))
            for i in range(12)]


async def test_streams_folder_in_order_with_unique_trace_ids(real_edge, logs, image_folder: Path) -> None:
    edge, server = real_edge()
    node = CameraNode(settings(server.url, image_folder, send_buffer=20))

    stats = await asyncio.wait_for(node.run(), 30)  # returns at the folder's end (no loop)

    hellos = logs.of("client_connected")
    assert [(h["role"], h["node_id"], h["site_id"]) for h in hellos] == [("camera", "cam7", "siteA")]
    received = logs.of("frame_received")  # the edge's view, in arrival order
    assert [e["seq"] for e in received] == list(range(12))
    assert len({e["trace_id"] for e in received}) == 12
    assert all(e["camera_id"] == "cam7" and e["site_id"] == "siteA" for e in received)
    # sorted by name: frame_000 .. frame_011, each exactly the camera's encoding of that file ...
    sizes = encoded_sizes(image_folder)
    assert len(set(sizes)) == 12 and [e["bytes"] for e in received] == sizes
    # ... and the real detector found the person exactly in the frames that show one
    processed = {e["trace_id"]: e for e in logs.of("frame_processed")}
    assert [processed[e["trace_id"]]["persons"] > 0 for e in received] == [i in PERSON_FRAMES for i in range(12)]
    assert (stats.frames_read, stats.frames_sent, stats.frames_acked, stats.frames_dropped) == (12, 12, 12, 0)
    assert len(stats.rtt_ms) == 12 and all(rtt > 0 for rtt in stats.rtt_ms)
    assert edge_count(edge, "received", "cam7") == 12 == edge_count(edge, "processed", "cam7")

    sent, acked = logs.of("frame_sent"), logs.of("frame_acked")
    assert [e["trace_id"] for e in sent] == [e["trace_id"] for e in received]
    assert {e["trace_id"] for e in acked} == set(processed)
    for ack in acked:  # the camera logs the edge's own timings and findings for each frame
        edge_side = processed[ack["trace_id"]]
        assert ack["status"] == "processed" and ack["rtt_ms"] > 0 and ack["inference_ms"] > 0
        assert (ack["queue_ms"], ack["inference_ms"], ack["persons"]) == (
            edge_side["queue_ms"], edge_side["inference_ms"], edge_side["persons"])
    assert logs.of("connected")


async def test_frame_rate_is_limited_by_time(real_edge, logs, image_folder: Path, until) -> None:
    edge, server = real_edge()
    node = CameraNode(settings(server.url, image_folder, fps=5.0, loop=True, send_buffer=5))
    started = time.monotonic()
    task = asyncio.create_task(node.run())
    await until(lambda: edge_count(edge, "processed", "cam7") >= 8, timeout=20)
    node.stop()
    stats = await asyncio.wait_for(task, 15)
    elapsed = time.monotonic() - started

    captured = [e["captured_at"] for e in logs.of("frame_received")]
    assert len(captured) >= 8
    most_in_one_second = max(sum(1 for t in captured if start <= t < start + 1.0) for start in captured)
    assert most_in_one_second <= 7, f"{most_in_one_second} frames within 1 s at fps=5"
    assert stats.frames_read <= 5 * elapsed + 2  # never a read-as-fast-as-possible loop


async def test_reconnects_after_edge_restart_and_sends_only_newest(real_edge, logs, image_folder: Path, until) -> None:
    first_edge, first = real_edge()
    node = CameraNode(settings(first.url, image_folder, fps=10.0, loop=True, send_buffer=2))
    task = asyncio.create_task(node.run())
    await until(lambda: edge_count(first_edge, "processed", "cam7") >= 3, timeout=15)

    await asyncio.to_thread(first.stop)  # the edge goes away ...
    before = len(logs.of("frame_received"))
    await until(lambda: not node.link.connected.is_set(), timeout=10)
    dropped = node.stats.frames_dropped
    await until(lambda: node.stats.frames_dropped >= dropped + 8, timeout=15)  # ... for some frame slots
    second_edge, _ = real_edge(port=first.port)  # ... and a new edge process comes up on the same port
    await until(lambda: edge_count(second_edge, "processed", "cam7") >= 3, timeout=20)
    node.stop()
    stats = await asyncio.wait_for(task, 15)

    assert len(logs.of("client_connected", role="camera", node_id="cam7")) == 2
    received = logs.of("frame_received")
    old, new = received[:before], received[before:]
    assert edge_count(second_edge, "received", "cam7") == len(new)
    last_old, first_new = max(e["seq"] for e in old), min(e["seq"] for e in new)
    assert first_new > last_old, "nothing stale is replayed after the reconnect"
    assert [e["seq"] for e in new] == sorted(e["seq"] for e in new)
    gap = first_new - last_old - 1
    assert gap >= 8, f"frames produced during the outage should have been dropped (gap {gap})"
    # every frame of the outage is accounted for: dropped from the buffer or lost in flight
    assert stats.frames_dropped + stats.frames_unacked >= gap
    assert stats.frames_dropped >= gap - node.settings.max_in_flight
    drops = logs.camera_drops()
    assert len(drops) == stats.frames_dropped
    assert {e["reason"] for e in drops} >= {"disconnected"}
    assert len(logs.of("connected")) == 2
    assert logs.of("disconnected")


async def test_slow_edge_limits_frames_in_flight_and_drops_oldest(
    real_edge, detector, logs, image_folder: Path, until
) -> None:
    # A real edge that is still loading its model: it takes frames into its buffer but answers none
    # (readyz says "loading") until the load finishes, which here is when the test lets it.
    loaded = threading.Event()

    def load_model_slowly() -> Any:
        loaded.wait(60)
        return detector

    edge, server = real_edge(detector_source=load_model_slowly, frame_buffer=10)
    node = CameraNode(settings(server.url, image_folder, loop=True, max_in_flight=2, send_buffer=1), ack_timeout=30)
    peaks = {"edge": 0, "camera": 0}

    async def sample_in_flight() -> None:
        while True:
            s = node.stats
            peaks["camera"] = max(peaks["camera"], s.frames_sent - s.frames_acked - s.frames_unacked)
            peaks["edge"] = max(peaks["edge"], unanswered(edge, "cam7"))
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample_in_flight())
    task = asyncio.create_task(node.run())
    try:
        await until(lambda: node.stats.frames_dropped >= 4, timeout=15)
        async with httpx.AsyncClient(base_url=server.url) as http:
            ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "loading"
        # max_in_flight frames went out, then nothing until an ack: the camera did not pile frames on the edge
        assert edge_count(edge, "received", "cam7") == 2 == node.stats.frames_sent
        drops = logs.camera_drops()
        assert drops and {e["reason"] for e in drops} == {"edge_slow"}
        dropped_seqs = [e["seq"] for e in drops]
        assert dropped_seqs == sorted(dropped_seqs) and min(dropped_seqs) >= 2  # always the oldest buffered

        loaded.set()  # the model is ready: the edge answers the two frames and the camera streams on
        await until(lambda: node.stats.frames_acked >= 6, timeout=20)
    finally:
        loaded.set()
        node.stop()
        stats = await asyncio.wait_for(task, 15)
        sampler.cancel()
    await until(lambda: unanswered(edge, "cam7") == 0, timeout=10)  # the edge answered every frame it got

    assert peaks["camera"] <= 2 and peaks["edge"] <= 2, peaks
    assert edge_count(edge, "received", "cam7") == stats.frames_sent
    assert edge_count(edge, "processed", "cam7") >= 6
    # no frame silently lost: each one read was sent or dropped (and logged), save the one still buffered
    assert stats.frames_read - stats.frames_sent - stats.frames_dropped in (0, 1)
    assert len(logs.camera_drops()) == stats.frames_dropped


class RejectingEdge:
    """The one Socket.IO double left in the camera tests: it acks every frame except those in ``reject``,
    which it answers with an ``error`` naming the frame's trace id. The real edge sends such an error only
    for a frame labelled with another camera than its connection (``wrong_camera``, see test_edge_server),
    and a real camera never sends one; this is the only way to reach the camera's handling of it."""

    def __init__(self, reject: set[int]) -> None:
        self.reject = reject
        self.seqs: list[int] = []
        self.sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
        self.sio.on(SocketEvent.FRAME.value, self.frame)
        self.app = socketio.ASGIApp(self.sio)

    async def frame(self, sid: str, payload: Any) -> None:
        msg = decode(Frame, payload)
        self.seqs.append(msg.seq)
        if msg.seq in self.reject:
            error = ErrorMessage(code="wrong_camera", detail="rejected by the test", trace_id=msg.trace_id)
            await self.sio.emit(SocketEvent.ERROR.value, encode(error), to=sid)
        else:
            ack = FrameAck(camera_id=msg.camera_id, seq=msg.seq, trace_id=msg.trace_id, status=FrameStatus.PROCESSED)
            await self.sio.emit(SocketEvent.FRAME_ACK.value, encode(ack), to=sid)


async def test_edge_error_is_logged_and_camera_keeps_streaming(serve, logs, image_folder: Path) -> None:
    edge = RejectingEdge(reject={1})
    server = serve(edge.app)
    node = CameraNode(settings(server.url, image_folder, send_buffer=20, max_in_flight=1))

    stats = await asyncio.wait_for(node.run(), 30)  # max_in_flight=1: a slot never freed would stall it

    assert edge.seqs == list(range(12))  # frame 1 rejected, the rest still sent
    assert stats.edge_errors == 1
    assert stats.frames_acked == 11 and stats.frames_unacked == 1
    errors = logs.of("edge_error")
    assert [e["code"] for e in errors] == ["wrong_camera"] and errors[0]["trace_id"]
    assert [e["reason"] for e in logs.of("frame_unacked")] == ["rejected:wrong_camera"]


async def test_resize_and_quality(real_edge, logs, image_folder: Path) -> None:
    edge, server = real_edge()
    node = CameraNode(settings(server.url, image_folder, send_buffer=20, max_width=200, jpeg_quality=40))

    stats = await asyncio.wait_for(node.run(), 30)

    assert stats.frames_acked == 12
    received = logs.of("frame_received")
    # each frame the edge got is exactly the 200-wide, quality-40 encoding of its file (not the original)
    expected = encoded_sizes(image_folder, 200, 40)
    assert [e["bytes"] for e in received] == expected
    assert all(small < full for small, full in zip(expected, encoded_sizes(image_folder), strict=True))
    assert edge_count(edge, "processed", "cam7") == 12 and edge_count(edge, "failed", "cam7") == 0
    assert {e["status"] for e in logs.of("frame_acked")} == {"processed"}  # the edge decoded every one


async def test_max_frames_and_metrics_port(real_edge, logs, image_folder: Path) -> None:
    edge, server = real_edge()
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
            # until a scrape shows an answered frame (the HELP line alone names the counter from the start)
            while not scraped or 'edgewatch_camera_frames_acked_total{camera="cam7"}' not in scraped[-1] \
                    or "edgewatch_camera_rtt_seconds_bucket" not in scraped[-1]:
                try:
                    scraped.append((await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text)
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)

    scraper = asyncio.create_task(scrape())
    stats = await asyncio.wait_for(node.run(), 30)
    scraper.cancel()

    assert stats.frames_sent == 5 and stats.frames_acked == 5
    seqs = [e["seq"] for e in logs.of("frame_received")]
    assert seqs == sorted(seqs) and len(seqs) == 5 == edge_count(edge, "processed", "cam7")
    text = scraped[-1]
    assert 'edgewatch_camera_frames_sent_total{camera="cam7"}' in text
    assert "edgewatch_camera_rtt_seconds_bucket" in text


async def test_first_connection_retries_until_the_edge_starts(
    real_edge, logs, image_folder: Path, until, port: int
) -> None:
    node = CameraNode(settings(f"http://127.0.0.1:{port}", image_folder, loop=True, fps=10.0))
    task = asyncio.create_task(node.run())
    # the camera starts first (a container race): nothing listens yet, frames are read and dropped
    await until(lambda: node.stats.frames_dropped >= 3, timeout=15)
    assert node.stats.frames_sent == 0
    edge, _ = real_edge(port=port)
    await until(lambda: edge_count(edge, "processed", "cam7") >= 2, timeout=20)
    node.stop()
    stats = await asyncio.wait_for(task, 15)
    assert stats.frames_dropped >= 3  # frames of the wait were not queued up and sent late
    assert min(e["seq"] for e in logs.of("frame_received")) >= 3


async def test_unknown_camera_is_refused_for_good_with_a_clear_error(
    real_edge, logs, image_folder: Path, until
) -> None:
    # An edge that does not know this camera refuses it: retrying cannot help until an operator acts.
    refusing, server = real_edge(cameras=["cam1"])
    node = CameraNode(settings(server.url, image_folder, loop=True, fps=10.0))

    with pytest.raises(EdgeRefused) as refused:
        await asyncio.wait_for(node.run(), 30)

    assert refused.value.code is RefusalCode.UNKNOWN_CAMERA and "cam7" in refused.value.message
    assert "unknown_camera" in str(refused.value)
    refusals = logs.of("client_refused", node_id="cam7")
    assert len(refusals) == 1 and refusals[0]["reason"] == "unknown camera"  # asked once, not for ever
    assert [e["code"] for e in logs.of("refused")] == ["unknown_camera"]
    assert not logs.of("connect_failed")  # no backoff-and-retry of a refusal that cannot heal
    assert edge_count(refusing, "received", "cam7") == 0 and node.stats.frames_sent == 0
    assert not node.link.connected.is_set()


async def test_stop_while_the_edge_was_never_reachable(image_folder: Path, port: int) -> None:
    node = CameraNode(settings(f"http://127.0.0.1:{port}", image_folder, loop=True, fps=10.0))
    task = asyncio.create_task(node.run())
    await asyncio.sleep(0.5)
    node.stop()  # e.g. Ctrl-C while the edge is down: no hang in the connect retry loop
    stats = await asyncio.wait_for(task, 10)
    assert stats.frames_sent == 0 and stats.frames_read >= 2
    assert stats.frames_dropped == stats.frames_read - 1  # only the newest frame was ever kept
    assert stats.summary()["frames_sent"] == 0
