"""The edge stays bounded and correct whatever clients send: reserved events, junk packets, non-finite
numbers, too many cameras, departed cameras. Real edge over real Socket.IO on loopback."""

from __future__ import annotations

import asyncio
import io
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
import socketio
from PIL import Image
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from edgewatch.alarm.node import AlarmNode
from edgewatch.config import AlarmSettings, EdgeSettings
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.server import EdgeNode
from edgewatch.protocol import Frame, Hello, NodeRole, SocketEvent, encode, new_trace_id
from edgewatch.telemetry.logs import configure_logging

ASSETS = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets"
PERSON = ASSETS / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def detector() -> Any:
    return create_detector("nanodet", input_size=320, confidence=0.5)


def settings(tmp_path: Path, **overrides: Any) -> EdgeSettings:
    values: dict[str, Any] = {
        "sites": ["site1"], "workers": 1, "alarm_db": tmp_path / "alarms.db", "verify_timeout": 0.5,
        "alarm_resend_interval": 0.5, "input_size": 320, "confidence": 0.5,
    }
    values.update(overrides)
    return EdgeSettings(**values)


def hello(role: NodeRole, node_id: str, site_id: str = "site1") -> dict[str, Any]:
    """What a node presents when it connects (the one place to add credentials)."""
    return encode(Hello(role=role, node_id=node_id, site_id=site_id))


class Client:
    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.sio.on("*", self._record)
        self.refusals: list[Any] = []
        self.sio.on("connect_error", self.refusals.append)

    async def _record(self, event: str, data: Any = None) -> None:
        self.events.append((event, data))

    async def connect(self, url: str, auth: dict[str, Any]) -> None:
        await self.sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=10)

    def of(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]


def refusal_code(payload: Any) -> str | None:
    """The RefusalCode of a connect_error, wherever python-socketio put it: ``ConnectionRefusedError(dict)``
    arrives as ``{"message": str(dict)}``, ``ConnectionRefusedError(message, dict)`` as ``data``."""
    if isinstance(payload, dict):
        for candidate in (payload, payload.get("data")):
            if isinstance(candidate, dict) and "code" in candidate:
                return str(candidate["code"])
        text = str(payload.get("message", ""))
        for code in ("camera_limit", "busy", "unauthorized", "forbidden", "unknown_site", "unknown_camera"):
            if f"'{code}'" in text or f'"{code}"' in text:
                return code
    return None


def frame_payload(camera: str, jpeg: bytes, **changes: Any) -> dict[str, Any]:
    payload = encode(Frame(camera_id=camera, site_id="site1", seq=0, captured_at=time.time(),
                           trace_id=new_trace_id(), jpeg=jpeg))
    payload.update(changes)
    return payload


def gray_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (128, 128, 128)).save(out, format="JPEG")
    return out.getvalue()


async def test_reserved_events_junk_packets_and_infinity_are_refused(
    serve, detector, tmp_path: Path, until, capfd: pytest.CaptureFixture[str]
) -> None:
    log_file = configure_logging("edge", tmp_path / "logs", "DEBUG")
    assert log_file is not None
    node = EdgeNode(settings(tmp_path), detector)
    server = serve(node.app)
    alarm = AlarmNode(AlarmSettings(edge_url=server.url, site_id="site1", node_id="hall"), console=False)
    run = asyncio.create_task(alarm.run())
    try:
        await until(lambda: alarm.connected.is_set(), 15)
        assert node.dispatcher is not None and node.dispatcher.listeners("site1") == 1
        attacker = Client()
        await attacker.connect(server.url, hello(NodeRole.ALARM, "hall"))
        await until(lambda: node.dispatcher.listeners("site1") == 2, 10)
        # Reserved names re-ran the edge's own handlers: a fake "disconnect" took the node off its site.
        for name in ("disconnect", "connect", "connect_error"):
            await attacker.sio.emit(name, {"role": "alarm", "node_id": "hall", "site_id": "site1"})
        await until(lambda: len(attacker.of("error")) == 3, 10)
        assert {e["code"] for e in attacker.of("error")} == {"reserved_event"}
        assert node.dispatcher.listeners("site1") == 2  # nobody was taken off the site
        assert node.metrics.events_rejected.labels("reserved_event")._value.get() == 3

        camera = Client()
        await camera.connect(server.url, hello(NodeRole.CAMERA, "cam1"))
        await camera.sio.emit(SocketEvent.FRAME.value,
                              frame_payload("cam1", gray_jpeg(), captured_at=math.inf))
        await camera.sio.emit(SocketEvent.FRAME.value, frame_payload("cam1", gray_jpeg(), captured_at=math.nan))
        await until(lambda: len(camera.of("error")) == 2, 10)
        assert all(e["code"] == "bad_frame" and "captured_at" in e["detail"] for e in camera.of("error"))
        assert node.metrics.frames_received.labels("cam1")._value.get() == 0

        # 11 bytes of junk as one Engine.IO message: one log line, the sender is closed, nobody else is.
        junk = Client()
        await junk.connect(server.url, hello(NodeRole.CAMERA, "cam2"))
        await junk.sio.eio.send("zq\x00junkjunk")
        await until(lambda: not junk.sio.connected, 10)
        await until(lambda: "packet_rejected" in log_file.read_text(), 10)
        rejected = [line for line in log_file.read_text().splitlines() if "packet_rejected" in line]
        assert len(rejected) == 1 and json.loads(rejected[0])["bytes"] == 11
        assert node.metrics.events_rejected.labels("malformed_packet")._value.get() == 1
        assert camera.sio.connected and attacker.sio.connected and alarm.connected.is_set()
        # And 11 junk bytes one level lower, as a raw Engine.IO WebSocket frame.
        port = server.url.rsplit(":", 1)[1]
        async with connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket") as ws:
            await ws.recv()  # Engine.IO "open"
            await ws.send("zzzzzzzzzzz")
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
        await until(lambda: "request_rejected" in log_file.read_text(), 10)
        assert node.metrics.events_rejected.labels("malformed_packet")._value.get() == 2

        # The real alarm node still gets the next alarm.
        await camera.sio.emit(SocketEvent.FRAME.value, frame_payload("cam1", PERSON.read_bytes()))
        await until(lambda: len(alarm.received) == 1, 20)
        await camera.sio.disconnect()
        await attacker.sio.disconnect()
    finally:
        await alarm.stop()
        await asyncio.gather(run, return_exceptions=True)
    out, err = capfd.readouterr()
    text = log_file.read_text()
    assert "Traceback" not in out + err + text
    assert all(json.loads(line) for line in text.splitlines())  # one JSON object per line, nothing else


async def test_camera_limit_refuses_transiently_and_frees_the_slot(serve, detector, tmp_path: Path, until) -> None:
    node = EdgeNode(settings(tmp_path, max_cameras=2), detector)
    server = serve(node.app)
    first, second, third = Client(), Client(), Client()
    await first.connect(server.url, hello(NodeRole.CAMERA, "a"))
    await second.connect(server.url, hello(NodeRole.CAMERA, "b"))
    with pytest.raises(socketio.exceptions.ConnectionError) as refused:
        await third.connect(server.url, hello(NodeRole.CAMERA, "c"))
    assert "namespaces failed" in str(refused.value)
    assert third.refusals and refusal_code(third.refusals[0]) == "camera_limit"
    # Alarm nodes are not cameras: never refused by the camera cap.
    alarm = Client()
    await alarm.connect(server.url, hello(NodeRole.ALARM, "hall"))
    assert node.metrics.clients_refused.labels("camera_limit")._value.get() == 1
    await first.sio.disconnect()
    await until(lambda: node.presence.connections == 1, 10)
    third = Client()
    await third.connect(server.url, hello(NodeRole.CAMERA, "c"))
    assert third.sio.connected
    for client in (second, third, alarm):
        await client.sio.disconnect()


async def test_departed_cameras_free_frames_state_and_metric_series(serve, detector, tmp_path: Path, until) -> None:
    node = EdgeNode(settings(tmp_path, camera_state_ttl=0.5, workers=1), detector)
    server = serve(node.app)
    for index in range(30):
        client = Client()
        await client.connect(server.url, hello(NodeRole.CAMERA, f"gone{index}"))
        await client.sio.emit(SocketEvent.FRAME.value, frame_payload(f"gone{index}", PERSON.read_bytes()))
        await client.sio.disconnect()
    # Buffered frames of departed connections are gone at once; tracker and metric series after the TTL.
    await until(lambda: node.queue.total() == 0 and node.presence.connections == 0, 10)
    await until(lambda: node.presence.waiting() == 0 and node.metrics.cameras_released._value.get() == 30, 15)
    await until(lambda: node.verification is not None and node.verification.cameras() == 0, 15)
    text = (await _metrics(server.url))
    assert "gone" not in text.split("edgewatch_edge_cameras_released")[0]


async def _metrics(url: str) -> str:
    import httpx

    async with httpx.AsyncClient(base_url=url) as http:
        return (await http.get("/metrics")).text


async def test_one_camera_id_cannot_fill_the_camera_limit(serve, detector, tmp_path: Path, until) -> None:
    """A stolen camera token opens at most MAX_SESSIONS_PER_CAMERA sessions; the other cameras still join,
    and a duplicate session closing leaves the camera online."""
    from edgewatch.edge.camera_presence import MAX_SESSIONS_PER_CAMERA
    from edgewatch.edge.events import CameraOffline

    node = EdgeNode(settings(tmp_path, max_cameras=3), detector)
    server = serve(node.app)
    offline = node.events.subscribe(kinds=(CameraOffline,))
    sessions = []
    for _ in range(MAX_SESSIONS_PER_CAMERA):
        client = Client()
        await client.connect(server.url, hello(NodeRole.CAMERA, "cam1"))
        sessions.append(client)
    extra = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await extra.connect(server.url, hello(NodeRole.CAMERA, "cam1"))
    assert extra.refusals and refusal_code(extra.refusals[0]) == "busy"
    others = []
    for camera in ("cam2", "cam3"):  # the cap counts cameras, not one camera's sessions
        client = Client()
        await client.connect(server.url, hello(NodeRole.CAMERA, camera))
        others.append(client)
    await sessions[0].sio.disconnect()
    await until(lambda: node.presence.sessions("cam1") == 1, 10)
    assert node.presence.is_connected("cam1") and offline.dropped == 0 and offline._queue.empty()
    for client in (*sessions[1:], *others):
        await client.sio.disconnect()


async def test_sessions_without_a_hello_are_capped_small_and_short(serve, detector, tmp_path: Path, until) -> None:
    """No credential, no Socket.IO connect: one host holds at most MAX_PENDING_PER_ADDRESS Engine.IO
    sessions, cannot send a large message on one, and a real camera still joins meanwhile."""
    import websockets

    from edgewatch.edge.socket_server import MAX_PENDING_MESSAGE, MAX_PENDING_PER_ADDRESS

    node = EdgeNode(settings(tmp_path), detector)
    server = serve(node.app)
    url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
    held, refused = [], 0
    for _ in range(MAX_PENDING_PER_ADDRESS + 4):
        try:
            ws = await websockets.connect(url, open_timeout=10)
            await asyncio.wait_for(ws.recv(), 10)  # the Engine.IO open packet
            held.append(ws)
        except (websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed):
            refused += 1
    assert len(held) == MAX_PENDING_PER_ADDRESS and refused == 4
    # A large message before any Hello closes that session at once.
    pending_before = len(node.sio._pending)
    await held[0].send(b"\x04" + b"x" * (MAX_PENDING_MESSAGE * 4))
    try:  # the server ends the session: an Engine.IO close packet ("1") or the socket itself closing
        assert await asyncio.wait_for(held[0].recv(), 10) == "1"
    except websockets.exceptions.ConnectionClosed:
        pass
    await until(lambda: len(node.sio._pending) == pending_before - 1, 10)
    # A real camera completes its Hello at once: once this host's sessions are gone, it joins.
    await asyncio.gather(*(ws.close() for ws in held))
    camera = Client()
    await camera.connect(server.url, hello(NodeRole.CAMERA, "cam1"))
    assert camera.sio.connected
    await camera.sio.disconnect()
