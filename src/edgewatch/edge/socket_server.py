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

#: ``on_reject(reason)``: called once per rejected packet, e.g. to count it.
RejectHook = Callable[[str], None]


class GuardedServer(socketio.AsyncServer):
    """``socketio.AsyncServer`` that refuses reserved event names and survives malformed packets."""

    def __init__(self, *args: Any, on_reject: RejectHook | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_reject = on_reject or (lambda _reason: None)

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
