"""Acceptance (issue 9): after 3,000 throwaway camera connections, each sending one frame, a real camera's
person still alarms within 2 s. Real edge process, real Socket.IO over loopback; the throwaway clients
speak Engine.IO/Socket.IO by hand over raw WebSockets (the cheapest honest client), in a few asyncio tasks.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from PIL import Image
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from edgewatch.alarm.node import AlarmNode
from edgewatch.config import AlarmSettings
from edgewatch.protocol import Frame, Hello, NodeRole, SocketEvent, encode, new_trace_id

ASSETS = Path(__file__).resolve().parents[1] / "src" / "edgewatch" / "sim" / "assets"
PERSON = ASSETS / "grace_hopper.jpg"
THROWAWAYS = 3000
TASKS = 24


def hello_auth(role: NodeRole, node_id: str, site_id: str = "site1") -> dict[str, Any]:
    """What a node presents when it connects: the one place to add its credential."""
    return encode(Hello(role=role, node_id=node_id, site_id=site_id))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def throwaway(port: int, camera_id: str, jpeg: bytes) -> str:
    """Connect as a camera, send one frame, leave. Returns 'sent' or the refusal."""
    uri = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
    try:
        ws_context = await connect(uri, open_timeout=30, max_size=None)
    except InvalidStatus as exc:  # too many sessions without a Hello from this host: refused up front
        return f"refused before the handshake: {exc}"
    async with ws_context as ws:
        opened = await ws.recv()
        assert str(opened).startswith("0")
        await ws.send("40" + json.dumps(hello_auth(NodeRole.CAMERA, camera_id)))
        answer = str(await ws.recv())
        if not answer.startswith("40"):
            return answer  # "44{...}": refused
        frame = encode(Frame(camera_id=camera_id, site_id="site1", seq=0, captured_at=time.time(),
                             trace_id=new_trace_id(), jpeg=jpeg))
        frame["jpeg"] = {"_placeholder": True, "num": 0}
        await ws.send("451-" + json.dumps([SocketEvent.FRAME.value, frame]))
        await ws.send(jpeg)
        return "sent"


def gray_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1920, 1080), (128, 128, 128)).save(out, format="JPEG")
    return out.getvalue()


async def flood(port: int) -> dict[str, int]:
    # 1080p: every buffered frame costs a decode and a detection, person or not. Without releasing the
    # frames of departed connections this test fails (checked: no alarm for the real camera within 30 s).
    jpeg = gray_jpeg()
    outcomes: dict[str, int] = {}
    counter = iter(range(THROWAWAYS))

    async def worker() -> None:
        for index in counter:
            result = await throwaway(port, f"junk{index}", jpeg)
            key = "sent" if result == "sent" else "refused"
            outcomes[key] = outcomes.get(key, 0) + 1

    await asyncio.gather(*[worker() for _ in range(TASKS)])
    return outcomes


async def test_real_person_alarms_within_2_s_after_3000_throwaway_cameras(node_process, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    edge = node_process(["edge", "--port", str(port), "--alarm-db", str(tmp_path / "alarms.db"), "--allow-unauthenticated-nodes",
                         "--verify-timeout", "0.5", "--log-level", "WARNING", "--camera-state-ttl", "5"])
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        while True:
            assert edge.proc.poll() is None and time.monotonic() < deadline, edge.output()
            try:
                if (await http.get("/readyz")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    alarm = AlarmNode(AlarmSettings(edge_url=url, site_id="site1", node_id="hall"), console=False)
    alarm_run = asyncio.create_task(alarm.run())
    camera = socketio.AsyncClient(reconnection=False)
    try:
        started = time.monotonic()
        outcomes = await flood(port)
        flood_s = time.monotonic() - started
        # All from one address: some are refused before the handshake (at most MAX_PENDING_PER_ADDRESS
        # sessions without a Hello per host); most still get in and send their frame.
        assert sum(outcomes.values()) == THROWAWAYS and outcomes.get("sent", 0) >= THROWAWAYS * 2 // 3, outcomes
        deadline = time.monotonic() + 15
        while not alarm.connected.is_set():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        # The real camera and its intruder, right after the flood.
        await camera.connect(url, auth=hello_auth(NodeRole.CAMERA, "door"), transports=["websocket"],
                             wait_timeout=10)
        first_frame = time.monotonic()
        seq = 0
        while not any(a.camera_id == "door" for a in alarm.received):
            assert time.monotonic() - first_frame < 30, "no alarm for the real camera"
            await camera.emit(SocketEvent.FRAME.value, encode(Frame(
                camera_id="door", site_id="site1", seq=seq, captured_at=time.time(), trace_id=new_trace_id(),
                jpeg=PERSON.read_bytes())))
            seq += 1
            await asyncio.sleep(0.1)
        alarm_s = time.monotonic() - first_frame
        print(f"{THROWAWAYS} throwaway cameras in {flood_s:.1f} s ({outcomes}); "
              f"real camera's person alarmed {alarm_s:.2f} s after its first frame")
        assert alarm_s < 2.0
        # Everything the throwaways left is released: frames at once, state and metric series after the TTL.
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            for _ in range(300):
                metrics = (await http.get("/metrics")).text
                if 'camera="junk' not in metrics:
                    break
                await asyncio.sleep(0.1)
        assert 'camera="junk' not in metrics
        released = [line for line in metrics.splitlines() if line.startswith("edgewatch_edge_cameras_released_total")]
        assert released and float(released[0].split()[-1]) >= outcomes["sent"]
        assert len(metrics) < 200_000
    finally:
        if camera.connected:
            await camera.disconnect()
        await alarm.stop()
        await asyncio.gather(alarm_run, return_exceptions=True)
    _, err = edge.stop()
    assert "Traceback" not in err


@pytest.fixture(autouse=True)
def _long(request: pytest.FixtureRequest) -> None:
    request.node.add_marker(pytest.mark.timeout(240))
