"""Issue 12 acceptance on real frames, through the real edge (Socket.IO on loopback, NanoDet, SQLite
outbox, alarm node, cloud): masks, zones with annotated snapshots, N-of-M confirmation, motion gating.

Every test runs on the bundled demo scene and, when ``../shared/data`` is present, on the WiseNET corridor.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from edgewatch.alarm.node import AlarmNode
from edgewatch.config import AlarmSettings, CloudSettings, EdgeSettings
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.server import EdgeNode
from edgewatch.protocol import (
    AlarmReason,
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

from .scenes import Scene, demo_scene, wisenet_scene
from .test_edge_server import RawClient

ASSETS = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets"
CONFIDENCE = 0.3  # the WiseNET frames' ceiling view scores lower than the demo's portraits


@pytest.fixture(scope="module", params=["demo", pytest.param("wisenet", marks=pytest.mark.shared_data)])
def scene(request: pytest.FixtureRequest) -> Scene:
    if request.param == "wisenet":
        folder = request.getfixturevalue("shared_data") / "wisenet-frames"
        if not folder.is_dir():
            pytest.skip("../shared/data/wisenet-frames is absent")
        return wisenet_scene(folder)
    return demo_scene()


class CountingDetector:
    """The real detector, counting its runs (to see which frames the gate kept from it)."""

    def __init__(self) -> None:
        self.inner = create_detector("nanodet", input_size=320, confidence=CONFIDENCE)
        self.name, self.input_size = self.inner.name, self.inner.input_size
        self.calls = 0

    def detect(self, image: np.ndarray) -> Any:
        self.calls += 1
        return self.inner.detect(image)


@pytest.fixture(scope="module")
def detector() -> CountingDetector:
    return CountingDetector()


def settings(tmp_path: Path, **overrides: Any) -> EdgeSettings:
    values: dict[str, Any] = {"sites": ["site1"], "workers": 1, "alarm_db": tmp_path / "alarms.db",
                              "verify_timeout": 0.5, "alarm_resend_interval": 0.5, "confidence": CONFIDENCE}
    return EdgeSettings(**{**values, **overrides})


async def camera(url: str, camera_id: str = "cam1") -> RawClient:
    client = RawClient()
    await client.connect(url, Hello(role=NodeRole.CAMERA, node_id=camera_id, site_id="site1"))
    return client


async def send(client: RawClient, camera_id: str, seq: int, jpeg: bytes, until: Any) -> FrameAck:
    """Send one frame and wait for its ack (frames go one at a time, so none is replaced by a newer one)."""
    before = len(client.of(SocketEvent.FRAME_ACK.value))
    frame = Frame(camera_id=camera_id, site_id="site1", seq=seq, captured_at=time.time(), trace_id=new_trace_id(),
                  jpeg=jpeg)
    await client.sio.emit(SocketEvent.FRAME.value, encode(frame))
    await until(lambda: len(client.of(SocketEvent.FRAME_ACK.value)) > before, 60)
    return decode(FrameAck, client.of(SocketEvent.FRAME_ACK.value)[-1])


def sample(metrics: Any, name: str, labels: dict[str, str]) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.mark.timeout(180)
async def test_a_person_inside_a_mask_raises_nothing(serve, detector, scene: Scene, tmp_path: Path, until) -> None:
    view = {"masks": [scene.around_feet]}
    node = EdgeNode(settings(tmp_path, per_camera={"cam1": view}), detector)
    edge = serve(node.app)
    masked, control = await camera(edge.url, "cam1"), await camera(edge.url, "cam2")
    try:
        acks = [await send(masked, "cam1", i, jpeg, until) for i, jpeg in enumerate(scene.person)]
        assert [(a.status, a.persons) for a in acks] == [(FrameStatus.PROCESSED, 0)] * len(scene.person)
        # The same frames from a camera without a mask: the person is there and is alarmed about.
        for i, jpeg in enumerate(scene.person):
            assert (await send(control, "cam2", i, jpeg, until)).persons == 1
        assert node.store is not None
        await until(lambda: node.store.counts()["total"] >= 1, 30)
        await asyncio.sleep(1.0)  # well past verify_timeout for cam1 too
        assert [(e.camera_id, e.reason) for e in node.store.pending()] == [("cam2", AlarmReason.UNVERIFIED)]
        assert sample(node.metrics, "edgewatch_edge_detections_ignored_total",
                      {"camera": "cam1", "reason": "masked"}) == len(scene.person)
    finally:
        await masked.sio.disconnect()
        await control.sio.disconnect()


def red_fraction(image: Image.Image, box: tuple[float, float, float, float]) -> float:
    """Share of the rows along the left edge of ``box`` (within 8 px: detections of a re-decoded frame
    differ by a few pixels) that have a strongly red pixel."""
    pixels = np.asarray(image.convert("RGB")).astype(int)
    x = int(box[0])
    band = pixels[int(box[1]) + 10:int(box[3]) - 10, max(0, x - 8):x + 9]
    red = (band[..., 0] > 180) & (band[..., 1] < 90) & (band[..., 2] < 90)
    return float(red.any(axis=1).mean())


@pytest.mark.timeout(180)
async def test_a_person_in_a_zone_raises_an_alarm_naming_it_with_snapshots(
    serve, detector, scene: Scene, tmp_path: Path, until
) -> None:
    hooks: list[dict[str, Any]] = []

    async def receive(request: Request) -> JSONResponse:
        hooks.append(await request.json())
        return JSONResponse({"ok": True})

    receiver = serve(Starlette(routes=[Route("/hook", receive, methods=["POST"])]))
    view = {"zones": [{"name": "window", "polygon": scene.elsewhere}, {"name": "door", "polygon": scene.around_feet}]}
    node = EdgeNode(settings(tmp_path, per_camera={"cam1": view}), detector)
    edge = serve(node.app)
    folder = tmp_path / "snapshots"
    alarm = AlarmNode(AlarmSettings(edge_url=edge.url, site_id="site1", node_id="hall", snapshot_dir=folder,
                                    webhook_url=f"{receiver.url}/hook"), console=False)
    alarm_run = asyncio.create_task(alarm.run())
    client = await camera(edge.url)
    try:
        await until(lambda: alarm.connected.is_set(), 15)
        for i, jpeg in enumerate(scene.person):
            await send(client, "cam1", i, jpeg, until)
        await until(lambda: bool(alarm.received) and len(hooks) >= 1 and len(list(folder.glob("*.jpg"))) >= 2, 30)
        event = alarm.received[0]
        assert event.reason is AlarmReason.UNVERIFIED and event.zone == "door" and "zone door" in event.detail
        frame = Image.open(io.BytesIO(event.frame_jpeg or b""))
        full = Image.open(io.BytesIO(scene.person[0]))
        assert frame.size == full.size, "the whole frame, not a crop"
        crop = Image.open(io.BytesIO(event.snapshot_jpeg or b""))
        assert crop.width < full.width / 2, "the crop sent to the cloud"
        # The person's box is drawn in red where the detector found it (checked on a fresh detection).
        boxes = detector.inner.detect(np.asarray(full.convert("RGB")))
        assert len(boxes) == 1
        found = (boxes[0].x1, boxes[0].y1, boxes[0].x2, boxes[0].y2)
        assert red_fraction(frame, found) > 0.5 and red_fraction(full, found) < 0.05
        # Saved by the alarm node, and carried by the webhook.
        names = sorted(p.name for p in folder.glob("*.jpg"))
        assert [n.split("_")[-1] for n in names] == ["crop.jpg", "frame.jpg"] and event.event_id in names[0]
        assert (folder / names[1]).read_bytes() == event.frame_jpeg
        hook = hooks[0]
        assert hook["zone"] == "door" and hook["event_id"] == event.event_id
        assert base64.b64decode(hook["frame_jpeg_base64"]) == event.frame_jpeg
        assert base64.b64decode(hook["snapshot_jpeg_base64"]) == event.snapshot_jpeg
    finally:
        await client.sio.disconnect()
        await alarm.stop()
        await asyncio.gather(alarm_run, return_exceptions=True)


@pytest.fixture(scope="module")
def face_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("cloud") / "faces.db"
    subprocess.run([sys.executable, "-m", "edgewatch", "persons", "--db", str(db), "add", "eileen-collins",
                    str(ASSETS / "astronaut.jpg")], check=True, capture_output=True, timeout=180)
    return db


@pytest.mark.timeout(240)
async def test_a_single_frame_detection_never_reaches_the_cloud_with_confirmation_on(
    serve, detector, scene: Scene, face_db: Path, tmp_path: Path, until
) -> None:
    from edgewatch.cloud.app import create_app as create_cloud_app

    cloud = serve(create_cloud_app(CloudSettings(db_path=face_db, token="confirm-test-token")))
    node = EdgeNode(settings(tmp_path, cloud_url=cloud.url, cloud_token="confirm-test-token", confirm_hits=2,
                             confirm_window=3, verify_interval=0.2), detector)
    edge = serve(node.app)
    client = await camera(edge.url)

    def requests() -> float:
        return sum(sample(node.metrics, "edgewatch_edge_cloud_requests_total", {"outcome": o})
                   for o in ("known", "intruder", "no_face", "CloudUnavailable", "CloudRejected", "crashed"))

    try:
        seq = 0
        # A person in one frame only (think: a coat on a chair seen as a person once), then nothing.
        for jpeg in [scene.person[0], *scene.empty, *scene.empty]:
            ack = await send(client, "cam1", seq, jpeg, until)
            seq += 1
        assert ack.status is FrameStatus.PROCESSED
        await asyncio.sleep(1.5)  # past verify_timeout and several timeout checks
        assert requests() == 0 and node.store is not None and node.store.counts()["total"] == 0
        assert sample(node.metrics, "edgewatch_edge_tracks_total", {"camera": "cam1"}) == 0
        # The same person in two of three frames is confirmed, and only then the cloud is asked.
        for jpeg in scene.person[:2]:
            await send(client, "cam1", seq, jpeg, until)
            seq += 1
        await until(lambda: requests() >= 1, 60)
        assert sample(node.metrics, "edgewatch_edge_tracks_total", {"camera": "cam1"}) == 1
    finally:
        await client.sio.disconnect()


@pytest.mark.timeout(180)
async def test_a_frame_without_motion_skips_the_detector_and_is_acked_gated(
    serve, detector, scene: Scene, tmp_path: Path, until
) -> None:
    node = EdgeNode(settings(tmp_path, motion_gate=True, detect_interval=600), detector)
    edge = serve(node.app)
    client = await camera(edge.url)
    try:
        calls = detector.calls
        first = await send(client, "cam1", 0, scene.empty[0], until)
        assert first.status is FrameStatus.PROCESSED and detector.calls == calls + 1
        still = await send(client, "cam1", 1, scene.empty[1], until)
        assert still.status is FrameStatus.GATED and detector.calls == calls + 1, "the detector did not run"
        assert sample(node.metrics, "edgewatch_edge_frames_gated_total", {"camera": "cam1"}) == 1
        walked_in = await send(client, "cam1", 2, scene.person[0], until)
        assert walked_in.status is FrameStatus.PROCESSED and walked_in.persons == 1
        # Standing still makes no motion, but the person's track is active: still detected.
        stays = await send(client, "cam1", 3, scene.person[1], until)
        assert stays.status is FrameStatus.PROCESSED and stays.persons == 1 and detector.calls == calls + 3
    finally:
        await client.sio.disconnect()


@pytest.mark.parametrize("track_feedback", [True, False], ids=["with-tracks", "gate-alone"])
async def test_a_person_standing_still_longer_than_k_is_still_detected_every_k_seconds(
    detector, scene: Scene, tmp_path: Path, track_feedback: bool
) -> None:
    """1 fps: two empty frames, the person walks in, then stands still for 12 s with K = 3 s. The edge's
    own pipeline (gate, detector, tracker, identity book) on a scripted clock. With track feedback the
    active track keeps the detector running; without it (a track lost to a missed detection) the K rule
    alone must still find the person at least every K seconds."""
    from edgewatch.edge.frame_processing import FrameProcessor, ProcessedFrame
    from edgewatch.edge.motion import GateOptions, MotionGate
    from edgewatch.edge.verification import FrameContext, VerificationService

    k = 3.0
    now = [1000.0]
    edge = settings(tmp_path, verify_timeout=600)

    class NoAlarms:
        async def raise_alarm(self, event: Any) -> None:
            raise AssertionError("no alarm is due within the test")

    verification = VerificationService(edge, NoAlarms(), clock=lambda: now[0])
    processor = FrameProcessor(detector, gate=MotionGate(GateOptions(interval=k)))
    frames = [*scene.empty[:2], *[scene.person[i % len(scene.person)] for i in range(13)]]
    person_seen: list[float] = []
    gated = 0
    for second, jpeg in enumerate(frames):
        now[0] = 1000.0 + second
        active = track_feedback and verification.track_active("cam1")
        result = processor.process(jpeg, camera_id="cam1", track_active=active, now=float(second))
        if not isinstance(result, ProcessedFrame):
            gated += 1
            continue
        await verification.on_persons(FrameContext("cam1", "site1", new_trace_id(), now[0], jpeg), result.persons)
        if result.persons:
            person_seen.append(float(second))
    await verification.aclose()
    walked_in = float(len(scene.empty[:2]))
    assert person_seen[0] == walked_in, "detected as soon as they walk in (motion)"
    standing = [walked_in, *[t for t in person_seen if t > walked_in], float(len(frames) - 1)]
    gaps = [b - a for a, b in itertools.pairwise(standing)]
    assert max(gaps) <= k, (person_seen, gaps)
    if track_feedback:
        assert person_seen == [float(s) for s in range(2, len(frames))], "an active track is detected every frame"
    else:
        assert gated >= 6, "standing still without a track: the gate saves the frames between K checks"
        assert len(person_seen) >= (len(frames) - 1 - walked_in) // k
