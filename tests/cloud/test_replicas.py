"""Cloud replicas on one PostgreSQL face store: enrolments seen by every replica, fail-secure without the
database, recovery when it returns. Real PostgreSQL, real uvicorn servers, real face models."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from edgewatch.cloud.app import create_app
from edgewatch.config import CloudSettings

TOKEN = "replica-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def replica(serve: Callable[..., Any], pg_url: str, tmp_path: Any, port: int | None = None) -> Any:
    settings = CloudSettings(token=TOKEN, db_url=SecretStr(pg_url), db_path=tmp_path / "unused.db",
                             db_refresh_interval=0.5)
    return serve(create_app(settings), port)


def verdict(url: str, photo: bytes) -> tuple[int, str | None]:
    response = httpx.post(f"{url}/v1/identify", files={"image": ("p.jpg", photo, "image/jpeg")},
                          headers=AUTH, timeout=30)
    return response.status_code, response.json().get("verdict")


def eventually(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until ``check()`` holds; returns the seconds it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def test_enrolment_through_one_replica_is_seen_by_the_other(
    pg_server: Any, serve: Callable[..., Any], tmp_path: Any, astronaut_jpeg: bytes, grace_jpeg: bytes
) -> None:
    a = replica(serve, pg_server.url, tmp_path)
    b = replica(serve, pg_server.url, tmp_path)
    assert verdict(b.url, astronaut_jpeg) == (200, "intruder")

    created = httpx.post(f"{a.url}/v1/persons", data={"name": "eileen"},
                         files={"photos": ("e.jpg", astronaut_jpeg, "image/jpeg")}, headers=AUTH, timeout=30)
    assert created.status_code == 201, created.text
    took = eventually(lambda: verdict(b.url, astronaut_jpeg) == (200, "known"), 2.0, "B recognises A's enrolment")
    assert took < 2.0
    assert verdict(b.url, grace_jpeg) == (200, "intruder")  # only the enrolled person became known
    assert [p["name"] for p in httpx.get(f"{b.url}/v1/persons", headers=AUTH).json()["persons"]] == ["eileen"]

    assert httpx.delete(f"{b.url}/v1/persons/eileen", headers=AUTH).status_code == 200
    eventually(lambda: verdict(a.url, astronaut_jpeg) == (200, "intruder"), 2.0, "A forgets B's removal")


def test_restarted_replica_rejoins_with_the_same_enrolments(
    pg_server: Any, serve: Callable[..., Any], tmp_path: Any, astronaut_jpeg: bytes
) -> None:
    a = replica(serve, pg_server.url, tmp_path)
    b = replica(serve, pg_server.url, tmp_path)
    httpx.post(f"{a.url}/v1/persons", data={"name": "eileen"},
               files={"photos": ("e.jpg", astronaut_jpeg, "image/jpeg")}, headers=AUTH, timeout=30)
    b.stop()  # mid-run: the replica goes away (its state is only caches) ...
    b2 = replica(serve, pg_server.url, tmp_path, port=b.port)  # ... and a new one takes its place
    assert httpx.get(f"{b2.url}/readyz").status_code == 200
    assert verdict(b2.url, astronaut_jpeg) == (200, "known")


def test_database_away_fails_secure_and_both_recover(
    pg_server: Any, serve: Callable[..., Any], tmp_path: Any, astronaut_jpeg: bytes
) -> None:
    a = replica(serve, pg_server.url, tmp_path)
    b = replica(serve, pg_server.url, tmp_path)
    httpx.post(f"{a.url}/v1/persons", data={"name": "eileen"},
               files={"photos": ("e.jpg", astronaut_jpeg, "image/jpeg")}, headers=AUTH, timeout=30)
    eventually(lambda: verdict(b.url, astronaut_jpeg) == (200, "known"), 2.0, "B knows eileen")

    pg_server.stop()
    for server in (a, b):
        # Not ready, and identify refuses (503 + Retry-After) rather than answer from a stale gallery.
        eventually(lambda s=server: httpx.get(f"{s.url}/readyz").status_code == 503, 10.0, "readiness fails")
        response = httpx.post(f"{server.url}/v1/identify", headers=AUTH, timeout=30,
                              files={"image": ("p.jpg", astronaut_jpeg, "image/jpeg")})
        assert response.status_code == 503 and response.headers.get("retry-after")
        assert response.json()["error"] == "backend_unavailable"
    assert httpx.get(f"{a.url}/healthz").status_code == 200  # alive: only readiness fails

    pg_server.start()
    for server in (a, b):
        eventually(lambda s=server: httpx.get(f"{s.url}/readyz").status_code == 200, 15.0, "readiness returns")
        assert verdict(server.url, astronaut_jpeg) == (200, "known")


def test_sigterm_finishes_the_request_in_flight(node_process: Any, port: int, grace_jpeg: bytes) -> None:
    """A replica being replaced (SIGTERM from Kubernetes or compose) answers what it has accepted."""
    import signal
    import threading

    import cv2
    import numpy as np

    node = node_process(["cloud", "--port", str(port), "--db-path", str(port) + ".db"],
                        env={"EDGEWATCH_TOKEN": TOKEN})
    url = f"http://127.0.0.1:{port}"
    eventually(lambda: _ready(url), 90.0, "cloud ready")
    # A big photo keeps the face detector busy for a while: the request is surely in flight at SIGTERM.
    big = cv2.resize(cv2.imdecode(np.frombuffer(grace_jpeg, np.uint8), cv2.IMREAD_COLOR), (2400, 2800))
    photo = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    answers: list[tuple[float, httpx.Response]] = []

    failures: list[BaseException] = []

    def ask() -> None:
        try:
            response = httpx.post(f"{url}/v1/identify", headers=AUTH, timeout=90,
                                  files={"image": ("big.jpg", photo, "image/jpeg")})
        except httpx.HTTPError as exc:
            failures.append(exc)
            return
        answers.append((time.monotonic(), response))

    workers = [threading.Thread(target=ask) for _ in range(4)]  # more than the backend runs at once
    for worker in workers:
        worker.start()
    time.sleep(0.3)
    signalled = time.monotonic()
    node.proc.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.join(90)
    assert not failures and len(answers) == 4
    assert any(at > signalled for at, _ in answers)  # some were still being answered after SIGTERM ...
    for _, response in answers:  # ... and every one got its verdict
        assert response.status_code == 200 and response.json()["verdict"] == "intruder"
    # uvicorn shuts down gracefully, then re-raises the signal it caught: the status of a SIGTERM'd process
    assert node.proc.wait(30) in (0, -signal.SIGTERM)
    with pytest.raises(httpx.ConnectError):  # and it took no new work after
        httpx.get(f"{url}/healthz", timeout=2)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
