"""An IoT node's Socket.IO connection to its site's edge, shared by camera and alarm nodes.

Connects at once and keeps trying, with exponential backoff from ``reconnect_delay`` to
``reconnect_delay_max`` and ``reconnect_jitter`` randomisation: python-socketio's own reconnection covers
dropped transports; the first connection and a session the edge itself closed or refused, which
python-socketio does not retry, are retried here with the same backoff. Imports only socketio and the
protocol, so the alarm image needs no OpenCV.

A refusal the edge marks permanent (``RefusalCode.permanent``: unknown site or camera, bad credential ...)
cannot heal by retrying: the link stops, sets ``failed`` and keeps the :class:`EdgeRefused` in ``refused`` so
the node can exit with a clear error. Transient refusals (``camera_limit``, ``busy``) are retried.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from edgewatch.config import ReconnectSettings
from edgewatch.protocol import Hello, RefusalCode, encode
from edgewatch.telemetry.logs import get_logger

Handler = Callable[..., Awaitable[Any] | Any]


#: Exit status of a node the edge refused permanently (2 is a bad option or config, 1 another failure).
EXIT_REFUSED = 3


class EdgeRefused(RuntimeError):
    """The edge refused this node for a reason retrying cannot fix; ``code`` says which."""

    def __init__(self, code: RefusalCode, message: str) -> None:
        super().__init__(f"the edge refused this node ({code.value}): {message}")
        self.code = code
        self.message = message


def parse_refusal(data: Any) -> tuple[RefusalCode | None, str]:
    """The code and message of a ``connect_error`` payload; the code is None for anything else (a transport
    error, an older edge's plain text).

    python-socketio delivers ``ConnectionRefusedError(refusal(...))`` as ``{"message": str(that dict)}``
    and ``ConnectionRefusedError(text, refusal(...))`` as ``{"message": text, "data": {...}}``; both are
    read here, as is the plain ``{"code", "message"}`` dict. The text form is parsed as a Python literal
    (``ast.literal_eval``: no code runs), bounded in length."""
    payload: Any = data
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
        payload = payload["data"]
    if isinstance(payload, dict) and "code" not in payload and isinstance(payload.get("message"), str):
        text = payload["message"].strip()
        if text.startswith("{") and len(text) <= 4096:
            with contextlib.suppress(ValueError, SyntaxError, MemoryError, RecursionError):
                literal = ast.literal_eval(text)
                if isinstance(literal, dict):
                    payload = literal
    if isinstance(payload, dict):
        message = str(payload.get("message", ""))[:300]
        try:
            return RefusalCode(payload.get("code")), message
        except ValueError:
            return None, message or str(payload)[:300]
    return None, str(payload)[:300]


class EdgeLink:
    """One long-lived connection to the edge. ``connected`` is set while the session is up."""

    def __init__(
        self,
        settings: ReconnectSettings,
        hello: Hello,
        on_connect: Callable[[], Any] | None = None,
        on_disconnect: Callable[[str], Any] | None = None,
    ) -> None:
        self.settings = settings
        if hello.token is None and settings.node_token is not None:
            # The node's credential rides in the Socket.IO auth payload (never logged, never on argv).
            hello = hello.model_copy(update={"token": settings.node_token.get_secret_value()})
        self.hello = hello
        self.log = get_logger(__name__, node_id=hello.node_id, role=str(hello.role))
        self.connected = asyncio.Event()
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._closing = False
        self._restart = asyncio.Event()  # set when the session ended and python-socketio will not retry
        self._task: asyncio.Task[None] | None = None
        self.connects = 0
        #: Set with ``refused`` when the edge refused this node permanently; the link has stopped.
        self.failed = asyncio.Event()
        self.refused: EdgeRefused | None = None
        self.sio = socketio.AsyncClient(
            reconnection=True,
            reconnection_attempts=0,  # forever
            reconnection_delay=settings.reconnect_delay,
            reconnection_delay_max=settings.reconnect_delay_max,
            randomization_factor=settings.reconnect_jitter,
            handle_sigint=False,  # the command installs its own SIGINT/SIGTERM handling
            logger=False,
            engineio_logger=False,
            **_tls_options(settings),
        )
        self.sio.on("connect", self._connected)
        self.sio.on("disconnect", self._disconnected)
        self.sio.on("connect_error", self._connect_error)

    def on(self, event: str, handler: Handler) -> None:
        """Handle a server event (``frame_ack``, ``alarm``, ``error`` ...)."""
        self.sio.on(event, handler)

    async def _connected(self) -> None:
        self.connects += 1
        self.connected.set()
        self.log.info("connected", edge_url=self.settings.edge_url, sid=self.sio.sid, connects=self.connects)
        if self._on_connect is not None:
            await _maybe_await(self._on_connect())

    async def _disconnected(self, reason: Any = None) -> None:
        self.connected.clear()
        reason_text = str(getattr(reason, "value", reason) or "unknown")
        log = self.log.info if self._closing else self.log.warning
        log("disconnected", edge_url=self.settings.edge_url, reason=reason_text)
        if reason == self.sio.reason.SERVER_DISCONNECT and not self._closing:
            self._restart.set()  # the edge closed the session: python-socketio will not reconnect
        if self._on_disconnect is not None:
            await _maybe_await(self._on_disconnect(reason_text))

    async def _connect_error(self, data: Any = None) -> None:
        code, message = parse_refusal(data)
        self.log.warning("connect_error", edge_url=self.settings.edge_url, error=message,
                         code=code.value if code else None, hint=_tls_hint(message, self.settings.edge_url))
        if code is not None and code.permanent and self.refused is None:
            # Also reached from python-socketio's own reconnect loop, which would retry for ever:
            # _maintain sees the flag and shuts the client down.
            self.refused = EdgeRefused(code, message)
            self.log.error("refused", edge_url=self.settings.edge_url, code=code.value, error=message)
            self._restart.set()

    async def start(self) -> None:
        """Start connecting in the background; returns at once."""
        if self._task is None:
            self._task = asyncio.create_task(self._maintain(), name=f"edge-link-{self.hello.node_id}")

    async def _maintain(self) -> None:
        try:
            await self._connect_until_refused()
        finally:
            if self.refused is not None:
                with contextlib.suppress(Exception):  # stops python-socketio's reconnect loop, if any
                    await asyncio.wait_for(self.sio.shutdown(), timeout=5)
                self.failed.set()

    async def _connect_until_refused(self) -> None:
        delay = self.settings.reconnect_delay
        while not self._closing and self.refused is None:
            self._restart.clear()
            try:
                await self.sio.connect(
                    self.settings.edge_url, auth=encode(self.hello), retry=False, wait_timeout=5,
                )
            except (socketio.exceptions.ConnectionError, ValueError, OSError) as exc:  # never end the task
                if self._closing or self.refused is not None:
                    return
                # A transient refusal (camera_limit, busy) or the handshake timed out: back off and retry.
                self.log.warning("connect_failed", edge_url=self.settings.edge_url, error=str(exc),
                                 retry_in_s=round(delay, 2), hint=_tls_hint(str(exc), self.settings.edge_url))
                await asyncio.sleep(self._jitter(delay))
                delay = min(delay * 2, self.settings.reconnect_delay_max)
                continue
            delay = self.settings.reconnect_delay
            await self._restart.wait()
            if not self._closing:
                await asyncio.sleep(self._jitter(delay))

    def _jitter(self, delay: float) -> float:
        return max(0.0, delay + self.settings.reconnect_jitter * (2 * random.random() - 1))

    async def emit(self, event: str, data: Any, *, wait_connected: float = 0.0) -> bool:
        """Send one event; False (nothing sent) while disconnected. ``wait_connected`` waits that long for
        the link first: events the edge sends while accepting a connection arrive before the connection
        counts as established here, and their answers must not be lost."""
        if not self.connected.is_set() and wait_connected > 0:
            try:
                await asyncio.wait_for(self.connected.wait(), wait_connected)
            except TimeoutError:
                pass
        if not self.connected.is_set():
            return False
        try:
            await self.sio.emit(event, data)
        except socketio.exceptions.SocketIOError as exc:
            self.log.warning("emit_failed", socket_event=event, error=str(exc))
            return False
        return True

    async def close(self) -> None:
        """Disconnect and stop reconnecting."""
        self._closing = True
        self._restart.set()
        if self._task is not None:  # ends a first connection still retrying
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):  # disconnects, or aborts python-socketio's reconnect task
            await asyncio.wait_for(self.sio.shutdown(), timeout=5)
        self.connected.clear()


def _tls_options(settings: ReconnectSettings) -> dict[str, Any]:
    """For an https/wss edge: an aiohttp session whose connector verifies the edge's certificate against
    ``ca_file`` (the system trust store when unset). python-engineio offers only on/off for verification,
    so the context travels in the session (a factory: engineio creates it inside the running loop)."""
    if not settings.edge_url.lower().startswith(("https://", "wss://")):
        return {}
    import aiohttp

    from edgewatch.security.tls import client_context

    context = client_context(settings.ca_file)

    def session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))

    return {"http_session": session}


def _tls_hint(error: str, edge_url: str) -> str | None:
    """A plain-words hint for the TLS mistakes people make, or None. A certificate that does not verify is
    retried like any other failure, never a reason to give up: an attacker who can present a bad
    certificate once must not be able to make every camera exit for good."""
    if "CERTIFICATE_VERIFY_FAILED" in error or "SSLCertVerificationError" in error:
        if "hostname" in error.lower() or "ip address mismatch" in error.lower():
            return "the edge's certificate is not valid for this host name: use a name it was issued for"
        return "the edge's certificate is not trusted: pass --ca-file with the site CA (ca.pem)"
    if "WRONG_VERSION_NUMBER" in error or "record layer failure" in error:
        return "TLS mismatch: is the edge URL's scheme right (https:// for an edge with a certificate)?"
    if edge_url.startswith("http://") and "Server disconnected" in error:
        return "the edge closed the connection: if it serves TLS, use an https:// edge URL"
    return None


async def _maybe_await(value: Any) -> None:
    if asyncio.iscoroutine(value):
        await value
