"""Peers of the alarm node: the REAL edge (``EdgeNode``, served by uvicorn on loopback) whose SQLite alarm
outbox the tests fill through ``node.store.add`` -- the edge then delivers each alarm to its site's alarm
nodes on connect and re-sends it until acknowledged -- and a webhook receiver standing in for the user's
own HTTP endpoint (a third-party service, not a part of edgewatch)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from edgewatch.config import EdgeSettings
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.server import EdgeNode


@pytest.fixture(scope="module")
def detector() -> Any:
    return create_detector("nanodet", input_size=320, confidence=0.5)


@pytest.fixture
def real_edge(serve, detector, tmp_path: Path) -> Callable[..., tuple[EdgeNode, Any]]:
    """``real_edge(port=None, **settings)`` -> (EdgeNode, server): a real edge serving site1 and site2."""

    def start(port: int | None = None, **overrides: Any) -> tuple[EdgeNode, Any]:
        values: dict[str, Any] = {"sites": ["site1", "site2"], "workers": 1, "alarm_db": tmp_path / "alarms.db",
                                  "alarm_resend_interval": 0.2, "input_size": 320, "confidence": 0.5}
        values.update(overrides)
        node = EdgeNode(EdgeSettings(**values), detector)
        return node, serve(node.app, port)

    return start


def deliveries(db: Path) -> dict[str, tuple[str | None, int]]:
    """The edge's outbox as stored in SQLite: event id -> (node that acknowledged it, times it was sent)."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT event_id, acked_by, sent_count FROM alarms").fetchall()
    finally:
        conn.close()
    return {event_id: (acked_by, sent) for event_id, acked_by, sent in rows}


class WebhookReceiver:
    """Records POSTed JSON bodies; can fail the first requests with 500 or hold requests until released."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self.fail_first = 0
        self.release = threading.Event()
        self.release.set()
        self.completed_at: list[float] = []

    def app(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            self.attempts += 1
            if self.attempts <= self.fail_first:
                return JSONResponse({"error": "try later"}, status_code=500)
            body = await request.json()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
            self.bodies.append(body)
            self.completed_at.append(time.monotonic())
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@pytest.fixture
def webhook() -> WebhookReceiver:
    return WebhookReceiver()
