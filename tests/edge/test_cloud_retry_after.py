"""One layer retries a busy cloud, and it honours ``Retry-After`` (issue 10, face recognition).

Real HTTP on loopback: a plain HTTP server answering 503 + Retry-After, and the real cloud app with its
Rekognition backend answered by botocore's Stubber (throttling). Waits are asserted only from below
(at least Retry-After), which a loaded machine cannot break.
"""

from __future__ import annotations

import asyncio
import http.server
import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from edgewatch.cloud.app import create_app
from edgewatch.cloud.backends.rekognition import RekognitionBackend
from edgewatch.config import CloudSettings
from edgewatch.edge.cloud_client import CloudClient, CloudClientOptions, CloudUnavailable, retry_after_seconds
from edgewatch.protocol import Verdict

ASSETS = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets"
PHOTO = (ASSETS / "grace_hopper.jpg").read_bytes()
ANSWER = {"v": 1, "verdict": "intruder", "faces": [], "threshold": 0.363, "backend": "local"}


class BusyCloud:
    """A real HTTP server: the first ``busy`` POSTs get 503 + ``Retry-After``, later ones an answer."""

    def __init__(self, busy: int, retry_after: str) -> None:
        self.busy, self.retry_after = busy, retry_after
        self.times: list[float] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.times.append(time.monotonic())
                if len(owner.times) <= owner.busy:
                    body = json.dumps({"error": "backend_throttled", "detail": "slow down"}).encode()
                    self.send_response(503)
                    self.send_header("Retry-After", owner.retry_after)
                else:
                    body = json.dumps(ANSWER).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def busy_cloud() -> Iterator[type[BusyCloud]]:
    started: list[BusyCloud] = []

    def start(busy: int, retry_after: str) -> BusyCloud:
        cloud = BusyCloud(busy, retry_after)
        cloud.thread.start()
        started.append(cloud)
        return cloud

    yield start  # type: ignore[misc]
    for cloud in started:
        cloud.server.shutdown()
        cloud.server.server_close()


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("5") == 5.0 and retry_after_seconds(" 1.5 ") == 1.5
    assert retry_after_seconds(None) is None and retry_after_seconds("") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") is None  # dates are not used
    assert retry_after_seconds("-3") is None and retry_after_seconds("nan") is None
    assert retry_after_seconds("86400") == 300.0  # clipped


async def test_edge_waits_at_least_retry_after_between_attempts(busy_cloud) -> None:
    cloud = busy_cloud(busy=2, retry_after="1")
    client = CloudClient(cloud.url, "t", CloudClientOptions(timeout=10.0, attempts=3, backoff_max=0.05))
    try:
        result = await client.identify(PHOTO, site_id="s", camera_id="c", trace_id="trace-ra-1")
    finally:
        await client.aclose()
    assert result.verdict is Verdict.INTRUDER
    assert len(cloud.times) == 3
    gaps = [b - a for a, b in itertools.pairwise(cloud.times)]
    assert all(gap >= 0.95 for gap in gaps), gaps  # the old client retried 3 times within 0.3 s


async def test_retry_after_beyond_the_budget_fails_at_once(busy_cloud) -> None:
    cloud = busy_cloud(busy=10, retry_after="5")
    client = CloudClient(cloud.url, "t", CloudClientOptions(timeout=10.0, attempts=3, budget=2.0))
    try:
        with pytest.raises(CloudUnavailable, match="retry after 5 s"):
            await client.identify(PHOTO, site_id="s", camera_id="c", trace_id="trace-ra-2")
    finally:
        await client.aclose()
    assert len(cloud.times) == 1  # waiting 5 s would break the 2 s budget: no second call


def test_throttled_rekognition_is_called_once_per_edge_attempt(serve, tmp_path: Path) -> None:
    """Edge -> real cloud app -> Rekognition throttling: 3 Rekognition calls in all (was 9), each edge
    attempt answered at once with 503 + Retry-After, the attempts at least that far apart."""
    rekognition = boto3.client("rekognition", region_name="eu-west-1", aws_access_key_id="AKIDFAKEFAKEFAKE",
                               aws_secret_access_key="fake-secret")
    stub = Stubber(rekognition)
    stub.add_response("describe_collection", {"FaceCount": 0}, {"CollectionId": "c1"})
    calls: list[float] = []
    rekognition.meta.events.register("before-parameter-build.rekognition.DetectFaces",
                                     lambda **_: calls.append(time.monotonic()))
    for _ in range(3):
        stub.add_client_error("detect_faces", "ThrottlingException", "Rate exceeded", 400)
    stub.activate()
    backend = RekognitionBackend("c1", 90.0, client=rekognition)
    app = create_app(CloudSettings(token="t0ken", backend="rekognition", collection_id="c1",
                                   db_path=tmp_path / "unused.db"), backend=backend)
    server = serve(app)

    async def ask() -> None:
        client = CloudClient(server.url, "t0ken", CloudClientOptions(timeout=10.0, attempts=3, backoff_max=0.05))
        try:
            with pytest.raises(CloudUnavailable, match="503"):
                await client.identify(PHOTO, site_id="s", camera_id="c", trace_id="trace-ra-3")
        finally:
            await client.aclose()

    asyncio.run(ask())
    stub.assert_no_pending_responses()  # a 4th Rekognition call would have found no stubbed answer
    assert len(calls) == 3
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(calls))
    stub.deactivate()


async def test_another_replica_takes_the_retry_at_once(busy_cloud) -> None:
    """Retry-After speaks for the replica that sent it: with a second replica ready, no waiting."""
    busy = busy_cloud(busy=10, retry_after="5")
    ready = busy_cloud(busy=0, retry_after="5")
    options = CloudClientOptions(timeout=10.0, attempts=3, backoff_max=0.05, budget=3.0)
    client = CloudClient(f"{busy.url},{ready.url}", "t", options)
    try:
        result = await client.identify(PHOTO, site_id="s", camera_id="c", trace_id="trace-ra-4")
    finally:
        await client.aclose()
    assert result.verdict is Verdict.INTRUDER
    # Waiting out the busy replica's 5 s would have broken the 3 s budget and failed the call.
    assert len(busy.times) == 1 and len(ready.times) == 1
