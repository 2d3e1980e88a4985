"""Health checks that mean something, on the IoT nodes' metrics port (what the containers' HEALTHCHECK
reads): a camera is healthy only while connected AND its frames are processed by the edge; an alarm node
only while connected. Against the REAL edge on loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Any

import httpx

from edgewatch.alarm.node import AlarmNode
from edgewatch.camera.node import CameraNode
from edgewatch.config import AlarmSettings, CameraSettings
from edgewatch.telemetry.health import MAX_CONNECTIONS

from .conftest import edge_count


def camera(url: str, source: Path, metrics_port: int, **overrides: Any) -> CameraNode:
    values: dict[str, Any] = {
        "edge_url": url, "source": str(source), "camera_id": "cam7", "site_id": "siteA", "fps": 10.0, "loop": True,
        "reconnect_delay": 0.1, "reconnect_delay_max": 0.5, "reconnect_jitter": 0.05, "metrics_port": metrics_port,
        "health_window": 1.0,
    }
    values.update(overrides)
    return CameraNode(CameraSettings(**values), metrics_host="127.0.0.1", ack_timeout=2.0)


async def healthz(port: int) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5) as client:
        answer = await client.get(f"http://127.0.0.1:{port}/healthz")
    return answer.status_code, answer.json()


async def wait_health(port: int, status: int, until: Any, timeout: float = 20) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def check() -> bool:
        try:
            code, body = await healthz(port)
        except httpx.TransportError:
            return False
        seen.update(body=body, code=code)
        return code == status

    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"/healthz never answered {status}: {seen}"
        await asyncio.sleep(0.1)
    return seen["body"]


async def test_camera_is_healthy_only_while_its_frames_are_processed(
    real_edge, detector, image_folder: Path, until, port: int
) -> None:
    edge, server = real_edge()
    node = camera(server.url, image_folder, port)
    task = asyncio.create_task(node.run())
    try:
        body = await wait_health(port, 200, until)
        assert body["status"] == "ok" and body["connected"] is True and body["last_processed_s_ago"] <= 1.0
        assert edge_count(edge, "processed", "cam7") >= 1

        # The edge's model breaks (as in test_edge_server): every frame is still answered, as "failed".
        good_outputs = detector._outputs
        detector._outputs = ["no_such_output"]
        try:
            failed_before = edge_count(edge, "failed", "cam7")
            body = await wait_health(port, 503, until)
            assert body["connected"] is True and "no frame processed" in body["reason"]
            assert edge_count(edge, "failed", "cam7") > failed_before  # answered, yet not healthy
        finally:
            detector._outputs = good_outputs
        await wait_health(port, 200, until)

        await asyncio.to_thread(server.stop)  # the edge goes away
        body = await wait_health(port, 503, until)
        assert body["reason"] == "not connected to the edge" and body["connected"] is False
    finally:
        node.stop()
        await asyncio.wait_for(task, 20)


async def test_camera_whose_frames_are_never_answered_is_unhealthy(
    real_edge, detector, image_folder: Path, until, port: int
) -> None:
    loaded = threading.Event()

    def load_model_slowly() -> Any:  # the edge takes frames but answers none until its model is loaded
        loaded.wait(60)
        return detector

    _edge, server = real_edge(detector_source=load_model_slowly)
    node = camera(server.url, image_folder, port)
    task = asyncio.create_task(node.run())
    try:
        await until(lambda: node.link.connected.is_set() and node.stats.frames_sent >= 2, timeout=20)
        code, body = await healthz(port)
        assert code == 503 and body["connected"] is True and body["last_processed_s_ago"] is None
        loaded.set()
        await wait_health(port, 200, until, timeout=60)
    finally:
        loaded.set()
        node.stop()
        await asyncio.wait_for(task, 20)


async def test_metrics_still_served_and_unknown_paths_404(real_edge, image_folder: Path, port: int) -> None:
    _edge, server = real_edge()
    node = camera(server.url, image_folder, port)
    task = asyncio.create_task(node.run())
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(100):
                try:
                    metrics = await client.get(f"http://127.0.0.1:{port}/metrics")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            assert metrics.status_code == 200 and "edgewatch_camera_frames_sent" in metrics.text
            assert (await client.get(f"http://127.0.0.1:{port}/nope")).status_code == 404
        # silent connections beyond the cap are closed at once (memory and threads stay bounded) ...
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(MAX_CONNECTIONS + 3)]
        try:
            extra = await asyncio.to_thread(lambda: [sock.recv(1) for sock in idle[MAX_CONNECTIONS:]])
            assert extra == [b"", b"", b""]
        finally:
            for sock in idle:
                sock.close()
        # ... and once they are gone the port answers again
        async with httpx.AsyncClient(timeout=15) as client:
            for _ in range(100):
                try:
                    assert (await client.get(f"http://127.0.0.1:{port}/metrics")).status_code == 200
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("the metrics port did not recover")
    finally:
        node.stop()
        await asyncio.wait_for(task, 20)


async def test_alarm_node_is_healthy_only_while_connected(real_edge, until, port: int) -> None:
    _edge, server = real_edge()
    node = AlarmNode(AlarmSettings(edge_url=server.url, node_id="hall", site_id="site1", reconnect_delay=0.1,
                                   reconnect_delay_max=0.5, metrics_port=port), console=False,
                     metrics_host="127.0.0.1")
    task = asyncio.create_task(node.run())
    try:
        body = await wait_health(port, 200, until)
        assert body == {"status": "ok", "node_id": "hall", "site_id": "site1", "connected": True, "alarms": 0,
                        "acks_sent": 0}
        await asyncio.to_thread(server.stop)
        body = await wait_health(port, 503, until)
        assert body["reason"] == "not connected to the edge"
        _edge2, _ = real_edge(port=server.port)
        await wait_health(port, 200, until, timeout=30)
    finally:
        await node.stop()
        await asyncio.wait_for(task, 20)


def test_metrics_port_is_on_loopback_unless_asked() -> None:
    """The camera/alarm metrics and health port is unauthenticated: loopback by default."""
    from edgewatch.config import AlarmSettings

    assert CameraSettings().metrics_host == "127.0.0.1" and AlarmSettings().metrics_host == "127.0.0.1"
