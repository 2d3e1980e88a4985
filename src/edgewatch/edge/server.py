"""The edge node as one ASGI app: Socket.IO for cameras and alarm nodes, plus health, readiness and metrics.

The event loop only moves messages: frames go into per-camera newest-wins buffers, ``workers`` coroutines
hand them to a thread pool for decoding and detection (ONNX Runtime releases the GIL), and the results come
back to the loop for the ack, tracking, cloud verification and alarms. So a connection, a frame or a ping is
accepted at any time, however long a model runs.

Sockets: a client connects with a :class:`~edgewatch.protocol.Hello` as Socket.IO ``auth``; the edge refuses
sites it does not serve and cameras it does not know (when a camera list is set). Cameras send ``frame``,
alarm nodes receive ``alarm`` and answer ``alarm_ack``; anything malformed is answered with ``error`` and
changes nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import socketio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from edgewatch.config import EdgeSettings
from edgewatch.edge.alarm_dispatch import AlarmDispatcher, site_room
from edgewatch.edge.alarm_store import AlarmStore
from edgewatch.edge.camera_presence import CameraPresence
from edgewatch.edge.cloud_health import CloudProbe, cloud_readiness
from edgewatch.edge.decoding import FrameDecodeError, FrameTooLarge
from edgewatch.edge.detection import PersonDetector
from edgewatch.edge.events import CameraOffline, CameraOnline, EventBus, FrameAnalysed, TrackedBox
from edgewatch.edge.frame_processing import FrameProcessor, GatedFrame, ProcessedFrame
from edgewatch.edge.frame_queue import FrameQueue, QueuedFrame
from edgewatch.edge.motion import GateOptions, MotionGate
from edgewatch.edge.node_auth import NodeAuth
from edgewatch.edge.socket_server import GuardedServer, OneLineErrors
from edgewatch.edge.verification import FrameContext, VerificationService
from edgewatch.integrations.mqtt.hook import MqttHook
from edgewatch.protocol import (
    MAX_FRAME_BYTES,
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
from edgewatch.security.metrics_access import MetricsAccess
from edgewatch.security.origins import OriginPolicy
from edgewatch.telemetry import get_logger
from edgewatch.telemetry.metrics import EdgeMetrics
from edgewatch.telemetry.redact import redact_url

log = get_logger(__name__)

DetectorSource = PersonDetector | Callable[[], PersonDetector]

#: How often tracks are checked for the unverified-alarm timeout when no frames arrive.
TIMEOUT_CHECK_INTERVAL = 0.5
#: Consecutive detector errors after which /readyz reports the edge not ready.
DETECTOR_FAILURES_UNREADY = 5


@dataclass(slots=True)
class EdgeStatus:
    ready: bool = False
    detector: str | None = None
    error: str | None = None


class EdgeNode:
    """All state of one edge process. ``app`` is the ASGI application to serve."""

    def __init__(self, settings: EdgeSettings, detector: DetectorSource, metrics: EdgeMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or EdgeMetrics()
        self.status = EdgeStatus()
        #: What happens on this edge, for live views and integrations (never blocks the pipeline).
        self.events = EventBus()
        self._detector_source = detector
        self.processor: FrameProcessor | None = None
        self.queue = FrameQueue(settings.frame_buffer, max_bytes=settings.frame_buffer_bytes)
        self.presence = CameraPresence(settings.max_cameras, settings.camera_state_ttl)
        #: Node credentials (None: nodes are not authenticated; `edgewatch edge` refuses that unless asked).
        self.auth = NodeAuth(settings.credentials_file) if settings.credentials_file is not None else None
        self.metrics_access = MetricsAccess(
            [settings.metrics_token.get_secret_value() if settings.metrics_token else None], settings.host)
        self.sio = GuardedServer(
            on_reject=lambda reason: self.metrics.events_rejected.labels(reason).inc(),
            async_mode="asgi",
            # A callable, never []: engineio's [] turns the Origin check off (see edgewatch.security.origins).
            cors_allowed_origins=OriginPolicy(settings.allowed_origins, tls=settings.tls_cert is not None),
            max_http_buffer_size=MAX_FRAME_BYTES + 64 * 1024,
            logger=False,
            engineio_logger=False,
        )
        self.store: AlarmStore | None = None
        self.dispatcher: AlarmDispatcher | None = None
        self.verification: VerificationService | None = None
        self.cloud_probe: CloudProbe | None = None  # reachability of the cloud, for /readyz
        self.mqtt = MqttHook(settings, self.events, self.metrics.registry)  # off unless settings.mqtt_url
        self._executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="edge-detect")
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._detector_failures = 0
        self._register_handlers()
        self.console: Any = None  # the operators' web console at /console (edge/console), when configured
        if settings.operators_file is not None:
            from edgewatch.edge.console import EdgeConsole

            self.console = EdgeConsole(self, settings.operators_file)
        http = Starlette(
            routes=[
                Route("/healthz", self._healthz),
                Route("/readyz", self._readyz),
                Route("/metrics", self._metrics),
                *([Mount("/console", app=self.console.app)] if self.console is not None else []),
            ],
            lifespan=self._lifespan,
        )
        self.app = OneLineErrors(socketio.ASGIApp(self.sio, other_asgi_app=http),
                                 on_reject=lambda reason: self.metrics.events_rejected.labels(reason).inc())

    # ---- lifecycle ------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        s = self.settings
        self.store = await asyncio.to_thread(AlarmStore, s.alarm_db)
        self.dispatcher = AlarmDispatcher(self.store, self._emit, self.metrics, s.alarm_resend_interval,
                                          events=self.events, retention=s.alarm_retention)
        self.verification = VerificationService.from_settings(s, self.dispatcher, self.metrics, events=self.events)
        self._spawn(self._load_detector(), "load-detector")
        for index in range(s.workers):
            self._spawn(self._work(), f"detect-worker-{index}")
        self._spawn(self._check_timeouts(), "verify-timeouts")
        self._spawn(self._release_departed(), "release-departed-cameras")
        self._spawn(self.dispatcher.run(), "alarm-resend")  # supervised: restarts itself, /readyz shows it
        if s.cloud_url:
            self.cloud_probe = CloudProbe(s.cloud_url, s.cloud_probe_interval, min(3.0, s.cloud_timeout),
                                          ca_file=s.cloud_ca_file)
            self._spawn(self.cloud_probe.run(), "cloud-probe")
        self.mqtt.start(self._spawn)
        if self.console is not None:
            self._spawn(self.console.run(), "console")
        if self.auth is not None:
            self._spawn(self.auth.watch(self._revoke_session), "credentials-watch")
        else:
            log.warning("nodes_unauthenticated", detail="no credentials file: any client that reaches this port "
                        "can act as a camera or alarm node of a served site")
        log.info("edge_started", sites=s.sites, cameras=s.cameras or "any", workers=s.workers,
                 detector=s.detector, input_size=s.input_size, cloud_url=redact_url(s.cloud_url),
                 alarm_db=str(s.alarm_db), tls=s.tls_cert is not None,
                 credentials=str(s.credentials_file) if s.credentials_file else None)

    async def stop(self) -> None:
        await self.mqtt.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.verification is not None:
            await self.verification.aclose()
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self.store is not None:
            self.store.close()
        log.info("edge_stopped")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("edge_task_failed", task=task.get_name(), error=repr(task.exception()))

    async def _load_detector(self) -> None:
        source = self._detector_source
        try:
            detector = source if hasattr(source, "detect") else await asyncio.to_thread(source)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - a model that does not load: not ready, and say why
            self.status.error = f"{type(exc).__name__}: {exc}"
            log.error("detector_failed", error=self.status.error)
            return
        assert hasattr(detector, "detect")
        s = self.settings
        gate = MotionGate(GateOptions(s.motion_threshold, s.motion_min_area, s.detect_interval)) if s.motion_gate else None
        self.processor = FrameProcessor(detector, crop_padding=s.crop_padding,  # type: ignore[arg-type]
                                        reduced_decode=s.reduced_decode, gate=gate, max_pixels=s.max_image_pixels)
        self.status.detector = f"{detector.name}@{detector.input_size}"  # type: ignore[union-attr]
        self.status.ready = True
        self._ready.set()
        log.info("detector_ready", detector=self.status.detector)

    # ---- HTTP -----------------------------------------------------------------------------------------

    async def _healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _readyz(self, _request: Request) -> Response:
        if self.status.ready:  # a cloud or outbox in trouble degrades the edge but never stops it serving
            cloud_client = self.verification.cloud if self.verification is not None else None
            breaker = await cloud_client.breaker_state() if cloud_client is not None else None
            cloud = await cloud_readiness(self.cloud_probe, breaker)
            # The outbox failing (full disk, locked, re-send loop restarting): alarms still go out live, but
            # cannot be kept; an operator must look. 200 all the same: refusing traffic would be worse.
            problem = self.dispatcher.problem() if self.dispatcher is not None else None
            outbox = {"status": "ok"} if problem is None else {"status": "failing", "error": problem}
            healthy = cloud["status"] in ("ok", "not_configured") and problem is None
            return JSONResponse({"status": "ready" if healthy else "degraded", "detector": self.status.detector,
                                 "cloud": cloud, "outbox": outbox, **self.mqtt.readiness()})
        body = {"status": "failed" if self.status.error else "loading", "error": self.status.error,
                **self.mqtt.readiness()}
        return JSONResponse(body, status_code=503)

    async def _metrics(self, request: Request) -> Response:
        denied = self.metrics_access.check(request.headers.get("authorization"))
        if denied is not None:
            return JSONResponse({"error": "unauthorized" if denied.status == 401 else "forbidden",
                                 "detail": denied.detail}, status_code=denied.status,
                                headers={"www-authenticate": 'Bearer realm="edgewatch-edge"'})
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # ---- Socket.IO ------------------------------------------------------------------------------------

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
        if hello.role is NodeRole.CAMERA and self.presence.full():
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
            self.presence.left(hello.node_id, sid)
            self.metrics.cameras_connected.set(self.presence.connections)
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
        assert self.dispatcher is not None
        await self.dispatcher.acknowledged(ack, hello.site_id)  # only an alarm of the node's own site

    # ---- detection workers ----------------------------------------------------------------------------

    async def _work(self) -> None:
        await self._ready.wait()
        loop = asyncio.get_running_loop()
        while True:
            item = await self.queue.get()
            frame = item.frame
            self.metrics.queue_depth.labels(frame.camera_id).set(self.queue.depth(item.sid))
            queue_s = time.monotonic() - item.received_mono
            assert self.processor is not None and self.verification is not None
            work = functools.partial(
                self.processor.process, frame.jpeg, camera_id=frame.camera_id,
                view=self.settings.per_camera.get(frame.camera_id),
                track_active=self.verification.track_active(frame.camera_id),
            )
            try:
                result = await loop.run_in_executor(self._executor, work)
            except FrameTooLarge as exc:
                self.metrics.images_refused.labels("too_many_pixels").inc()
                await self._failed(item, str(exc))
                continue
            except FrameDecodeError as exc:
                self.metrics.images_refused.labels("undecodable").inc()
                await self._failed(item, str(exc))
                continue
            except Exception as exc:  # a detector bug must not kill the worker; the frame is reported failed
                log.exception("detection_failed", trace_id=frame.trace_id, camera_id=frame.camera_id)
                self._detector_failures += 1
                if self._detector_failures >= DETECTOR_FAILURES_UNREADY and self.status.ready:
                    # Frames keep failing: persons would go unseen. Say so where orchestrators look.
                    self.status.ready = False
                    self.status.error = f"detector failing: {type(exc).__name__}: {exc}"
                    log.error("detector_unhealthy", failures=self._detector_failures, error=self.status.error)
                await self._failed(item, f"detection failed: {type(exc).__name__}: {exc}")
                continue
            if self._detector_failures:
                self._detector_failures = 0
                if not self.status.ready and self.processor is not None:
                    self.status.ready, self.status.error = True, None
                    log.info("detector_recovered")
            if isinstance(result, GatedFrame):
                await self._gated(item, result)
                continue
            try:
                await self._processed(item, queue_s, result)
            except Exception:  # tracking/verification trouble must not end this worker
                log.exception("frame_postprocess_failed", trace_id=frame.trace_id, camera_id=frame.camera_id)

    async def _failed(self, item: QueuedFrame, detail: str) -> None:
        frame = item.frame
        self.metrics.frames_failed.labels(frame.camera_id).inc()
        log.warning("frame_failed", trace_id=frame.trace_id, camera_id=frame.camera_id, seq=frame.seq, error=detail)
        await self._ack(item, FrameStatus.FAILED, detail=detail[:500])

    async def _gated(self, item: QueuedFrame, result: GatedFrame) -> None:
        frame = item.frame
        self.metrics.frames_gated.labels(frame.camera_id).inc()
        log.info("frame_gated", trace_id=frame.trace_id, camera_id=frame.camera_id, seq=frame.seq,
                  motion=round(result.motion, 5), gate_ms=round(result.gate_ms, 3))
        await self._ack(item, FrameStatus.GATED, detail="no motion, no active track: detector not run")

    async def _processed(self, item: QueuedFrame, queue_s: float, result: ProcessedFrame) -> None:
        frame = item.frame
        m = self.metrics
        m.frames_processed.labels(frame.camera_id).inc()
        m.queue_wait.observe(queue_s)
        m.inference.observe(result.inference_ms / 1000)
        if result.persons:
            m.persons.labels(frame.camera_id).inc(len(result.persons))
        for why, count in result.ignored.items():
            m.detections_ignored.labels(frame.camera_id, why).inc(count)
        queue_ms, inference_ms = round(queue_s * 1000, 3), round(result.inference_ms, 3)
        log.info("frame_processed", trace_id=frame.trace_id, camera_id=frame.camera_id, seq=frame.seq,
                 persons=len(result.persons), queue_ms=queue_ms, inference_ms=inference_ms,
                 decode_ms=round(result.decode_ms, 3), crop_ms=round(result.crop_ms, 3),
                 scores=[round(p.box.score, 3) for p in result.persons],
                 zones=[p.zone for p in result.persons], ignored=result.ignored,
                 detect_reason=result.reason and result.reason.value)
        await self._ack(item, FrameStatus.PROCESSED, persons=len(result.persons), queue_ms=queue_ms,
                        inference_ms=inference_ms)
        assert self.verification is not None
        context = FrameContext(frame.camera_id, frame.site_id, frame.trace_id, frame.captured_at, frame.jpeg)
        track_ids = await self.verification.on_persons(context, result.persons)
        self.events.publish(FrameAnalysed(
            frame.site_id, frame.camera_id, frame.trace_id, frame.seq, frame.captured_at, frame.jpeg,
            result.width, result.height,
            tuple(TrackedBox((p.box.x1, p.box.y1, p.box.x2, p.box.y2), p.box.score, track_id)
                  for p, track_id in zip(result.persons, track_ids, strict=True)),
            result.inference_ms,
        ))

    async def _release_departed(self) -> None:
        """Free the tracker, settled identities and metric series of cameras gone for ``camera_state_ttl``."""
        interval = min(5.0, max(0.05, self.settings.camera_state_ttl / 4))
        while True:
            await asyncio.sleep(interval)
            for camera_id in self.presence.due():
                if self.verification is not None:
                    self.verification.forget_camera(camera_id)
                self.metrics.forget_camera(camera_id)
                self.metrics.cameras_released.inc()
                log.debug("camera_state_released", camera_id=camera_id)

    async def _check_timeouts(self) -> None:
        assert self.verification is not None
        while True:
            await asyncio.sleep(TIMEOUT_CHECK_INTERVAL)
            try:
                await self.verification.check_timeouts()
            except Exception:  # keep checking: a missed timeout would be a silently dropped person
                log.exception("timeout_check_failed")


def refuse(code: RefusalCode, message: str) -> socketio.exceptions.ConnectionRefusedError:
    """The exception that refuses a connection with a machine-readable code: python-socketio sends the
    client ``{"message": message, "data": {"code", "message"}}`` (a single argument would be stringified)."""
    return socketio.exceptions.ConnectionRefusedError(message, refusal(code, message))


def create_app(settings: EdgeSettings, detector: DetectorSource, metrics: EdgeMetrics | None = None) -> Any:
    """The edge's ASGI app (``detector`` may be a loaded detector or a callable that loads one)."""
    return EdgeNode(settings, detector, metrics).app
