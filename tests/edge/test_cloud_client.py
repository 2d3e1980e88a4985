"""The edge's cloud client against a real HTTP server on loopback: retries, breaker, fail-secure errors."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from edgewatch.edge.cloud_client import (
    CloudClient,
    CloudClientOptions,
    CloudRejected,
    CloudUnavailable,
)
from edgewatch.protocol import Verdict

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
FAST = CloudClientOptions(timeout=2.0, attempts=3, backoff_max=0.05, breaker_failures=2, breaker_cooldown=0.3)


class ScriptedCloud:
    """A real HTTP endpoint that answers each request with the next scripted status."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[dict] = []
        self.app = Starlette(routes=[Route("/v1/identify", self.identify, methods=["POST"])])

    async def identify(self, request: Request) -> JSONResponse:
        form = await request.form()
        upload = form["image"]
        self.requests.append(
            {
                "auth": request.headers.get("authorization"),
                "trace_id": form.get("trace_id"),
                "image": await upload.read(),  # type: ignore[union-attr]
            }
        )
        status = self.statuses.pop(0) if self.statuses else 200
        if status != 200:
            return JSONResponse({"error": "scripted", "detail": str(status)}, status_code=status)
        return JSONResponse(
            {"verdict": "intruder", "faces": [{"box": [1, 2, 30, 40], "confidence": 0.9, "match": None,
                                                "similarity": 0.1}],
             "threshold": 0.363, "backend": "scripted", "elapsed_ms": 3.0}
        )


async def test_identify_sends_token_image_and_trace(serve) -> None:
    cloud = ScriptedCloud([])
    server = serve(cloud.app)
    client = CloudClient(server.url, "s3cret", FAST)
    try:
        result = await client.identify(JPEG, site_id="site1", camera_id="cam1", trace_id="trace0001")
    finally:
        await client.aclose()
    assert result.verdict is Verdict.INTRUDER and result.faces[0].match is None
    assert cloud.requests == [{"auth": "Bearer s3cret", "trace_id": "trace0001", "image": JPEG}]


async def test_transient_errors_are_retried(serve) -> None:
    cloud = ScriptedCloud([503, 500])
    client = CloudClient(serve(cloud.app).url, "t", FAST)
    try:
        result = await client.identify(JPEG, site_id="s", camera_id="c", trace_id="trace0002")
    finally:
        await client.aclose()
    assert result.verdict is Verdict.INTRUDER
    assert len(cloud.requests) == 3


async def test_client_errors_are_not_retried(serve) -> None:
    cloud = ScriptedCloud([401])
    client = CloudClient(serve(cloud.app).url, "wrong", FAST)
    try:
        with pytest.raises(CloudRejected, match="401"):
            await client.identify(JPEG, site_id="s", camera_id="c", trace_id="trace0003")
    finally:
        await client.aclose()
    assert len(cloud.requests) == 1


async def test_breaker_opens_on_dead_cloud_and_recovers(serve, port: int) -> None:
    import asyncio

    client = CloudClient(f"http://127.0.0.1:{port}", "t", FAST)  # nothing listens there yet
    try:
        for _ in range(FAST.breaker_failures):
            with pytest.raises(CloudUnavailable):
                await client.identify(JPEG, site_id="s", camera_id="c", trace_id="trace0004")
        with pytest.raises(CloudUnavailable, match="circuit breaker is open"):
            await client.identify(JPEG, site_id="s", camera_id="c", trace_id="trace0005")
        cloud = ScriptedCloud([])
        serve(cloud.app, port=port)  # the cloud comes back on the same address
        await asyncio.sleep(FAST.breaker_cooldown + 0.1)
        result = await client.identify(JPEG, site_id="s", camera_id="c", trace_id="trace0006")
    finally:
        await client.aclose()
    assert result.verdict is Verdict.INTRUDER and len(cloud.requests) == 1
