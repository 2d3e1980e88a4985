"""The edge node as one ASGI app: Socket.IO for cameras and alarm nodes, plus health, readiness and metrics.

The event loop only moves messages: frames go into per-camera newest-wins buffers, ``workers`` coroutines
hand them to a thread pool for decoding and detection (ONNX Runtime releases the GIL), and the results come
back to the loop for the ack, tracking, cloud verification and alarms. So a connection, a frame or a ping is
accepted at any time, however long a model runs.

The Socket.IO handlers live in :mod:`edgewatch.edge.node_sockets`, the detection workers and periodic
jobs in :mod:`edgewatch.edge.node_workers`; this module holds the node's state, lifecycle and HTTP routes.

Sockets: a client connects with a :class:`~edgewatch.protocol.Hello` as Socket.IO ``auth``; the edge refuses
sites it does not serve and cameras it does not know (when a camera list is set). Cameras send ``frame``,
alarm nodes receive ``alarm`` and answer ``alarm_ack``; anything malformed is answered with ``error`` and
changes nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from edgewatch.edge.alarm_dispatch import AlarmDispatcher
from edgewatch.edge.alarm_store import AlarmStore
from edgewatch.edge.camera_presence import CameraPresence
from edgewatch.edge.cloud_health import CloudProbe, cloud_readiness
from edgewatch.edge.detection import PersonDetector
from edgewatch.edge.events import EventBus
from edgewatch.edge.frame_processing import FrameProcessor
from edgewatch.edge.frame_queue import FrameQueue
from edgewatch.edge.motion import GateOptions, MotionGate
from edgewatch.edge.node_auth import NodeAuth
from edgewatch.edge.node_sockets import SocketHandlers
from edgewatch.edge.node_workers import DetectionWorkers
from edgewatch.edge.socket_server import GuardedServer, OneLineErrors
from edgewatch.edge.verification import VerificationService
from edgewatch.integrations.mqtt.hook import MqttHook
from edgewatch.protocol import (
    MAX_FRAME_BYTES,
)
from edgewatch.security.metrics_access import MetricsAccess
from edgewatch.security.origins import OriginPolicy
from edgewatch.telemetry import get_logger
from edgewatch.telemetry.metrics import EdgeMetrics
from edgewatch.telemetry.redact import redact_url

log = get_logger(__name__)

DetectorSource = PersonDetector | Callable[[], PersonDetector]



@dataclass(slots=True)
class EdgeStatus:
    ready: bool = False
    detector: str | None = None
    error: str | None = None


class EdgeNode(SocketHandlers, DetectionWorkers):
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
        log.info("edge_started", host=s.host, port=s.port, sites=s.sites, cameras=s.cameras or "any",
                 workers=s.workers, detector=s.detector, input_size=s.input_size, cloud_url=redact_url(s.cloud_url),
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

def create_app(settings: EdgeSettings, detector: DetectorSource, metrics: EdgeMetrics | None = None) -> Any:
    """The edge's ASGI app (``detector`` may be a loaded detector or a callable that loads one)."""
    return EdgeNode(settings, detector, metrics).app
