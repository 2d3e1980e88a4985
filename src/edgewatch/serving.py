"""uvicorn for the edge and the cloud, with the timeouts uvicorn lacks: a client gets ``header_timeout``
seconds to send a request's headers, and an idle keep-alive connection is closed after ``idle_timeout``.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but only *after* a first response: a
socket that connects and then sends its headers a byte at a time (slowloris), or nothing at all, is held
for ever; 900 of them were held open on each server. h11/httptools have no read timeout either. So the
HTTP protocol class uvicorn would pick is subclassed here: a timer runs whenever the connection is waiting
for a request's headers (from connect, and from the first byte of each further keep-alive request) and
closes the socket when it fires; it is cancelled once the headers are complete or the connection became a
WebSocket (whose liveness Socket.IO's ping/pong watches).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import uvicorn

#: ``on_timeout(kind)`` with kind ``"header"`` or ``"idle"``: called when a connection is closed by a timeout.
TimeoutHook = Callable[[str], None]


def timeout_protocol(header_timeout: float, on_timeout: TimeoutHook | None = None,
                     base: type[asyncio.Protocol] | None = None) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class (httptools when installed, else h11) with a header-read timeout."""
    if base is None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        base = AutoHTTPProtocol
    hook = on_timeout or (lambda _kind: None)

    class HeaderTimeoutProtocol(base):  # type: ignore[valid-type,misc]
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._check_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def timeout_keep_alive_handler(self) -> None:
            if not self.transport.is_closing():
                hook("idle")
            super().timeout_keep_alive_handler()

        # -- the header timer --------------------------------------------------------------------------

        def _waiting_for_headers(self) -> bool:
            """No request is being served: whatever arrives now is (part of) the next request's headers."""
            cycle = self.cycle
            return cycle is None or cycle.response_complete

        def _check_headers(self) -> None:
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                self._cancel_header_timer()  # closed, or upgraded to a WebSocket
            elif self._waiting_for_headers():
                if self._header_timer is None and self.timeout_keep_alive_task is None:
                    self._arm_header_timer()  # bytes of a new request arrived on a kept-alive connection
            else:
                self._cancel_header_timer()

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            self._header_timer = self.loop.call_later(header_timeout, self._header_timer_fired)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timer_fired(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                return
            if self._waiting_for_headers():
                hook("header")
                self.transport.close()

    HeaderTimeoutProtocol.__name__ = f"HeaderTimeout{base.__name__}"
    return HeaderTimeoutProtocol


def server_config(app: Any, *, host: str, port: int, header_timeout: float, idle_timeout: float,
                  on_timeout: TimeoutHook | None = None, **kwargs: Any) -> uvicorn.Config:
    """A ``uvicorn.Config`` serving ``app`` with both timeouts (seconds); ``kwargs`` go to uvicorn."""
    return uvicorn.Config(
        app, host=host, port=port, http=timeout_protocol(header_timeout, on_timeout),
        timeout_keep_alive=idle_timeout,  # type: ignore[arg-type]  # used as a float by call_later
        **kwargs,
    )
