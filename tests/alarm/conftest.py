"""Real peers for the alarm node: a python-socketio server standing in for the edge (it emits alarms and
records acks) and a Starlette webhook receiver, both served by real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import socketio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from edgewatch.protocol import AlarmAck, Hello, ProtocolError, SocketEvent, decode


class AlarmEdge:
    """Records hellos and alarm acks; ``send`` emits an alarm from the server's own loop."""

    def __init__(self) -> None:
        self.hellos: list[Hello] = []
        self.acks: list[AlarmAck] = []
        self.sids: list[str] = []
        self._sio: socketio.AsyncServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def app(self) -> Any:
        sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
        self._sio = sio

        @sio.event
        async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
            try:
                hello = decode(Hello, auth)
            except ProtocolError as exc:
                raise socketio.exceptions.ConnectionRefusedError(str(exc)) from None
            self._loop = asyncio.get_running_loop()
            self.hellos.append(hello)
            self.sids.append(sid)

        @sio.on(SocketEvent.ALARM_ACK)
        async def alarm_ack(sid: str, payload: Any) -> None:
            self.acks.append(decode(AlarmAck, payload))

        return socketio.ASGIApp(sio)

    async def send(self, payload: Any) -> None:
        """Emit ``alarm`` with ``payload`` to every connected node (called from the test's loop)."""
        assert self._sio is not None and self._loop is not None, "no node connected yet"
        future = asyncio.run_coroutine_threadsafe(self._sio.emit(SocketEvent.ALARM, payload), self._loop)
        await asyncio.wrap_future(future)


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
def alarm_edge() -> AlarmEdge:
    return AlarmEdge()


@pytest.fixture
def webhook() -> WebhookReceiver:
    return WebhookReceiver()
