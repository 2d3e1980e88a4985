"""The edge's /readyz shows its cloud: ready with a reachable cloud, *degraded* (still 200, still serving
frames) when the cloud cannot be reached or its circuit breaker is open. Real edge, real cloud app (local
face backend), real HTTP on loopback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgewatch.cloud.app import create_app as create_cloud_app
from edgewatch.config import CloudSettings, EdgeSettings
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.server import EdgeNode
from edgewatch.protocol import (
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

from .test_edge_server import RawClient

ASSETS = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets"
TOKEN = "readyz-test-token"


@pytest.fixture(scope="module")
def detector() -> Any:
    return create_detector("nanodet", input_size=320, confidence=0.5)


def edge_settings(tmp_path: Path, cloud_url: str | None) -> EdgeSettings:
    return EdgeSettings(sites=["site1"], workers=1, alarm_db=tmp_path / "alarms.db", cloud_url=cloud_url,
                        cloud_token=TOKEN if cloud_url else None, cloud_probe_interval=0.2, cloud_timeout=2.0,
                        verify_interval=0.2)


async def readyz(url: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        return await http.get("/readyz")


async def until_ready_says(url: str, cloud_status: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = await readyz(url)
        body = answer.json()
        if answer.status_code == 200 and body.get("cloud", {}).get("status") == cloud_status:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"/readyz never showed cloud {cloud_status}: {body}")


async def test_readyz_without_a_cloud_is_ready(serve, detector, tmp_path: Path) -> None:
    edge = serve(EdgeNode(edge_settings(tmp_path, None), detector).app)
    body = await until_ready_says(edge.url, "not_configured")
    assert body["status"] == "ready"


async def test_unreachable_cloud_makes_the_edge_degraded_but_still_serving(
    serve, detector, tmp_path: Path, until
) -> None:
    cloud = serve(create_cloud_app(CloudSettings(db_path=tmp_path / "faces.db", token=TOKEN)))
    node = EdgeNode(edge_settings(tmp_path, cloud.url), detector)
    edge = serve(node.app)

    body = await until_ready_says(edge.url, "ok")
    assert body["status"] == "ready" and body["cloud"]["breaker"] == {"state": "closed", "failures": 0}

    await asyncio.to_thread(cloud.stop)  # the cloud goes away
    body = await until_ready_says(edge.url, "unreachable")
    assert body["status"] == "degraded" and body["detector"].startswith("nanodet")
    assert "ConnectError" in body["cloud"]["error"] and TOKEN not in str(body)

    # degraded, not down: frames are still detected and answered; the person in them cannot be verified,
    # the cloud client's circuit breaker opens, and /readyz says so
    client = RawClient()
    await client.connect(edge.url, Hello(role=NodeRole.CAMERA, node_id="cam1", site_id="site1"))
    person = (ASSETS / "grace_hopper.jpg").read_bytes()
    deadline = time.monotonic() + 60
    seq = 0
    while (await readyz(edge.url)).json()["cloud"]["breaker"]["state"] != "opened":
        assert time.monotonic() < deadline, (await readyz(edge.url)).json()
        frame = Frame(camera_id="cam1", site_id="site1", seq=seq, captured_at=time.time(),
                      trace_id=new_trace_id(), jpeg=person)
        await client.sio.emit(SocketEvent.FRAME.value, encode(frame))
        seq += 1
        await asyncio.sleep(0.3)
    await until(lambda: len(client.of(SocketEvent.FRAME_ACK.value)) == seq, 20)
    acks = [decode(FrameAck, a).status for a in client.of(SocketEvent.FRAME_ACK.value)]
    assert FrameStatus.PROCESSED in acks and FrameStatus.FAILED not in acks
    await client.sio.disconnect()
    answer = await readyz(edge.url)
    assert answer.status_code == 200 and answer.json()["status"] == "degraded"

    cloud_again = serve(create_cloud_app(CloudSettings(db_path=tmp_path / "faces.db", token=TOKEN)), cloud.port)
    assert cloud_again.port == cloud.port
    body = await until_ready_says(edge.url, "ok", timeout=60)  # reachable again; the breaker closes on use
    assert body["cloud"]["status"] == "ok"


async def test_a_cloud_refusing_the_edges_token_shows_as_auth_failed(serve, detector, tmp_path: Path) -> None:
    """A wrong cloud token does not heal: /readyz says so (every person would end 'unverified' meanwhile)."""
    cloud = serve(create_cloud_app(CloudSettings(db_path=tmp_path / "faces.db", token="the-clouds-own-token")))
    node = EdgeNode(edge_settings(tmp_path, cloud.url), detector)  # the edge has TOKEN: wrong
    edge = serve(node.app)
    await until_ready_says(edge.url, "ok")  # reachable: the probe asks /readyz, which needs no token

    client = RawClient()
    await client.connect(edge.url, Hello(role=NodeRole.CAMERA, node_id="cam1", site_id="site1"))
    person = (ASSETS / "grace_hopper.jpg").read_bytes()
    for seq in range(3):  # a person appears: the edge asks the cloud, which answers 401
        frame = Frame(camera_id="cam1", site_id="site1", seq=seq, captured_at=time.time(),
                      trace_id=new_trace_id(), jpeg=person)
        await client.sio.emit(SocketEvent.FRAME.value, encode(frame))
        await asyncio.sleep(0.3)
    body = await until_ready_says(edge.url, "auth_failed")
    await client.sio.disconnect()
    assert body["status"] == "degraded" and "token" in body["cloud"]["error"]
    assert TOKEN not in str(body) and "the-clouds-own-token" not in str(body)
