"""A full or locked outbox still delivers the alarm live, to a real alarm node, and stores it once the
disk is back. The outbox sits on a small tmpfs mounted by the test (needs root; skipped otherwise).

(A file system cannot be remounted read-only while the edge holds the database open for writing, so the
read-only case is proven in tests/edge/test_verification.py with SQLite's own ``query_only`` switch.)"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgewatch.alarm.node import AlarmNode
from edgewatch.config import AlarmSettings, EdgeSettings
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.server import EdgeNode
from edgewatch.protocol import Frame, Hello, NodeRole, SocketEvent, encode, new_trace_id

ASSETS = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets"
PERSON = ASSETS / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def detector() -> Any:
    return create_detector("nanodet", input_size=320, confidence=0.5)


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True, timeout=30, check=False).returncode == 0


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs of its own, unmounted afterwards."""
    where = tmp_path / "fs"
    where.mkdir()
    if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(where)):
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30, check=False)


def fill(folder: Path) -> Path:
    """Write a file until the file system is full."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(chunk)
                handle.flush()
        except OSError:
            pass
    return filler


async def readyz(url: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url) as http:
        answer = await http.get("/readyz")
        return answer.status_code, answer.json()


@pytest.mark.parametrize("trouble", ["full", "locked"])
async def test_alarm_is_delivered_live_while_the_outbox_cannot_store(
    serve, detector, small_fs: Path, until, trouble: str
) -> None:
    import socketio

    settings = EdgeSettings(sites=["site1"], workers=1, alarm_db=small_fs / "alarms.db", verify_timeout=0.5,
                            alarm_resend_interval=0.5, input_size=320, confidence=0.5)
    node = EdgeNode(settings, detector)
    server = serve(node.app)
    alarm = AlarmNode(AlarmSettings(edge_url=server.url, site_id="site1", node_id="hall"), console=False)
    run = asyncio.create_task(alarm.run())
    camera = socketio.AsyncClient(reconnection=False)
    filler: Path | None = None
    locker: sqlite3.Connection | None = None
    try:
        await until(lambda: alarm.connected.is_set(), 15)
        if trouble == "full":
            filler = fill(small_fs)
        else:  # another process holds the database's write lock
            locker = sqlite3.connect(small_fs / "alarms.db", isolation_level=None)
            locker.execute("BEGIN EXCLUSIVE")
        await camera.connect(server.url, auth=encode(Hello(role=NodeRole.CAMERA, node_id="cam1", site_id="site1")),
                             transports=["websocket"], wait_timeout=10)
        sent = time.monotonic()
        await camera.emit(SocketEvent.FRAME.value, encode(Frame(
            camera_id="cam1", site_id="site1", seq=0, captured_at=time.time(), trace_id=new_trace_id(),
            jpeg=PERSON.read_bytes())))
        # The disk stays unusable: the alarm must arrive anyway, and promptly (verify_timeout is 0.5 s).
        await until(lambda: len(alarm.received) == 1, 20)
        delivered_s = time.monotonic() - sent
        assert node.store is not None and node.dispatcher is not None
        assert node.store.counts()["total"] == 0 and len(node.dispatcher.unstored) == 1
        status, body = await readyz(server.url)
        # Degraded, still serving (a 503 would take the edge out of its load balancer and stop the cameras).
        assert status == 200 and body["status"] == "degraded" and body["outbox"]["status"] == "failing"
        assert "outbox" in body["outbox"]["error"]
        failures = node.metrics.alarm_store_failures
        await until(lambda: failures._value.get() >= 1, 15)  # a locked write fails after SQLite's busy wait
        print(f"alarm delivered live {delivered_s:.2f} s after the frame with the outbox {trouble}")
        assert delivered_s < 10

        # The disk comes back: the alarm is stored (already acknowledged), the edge is ready again.
        if filler is not None:
            filler.unlink()
        else:
            assert locker is not None
            locker.execute("COMMIT")
        store = node.store
        await until(lambda: store.counts() == {"total": 1, "acked": 1, "pending": 0}, 20)
        await until(lambda: node.dispatcher is not None and node.dispatcher.problem() is None, 10)
        status, body = await readyz(server.url)
        assert status == 200 and body["status"] == "ready" and body["outbox"] == {"status": "ok"}
        assert len(alarm.received) == 1  # not delivered twice
    finally:
        if camera.connected:
            await camera.disconnect()
        await alarm.stop()
        await asyncio.gather(run, return_exceptions=True)
        if locker is not None:
            locker.close()
