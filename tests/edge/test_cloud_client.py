"""The edge's cloud client against the REAL cloud service (FastAPI app, local face model, SQLite) on loopback:
what it sends, which failures it retries, which it does not, and the circuit breaker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgewatch.cloud.app import create_app
from edgewatch.config import CloudSettings
from edgewatch.edge.cloud_client import (
    CloudClient,
    CloudClientOptions,
    CloudRejected,
    CloudUnavailable,
)
from edgewatch.protocol import Verdict
from edgewatch.telemetry.logs import configure_logging

ASSETS = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets"
KNOWN_PHOTO = (ASSETS / "astronaut.jpg").read_bytes()  # 512x512, enrolled as "eileen-collins" below
STRANGER = (ASSETS / "grace_hopper.jpg").read_bytes()  # 512x600, never enrolled
CORRUPT = b"\xff\xd8\xff\xe0" + b"\x00" * 64  # starts like a JPEG, decodes to nothing
TOKEN = "s3cret"
FAST = CloudClientOptions(timeout=10.0, attempts=3, backoff_max=0.05, breaker_failures=2, breaker_cooldown=0.3)


def cloud(db: Path) -> Any:
    return create_app(CloudSettings(db_path=db, token=TOKEN))


def cloud_count(app: Any, metric: str, **labels: str) -> float:
    """Sum of a cloud metric's samples matching ``labels`` (read from the real cloud's own registry)."""
    total = 0.0
    for family in app.fastapi.state.metrics.registry.collect():
        for sample in family.samples:
            if sample.name == metric and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def identified(app: Any) -> float:
    """Identify requests the cloud answered with a verdict."""
    return cloud_count(app, "edgewatch_cloud_identify_seconds_count")


async def test_identify_sends_token_image_and_trace(serve, tmp_path: Path) -> None:
    log_file = configure_logging("cloud", tmp_path / "logs")
    app = cloud(tmp_path / "faces.db")
    server = serve(app)
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        enrolled = await http.post("/v1/persons", data={"name": "eileen-collins"},
                                   files=[("photos", ("astronaut.jpg", KNOWN_PHOTO, "image/jpeg"))])
        assert enrolled.status_code == 201, enrolled.text
    client = CloudClient(server.url, TOKEN, FAST)
    try:
        known = await client.identify(KNOWN_PHOTO, site_id="site1", camera_id="cam1", trace_id="trace0001")
        stranger = await client.identify(STRANGER, site_id="site1", camera_id="cam2", trace_id="trace0002")
    finally:
        await client.aclose()

    # The image arrived intact: the real face model recognises the enrolled person and not the other one.
    assert known.verdict is Verdict.KNOWN and known.faces[0].match is not None
    assert known.faces[0].match.name == "eileen-collins"
    assert stranger.verdict is Verdict.INTRUDER and all(face.match is None for face in stranger.faces)
    assert known.trace_id == "trace0001" and stranger.trace_id == "trace0002"
    # The cloud logged the form fields and the decoded size of what it received.
    assert log_file is not None
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    seen = [(e["trace_id"], e["site_id"], e["camera_id"], e["width"], e["height"], e["verdict"])
            for e in lines if e["event"] == "identify"]
    assert seen == [("trace0001", "site1", "cam1", 512, 512, "known"), ("trace0002", "site1", "cam2", 512, 600, "intruder")]
    assert identified(app) == 2 and cloud_count(app, "edgewatch_cloud_errors_total") == 0


async def test_transient_503_is_retried_and_the_retry_succeeds(serve, tmp_path: Path) -> None:
    # The cloud's face store cannot be opened (the file is not an SQLite database): the real backend fails
    # to start and the cloud answers 503 backend_unavailable with Retry-After, retrying the start per request.
    blocker = tmp_path / "faces.db"
    blocker.write_bytes(b"not an SQLite database, just some bytes " * 4)
    app = cloud(blocker)
    server = serve(app)
    client = CloudClient(server.url, TOKEN, FAST)
    answers: list[tuple[int, str | None]] = []

    async def repair_after_first_503(response: httpx.Response) -> None:
        answers.append((response.status_code, response.headers.get("retry-after")))
        if response.status_code == 503 and blocker.is_file():
            blocker.unlink()  # the fault clears before the client's next attempt

    client._http.event_hooks["response"].append(repair_after_first_503)  # observe attempts on the wire
    try:
        result = await client.identify(STRANGER, site_id="s", camera_id="c", trace_id="trace0003")
    finally:
        await client.aclose()

    assert result.verdict is Verdict.INTRUDER  # answered by the cloud's retried backend start
    assert [status for status, _ in answers] == [503, 200] and answers[0][1] is not None
    assert cloud_count(app, "edgewatch_cloud_errors_total", code="backend_unavailable") == 1
    assert identified(app) == 1


async def test_unavailable_cloud_is_tried_attempts_times_then_fails_secure(serve, tmp_path: Path) -> None:
    (tmp_path / "faces.db").write_bytes(b"not an SQLite database, just some bytes " * 4)
    app = cloud(tmp_path / "faces.db")
    client = CloudClient(serve(app).url, TOKEN, FAST)
    try:
        with pytest.raises(CloudUnavailable, match="503"):
            await client.identify(STRANGER, site_id="s", camera_id="c", trace_id="trace0004")
    finally:
        await client.aclose()
    assert cloud_count(app, "edgewatch_cloud_errors_total", code="backend_unavailable") == FAST.attempts
    assert identified(app) == 0


async def test_client_errors_are_not_retried_and_do_not_open_the_breaker(serve, tmp_path: Path) -> None:
    app = cloud(tmp_path / "faces.db")
    server = serve(app)
    wrong = CloudClient(server.url, "wrong", FAST)
    right = CloudClient(server.url, TOKEN, FAST)
    try:
        for _ in range(FAST.breaker_failures + 1):
            with pytest.raises(CloudRejected, match="401"):
                await wrong.identify(STRANGER, site_id="s", camera_id="c", trace_id="trace0005")
            with pytest.raises(CloudRejected, match="422"):
                await right.identify(CORRUPT, site_id="s", camera_id="c", trace_id="trace0006")
        # more 4xx answers than breaker_failures, and the breaker is still closed: a good call goes through
        result = await right.identify(STRANGER, site_id="s", camera_id="c", trace_id="trace0007")
    finally:
        await wrong.aclose()
        await right.aclose()
    assert result.verdict is Verdict.INTRUDER
    rounds = FAST.breaker_failures + 1
    assert cloud_count(app, "edgewatch_cloud_errors_total", code="unauthorized") == rounds  # one request each
    assert cloud_count(app, "edgewatch_cloud_errors_total", code="undecodable_image") == rounds
    assert identified(app) == 1


async def test_breaker_opens_on_dead_cloud_and_recovers(serve, tmp_path: Path, port: int) -> None:
    client = CloudClient(f"http://127.0.0.1:{port}", TOKEN, FAST)  # nothing listens there yet
    try:
        for _ in range(FAST.breaker_failures):
            with pytest.raises(CloudUnavailable, match="Connect"):
                await client.identify(STRANGER, site_id="s", camera_id="c", trace_id="trace0008")
        with pytest.raises(CloudUnavailable, match="circuit breaker is open"):
            await client.identify(STRANGER, site_id="s", camera_id="c", trace_id="trace0009")
        app = cloud(tmp_path / "faces.db")
        serve(app, port=port)  # the real cloud comes up on that address
        await asyncio.sleep(FAST.breaker_cooldown + 0.1)  # the breaker's cool-down (not a timing assertion)
        result = await client.identify(STRANGER, site_id="s", camera_id="c", trace_id="trace0010")
    finally:
        await client.aclose()
    assert result.verdict is Verdict.INTRUDER and identified(app) == 1
