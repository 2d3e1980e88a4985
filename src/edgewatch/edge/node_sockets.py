"""The edge's Socket.IO side: who may connect (credentials, sites, cameras, the camera cap), frames in,
acks out, alarm acknowledgements, revocation of live sessions.

A mixin of :class:`~edgewatch.edge.server.EdgeNode` (one object, one event loop): the handlers need the
node's queue, presence, dispatcher and metrics, and keeping them as methods keeps their names stable for
the console and the tests. Every client message goes through :func:`~edgewatch.protocol.decode`; anything
malformed is answered with ``error`` and changes nothing else.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import socketio

from edgewatch.config import EdgeSettings
from edgewatch.edge.alarm_dispatch import AlarmDispatcher, site_room
from edgewatch.edge.camera_presence import MAX_SESSIONS_PER_CAMERA, CameraPresence
from edgewatch.edge.events import CameraOffline, CameraOnline, EventBus
from edgewatch.edge.frame_processing import FrameProcessor
from edgewatch.edge.frame_queue import FrameQueue, QueuedFrame
from edgewatch.edge.node_auth import NodeAuth
from edgewatch.protocol import (
    AlarmAck,
    ErrorMessage,
    Frame,
    FrameAck,
    FrameStatus,
    Hello,
    NodeRole,
    ProtocolError,
    RefusalCode,
    SocketEvent,
    decode,
    encode,
    refusal,
)
from edgewatch.telemetry import get_logger
from edgewatch.telemetry.metrics import EdgeMetrics

log = get_logger("edgewatch.edge.server")  # the same logger name as before the split: log filters keep working


class SocketHandlers:
    """Socket.IO handlers of the edge (mixed into ``EdgeNode``)."""

    # State of the EdgeNode this is mixed into (edge/server.py creates all of it).
    settings: EdgeSettings
    metrics: EdgeMetrics
    events: EventBus
    sio: socketio.AsyncServer
    auth: NodeAuth | None
    presence: CameraPresence
    queue: FrameQueue
    processor: FrameProcessor | None
    dispatcher: AlarmDispatcher | None

    def _register_handlers(self) -> None:
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on(SocketEvent.FRAME.value, self._on_frame)
        self.sio.on(SocketEvent.ALARM_ACK.value, self._on_alarm_ack)
        self.sio.on("*", self._on_unknown)

    async def _emit(self, event: str, payload: dict[str, Any], to: str) -> None:
        await self.sio.emit(event, payload, to=to)

    async def _error(self, sid: str, code: str, detail: str, trace_id: str | None = None) -> None:
        await self.sio.emit(SocketEvent.ERROR.value, encode(ErrorMessage(code=code, detail=detail, trace_id=trace_id)),
                            to=sid)

    async def _on_connect(self, sid: str, _environ: dict[str, Any], auth: Any = None) -> None:
        try:
            hello = decode(Hello, auth)
        except ProtocolError as exc:
            log.warning("client_refused", sid=sid, reason=f"bad hello: {exc}")
            raise refuse(RefusalCode.BAD_HELLO, f"bad hello: {exc}") from None
        token, hello = hello.token, hello.model_copy(update={"token": None})  # the token goes no further
        if self.auth is not None:
            code, message = self.auth.check(hello.model_copy(update={"token": token}))
            if code is not None:
                self.metrics.clients_refused.labels(code.value).inc()
                log.warning("client_refused", sid=sid, role=hello.role.value, node_id=hello.node_id,
                            site_id=hello.site_id, reason=code.value)
                raise refuse(code, message)
        if hello.site_id not in self.settings.sites:
            log.warning("client_refused", sid=sid, node_id=hello.node_id, site_id=hello.site_id, reason="unknown site")
            raise refuse(RefusalCode.UNKNOWN_SITE,
                         f"unknown site {hello.site_id!r}: this edge serves {', '.join(self.settings.sites)}")
        cameras = self.settings.cameras
        if hello.role is NodeRole.CAMERA and cameras and hello.node_id not in cameras:
            log.warning("client_refused", sid=sid, node_id=hello.node_id, site_id=hello.site_id, reason="unknown camera")
            raise refuse(RefusalCode.UNKNOWN_CAMERA, f"unknown camera {hello.node_id!r}")
        if hello.role is NodeRole.CAMERA and self.presence.sessions(hello.node_id) >= MAX_SESSIONS_PER_CAMERA:
            self.metrics.clients_refused.labels(RefusalCode.BUSY.value).inc()
            log.warning("client_refused", sid=sid, node_id=hello.node_id, site_id=hello.site_id,
                        reason="too many sessions of this camera")
            raise refuse(RefusalCode.BUSY, f"camera {hello.node_id!r} already has {MAX_SESSIONS_PER_CAMERA} "
                         "sessions; retry when the old one has closed")
        if hello.role is NodeRole.CAMERA and self.presence.full(hello.node_id):
            self.metrics.clients_refused.labels(RefusalCode.CAMERA_LIMIT.value).inc()
            log.warning("client_refused", sid=sid, node_id=hello.node_id, site_id=hello.site_id,
                        reason="camera limit", max_cameras=self.settings.max_cameras)
            raise refuse(RefusalCode.CAMERA_LIMIT, f"this edge accepts {self.settings.max_cameras} cameras at once")
        if hello.role is NodeRole.CAMERA:
            self.presence.joined(hello.node_id, sid)
            self.metrics.cameras_connected.set(self.presence.connections)
        await self.sio.save_session(sid, {"hello": hello})
        if self.auth is not None:
            self.auth.bind(sid, token)
        log.info("client_connected", sid=sid, role=hello.role.value, node_id=hello.node_id, site_id=hello.site_id)
        if hello.role is NodeRole.CAMERA:
            self.events.publish(CameraOnline(hello.site_id, hello.node_id))
        if hello.role is NodeRole.ALARM:
            await self.sio.enter_room(sid, site_room(hello.site_id))
            assert self.dispatcher is not None
            await self.dispatcher.node_joined(sid, hello.site_id)

    async def _revoke_session(self, sid: str) -> None:
        """End a live session whose credential was revoked (the node's reconnect is then refused)."""
        hello = await self._hello(sid)
        log.warning("client_revoked", sid=sid, role=hello.role.value if hello else None,
                    node_id=hello.node_id if hello else None, site_id=hello.site_id if hello else None)
        with contextlib.suppress(Exception):  # the client may be gone already
            await self._error(sid, RefusalCode.REVOKED.value, "this node's credential was revoked")
            await self.sio.disconnect(sid)

    async def _on_disconnect(self, sid: str, *_reason: Any) -> None:
        if self.auth is not None:
            self.auth.unbind(sid)
        hello = await self._hello(sid)
        if hello is None:
            return
        log.info("client_disconnected", sid=sid, role=hello.role.value, node_id=hello.node_id, site_id=hello.site_id)
        if hello.role is NodeRole.CAMERA:
            # Its buffered frames go at once: they would hold memory and a worker's turn for nobody.
            for item in await self.queue.drain(sid):
                self.metrics.frames_dropped.labels(item.frame.camera_id).inc()
            last = self.presence.left(hello.node_id, sid)
            self.metrics.cameras_connected.set(self.presence.connections)
            if last:  # a second session of the same camera closing leaves the camera online
                self.events.publish(CameraOffline(hello.site_id, hello.node_id))
                if self.processor is not None and self.processor.gate is not None:
                    self.processor.gate.forget(hello.node_id)
        if hello.role is NodeRole.ALARM and self.dispatcher is not None:
            self.dispatcher.node_left(sid, hello.site_id)

    async def _hello(self, sid: str) -> Hello | None:
        try:
            session = await self.sio.get_session(sid)
        except KeyError:
            return None
        return session.get("hello")

    async def _on_unknown(self, event: str, sid: str, *_data: Any) -> None:
        await self._error(sid, "unknown_event", f"unknown event {event!r}")

    async def _on_frame(self, sid: str, payload: Any) -> None:
        received_at, received_mono = time.time(), time.monotonic()
        hello = await self._hello(sid)
        if hello is None or hello.role is not NodeRole.CAMERA:
            await self._error(sid, "not_a_camera", "only camera nodes may send frames")
            return
        try:
            frame = decode(Frame, payload)
        except ProtocolError as exc:
            log.warning("frame_rejected", node_id=hello.node_id, error=str(exc))
            await self._error(sid, "bad_frame", str(exc))
            return
        if frame.camera_id != hello.node_id or frame.site_id != hello.site_id:
            detail = (f"frame of {frame.site_id}/{frame.camera_id} on the connection of "
                      f"{hello.site_id}/{hello.node_id}")
            log.warning("frame_rejected", trace_id=frame.trace_id, node_id=hello.node_id, error=detail)
            await self._error(sid, "wrong_camera", detail, frame.trace_id)
            return
        self.metrics.frames_received.labels(frame.camera_id).inc()
        log.info("frame_received", trace_id=frame.trace_id, camera_id=frame.camera_id, site_id=frame.site_id,
                 seq=frame.seq, captured_at=frame.captured_at, bytes=len(frame.jpeg))
        dropped = await self.queue.put(QueuedFrame(frame, sid, received_at, received_mono))
        self.metrics.queue_depth.labels(frame.camera_id).set(self.queue.depth(sid))
        for item in dropped:
            await self._dropped(item)

    async def _dropped(self, item: QueuedFrame) -> None:
        frame = item.frame
        self.metrics.frames_dropped.labels(frame.camera_id).inc()
        log.info("frame_dropped", trace_id=frame.trace_id, camera_id=frame.camera_id, seq=frame.seq,
                 reason="replaced_by_newer")
        await self._ack(item, FrameStatus.DROPPED, detail="replaced by a newer frame before detection")

    async def _ack(self, item: QueuedFrame, status: FrameStatus, **fields: Any) -> None:
        """Answer a frame to the camera connection that sent it (every frame gets exactly one answer)."""
        frame = item.frame
        ack = FrameAck(camera_id=frame.camera_id, seq=frame.seq, trace_id=frame.trace_id, status=status, **fields)
        await self.sio.emit(SocketEvent.FRAME_ACK.value, encode(ack), to=item.sid)

    async def _on_alarm_ack(self, sid: str, payload: Any) -> None:
        hello = await self._hello(sid)
        if hello is None or hello.role is not NodeRole.ALARM:
            await self._error(sid, "not_an_alarm_node", "only alarm nodes may acknowledge alarms")
            return
        try:
            ack = decode(AlarmAck, payload)
        except ProtocolError as exc:
            await self._error(sid, "bad_alarm_ack", str(exc))
            return
        if ack.node_id != hello.node_id:
            # The ack is recorded under the node that sent it: the id it authenticated with, never a claim.
            log.warning("alarm_ack_rejected", sid=sid, node_id=hello.node_id, claimed=ack.node_id)
            await self._error(sid, "wrong_node", f"an ack of {hello.node_id!r} must name {hello.node_id!r}")
            return
        assert self.dispatcher is not None
        await self.dispatcher.acknowledged(ack, hello.site_id)  # only an alarm of the node's own site


def refuse(code: RefusalCode, message: str) -> socketio.exceptions.ConnectionRefusedError:
    """The exception that refuses a connection with a machine-readable code: python-socketio sends the
    client ``{"message": message, "data": {"code", "message"}}`` (a single argument would be stringified)."""
    return socketio.exceptions.ConnectionRefusedError(message, refusal(code, message))
