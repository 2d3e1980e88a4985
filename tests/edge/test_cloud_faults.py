"""Fail-secure verification with a real cloud that goes away and comes back (real HTTP, real face model)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from edgewatch.alarm.node import AlarmNode
from edgewatch.cloud.app import create_app as create_cloud_app
from edgewatch.config import AlarmSettings, CloudSettings, EdgeSettings
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.server import EdgeNode
from edgewatch.protocol import AlarmReason, Frame, Hello, NodeRole, SocketEvent, encode, new_trace_id

from .test_edge_server import RawClient

ASSETS = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets"
UNKNOWN = (ASSETS / "grace_hopper.jpg").read_bytes()
TOKEN = "fault-test-token"


@pytest.fixture(scope="module")
def face_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("cloud") / "faces.db"
    subprocess.run([sys.executable, "-m", "edgewatch", "persons", "--db", str(db), "add", "eileen-collins",
                    str(ASSETS / "astronaut.jpg")], check=True, capture_output=True, timeout=120)
    return db


def cloud_app(db: Path) -> Any:
    return create_cloud_app(CloudSettings(db_path=db, token=TOKEN))


async def stream(client: RawClient, camera: str, seconds: float, interval: float = 0.3) -> float:
    """Send the unknown person's photo as camera ``camera`` for ``seconds``; returns the first send time."""
    first = time.time()
    deadline = time.monotonic() + seconds
    seq = 0
    while time.monotonic() < deadline:
        frame = Frame(camera_id=camera, site_id="site1", seq=seq, captured_at=time.time(),
                      trace_id=new_trace_id(), jpeg=UNKNOWN)
        await client.sio.emit(SocketEvent.FRAME.value, encode(frame))
        seq += 1
        await asyncio.sleep(interval)
    return first


@pytest.mark.timeout(180)
async def test_cloud_outage_gives_unverified_alarms_and_verification_resumes(serve, face_db: Path, tmp_path: Path,
                                                                             until) -> None:
    cloud = serve(cloud_app(face_db))
    settings = EdgeSettings(sites=["site1"], workers=1, alarm_db=tmp_path / "alarms.db", cloud_url=cloud.url,
                            cloud_token=TOKEN, verify_timeout=3.0, verify_interval=0.3, cloud_timeout=2.0,
                            alarm_resend_interval=1.0, confidence=0.5)
    edge_node = EdgeNode(settings, create_detector("nanodet", input_size=320, confidence=0.5))
    edge = serve(edge_node.app)
    alarm = AlarmNode(AlarmSettings(edge_url=edge.url, site_id="site1", node_id="hall"), console=False)
    alarm_run = asyncio.create_task(alarm.run())
    cameras: list[RawClient] = []
    try:
        await until(lambda: alarm.connected.is_set(), 15)
        for camera_id in ("cam1", "cam2"):
            client = RawClient()
            await client.connect(edge.url, Hello(role=NodeRole.CAMERA, node_id=camera_id, site_id="site1"))
            cameras.append(client)

        # Cloud up: the unknown person is an intruder, at once.
        await stream(cameras[0], "cam1", 1.0)
        await until(lambda: any(a.camera_id == "cam1" for a in alarm.received), 20)
        assert [a.reason for a in alarm.received] == [AlarmReason.INTRUDER]

        # Cloud down: a new person cannot be verified -> `unverified` within verify_timeout; frames still flow.
        cloud.stop()
        acks_before = len(cameras[1].of(SocketEvent.FRAME_ACK.value))
        first_sent = await stream(cameras[1], "cam2", settings.verify_timeout + 1.5)
        await until(lambda: any(a.camera_id == "cam2" for a in alarm.received), 15)
        cam2 = [a for a in alarm.received if a.camera_id == "cam2"]
        assert [a.reason for a in cam2] == [AlarmReason.UNVERIFIED], alarm.received
        # Raised by the timeout (checked every 0.5 s), not by some later event; generous for a loaded CI box.
        assert cam2[0].raised_at - first_sent <= settings.verify_timeout + 3.0
        assert len(cameras[1].of(SocketEvent.FRAME_ACK.value)) - acks_before >= 10, "the edge kept detecting"

        # Cloud back on the same address: the still-visible person is verified after all -> intruder.
        serve(cloud_app(face_db), cloud.port)
        deadline = time.monotonic() + 40
        while not any(a.camera_id == "cam2" and a.reason is AlarmReason.INTRUDER for a in alarm.received):
            assert time.monotonic() < deadline, f"verification did not resume: {alarm.received}"
            await stream(cameras[1], "cam2", 1.0)
        assert edge_node.store is not None
        await until(lambda: edge_node.store.counts()["pending"] == 0, 10)
        reasons = [(a.camera_id, a.reason) for a in alarm.received]
        assert reasons == [("cam1", AlarmReason.INTRUDER), ("cam2", AlarmReason.UNVERIFIED),
                           ("cam2", AlarmReason.INTRUDER)]
        registry = edge_node.metrics.registry
        assert registry.get_sample_value("edgewatch_edge_alarms_total", {"reason": "intruder"}) == 2
        assert registry.get_sample_value("edgewatch_edge_alarms_total", {"reason": "unverified"}) == 1
        # decided: cam1 intruder, cam2 unverified, cam2 intruder
        assert registry.get_sample_value("edgewatch_edge_cloud_requests_per_track_count") == 3
    finally:
        for client in cameras:
            await client.sio.disconnect()
        await alarm.stop()
        await asyncio.gather(alarm_run, return_exceptions=True)
