"""The cloud on a real uvicorn server on loopback: the edge's own client, concurrent requests, restarts."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import httpx
import pytest

from edgewatch.cloud.app import create_app
from edgewatch.config import CloudSettings
from edgewatch.edge.cloud_client import CloudClient, CloudClientOptions, CloudRejected
from edgewatch.protocol import Verdict

FAST = CloudClientOptions(timeout=30.0, attempts=2, backoff_max=0.05)


def enrol(url: str, auth: dict[str, str], name: str, photo: bytes) -> httpx.Response:
    return httpx.post(f"{url}/v1/persons", data={"name": name}, headers=auth, timeout=60,
                      files=[("photos", ("photo.jpg", photo, "image/jpeg"))])


async def test_edge_client_gets_verdicts_from_real_cloud(serve, settings: CloudSettings, auth: dict[str, str],
                                                         grace_jpeg: bytes, astronaut_jpeg: bytes,
                                                         blank_jpeg: bytes) -> None:
    server = serve(create_app(settings))
    assert enrol(server.url, auth, "eileen-collins", astronaut_jpeg).status_code == 201
    client = CloudClient(server.url, settings.token.get_secret_value(), FAST)
    try:
        known = await client.identify(astronaut_jpeg, site_id="site1", camera_id="cam1", trace_id="trace-known")
        intruder = await client.identify(grace_jpeg, site_id="site1", camera_id="cam1", trace_id="trace-intruder")
        nobody = await client.identify(blank_jpeg, site_id="site1", camera_id="cam2", trace_id="trace-empty")
    finally:
        await client.aclose()
    assert known.verdict is Verdict.KNOWN and known.faces[0].match.name == "eileen-collins"
    assert known.trace_id == "trace-known" and known.elapsed_ms > 0
    assert intruder.verdict is Verdict.INTRUDER
    assert nobody.verdict is Verdict.NO_FACE


async def test_edge_client_with_wrong_token_is_rejected(serve, settings: CloudSettings, grace_jpeg: bytes) -> None:
    server = serve(create_app(settings))
    client = CloudClient(server.url, "not-the-token", FAST)
    try:
        with pytest.raises(CloudRejected, match="401"):
            await client.identify(grace_jpeg, site_id="site1", camera_id="cam1", trace_id="trace-0001")
    finally:
        await client.aclose()


def test_concurrent_identify_and_enrolment(serve, settings: CloudSettings, auth: dict[str, str],
                                           grace_jpeg: bytes, astronaut_jpeg: bytes) -> None:
    server = serve(create_app(settings))
    assert enrol(server.url, auth, "eileen-collins", astronaut_jpeg).status_code == 201

    def ask(index: int) -> tuple[int, str]:
        image = astronaut_jpeg if index % 2 == 0 else grace_jpeg
        response = httpx.post(f"{server.url}/v1/identify", headers=auth, timeout=60,
                              files={"image": ("c.jpg", image, "image/jpeg")},
                              data={"trace_id": f"trace-{index:04d}"})
        return index, response.json()["verdict"]

    def add(index: int) -> int:
        return enrol(server.url, auth, f"person-{index}", grace_jpeg if index % 2 else astronaut_jpeg).status_code

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(ask, range(24)))
        enrolments = list(pool.map(add, range(6)))
    assert enrolments == [201] * 6
    for index, verdict in answers:
        # Grace may have been enrolled (as person-N) while the requests ran: never answered no_face or error.
        assert verdict == "known" if index % 2 == 0 else verdict in ("intruder", "known")
    names = {p["name"] for p in httpx.get(f"{server.url}/v1/persons", headers=auth).json()["persons"]}
    assert names == {"eileen-collins", *(f"person-{i}" for i in range(6))}


def test_known_persons_survive_a_restart(serve, tmp_path: Path, auth: dict[str, str], astronaut_jpeg: bytes) -> None:
    settings = CloudSettings(token="test-token-123", db_path=tmp_path / "faces.db")
    first = serve(create_app(settings))
    assert enrol(first.url, auth, "eileen-collins", astronaut_jpeg).status_code == 201
    first.stop()
    second = serve(create_app(settings))
    answer = httpx.post(f"{second.url}/v1/identify", headers=auth, timeout=60,
                        files={"image": ("c.jpg", astronaut_jpeg, "image/jpeg")}).json()
    assert answer["verdict"] == "known" and answer["faces"][0]["match"]["name"] == "eileen-collins"


def test_rejections_reach_a_client_still_uploading(serve, tmp_path: Path, auth: dict[str, str]) -> None:
    """401 and 413 are answered before the body is parsed, yet the client (still writing a large upload)
    reliably reads them instead of a reset connection, and the connection stays usable."""
    settings = CloudSettings(token="test-token-123", db_path=tmp_path / "faces.db", max_upload_bytes=200_000)
    server = serve(create_app(settings))
    big = b"\xff\xd8\xff\xe0" + b"\x00" * 400_000
    fits = b"\xff\xd8\xff\xe0" + b"\x00" * 150_000
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(10):
            too_big = client.post("/v1/identify", headers=auth, files={"image": ("big.jpg", big, "image/jpeg")})
            assert too_big.status_code == 413 and too_big.json()["error"] == "payload_too_large"
            wrong = client.post("/v1/identify", headers={"Authorization": "Bearer wrong"},
                                files={"image": ("fits.jpg", fits, "image/jpeg")})
            assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
        assert client.get("/healthz").status_code == 200


def test_a_client_without_a_token_cannot_hold_a_connection_by_trickling_its_body(serve, settings) -> None:
    """An unauthenticated upload sent one byte at a time is answered 401 and its connection closed within
    a few seconds, however long the client would keep trickling."""
    import socket
    import time

    from edgewatch.cloud.guard import DRAIN_TIMEOUT

    server = serve(create_app(settings))
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"POST /v1/identify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                     b"Content-Length: 1000000\r\n\r\n")
        started = time.monotonic()
        sock.settimeout(0.5)
        answer = b""
        while time.monotonic() - started < DRAIN_TIMEOUT + 20:
            try:
                sock.sendall(b"x")
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if not chunk:  # closed by the server
                break
            answer += chunk
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert took < DRAIN_TIMEOUT + 10, took
