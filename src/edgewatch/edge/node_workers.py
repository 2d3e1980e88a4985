"""The edge's detection workers: frames from the per-connection buffers through the thread pool
(gate, decode, detect, crop) and back to the loop for the ack, tracking, verification and events; plus the
periodic jobs that keep the edge bounded (departed cameras released) and fail secure (verify timeouts).

A mixin of :class:`~edgewatch.edge.server.EdgeNode`, like :mod:`edgewatch.edge.node_sockets`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from edgewatch.config import EdgeSettings
from edgewatch.edge.camera_presence import CameraPresence
from edgewatch.edge.decoding import FrameDecodeError, FrameTooLarge
from edgewatch.edge.events import EventBus, FrameAnalysed, TrackedBox
from edgewatch.edge.frame_processing import FrameProcessor, GatedFrame, ProcessedFrame
from edgewatch.edge.frame_queue import FrameQueue, QueuedFrame
from edgewatch.edge.verification import FrameContext, VerificationService
from edgewatch.protocol import (
    FrameStatus,
)
from edgewatch.telemetry import get_logger
from edgewatch.telemetry.metrics import EdgeMetrics

log = get_logger("edgewatch.edge.server")  # the same logger name as before the split: log filters keep working

#: How often tracks are checked for the unverified-alarm timeout when no frames arrive.
TIMEOUT_CHECK_INTERVAL = 0.5
#: Consecutive detector errors after which /readyz reports the edge not ready.
DETECTOR_FAILURES_UNREADY = 5


class DetectionWorkers:
    """Detection worker coroutines and periodic jobs of the edge (mixed into ``EdgeNode``)."""

    # State of the EdgeNode this is mixed into (edge/server.py creates all of it).
    settings: EdgeSettings
    metrics: EdgeMetrics
    events: EventBus
    queue: FrameQueue
    processor: FrameProcessor | None
    verification: VerificationService | None
    presence: CameraPresence
    status: Any
    _ready: asyncio.Event
    _executor: ThreadPoolExecutor
    _detector_failures: int
    # and, from SocketHandlers: _ack(item, status, **fields) answers a frame to its camera

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


