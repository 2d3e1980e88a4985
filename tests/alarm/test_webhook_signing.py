"""Signed webhooks: a real HTTP receiver (uvicorn on loopback) verifies every POST of the alarm node's
webhook action with edgewatch's verification helper, and rejects tampered bodies and replays."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from edgewatch.alarm.actions import WebhookAction
from edgewatch.alarm.node import AlarmNode
from edgewatch.config import AlarmSettings
from edgewatch.integrations.webhooks import (
    SIGNATURE_HEADER,
    WebhookSignatureError,
    WebhookVerifier,
    parse_header,
    sign,
    verify,
)
from edgewatch.protocol import AlarmEvent, AlarmReason, new_trace_id

SECRET = b"test-only-webhook-key-0123456789"


class VerifyingReceiver:
    """The user's endpoint: accepts a POST only when its signature verifies; remembers raw requests."""

    def __init__(self, secret: bytes, tolerance: float = 300.0, fail_first: int = 0) -> None:
        self.verifier = WebhookVerifier([secret], tolerance=tolerance)
        self.fail_first = fail_first
        self.attempts = 0
        self.accepted: list[tuple[dict[str, str], bytes]] = []
        self.rejected: list[str] = []

    def app(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            self.attempts += 1
            body = await request.body()
            header = request.headers.get(SIGNATURE_HEADER)
            try:
                self.verifier.check(header, body)
            except WebhookSignatureError as exc:
                self.rejected.append(str(exc))
                return JSONResponse({"error": str(exc)}, status_code=401)
            if self.attempts <= self.fail_first:
                return JSONResponse({"error": "try later"}, status_code=503)
            self.verifier.handled(header)
            self.accepted.append((dict(request.headers), body))
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def alarm() -> AlarmEvent:
    return AlarmEvent(site_id="site1", camera_id="cam1", trace_id=new_trace_id(), reason=AlarmReason.INTRUDER,
                      track_id=4, detail="unknown face", snapshot_jpeg=b"\xff\xd8\xff" + b"0" * 100)


async def test_receiver_verifies_the_signature_and_rejects_tampering_and_replays(serve) -> None:
    receiver = VerifyingReceiver(SECRET)
    server = serve(receiver.app())
    url = f"{server.url}/hook"
    action = WebhookAction(url, "hall", secret=SECRET, attempts=1)
    event = alarm()
    try:
        assert await action(event) is True
    finally:
        await action.aclose()
    assert len(receiver.accepted) == 1 and receiver.rejected == []
    headers, body = receiver.accepted[0]
    assert headers["x-edgewatch-event-id"] == event.event_id
    timestamp, signatures = parse_header(headers["x-edgewatch-signature"])
    assert abs(timestamp - time.time()) < 60 and len(signatures) == 1
    assert b'"event_id":"' + event.event_id.encode() + b'"' in body

    async with httpx.AsyncClient() as client:
        signature = headers["x-edgewatch-signature"]
        tampered = body.replace(b'"reason":"intruder"', b'"reason":"unverified"')
        assert tampered != body
        answer = await client.post(url, content=tampered, headers={SIGNATURE_HEADER: signature})
        assert answer.status_code == 401 and "does not match" in answer.json()["error"]

        replay = await client.post(url, content=body, headers={SIGNATURE_HEADER: signature})
        assert replay.status_code == 401 and "replay" in replay.json()["error"]

        old = sign(SECRET, body, timestamp=int(time.time()) - 3600)  # a correctly signed request from an hour ago
        stale = await client.post(url, content=body, headers={SIGNATURE_HEADER: old})
        assert stale.status_code == 401 and "tolerance" in stale.json()["error"]

        unsigned = await client.post(url, content=body)
        assert unsigned.status_code == 401 and "missing" in unsigned.json()["error"]

        other_key = await client.post(url, content=body, headers={SIGNATURE_HEADER: sign(b"another key", body)})
        assert other_key.status_code == 401
    assert len(receiver.accepted) == 1 and len(receiver.rejected) == 5


async def test_a_retry_is_signed_afresh_and_accepted(serve) -> None:
    receiver = VerifyingReceiver(SECRET, fail_first=1)
    server = serve(receiver.app())
    action = WebhookAction(f"{server.url}/hook", "hall", secret=SECRET, attempts=3, backoff=0.05)
    try:
        assert await action(alarm()) is True
    finally:
        await action.aclose()
    assert receiver.attempts == 2 and len(receiver.accepted) == 1 and receiver.rejected == []


async def test_alarm_node_signs_with_the_secret_from_its_file(serve, tmp_path: Path) -> None:
    key_file = tmp_path / "webhook.key"
    key_file.write_text(SECRET.decode() + "\n", encoding="utf-8")
    receiver = VerifyingReceiver(SECRET)
    server = serve(receiver.app())
    node = AlarmNode(AlarmSettings(webhook_url=f"{server.url}/hook", webhook_secret_file=key_file), console=False)
    assert node.webhook is not None
    try:
        assert await node.webhook(alarm()) is True
    finally:
        await node.webhook.aclose()
    assert len(receiver.accepted) == 1


def test_verify_accepts_a_rotated_secret_and_names_each_failure() -> None:
    body = b'{"event_id":"abc"}'
    now = 1_800_000_000
    header = sign(b"new", body, timestamp=now)
    assert verify([b"old", b"new"], header, body, now=now + 10) == now
    both = f"{header},v1={sign(b'old', body, timestamp=now).split('v1=')[1]}"
    assert verify(b"old", both, body, now=now) == now
    cases: list[tuple[Any, str]] = [
        (None, "missing"), ("v1=abc", "no timestamp"), ("t=x,v1=abc", "not an integer"), (f"t={now}", "no v1"),
    ]
    for bad, words in cases:
        with pytest.raises(WebhookSignatureError, match=words):
            verify(b"new", bad, body, now=now)
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        verify(b"new", header, body, now=now + 301)
    with pytest.raises(ValueError, match="empty"):
        sign(b"", body)


def test_alarm_command_rejects_a_missing_secret_file(node_process: Callable[..., Any], tmp_path: Path) -> None:
    node = node_process(["alarm", "--webhook-url", "http://127.0.0.1:9/hook",
                         "--webhook-secret-file", str(tmp_path / "absent.key"), "--edge-url", "http://127.0.0.1:9"])
    assert node.proc.wait(timeout=60) == 2
    _out, err = node.output()
    assert "webhook_secret file" in err and "absent.key" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_readme_verification_snippet_accepts_edgewatch_signatures() -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(import hashlib.*?)```", readme, re.DOTALL)
    assert snippet is not None, "README lost its webhook verification snippet"
    namespace: dict[str, Any] = {}
    exec(snippet.group(1), namespace)  # noqa: S102 - our own README's code, the point of the test
    check = namespace["verify"]
    body = b'{"event_id":"abc","reason":"intruder"}'
    assert check(SECRET, sign(SECRET, body), body) is True
    assert check(SECRET, sign(SECRET, body), body.replace(b"intruder", b"unverified")) is False
    assert check(SECRET, sign(SECRET, body, timestamp=int(time.time()) - 3600), body) is False
    assert check(SECRET, "nonsense", body) is False
