"""Per-node credentials, origins and /metrics access on the REAL edge over real Socket.IO on loopback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
import websockets

from edgewatch.alarm.node import AlarmNode
from edgewatch.camera.node import CameraNode
from edgewatch.config import AlarmSettings, CameraSettings, EdgeSettings
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.server import EdgeNode
from edgewatch.protocol import Hello, NodeRole, RefusalCode, encode

ASSETS = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets"
PERSON = ASSETS / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def detector() -> Any:
    return create_detector("nanodet", input_size=320, confidence=0.5)


def edge(tmp_path: Path, credentials: Any, detector: Any, **overrides: Any) -> EdgeNode:
    values: dict[str, Any] = {
        "sites": ["site1", "site2"], "workers": 1, "alarm_db": tmp_path / "alarms.db", "input_size": 320,
        "confidence": 0.5, "credentials_file": credentials.path, "alarm_resend_interval": 0.5,
    }
    values.update(overrides)
    return EdgeNode(EdgeSettings(**values), detector)


async def attempt(url: str, role: str, site: str, node: str, token: str | None,
                  headers: dict[str, str] | None = None) -> tuple[bool, Any]:
    """Connect once as a bare Socket.IO client; (connected, the refusal payload the edge sent)."""
    client = socketio.AsyncClient(reconnection=False)
    refused: list[Any] = []
    client.on("connect_error", lambda data=None: refused.append(data))
    hello = encode(Hello(role=NodeRole(role), node_id=node, site_id=site, token=token))
    try:
        await client.connect(url, auth=hello, transports=["websocket"], wait_timeout=10, headers=headers or {})
    except socketio.exceptions.ConnectionError as exc:
        return False, _refusal(refused[0]) if refused else {"message": str(exc)}
    await client.disconnect()
    return True, None


def _refusal(payload: Any) -> dict[str, Any]:
    """The edge's ``{"code", "message"}`` from a connect_error payload (``{"message", "data"}``)."""
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
        return payload["data"]
    return payload if isinstance(payload, dict) else {"message": str(payload)}


async def test_nodes_without_a_valid_credential_are_refused(serve, detector, credentials, tmp_path: Path) -> None:
    credentials.issue("camera", "site1", "cam1")
    node = edge(tmp_path, credentials, detector)
    server = serve(node.app)
    for role, name in (("camera", "cam1"), ("alarm", "alarm1")):
        ok, refusal = await attempt(server.url, role, "site1", name, None)
        assert not ok and refusal["code"] == RefusalCode.UNAUTHORIZED.value
        ok, refusal = await attempt(server.url, role, "site1", name, "ewn_" + "A" * 43)
        assert not ok and refusal["code"] == RefusalCode.UNAUTHORIZED.value
    refused = node.metrics.registry.get_sample_value("edgewatch_edge_clients_refused_total", {"code": "unauthorized"})
    assert refused == 4


async def test_a_credential_works_only_for_its_own_role_site_and_id(serve, detector, credentials,
                                                                    tmp_path: Path) -> None:
    cam1 = credentials.issue("camera", "site1", "cam1")
    alarm1 = credentials.issue("alarm", "site1", "alarm1")
    server = serve(edge(tmp_path, credentials, detector).app)
    assert (await attempt(server.url, "camera", "site1", "cam1", cam1))[0]
    assert (await attempt(server.url, "alarm", "site1", "alarm1", alarm1))[0]
    for role, site, name, token in (
        ("camera", "site1", "cam2", cam1),  # another camera's id
        ("alarm", "site1", "cam1", cam1),  # a camera posing as an alarm node (receives alarms, acks them)
        ("camera", "site2", "cam1", cam1),  # the same id at another site
        ("camera", "site1", "alarm1", alarm1),  # an alarm node's token sending frames
    ):
        ok, refusal = await attempt(server.url, role, site, name, token)
        assert not ok and refusal["code"] == RefusalCode.FORBIDDEN.value, (role, site, name)
        assert token not in json.dumps(refusal)


async def test_revoking_a_node_cuts_its_live_session_and_refuses_it_after(serve, detector, credentials,
                                                                         tmp_path: Path, until) -> None:
    token = credentials.issue("alarm", "site1", "hall")
    node = edge(tmp_path, credentials, detector)
    assert node.auth is not None
    node.auth.poll_interval = 0.2
    server = serve(node.app)
    alarm = AlarmNode(AlarmSettings(edge_url=server.url, site_id="site1", node_id="hall", node_token=token,
                                    reconnect_delay=0.2, reconnect_delay_max=0.5), console=False)
    run = asyncio.create_task(alarm.run())
    try:
        await until(lambda: alarm.connected.is_set(), 15)
        assert credentials.revoke("site1", "hall") == 1
        await until(lambda: not alarm.connected.is_set(), 10)
        # Connecting again with the same token: the edge answers `revoked` (a permanent refusal).
        ok, refusal = await attempt(server.url, "alarm", "site1", "hall", token)
        assert not ok and refusal["code"] == RefusalCode.REVOKED.value
        refused = node.metrics.registry.get_sample_value("edgewatch_edge_clients_refused_total", {"code": "revoked"})
        assert refused and refused >= 1
        await asyncio.sleep(1.0)
        assert not alarm.connected.is_set()
    finally:
        await alarm.stop()
        await asyncio.gather(run, return_exceptions=True)


async def test_an_authenticated_camera_streams_and_the_token_never_reaches_the_logs(
    serve, detector, credentials, tmp_path: Path
) -> None:
    from edgewatch.telemetry.logs import configure_logging

    log_file = configure_logging("edge", tmp_path / "logs")
    assert log_file is not None
    token = credentials.issue("camera", "site1", "cam1")
    node = edge(tmp_path, credentials, detector)
    server = serve(node.app)
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(3):
        (folder / f"f{index}.jpg").write_bytes(PERSON.read_bytes())
    token_file = tmp_path / "cam1.token"
    token_file.write_text(token + "\n")
    camera = CameraNode(CameraSettings(edge_url=server.url, source=str(folder), fps=20, send_buffer=10,
                                       node_token_file=token_file))
    stats = await asyncio.wait_for(camera.run(), 60)
    assert stats.frames_acked == 3
    assert node.metrics.registry.get_sample_value("edgewatch_edge_frames_processed_total", {"camera": "cam1"}) == 3
    text = log_file.read_text()
    assert "client_connected" in text and token not in text


async def test_cross_origin_websocket_is_refused(serve, detector, credentials, tmp_path: Path) -> None:
    token = credentials.issue("camera", "site1", "cam1")
    node = edge(tmp_path, credentials, detector, allowed_origins=["https://console.example:8443"])
    server = serve(node.app)
    ws_url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
    # A page on evil.example opening the edge's WebSocket: refused before any Socket.IO handshake.
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(ws_url, origin="http://evil.example", open_timeout=10):
            pass
    assert refused.value.response.status_code in (400, 403)  # uvicorn answers a refused WebSocket with 403
    async with httpx.AsyncClient(base_url=server.url) as http:
        polling = await http.get("/socket.io/?EIO=4&transport=polling", headers={"Origin": "http://evil.example"})
        assert polling.status_code == 400 and b"not an accepted origin" in polling.content
        own = await http.get("/socket.io/?EIO=4&transport=polling",
                             headers={"Origin": f"http://127.0.0.1:{server.port}"})
        assert own.status_code == 200  # the console served by the edge itself
    # The edge's own origin and an allow-listed one get a handshake (the engine.io "open" packet).
    for origin in (f"http://127.0.0.1:{server.port}", "https://console.example:8443"):
        async with websockets.connect(ws_url, origin=origin, open_timeout=10) as ws:
            assert str(await asyncio.wait_for(ws.recv(), 10)).startswith("0{")
    # Even an allowed origin with a stolen Origin header gets nowhere without a credential.
    ok, refusal = await attempt(server.url, "camera", "site1", "cam1", None,
                                headers={"Origin": "https://console.example:8443"})
    assert not ok and refusal["code"] == RefusalCode.UNAUTHORIZED.value
    assert (await attempt(server.url, "camera", "site1", "cam1", token,
                          headers={"Origin": "https://console.example:8443"}))[0]


async def test_metrics_need_a_token_unless_bound_to_loopback(serve, detector, credentials, tmp_path: Path) -> None:
    open_node = edge(tmp_path, credentials, detector, host="0.0.0.0", alarm_db=tmp_path / "a.db")
    locked = edge(tmp_path, credentials, detector, host="0.0.0.0", metrics_token="scrape-me", alarm_db=tmp_path / "b.db")
    loopback = edge(tmp_path, credentials, detector, alarm_db=tmp_path / "c.db")
    servers = [serve(n.app) for n in (open_node, locked, loopback)]
    async with httpx.AsyncClient() as http:
        no_token = await http.get(f"{servers[0].url}/metrics")
        assert no_token.status_code == 403 and "EDGEWATCH_METRICS_TOKEN" in no_token.json()["detail"]
        assert (await http.get(f"{servers[1].url}/metrics")).status_code == 401
        wrong = await http.get(f"{servers[1].url}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await http.get(f"{servers[1].url}/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert right.status_code == 200 and "edgewatch_edge_frames_received" in right.text
        assert (await http.get(f"{servers[2].url}/metrics")).status_code == 200
        assert (await http.get(f"{servers[0].url}/healthz")).status_code == 200  # health stays open


def test_a_camera_process_with_another_nodes_token_stops_with_one_line(serve, detector, credentials, node_process,
                                                                      tmp_path: Path) -> None:
    """The real `edgewatch camera` command: refused as `forbidden` (a permanent refusal), it exits non-zero
    with one clear line, and the token never shows in its output."""
    token = credentials.issue("alarm", "site1", "hall")
    server = serve(edge(tmp_path, credentials, detector).app)
    token_file = tmp_path / "stolen.token"
    token_file.write_text(token)
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "f0.jpg").write_bytes(PERSON.read_bytes())
    camera = node_process(["camera", "--edge-url", server.url, "--site-id", "site1", "--camera-id", "cam1",
                           "--source", str(frames), "--loop", "--node-token-file", str(token_file)])
    code = camera.proc.wait(60)
    out, err = camera.output()
    assert code not in (0, None)
    assert "forbidden" in err and "Traceback" not in err and token not in out + err
