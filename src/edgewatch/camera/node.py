"""The camera node: source -> time-based pacing -> JPEG -> bounded send buffer -> Socket.IO to the edge.

Two tasks share one small deque. The producer claims a slot from the pacer, reads and encodes a frame in a
worker thread and appends it; the sender emits frames while the link is up and fewer than
``max_in_flight`` frames wait for their ack. The deque keeps only the newest ``send_buffer`` frames, so
while the edge is away or slow old frames are dropped (counted and logged) and a live camera never sends
stale video.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError

from edgewatch.camera.encoding import encode_jpeg
from edgewatch.camera.link import EdgeLink
from edgewatch.camera.pacing import Pacer
from edgewatch.camera.sources import FrameSource, SourceError, open_source
from edgewatch.config import CameraSettings
from edgewatch.protocol import (
    ErrorMessage,
    Frame,
    FrameAck,
    FrameStatus,
    Hello,
    NodeRole,
    ProtocolError,
    SocketEvent,
    decode,
    describe_validation_error,
    encode,
    new_trace_id,
)
from edgewatch.telemetry.health import Health, NodeHTTP
from edgewatch.telemetry.logs import get_logger
from edgewatch.telemetry.metrics import CameraMetrics


@dataclass
class CameraStats:
    frames_read: int = 0
    frames_sent: int = 0
    frames_acked: int = 0
    frames_dropped: int = 0  # evicted from the send buffer by a newer frame, never sent
    frames_unacked: int = 0  # sent, but the link dropped or the ack timed out
    edge_errors: int = 0
    source_failures: int = 0
    rtt_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Counts plus round-trip percentiles (ms), for logs and benchmarks."""
        out: dict[str, Any] = {k: v for k, v in self.__dict__.items() if k != "rtt_ms"}
        if self.rtt_ms:
            p50, p90, p99 = np.percentile(np.asarray(self.rtt_ms), [50, 90, 99])
            out.update(rtt_p50_ms=round(float(p50), 2), rtt_p90_ms=round(float(p90), 2),
                       rtt_p99_ms=round(float(p99), 2))
        return out


@dataclass
class _InFlight:
    frame: Frame
    sent_at: float  # monotonic


class CameraNode:
    """One camera. ``await run()`` streams until the source ends (no loop), ``max_frames`` were sent and
    answered, or ``stop()``; it returns the :class:`CameraStats`. Raises :class:`EdgeRefused` when the edge
    refuses the camera permanently (unknown camera or site, bad credential), :class:`SourceError` when a
    file source cannot be read."""

    def __init__(
        self,
        settings: CameraSettings,
        source: FrameSource | None = None,
        *,
        ack_timeout: float = 10.0,
        metrics_host: str | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.ack_timeout = ack_timeout
        self.metrics_host = metrics_host if metrics_host is not None else settings.metrics_host
        self.stats = CameraStats()
        self.metrics = CameraMetrics()
        self.log = get_logger(__name__, camera_id=settings.camera_id)
        self._outbox: deque[Frame] = deque(maxlen=settings.send_buffer)
        self._in_flight: dict[str, _InFlight] = {}
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._producer_done = False
        self._seq = 0
        self.link = EdgeLink(
            settings,
            Hello(role=NodeRole.CAMERA, node_id=settings.camera_id, site_id=settings.site_id),
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
        )
        self.link.on(SocketEvent.FRAME_ACK, self._on_ack)
        self.link.on(SocketEvent.ERROR, self._on_error)
        self._labels = self.metrics.frames_sent.labels(settings.camera_id)
        self._metrics_server: NodeHTTP | None = None
        self._last_processed: float | None = None  # monotonic time of the last ack with status processed

    # ---- lifecycle --------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask ``run()`` to finish (safe to call from a signal handler on the loop)."""
        self._stop.set()
        self._wake.set()

    async def run(self) -> CameraStats:
        s = self.settings
        if self.source is None:
            # SourceError names a file source that cannot be used; live sources fail (and retry) on read
            self.source = await asyncio.to_thread(open_source, s.source, s.loop, None, s.source_timeout)
        if s.metrics_port is not None:
            self._metrics_server = NodeHTTP(self.metrics.registry, s.metrics_port, self.metrics_host, self.health)
        self.log.info("camera_started", source=self.source.description, fps=s.fps, edge_url=s.edge_url,
                      max_width=s.max_width, jpeg_quality=s.jpeg_quality, send_buffer=s.send_buffer,
                      max_in_flight=s.max_in_flight)
        await self.link.start()
        producer = asyncio.create_task(self._produce(), name=f"camera-{s.camera_id}-produce")
        try:
            await self._send_loop()
        finally:
            self._stop.set()
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
            await self.link.close()
            if self.source is not None:
                await asyncio.to_thread(self.source.close)
            if self._metrics_server is not None:
                self._metrics_server.shutdown()
        if not producer.cancelled() and producer.exception() is not None:
            raise producer.exception()  # type: ignore[misc]
        if self.link.refused is not None:  # refused for good: the command turns this into an exit status
            raise self.link.refused
        self.log.info("camera_stopped", **self.stats.summary())
        return self.stats

    def health(self) -> Health:
        """Healthy only while connected to the edge and a frame was *processed* by it within the health
        window (``health_window``, at least 3 frame periods): a camera whose frames are all dropped, refused
        or unanswered is not healthy. Read by ``/healthz`` on the metrics port (another thread)."""
        s = self.settings
        window = max(s.health_window, 3.0 / s.fps)
        last = self._last_processed
        age = None if last is None else time.monotonic() - last
        connected = self.link.connected.is_set()
        detail = {
            "camera_id": s.camera_id, "connected": connected, "window_s": window,
            "last_processed_s_ago": None if age is None else round(age, 2),
            "frames_sent": self.stats.frames_sent, "frames_acked": self.stats.frames_acked,
            "frames_dropped": self.stats.frames_dropped, "source_failures": self.stats.source_failures,
        }
        if not connected:
            return Health(False, "not connected to the edge", detail)
        if age is None or age > window:
            return Health(False, f"no frame processed by the edge in the last {window:g} s", detail)
        return Health(True, detail=detail)

    # ---- producing ----------------------------------------------------------------------------------------

    def _read_and_encode(self, source: FrameSource) -> tuple[Any, bytes] | None:
        """Worker thread: read the current frame and encode it (both are OpenCV work)."""
        captured = source.read()
        if captured is None:
            return None
        return captured, encode_jpeg(captured.image, self.settings.max_width, self.settings.jpeg_quality)

    async def _produce(self) -> None:
        s = self.settings
        pacer = Pacer(s.fps)
        backoff = s.reconnect_delay
        try:
            while not self._stop.is_set() and not self._reached_max():
                await pacer.wait()
                source = self.source
                assert source is not None
                try:
                    result = await asyncio.to_thread(self._read_and_encode, source)
                except SourceError as exc:
                    if not source.live:
                        raise
                    self.stats.source_failures += 1
                    self.log.warning("source_failed", source=source.description, error=str(exc),
                                     retry_in_s=round(backoff, 2))
                    await asyncio.to_thread(source.close)
                    self.source = await self._reopen(source, backoff)
                    backoff = min(backoff * 2, s.reconnect_delay_max)
                    continue
                if result is None:
                    self.log.info("source_ended", source=source.description)
                    return
                backoff = s.reconnect_delay
                captured, jpeg = result
                self.stats.frames_read += 1
                try:
                    frame = Frame(camera_id=s.camera_id, site_id=s.site_id, seq=self._seq,
                                  captured_at=captured.captured_at, trace_id=new_trace_id(), jpeg=jpeg)
                except ValidationError as exc:  # e.g. a JPEG above the protocol's size limit
                    self.log.warning("frame_invalid", seq=self._seq, bytes=len(jpeg),
                                     error=describe_validation_error(exc))
                    continue
                finally:
                    self._seq += 1
                self._enqueue(frame)
        finally:
            self._producer_done = True
            self._wake.set()

    async def _reopen(self, source: FrameSource, delay: float) -> FrameSource:
        """Reopen a failed live source, waiting ``delay`` (doubling) between attempts, until stopped."""
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            if self._stop.is_set():
                return source
            try:
                fresh = await asyncio.to_thread(source.reopen)
            except SourceError as exc:
                self.log.warning("source_reopen_failed", source=source.description, error=str(exc))
                delay = min(delay * 2, self.settings.reconnect_delay_max)
                continue
            self.log.info("source_retrying", source=fresh.description)  # a live source opens on its first read
            return fresh

    def _enqueue(self, frame: Frame) -> None:
        if len(self._outbox) == self._outbox.maxlen:
            evicted = self._outbox.popleft()
            reason = ("disconnected" if not self.link.connected.is_set()
                      else "edge_slow" if len(self._in_flight) >= self.settings.max_in_flight
                      else "buffer_full")
            self._count_drop(evicted, reason)
        self._outbox.append(frame)
        self._wake.set()

    def _count_drop(self, frame: Frame, reason: str) -> None:
        self.stats.frames_dropped += 1
        self.metrics.frames_dropped.labels(self.settings.camera_id).inc()
        self.log.info("frame_dropped", trace_id=frame.trace_id, camera_id=frame.camera_id, seq=frame.seq,
                      reason=reason)

    # ---- sending ----------------------------------------------------------------------------------------------

    def _reached_max(self) -> bool:
        return self.settings.max_frames is not None and self.stats.frames_sent >= self.settings.max_frames

    async def _send_loop(self) -> None:
        drain_deadline: float | None = None
        while not self._stop.is_set() and not self.link.failed.is_set():
            self._expire_in_flight()
            while (self._outbox and self.link.connected.is_set() and not self._reached_max()
                   and len(self._in_flight) < self.settings.max_in_flight):
                frame = self._outbox.popleft()
                if not await self._send(frame):
                    self._outbox.appendleft(frame)
                    break
            finished_sending = self._reached_max() or (self._producer_done and not self._outbox)
            if finished_sending and not self._in_flight:
                return
            if self._producer_done or self._reached_max():
                # Nothing new will come: wait for answers (or the link) at most ack_timeout.
                drain_deadline = drain_deadline or time.monotonic() + self.ack_timeout
                if time.monotonic() > drain_deadline:
                    for frame in list(self._outbox):
                        self._count_drop(frame, "shutdown")
                    self._outbox.clear()
                    self._expire_in_flight(force=True)
                    return
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=0.25)

    async def _send(self, frame: Frame) -> bool:
        self._in_flight[frame.trace_id] = _InFlight(frame, time.monotonic())
        if not await self.link.emit(SocketEvent.FRAME, encode(frame)):
            del self._in_flight[frame.trace_id]
            return False
        self.stats.frames_sent += 1
        self._labels.inc()
        self.log.info("frame_sent", trace_id=frame.trace_id, camera_id=frame.camera_id, seq=frame.seq,
                      captured_at=frame.captured_at, bytes=len(frame.jpeg))
        return True

    def _expire_in_flight(self, force: bool = False) -> None:
        now = time.monotonic()
        for trace_id, pending in list(self._in_flight.items()):
            if force or now - pending.sent_at > self.ack_timeout:
                self._forget(trace_id, "ack_timeout" if not force else "shutdown")

    def _forget(self, trace_id: str, reason: str) -> None:
        pending = self._in_flight.pop(trace_id, None)
        if pending is None:
            return
        self.stats.frames_unacked += 1
        self.log.warning("frame_unacked", trace_id=trace_id, camera_id=self.settings.camera_id,
                         seq=pending.frame.seq, reason=reason)
        self._wake.set()

    # ---- events from the edge ------------------------------------------------------------------------------

    async def _on_connect(self) -> None:
        self.metrics.connected.labels(self.settings.camera_id).set(1)
        self._wake.set()

    async def _on_disconnect(self, reason: str) -> None:
        self.metrics.connected.labels(self.settings.camera_id).set(0)
        # The edge answers frames on the session that carried them; a new session never will.
        for trace_id in list(self._in_flight):
            self._forget(trace_id, "disconnected")

    async def _on_ack(self, payload: Any) -> None:
        try:
            ack = decode(FrameAck, payload)
        except ProtocolError as exc:
            self.log.warning("bad_frame_ack", error=str(exc))
            return
        pending = self._in_flight.pop(ack.trace_id, None)
        if pending is None:
            self.log.info("frame_ack_late", trace_id=ack.trace_id, camera_id=ack.camera_id, seq=ack.seq,
                          status=str(ack.status))
            return
        rtt = time.monotonic() - pending.sent_at
        if ack.status is FrameStatus.PROCESSED:
            self._last_processed = time.monotonic()
        self.stats.frames_acked += 1
        self.stats.rtt_ms.append(rtt * 1000)
        self.metrics.frames_acked.labels(self.settings.camera_id).inc()
        self.metrics.rtt.labels(self.settings.camera_id).observe(rtt)
        self.log.info("frame_acked", trace_id=ack.trace_id, camera_id=ack.camera_id, seq=ack.seq,
                      status=str(ack.status), rtt_ms=round(rtt * 1000, 2), queue_ms=ack.queue_ms,
                      inference_ms=ack.inference_ms, persons=ack.persons)
        self._wake.set()

    async def _on_error(self, payload: Any) -> None:
        self.stats.edge_errors += 1
        try:
            error = decode(ErrorMessage, payload)
        except ProtocolError:
            self.log.warning("edge_error", code="unparseable", detail=str(payload)[:200])
            return
        self.log.warning("edge_error", code=error.code, detail=error.detail, trace_id=error.trace_id)
        if error.trace_id:
            # The edge rejected that frame: it will not be acknowledged, free its in-flight slot.
            self._forget(error.trace_id, f"rejected:{error.code}")
