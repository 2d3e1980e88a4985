"""The edge's Socket.IO server, hardened against what a client can put on the wire.

python-socketio (5.x) dispatches a client's event named ``connect`` or ``disconnect`` to the server's own
connection handlers, so a client could re-run them (re-join rooms, fake a departure); it also lets an
undecodable packet (11 bytes of junk) escape as an exception that Engine.IO logs with a full traceback, and
an event packet with no name raises ``IndexError``. :class:`GuardedServer` checks every event packet first:
a reserved or missing name is answered with an ``error`` event, counted, logged in one line and never
reaches a handler; a packet that does not decode is logged in one line and its connection closed. The
hooks are python-socketio's ``_handle_event`` and ``_handle_eio_message`` (stable since 5.0).

One level lower, python-engineio decodes a WebSocket frame outside any ``try`` (``Packet(encoded_packet=
...)`` in ``AsyncSocket._websocket_handler``), so 11 junk bytes there end the ASGI call with an exception
that uvicorn logs as a 1 KB traceback. :class:`OneLineErrors` wraps the ASGI app: such an exception is
logged in one line and the connection is closed (WebSocket) or answered 400 (HTTP, when nothing was sent).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import socketio

from edgewatch.protocol import ErrorMessage, SocketEvent, encode
from edgewatch.telemetry import get_logger

log = get_logger(__name__)

#: Event names Socket.IO itself uses on either side; a client must never send them.
RESERVED_EVENTS = frozenset({
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener", "message",
})
#: Longest event name accepted (ours are short; a megabyte-long name only fills logs).
MAX_EVENT_NAME = 64

#: Engine.IO sessions that have not completed a Socket.IO connect (presented a Hello) may be at most this
#: many at once, for at most this many seconds, and send messages of at most this many bytes: a client
#: without a credential must cost next to nothing (no 5 MB buffers, no thousands of held sockets).
MAX_PENDING_SESSIONS = 256
MAX_PENDING_PER_ADDRESS = 8  # so one host cannot take every pending slot and lock real nodes out
CONNECT_DEADLINE = 10.0
MAX_PENDING_MESSAGE = 16 * 1024

#: ``on_reject(reason)``: called once per rejected packet, e.g. to count it.
RejectHook = Callable[[str], None]


class GuardedServer(socketio.AsyncServer):
    """``socketio.AsyncServer`` that refuses reserved event names and survives malformed packets."""

    def __init__(self, *args: Any, on_reject: RejectHook | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_reject = on_reject or (lambda _reason: None)
        self._pending: dict[str, tuple[float, str]] = {}  # eio sid -> (connected at, client address)

    async def _handle_eio_connect(self, eio_sid: str, environ: Any) -> Any:
        now = time.monotonic()
        for stale in [e for e, (at, _addr) in self._pending.items() if now - at > CONNECT_DEADLINE]:
            self._pending.pop(stale, None)
            self._on_reject("connect_deadline")
            log.warning("session_closed", eio_sid=stale, reason="no Socket.IO connect within the deadline")
            with contextlib.suppress(Exception):
                await self.eio.disconnect(stale)
        # python-engineio's ASGI environ says REMOTE_ADDR 127.0.0.1 for everyone: the ASGI scope knows better.
        client = ((environ or {}).get("asgi.scope") or {}).get("client") or ("?", 0)
        address = str(client[0])
        same_host = sum(1 for _at, addr in self._pending.values() if addr == address)
        if len(self._pending) >= MAX_PENDING_SESSIONS or same_host >= MAX_PENDING_PER_ADDRESS:
            self._on_reject("too_many_pending")
            log.warning("session_refused", eio_sid=eio_sid, reason="too many sessions without a Socket.IO connect",
                        pending=len(self._pending), from_address=same_host)
            return False  # python-engineio answers 401 and keeps nothing
        self._pending[eio_sid] = (now, address)
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        await super()._handle_connect(eio_sid, namespace, data)
        if self.manager.sid_from_eio_sid(eio_sid, namespace or "/") is not None:
            self._pending.pop(eio_sid, None)  # it presented an accepted Hello: no longer pending

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        self._pending.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, reason)

    async def _pending_check(self, eio_sid: str, data: Any) -> bool:
        """False (and the session closed) for a large message from a session that has not connected yet."""
        if eio_sid not in self._pending:
            return True
        if self.manager.sid_from_eio_sid(eio_sid, "/") is not None:  # connected: it has presented its Hello
            self._pending.pop(eio_sid, None)
            return True
        size = len(data) if isinstance(data, bytes | str) else 0
        if size <= MAX_PENDING_MESSAGE:
            return True
        self._pending.pop(eio_sid, None)
        self._binary_packet.pop(eio_sid, None)
        self._on_reject("large_before_connect")
        log.warning("packet_rejected", eio_sid=eio_sid, bytes=size, error="large message before a Socket.IO connect")
        await self.eio.disconnect(eio_sid)
        return False

    async def _handle_event(self, eio_sid: str, namespace: str | None, id: Any, data: Any) -> None:
        name = data[0] if isinstance(data, list) and data else None
        if isinstance(name, str) and name not in RESERVED_EVENTS and len(name) <= MAX_EVENT_NAME:
            await super()._handle_event(eio_sid, namespace, id, data)
            return
        reason = "reserved_event" if isinstance(name, str) and name in RESERVED_EVENTS else "bad_event_name"
        shown = name[:MAX_EVENT_NAME] if isinstance(name, str) else type(name).__name__
        self._on_reject(reason)
        log.warning("event_rejected", eio_sid=eio_sid, reason=reason, name=shown)
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace or "/")
        if sid is not None and self.manager.is_connected(sid, namespace or "/"):
            detail = (f"event name {shown!r} is reserved by Socket.IO" if reason == "reserved_event"
                      else "an event needs a name of at most 64 characters")
            await self.emit(SocketEvent.ERROR.value, encode(ErrorMessage(code=reason, detail=detail)), to=sid)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if not await self._pending_check(eio_sid, data):
            return
        try:
            await super()._handle_eio_message(eio_sid, data)
        except Exception as exc:  # noqa: BLE001 - anything a client sends must end here, in one line
            self._binary_packet.pop(eio_sid, None)
            self._on_reject("malformed_packet")
            size = len(data) if isinstance(data, bytes | str) else 0
            log.warning("packet_rejected", eio_sid=eio_sid, bytes=size, error=f"{type(exc).__name__}: {exc}"[:200])
            await self.eio.disconnect(eio_sid)


ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                   Awaitable[None]]


class OneLineErrors:
    """ASGI wrapper: an exception escaping the wrapped app is one log line, never a traceback."""

    def __init__(self, app: ASGIApp, on_reject: RejectHook | None = None) -> None:
        self.app = app
        self._on_reject = on_reject or (lambda _reason: None)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        # Only the Socket.IO endpoint: a bug in the edge's own HTTP routes keeps its full traceback.
        if scope["type"] not in ("http", "websocket") or not str(scope.get("path", "")).startswith("/socket.io"):
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Any) -> None:
            nonlocal started
            if message.get("type") in ("http.response.start", "websocket.accept", "websocket.close"):
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception as exc:  # noqa: BLE001 - what a client sends must never print a traceback
            self._on_reject("malformed_packet")
            log.warning("request_rejected", transport=scope["type"], path=scope.get("path"),
                        error=f"{type(exc).__name__}: {exc}"[:200])
            if scope["type"] == "http" and not started:
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"11")]})
                await send({"type": "http.response.body", "body": b"bad request"})
            elif scope["type"] == "websocket":
                with contextlib.suppress(Exception):  # already closed: nothing more to say
                    await send({"type": "websocket.close", "code": 1002})
