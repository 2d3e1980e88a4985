"""The edge's cloud client over several cloud replicas: requests spread over them, and verification goes on
when one replica is killed. Real cloud processes on one real PostgreSQL face store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgewatch.edge.cloud_client import CloudClient, CloudClientOptions
from edgewatch.edge.cloud_replicas import ReplicaSet, split_urls
from edgewatch.protocol import Verdict

ASSETS = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets"
KNOWN_PHOTO = (ASSETS / "astronaut.jpg").read_bytes()
TOKEN = "replica-s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_replica_set_round_robin_and_cooldown() -> None:
    now = [0.0]
    replicas = ReplicaSet(split_urls("http://a:1/, http://b:2"), cooldown=5.0, clock=lambda: now[0])
    assert [replicas.pick() for _ in range(4)] == ["http://a:1", "http://b:2", "http://a:1", "http://b:2"]
    replicas.failed("http://a:1")
    assert {replicas.pick() for _ in range(3)} == {"http://b:2"}  # a cools down
    now[0] = 5.0
    assert "http://a:1" in {replicas.pick() for _ in range(2)}  # and is tried again after
    replicas.failed("http://a:1")
    replicas.failed("http://b:2")
    assert replicas.pick() in {"http://a:1", "http://b:2"}  # all cooling down: still asks one


def answered(url: str) -> float:
    """Identify requests a replica answered, from its own /metrics."""
    text = httpx.get(f"{url}/metrics", headers=AUTH, timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("edgewatch_cloud_identify_seconds_count"))


def start_replica(node_process: Any, port: int, pg_url: str) -> Any:
    node = node_process(["cloud", "--port", str(port), "--db-refresh-interval", "0.5"],
                        env={"EDGEWATCH_TOKEN": TOKEN, "EDGEWATCH_DB_URL": pg_url})
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return node
        except httpx.HTTPError:
            pass
        if node.proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"cloud replica did not become ready: {node.output()[1][-1500:]}")
        time.sleep(0.2)


async def test_verification_goes_on_when_a_replica_is_killed(pg_server: Any, node_process: Any) -> None:
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    a = start_replica(node_process, ports[0], pg_server.url)
    b = start_replica(node_process, ports[1], pg_server.url)
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    enrolled = await asyncio.to_thread(
        httpx.post, f"{urls[0]}/v1/persons", data={"name": "eileen"}, headers=AUTH, timeout=60,
        files={"photos": ("e.jpg", KNOWN_PHOTO, "image/jpeg")})
    assert enrolled.status_code == 201, enrolled.text

    client = CloudClient(",".join(urls), TOKEN, CloudClientOptions(timeout=10, attempts=3, backoff_max=0.05,
                                                                   breaker_failures=3, breaker_cooldown=5))
    try:
        async def ask(n: int) -> list[Verdict]:
            results = await asyncio.gather(*(
                client.identify(KNOWN_PHOTO, site_id="site1", camera_id="cam1", trace_id=f"trace-{n}-{i:04d}")
                for i in range(n)))
            return [r.verdict for r in results]

        assert await ask(4) == [Verdict.KNOWN] * 4
        assert all([await asyncio.to_thread(answered, u) >= 1 for u in urls])  # both replicas answered some of them

        b.proc.kill()  # SIGKILL: no goodbye, connections just die
        b.proc.wait(10)
        # Every request still gets its verdict: a retry moves on to the live replica.
        assert await ask(6) == [Verdict.KNOWN] * 6
        assert client.replicas.urls == urls
    finally:
        await client.aclose()
    assert a.proc.poll() is None
