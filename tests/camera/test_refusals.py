"""Refusals by the edge: a permanent one (unknown camera or site, bad credential) is one clear error line and
exit status 3 for both IoT node kinds; a transient one (camera limit, busy) is retried with backoff.

The permanent cases run against the REAL edge. The transient case needs an edge that refuses with
``camera_limit`` and later accepts: a small python-socketio server of this test's own (real Socket.IO on
loopback) that answers with the same ``{"code", "message"}`` payload the edge sends."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import socketio

from edgewatch.alarm.node import AlarmNode
from edgewatch.camera.link import EXIT_REFUSED, EdgeRefused, parse_refusal
from edgewatch.camera.node import CameraNode
from edgewatch.config import AlarmSettings, CameraSettings
from edgewatch.protocol import (
    Frame,
    FrameAck,
    FrameStatus,
    Hello,
    RefusalCode,
    SocketEvent,
    decode,
    encode,
    refusal,
)


class LimitedEdge:
    """Refuses the first ``refuse`` connections with ``camera_limit`` (transient), then accepts and
    acknowledges every frame."""

    def __init__(self, refuse: int, code: RefusalCode = RefusalCode.CAMERA_LIMIT) -> None:
        self.refuse = refuse
        self.code = code
        self.attempts = 0
        self.accepted: list[str] = []
        self.frames = 0
        self.sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
        self.sio.on("connect", self.connect)
        self.sio.on(SocketEvent.FRAME.value, self.frame)
        self.app = socketio.ASGIApp(self.sio)

    async def connect(self, sid: str, _environ: dict[str, Any], auth: Any = None) -> None:
        hello = decode(Hello, auth)
        self.attempts += 1
        if self.attempts <= self.refuse:
            raise socketio.exceptions.ConnectionRefusedError(refusal(self.code, "the edge is full, try later"))
        self.accepted.append(hello.node_id)

    async def frame(self, sid: str, payload: Any) -> None:
        msg = decode(Frame, payload)
        self.frames += 1
        ack = FrameAck(camera_id=msg.camera_id, seq=msg.seq, trace_id=msg.trace_id, status=FrameStatus.PROCESSED)
        await self.sio.emit(SocketEvent.FRAME_ACK.value, encode(ack), to=sid)


def camera_settings(url: str, source: Path, **overrides: Any) -> CameraSettings:
    values: dict[str, Any] = {
        "edge_url": url, "source": str(source), "camera_id": "cam7", "site_id": "siteA", "fps": 20.0,
        "reconnect_delay": 0.1, "reconnect_delay_max": 0.4, "reconnect_jitter": 0.05,
    }
    values.update(overrides)
    return CameraSettings(**values)


def test_refusal_payloads_are_read_by_code() -> None:
    assert parse_refusal({"code": "unknown_site", "message": "no"}) == (RefusalCode.UNKNOWN_SITE, "no")
    assert parse_refusal({"code": "camera_limit", "message": "full"}) == (RefusalCode.CAMERA_LIMIT, "full")
    assert parse_refusal({"code": "from_the_future", "message": "?"}) == (None, "?")
    assert parse_refusal("Connection refused by the server") == (None, "Connection refused by the server")
    # how python-socketio actually delivers ConnectionRefusedError(refusal(...)) and the two-argument form
    wire = {"message": str(refusal(RefusalCode.REVOKED, "credential revoked"))}
    assert parse_refusal(wire) == (RefusalCode.REVOKED, "credential revoked")
    two = {"message": "refused", "data": refusal(RefusalCode.BUSY, "starting")}
    assert parse_refusal(two) == (RefusalCode.BUSY, "starting")
    assert parse_refusal({"message": "{__import__('os')}"}) == (None, "{__import__('os')}")  # never evaluated
    assert RefusalCode.UNKNOWN_CAMERA.permanent and not RefusalCode.CAMERA_LIMIT.permanent


async def test_transient_refusal_is_retried_with_backoff(serve, logs, image_folder: Path) -> None:
    edge = LimitedEdge(refuse=3)
    server = serve(edge.app)
    node = CameraNode(camera_settings(server.url, image_folder, send_buffer=20))

    stats = await asyncio.wait_for(node.run(), 60)  # the folder's 12 frames, once the edge lets it in

    assert edge.attempts == 4 and edge.accepted == ["cam7"]
    assert stats.frames_acked == 12 == edge.frames
    errors = logs.of("connect_error")
    assert [e["code"] for e in errors] == ["camera_limit"] * 3
    failed = logs.of("connect_failed")
    assert len(failed) == 3
    delays = [e["retry_in_s"] for e in failed]
    assert delays == sorted(delays) and delays[-1] > delays[0]  # backed off, up to the cap
    assert not logs.of("refused") and node.link.refused is None


async def test_unknown_site_stops_the_alarm_node_with_a_refusal(
    real_edge, tmp_path: Path, logs
) -> None:
    _edge, server = real_edge(sites=["site1"])
    node = AlarmNode(AlarmSettings(edge_url=server.url, node_id="hall", site_id="elsewhere", reconnect_delay=0.1,
                                   reconnect_delay_max=0.3, reconnect_jitter=0.05), console=False)

    try:
        await asyncio.wait_for(node.run(), 30)
    except EdgeRefused as exc:
        refused = exc
    else:
        raise AssertionError("an alarm node of a site the edge does not serve must not run on")

    assert refused.code is RefusalCode.UNKNOWN_SITE and "elsewhere" in refused.message
    assert len(logs.of("client_refused", node_id="hall")) == 1
    assert logs.of("alarm_node_stopped")


async def test_permanent_refusal_on_reconnect_stops_the_camera(real_edge, logs, image_folder: Path, until) -> None:
    """python-socketio's own reconnect loop (after a dropped transport) would retry a refusal for ever."""
    _first_edge, first = real_edge(cameras=["cam7"])
    node = CameraNode(camera_settings(first.url, image_folder, loop=True, fps=10.0))
    task = asyncio.create_task(node.run())
    await until(lambda: node.stats.frames_acked >= 2, timeout=20)
    await asyncio.to_thread(first.stop)
    # the edge comes back with a camera list that no longer holds this camera
    _second_edge, _ = real_edge(port=first.port, cameras=["cam1"])

    try:
        await asyncio.wait_for(task, 60)
    except EdgeRefused as exc:
        refused = exc
    else:
        raise AssertionError("the camera ran on after a permanent refusal")
    assert refused.code is RefusalCode.UNKNOWN_CAMERA
    assert len(logs.of("client_refused", node_id="cam7")) == 1
    assert len(logs.of("client_connected", node_id="cam7")) == 1


def plain_lines(stderr: str) -> list[str]:
    """What a person reads on stderr: the lines that are not the node's JSON log."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]


def run_cli(args: list[str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgewatch", *args], check=False, capture_output=True, text=True,
                          timeout=timeout)


async def test_refused_camera_and_alarm_processes_exit_3_with_one_clear_line(
    real_edge, image_folder: Path, tmp_path: Path
) -> None:
    _edge, server = real_edge(sites=["site1"], cameras=["cam1"])
    common = ["--edge-url", server.url, "--reconnect-delay", "0.1", "--log-dir", str(tmp_path / "logs")]
    camera, alarm = await asyncio.gather(
        asyncio.to_thread(run_cli, ["camera", "--source", str(image_folder), "--loop", "--camera-id", "cam9",
                                    "--site-id", "site1", *common]),
        asyncio.to_thread(run_cli, ["alarm", "--node-id", "door", "--site-id", "site9", *common]),
    )

    assert camera.returncode == EXIT_REFUSED == 3, camera.stderr
    assert plain_lines(camera.stderr) == [
        "edgewatch camera: the edge refused this node (unknown_camera): unknown camera 'cam9'"]
    assert alarm.returncode == 3, alarm.stderr
    lines = plain_lines(alarm.stderr)
    assert len(lines) == 1 and lines[0].startswith("edgewatch alarm: the edge refused this node (unknown_site): ")
    assert "Traceback" not in camera.stderr + alarm.stderr
    logged = [json.loads(line) for line in (tmp_path / "logs" / "camera-cam9.jsonl").read_text().splitlines()]
    assert [e["code"] for e in logged if e["event"] == "camera_refused"] == ["unknown_camera"]


def test_tls_mistakes_get_a_plain_hint_and_are_retried() -> None:
    from edgewatch.camera.link import _tls_hint

    untrusted = ("Cannot connect to host localhost:8000 ssl:True [SSLCertVerificationError: (1, '[SSL: "
                 "CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate')]")
    assert "--ca-file" in (_tls_hint(untrusted, "https://localhost:8000") or "")
    wrong_name = ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is "
                  "not valid for 'edge.local'")
    assert "host name" in (_tls_hint(wrong_name, "https://edge.local:8000") or "")
    assert "https://" in (_tls_hint("Server disconnected", "http://localhost:8000") or "")
    assert _tls_hint("Connection refused", "https://localhost:8000") is None
