"""The edge node over real Socket.IO on loopback, with the real person detector and real camera/alarm nodes."""

from __future__ import annotations

import asyncio
import io
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from PIL import Image

from edgewatch.alarm.node import AlarmNode
from edgewatch.camera.node import CameraNode
from edgewatch.config import AlarmSettings, CameraSettings, EdgeSettings
from edgewatch.edge.alarm_store import AlarmStore
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.server import EdgeNode
from edgewatch.protocol import (
    AlarmReason,
    ErrorMessage,
    Frame,
    FrameAck,
    FrameStatus,
    Hello,
    NodeRole,
    SocketEvent,
    decode,
    encode,
    new_trace_id,
)

ASSETS = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets"
PERSON = ASSETS / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def detector() -> Any:
    return create_detector("nanodet", input_size=320, confidence=0.5)


def edge_settings(tmp_path: Path, **overrides: Any) -> EdgeSettings:
    values: dict[str, Any] = {
        "sites": ["site1", "site2"], "workers": 1, "alarm_db": tmp_path / "alarms.db", "verify_timeout": 0.5,
        "alarm_resend_interval": 0.5, "input_size": 320, "confidence": 0.5,
        "credentials_file": tmp_path / "edge-credentials.json",  # every node presents its own credential
    }
    values.update(overrides)
    return EdgeSettings(**values)


def blank_jpeg(width: int = 640, height: int = 480) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (128, 128, 128)).save(out, format="JPEG")
    return out.getvalue()


def person_folder(tmp_path: Path, count: int = 3) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(count):
        shutil.copy(PERSON, folder / f"frame{index:03d}.jpg")
    return folder


def token(tmp_path: Path, role: str, site: str, node: str) -> str:
    """The node's credential on the test's edge (issued on first use, then reused)."""
    from edgewatch.security.credentials import issue

    path = tmp_path / "tokens" / f"{role}-{site}-{node}"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(issue(tmp_path / "edge-credentials.json", role, site, node))
    return path.read_text()


class RawClient:
    """A bare Socket.IO client that records every event, for speaking the protocol by hand; it presents
    the credential the test's edge issued for the node it claims to be."""

    def __init__(self, tmp_path: Path | None = None) -> None:
        self.tmp_path = tmp_path  # None: an edge without credentials (a test bench that does not check them)
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.sio.on("*", self._record)

    async def _record(self, event: str, data: Any = None) -> None:
        self.events.append((event, data))

    async def connect(self, url: str, hello: Hello) -> None:
        if hello.token is None and self.tmp_path is not None:
            hello = hello.model_copy(update={"token": token(self.tmp_path, hello.role.value, hello.site_id,
                                                             hello.node_id)})
        await self.sio.connect(url, auth=encode(hello), transports=["websocket"], wait_timeout=10)

    def of(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]


def frame(camera: str = "cam1", site: str = "site1", seq: int = 0, jpeg: bytes | None = None) -> Frame:
    return Frame(camera_id=camera, site_id=site, seq=seq, captured_at=time.time(), trace_id=new_trace_id(),
                 jpeg=jpeg or PERSON.read_bytes())


async def test_health_ready_and_metrics(serve, detector, tmp_path: Path) -> None:
    node = EdgeNode(edge_settings(tmp_path), detector)
    server = serve(node.app)
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = (await http.get("/readyz")).json()
        assert ready["status"] == "ready" and ready["detector"].startswith("nanodet")
        metrics = (await http.get("/metrics")).text
        assert "edgewatch_edge_frames_received" in metrics


async def test_readyz_reports_a_model_that_failed_to_load(serve, tmp_path: Path, until) -> None:
    def broken() -> Any:
        raise RuntimeError("weights file is truncated")

    node = EdgeNode(edge_settings(tmp_path), broken)
    server = serve(node.app)
    async with httpx.AsyncClient(base_url=server.url) as http:
        answer = await http.get("/readyz")
        assert answer.status_code == 503 and "truncated" in answer.json()["error"]
        assert (await http.get("/healthz")).status_code == 200


async def test_camera_streams_a_folder_and_every_frame_is_detected_and_acked(
    serve, detector, tmp_path: Path, until
) -> None:
    node = EdgeNode(edge_settings(tmp_path, frame_buffer=10), detector)
    server = serve(node.app)
    camera = CameraNode(CameraSettings(edge_url=server.url, node_token=token(tmp_path, "camera", "site1", "cam1"), source=str(person_folder(tmp_path, 4)), fps=20,
                                       send_buffer=10))
    stats = await asyncio.wait_for(camera.run(), 60)
    assert stats.frames_sent == 4 and stats.frames_acked == 4
    processed = node.metrics.frames_processed.labels("cam1")._value.get()
    persons = node.metrics.persons.labels("cam1")._value.get()
    assert processed == 4 and persons >= 4


async def test_alarm_reaches_only_its_own_site_and_is_acknowledged(serve, detector, tmp_path: Path, until) -> None:
    settings = edge_settings(tmp_path)
    node = EdgeNode(settings, detector)
    server = serve(node.app)
    site1 = AlarmNode(AlarmSettings(edge_url=server.url, site_id="site1", node_id="hall", node_token=token(tmp_path, "alarm", "site1", "hall")), console=False)
    site2 = AlarmNode(AlarmSettings(edge_url=server.url, site_id="site2", node_id="yard", node_token=token(tmp_path, "alarm", "site2", "yard")), console=False)
    runs = [asyncio.create_task(site1.run()), asyncio.create_task(site2.run())]
    try:
        await until(lambda: site1.connected.is_set() and site2.connected.is_set(), 15)
        camera = RawClient(tmp_path)
        await camera.connect(server.url, Hello(role=NodeRole.CAMERA, node_id="cam1", site_id="site1"))
        await camera.sio.emit(SocketEvent.FRAME.value, encode(frame()))
        # No cloud configured: the person must end as an `unverified` alarm (fail secure), never dropped.
        await until(lambda: len(site1.received) == 1, 20)
        alarm = site1.received[0]
        assert alarm.reason is AlarmReason.UNVERIFIED and alarm.site_id == "site1" and alarm.camera_id == "cam1"
        assert alarm.snapshot_jpeg and alarm.snapshot_jpeg.startswith(b"\xff\xd8")
        store = node.store
        assert store is not None
        await until(lambda: store.counts()["acked"] == 1, 10)
        await asyncio.sleep(1.2)  # two resend intervals: an acknowledged alarm is not sent again
        assert len(site1.received) == 1 and site2.received == []
        await camera.sio.disconnect()
    finally:
        await site1.stop()
        await site2.stop()
        await asyncio.gather(*runs, return_exceptions=True)


async def test_alarm_node_connecting_later_gets_the_pending_alarm(serve, detector, tmp_path: Path, until) -> None:
    # No re-send within the test: the alarm delivered on connect must be acknowledged the first time.
    node = EdgeNode(edge_settings(tmp_path, alarm_resend_interval=300), detector)
    server = serve(node.app)
    camera = RawClient(tmp_path)
    await camera.connect(server.url, Hello(role=NodeRole.CAMERA, node_id="cam1", site_id="site1"))
    await camera.sio.emit(SocketEvent.FRAME.value, encode(frame()))
    store = node.store
    assert store is not None
    await until(lambda: store.counts()["total"] == 1, 20)
    late = AlarmNode(AlarmSettings(edge_url=server.url, site_id="site1", node_id="late", node_token=token(tmp_path, "alarm", "site1", "late")), console=False)
    run = asyncio.create_task(late.run())
    try:
        await until(lambda: len(late.received) == 1 and store.counts()["acked"] == 1, 15)
    finally:
        await late.stop()
        await asyncio.gather(run, return_exceptions=True)
        await camera.sio.disconnect()


async def test_unacknowledged_alarm_survives_an_edge_restart(serve, detector, tmp_path: Path, until) -> None:
    first = EdgeNode(edge_settings(tmp_path), detector)
    server = serve(first.app)
    camera = RawClient(tmp_path)
    await camera.connect(server.url, Hello(role=NodeRole.CAMERA, node_id="cam1", site_id="site1"))
    await camera.sio.emit(SocketEvent.FRAME.value, encode(frame()))
    assert first.store is not None
    await until(lambda: first.store is not None and first.store.counts()["pending"] == 1, 20)
    await camera.sio.disconnect()
    server.stop()
    assert AlarmStore(tmp_path / "alarms.db").counts() == {"total": 1, "acked": 0, "pending": 1}

    # The alarm node is already trying to reach the (stopped) edge; it connects when the edge is back.
    alarm = AlarmNode(AlarmSettings(edge_url=server.url, site_id="site1", node_id="hall", node_token=token(tmp_path, "alarm", "site1", "hall"), reconnect_delay=0.2,
                                    reconnect_delay_max=0.5), console=False)
    run = asyncio.create_task(alarm.run())
    try:
        await asyncio.sleep(1.0)
        assert not alarm.connected.is_set()
        second = EdgeNode(edge_settings(tmp_path), detector)
        serve(second.app, server.port)
        await until(lambda: second.store is not None and second.store.counts()["acked"] == 1, 20)
        await asyncio.sleep(1.2)  # more than two resend intervals: an acknowledged alarm is not sent again
        assert len(alarm.received) == 1 and alarm.received[0].reason is AlarmReason.UNVERIFIED
    finally:
        await alarm.stop()
        await asyncio.gather(run, return_exceptions=True)


async def test_camera_reconnects_after_the_edge_restarts(serve, detector, tmp_path: Path, until) -> None:
    first = EdgeNode(edge_settings(tmp_path, sites=["site1"]), detector)
    server = serve(first.app)
    camera = CameraNode(CameraSettings(edge_url=server.url, node_token=token(tmp_path, "camera", "site1", "cam1"), source=str(person_folder(tmp_path, 2)), fps=10,
                                       loop=True, reconnect_delay=0.2, reconnect_delay_max=1.0))
    run = asyncio.create_task(camera.run())
    try:
        await until(lambda: camera.stats.frames_acked >= 2, 30)
        server.stop()
        acked_before = camera.stats.frames_acked
        second = EdgeNode(edge_settings(tmp_path, sites=["site1"]), detector)
        serve(second.app, server.port)
        await until(lambda: second.metrics.frames_processed.labels("cam1")._value.get() >= 2, 30)
        assert camera.stats.frames_acked > acked_before
    finally:
        camera.stop()
        await asyncio.wait_for(run, 20)


async def test_bad_messages_get_an_error_and_change_nothing(serve, detector, tmp_path: Path, until) -> None:
    node = EdgeNode(edge_settings(tmp_path, sites=["site1"], cameras=["cam1"]), detector)
    server = serve(node.app)
    client = RawClient(tmp_path)
    await client.connect(server.url, Hello(role=NodeRole.CAMERA, node_id="cam1", site_id="site1"))
    good = frame()
    await client.sio.emit(SocketEvent.FRAME.value, {**encode(good), "seq": -1})  # wrong field value
    await client.sio.emit(SocketEvent.FRAME.value, {**encode(frame()), "jpeg": b"not a jpeg"})
    await client.sio.emit(SocketEvent.FRAME.value, encode(frame(camera="cam9")))  # not this connection's camera
    await client.sio.emit("selfie", {"x": 1})
    await client.sio.emit(SocketEvent.FRAME.value, encode(frame(seq=7, jpeg=b"\xff\xd8\xff\xe0" + b"\x00" * 64)))  # corrupt
    await client.sio.emit(SocketEvent.FRAME.value, encode(good))
    await until(lambda: len(client.of(SocketEvent.ERROR.value)) == 4 and len(client.of(SocketEvent.FRAME_ACK.value)) == 2,
                20)
    errors = [decode(ErrorMessage, e) for e in client.of(SocketEvent.ERROR.value)]
    assert [e.code for e in errors] == ["bad_frame", "bad_frame", "wrong_camera", "unknown_event"]
    assert "seq" in errors[0].detail and "jpeg" in errors[1].detail
    acks = {a.seq: a for a in (decode(FrameAck, x) for x in client.of(SocketEvent.FRAME_ACK.value))}
    assert acks[7].status is FrameStatus.FAILED and "decodable" in acks[7].detail
    assert acks[0].status is FrameStatus.PROCESSED and acks[0].trace_id == good.trace_id and acks[0].persons >= 1
    await client.sio.disconnect()

    refused = RawClient(tmp_path)
    for hello in (Hello(role=NodeRole.CAMERA, node_id="cam7", site_id="site1"),
                  Hello(role=NodeRole.CAMERA, node_id="cam1", site_id="site9")):
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(server.url, hello)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.sio.connect(server.url, auth={"role": "camera"}, transports=["websocket"], wait_timeout=10)


async def test_newest_frame_wins_and_drops_are_acked(serve, detector, tmp_path: Path, until) -> None:
    node = EdgeNode(edge_settings(tmp_path, sites=["site1"], frame_buffer=1), detector)
    server = serve(node.app)
    client = RawClient(tmp_path)
    await client.connect(server.url, Hello(role=NodeRole.CAMERA, node_id="cam1", site_id="site1"))
    big = _large_person_jpeg()
    for seq in range(6):
        await client.sio.emit(SocketEvent.FRAME.value, encode(frame(seq=seq, jpeg=big)))
    await until(lambda: len(client.of(SocketEvent.FRAME_ACK.value)) == 6, 30)
    acks = [decode(FrameAck, x) for x in client.of(SocketEvent.FRAME_ACK.value)]
    by_status = {s: sorted(a.seq for a in acks if a.status is s) for s in FrameStatus}
    assert 5 in by_status[FrameStatus.PROCESSED], "the newest frame is always processed"
    assert by_status[FrameStatus.DROPPED], "frames pushed out of the buffer are reported, not lost silently"
    assert node.metrics.frames_dropped.labels("cam1")._value.get() == len(by_status[FrameStatus.DROPPED])
    await client.sio.disconnect()


def _large_person_jpeg() -> bytes:
    """A 1920x1080 frame with the person photo in it: slow enough to decode and detect to fill a buffer."""
    canvas = Image.new("RGB", (1920, 1080), (90, 100, 110))
    canvas.paste(Image.open(PERSON), (700, 300))
    out = io.BytesIO()
    canvas.save(out, format="JPEG", quality=95)
    return out.getvalue()


async def test_event_loop_answers_while_workers_are_busy(serve, detector, tmp_path: Path) -> None:
    node = EdgeNode(edge_settings(tmp_path, sites=["site1"], workers=1, frame_buffer=5), detector)
    server = serve(node.app)
    clients = []
    acked = asyncio.Event()
    done_at: list[float] = []
    big = _large_person_jpeg()
    for index in range(3):
        client = RawClient(tmp_path)
        await client.connect(server.url, Hello(role=NodeRole.CAMERA, node_id=f"cam{index}", site_id="site1"))
        clients.append(client)

    async def on_ack(_data: Any) -> None:
        done_at.append(time.monotonic())
        if len(done_at) == 9:
            acked.set()

    for client in clients:
        client.sio.on(SocketEvent.FRAME_ACK.value, on_ack)
    for seq in range(3):
        for index, client in enumerate(clients):
            await client.sio.emit(SocketEvent.FRAME.value, encode(frame(camera=f"cam{index}", seq=seq, jpeg=big)))
    answered_at: list[float] = []
    deadline = time.monotonic() + 90
    async with httpx.AsyncClient(base_url=server.url) as http:
        while not acked.is_set():
            assert time.monotonic() < deadline, f"only {len(done_at)} of 9 frames acked"
            assert (await http.get("/healthz")).status_code == 200
            answered_at.append(time.monotonic())
            await asyncio.sleep(0.01)
    # Nine large frames went through one worker one after another. Health checks were answered all along,
    # also between the first and the last frame's ack: the loop never waited for the model.
    during_work = [t for t in answered_at if done_at[0] < t < done_at[-1]]
    assert len(during_work) >= 3, (len(answered_at), done_at)
    for client in clients:
        await client.sio.disconnect()


def test_edge_command_rejects_a_missing_model(node_process: Callable[..., Any], tmp_path: Path) -> None:
    edge = node_process(["edge", "--detector", "yolo", "--model-path", str(tmp_path / "missing.onnx"),
                         "--port", "1"])
    assert edge.proc.wait(60) == 2
    _, err = edge.stop()
    assert "missing.onnx" in err


async def test_a_detector_that_keeps_failing_makes_the_edge_unready(serve, tmp_path: Path, until) -> None:
    detector = create_detector("nanodet", input_size=320, confidence=0.5)
    node = EdgeNode(edge_settings(tmp_path, sites=["site1"], frame_buffer=10), detector)
    server = serve(node.app)
    client = RawClient(tmp_path)
    await client.connect(server.url, Hello(role=NodeRole.CAMERA, node_id="cam1", site_id="site1"))
    good_outputs = detector._outputs
    detector._outputs = ["no_such_output"]  # ONNX Runtime now fails every run, as with a broken model update
    for seq in range(5):
        await client.sio.emit(SocketEvent.FRAME.value, encode(frame(seq=seq)))
    await until(lambda: len(client.of(SocketEvent.FRAME_ACK.value)) == 5, 20)
    assert {decode(FrameAck, a).status for a in client.of(SocketEvent.FRAME_ACK.value)} == {FrameStatus.FAILED}
    async with httpx.AsyncClient(base_url=server.url) as http:
        answer = await http.get("/readyz")
        assert answer.status_code == 503 and "detector failing" in answer.json()["error"]
        detector._outputs = good_outputs
        await client.sio.emit(SocketEvent.FRAME.value, encode(frame(seq=5)))
        await until(lambda: len(client.of(SocketEvent.FRAME_ACK.value)) == 6, 20)
        assert (await http.get("/readyz")).status_code == 200
    await client.sio.disconnect()


async def test_an_alarm_ack_in_another_nodes_name_is_refused(serve, detector, tmp_path: Path, until) -> None:
    """A node with a real alarm token acknowledges only as itself: the outbox records the sender's
    authenticated id, and a claimed other id is refused (the alarm stays pending for the real node)."""
    node = EdgeNode(edge_settings(tmp_path, alarm_resend_interval=300), detector)
    server = serve(node.app)
    camera = RawClient(tmp_path)
    await camera.connect(server.url, Hello(role=NodeRole.CAMERA, node_id="cam1", site_id="site1"))
    await camera.sio.emit(SocketEvent.FRAME.value, encode(frame()))
    store = node.store
    assert store is not None
    await until(lambda: store.counts()["total"] == 1, 20)
    spoofer = RawClient(tmp_path)
    await spoofer.connect(server.url, Hello(role=NodeRole.ALARM, node_id="hall", site_id="site1"))
    await until(lambda: len(spoofer.of(SocketEvent.ALARM.value)) == 1, 15)
    event_id = spoofer.of(SocketEvent.ALARM.value)[0]["event_id"]
    await spoofer.sio.emit(SocketEvent.ALARM_ACK.value, {"event_id": event_id, "node_id": "spoofed-node"})
    await until(lambda: any(e.get("code") == "wrong_node" for e in spoofer.of(SocketEvent.ERROR.value)), 10)
    assert store.counts()["acked"] == 0
    await spoofer.sio.emit(SocketEvent.ALARM_ACK.value, {"event_id": event_id, "node_id": "hall"})
    await until(lambda: store.counts()["acked"] == 1, 10)
    await spoofer.sio.disconnect()
    await camera.sio.disconnect()
