""""Send an image": an uploaded photo enters the edge's pipeline as a frame of a virtual camera.

The photo is normalised (EXIF orientation applied, at most :data:`MAX_SIDE` pixels a side, re-encoded as
JPEG), then put into the edge's :class:`~edgewatch.edge.frame_queue.FrameQueue` as ``frames`` frames of
camera ``console-upload`` of the site, ``interval`` seconds apart, exactly as a camera watching a still
scene would send them. The same workers, detector, tracker, cloud verification and alarm outbox handle
them; nothing here decides anything. Several frames rather than one, so that rules needing a person in more
than one frame treat an upload like a real sighting.

What happened is read back from the event bus: the persons found in each frame, each track's verdict and
the alarms raised. One upload runs at a time; the next waits until the previous upload's tracks have
expired, so every upload starts new tracks and gets its own verdict.
"""

from __future__ import annotations

import asyncio
import io
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from edgewatch.edge.events import (
    AlarmRaised,
    CameraOffline,
    CameraOnline,
    EventBus,
    FrameAnalysed,
    TrackAppeared,
    TrackDecided,
)
from edgewatch.edge.frame_queue import FrameQueue, QueuedFrame
from edgewatch.protocol import MAX_FRAME_BYTES, Frame, new_trace_id
from edgewatch.telemetry import get_logger

log = get_logger(__name__)

CAMERA_ID = "console-upload"
#: Uploads are scaled down to this many pixels on the longer side (a camera frame's size, not a poster's).
MAX_SIDE = 1920
#: Images whose header announces more pixels are refused before decoding (decompression bombs).
MAX_PIXELS = 40_000_000
#: Finished uploads remembered for their result pages.
KEPT_RESULTS = 20


class UploadRefused(ValueError):
    """The upload is not an image the edge can use; the message says why, in one line."""


def normalise(data: bytes, max_pixels: int = MAX_PIXELS) -> tuple[bytes, int, int]:
    """JPEG bytes of an uploaded JPEG/PNG/WebP photo, upright and at most MAX_SIDE a side; (jpeg, w, h).
    CPU-bound (Pillow): run it in a thread. Raises UploadRefused."""
    from edgewatch import imaging

    try:  # the one image path: header first, pixel limit before decoding, EXIF, any mode, JPEG draft
        info = imaging.probe(data, name="upload")
        if info.format not in ("JPEG", "PNG", "WEBP"):
            raise UploadRefused(f"not a JPEG, PNG or WebP image ({info.format})")
        picture = imaging.load_image(data, max_pixels=max_pixels, draft=(MAX_SIDE, MAX_SIDE), name="upload")
    except imaging.ImageTooLarge as exc:
        raise UploadRefused(f"image larger than {max_pixels / 1_000_000:g} Mpx "
                            f"({str(exc).removeprefix('upload: ')})") from None
    except imaging.ImageError as exc:  # its text starts with the name given above: keep only the reason
        raise UploadRefused(f"not a readable image: {str(exc).removeprefix('upload: ')}") from None
    picture.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=90)
    jpeg = out.getvalue()
    if len(jpeg) > MAX_FRAME_BYTES:
        raise UploadRefused("image too large even after scaling")
    return jpeg, picture.width, picture.height


@dataclass(slots=True)
class TrackOutcome:
    track_id: int
    state: str = "pending"
    name: str | None = None
    similarity: float | None = None
    alarms: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class UploadResult:
    """What the pipeline did with one upload."""

    id: str
    site_id: str
    filename: str
    operator: str
    jpeg: bytes
    width: int
    height: int
    started_at: float
    frames_sent: int = 0
    frames_analysed: int = 0
    persons: int = 0
    boxes: list[dict[str, Any]] = field(default_factory=list)
    tracks: dict[int, TrackOutcome] = field(default_factory=dict)
    finished: bool = False
    timed_out: bool = False

    @property
    def alarms(self) -> list[dict[str, Any]]:
        return [alarm for track in self.tracks.values() for alarm in track.alarms]

    @property
    def settled(self) -> bool:
        if self.frames_analysed < self.frames_sent:
            return False
        return all(t.state in ("known",) or (t.state in ("intruder", "unverified") and t.alarms)
                   for t in self.tracks.values())


class VirtualCamera:
    """Feeds uploads into the pipeline and watches what becomes of them."""

    def __init__(self, queue: FrameQueue, bus: EventBus, *, frames: int = 4, interval: float = 0.5,
                 track_max_age: float = 3.0, settle_timeout: float = 20.0, metrics: Any = None,
                 on_dropped: Callable[[QueuedFrame], Awaitable[None]] | None = None) -> None:
        """``on_dropped`` answers and counts a frame the queue pushed out (the edge's own handler: the
        queue may push out another connection's frame to make room, and that camera must get its ack)."""
        self.queue = queue
        self.on_dropped = on_dropped
        self.bus = bus
        self.frames = frames
        self.interval = interval
        self.track_max_age = track_max_age
        self.settle_timeout = settle_timeout
        self.metrics = metrics
        self.results: OrderedDict[str, UploadResult] = OrderedDict()
        self._lock = asyncio.Lock()
        self._free_at = 0.0  # monotonic time from which the previous upload's tracks have expired
        self._seq = 0

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    async def analyse(self, site_id: str, filename: str, operator: str, jpeg: bytes, width: int,
                      height: int) -> UploadResult:
        result = UploadResult(secrets.token_urlsafe(9), site_id, filename, operator, jpeg, width, height, time.time())
        self.results[result.id] = result
        while len(self.results) > KEPT_RESULTS:
            self.results.popitem(last=False)
        async with self._lock:
            await asyncio.sleep(max(0.0, self._free_at - time.monotonic()))
            subscription = self.bus.subscribe(maxsize=512, kinds=(FrameAnalysed, TrackAppeared, TrackDecided,
                                                                  AlarmRaised))
            self.bus.publish(CameraOnline(site_id, CAMERA_ID))
            try:
                await self._run(result, subscription)
            finally:
                subscription.close()
                self.bus.publish(CameraOffline(site_id, CAMERA_ID))
                self._free_at = time.monotonic() + self.track_max_age + 0.5
        log.info("console_upload_analysed", upload_id=result.id, site_id=site_id, operator=operator,
                 persons=result.persons, tracks={t.track_id: t.state for t in result.tracks.values()},
                 alarms=len(result.alarms), timed_out=result.timed_out)
        return result

    async def _run(self, result: UploadResult, subscription: Any) -> None:
        traces: set[str] = set()
        decided: dict[int, TrackDecided] = {}
        alarms: list[AlarmRaised] = []
        loop = asyncio.get_running_loop()
        next_send = loop.time()
        deadline = next_send + self.frames * self.interval + self.settle_timeout
        while loop.time() < deadline:
            if result.frames_sent < self.frames and loop.time() >= next_send:
                traces.add(await self._send(result))
                next_send += self.interval
            if result.frames_sent >= self.frames and self._fold(result, decided, alarms) and result.settled:
                result.finished = True
                return
            wait = deadline - loop.time()
            if result.frames_sent < self.frames:
                wait = min(wait, max(0.0, next_send - loop.time()))
            try:
                event = await asyncio.wait_for(subscription.get(), timeout=max(0.01, wait))
            except TimeoutError:
                continue
            if isinstance(event, FrameAnalysed) and event.trace_id in traces:
                result.frames_analysed += 1
                if len(event.persons) >= result.persons:
                    result.persons = len(event.persons)
                    result.boxes = [{"box": list(p.box), "score": p.score, "track_id": p.track_id}
                                    for p in event.persons]
                for person in event.persons:
                    result.tracks.setdefault(person.track_id, TrackOutcome(person.track_id))
            elif isinstance(event, TrackAppeared) and event.camera_id == CAMERA_ID and event.trace_id in traces:
                result.tracks.setdefault(event.track_id, TrackOutcome(event.track_id))
            elif isinstance(event, TrackDecided) and event.camera_id == CAMERA_ID:
                decided[event.track_id] = event
            elif isinstance(event, AlarmRaised) and event.alarm.camera_id == CAMERA_ID:
                alarms.append(event)
        self._fold(result, decided, alarms)
        result.finished, result.timed_out = True, not result.settled

    @staticmethod
    def _fold(result: UploadResult, decided: dict[int, TrackDecided], alarms: list[AlarmRaised]) -> bool:
        for track_id, outcome in result.tracks.items():
            decision = decided.get(track_id)
            if decision is not None:
                outcome.state, outcome.name, outcome.similarity = decision.state, decision.name, decision.similarity
            outcome.alarms = [{"event_id": a.alarm.event_id, "reason": a.alarm.reason.value, "detail": a.alarm.detail}
                              for a in alarms if a.alarm.track_id == track_id and a.alarm.site_id == result.site_id]
        return True

    async def _send(self, result: UploadResult) -> str:
        frame = Frame(camera_id=CAMERA_ID, site_id=result.site_id, seq=self._seq, captured_at=time.time(),
                      trace_id=new_trace_id(), jpeg=result.jpeg)
        self._seq += 1
        result.frames_sent += 1
        if self.metrics is not None:
            self.metrics.frames_received.labels(CAMERA_ID).inc()
        log.info("frame_received", trace_id=frame.trace_id, camera_id=CAMERA_ID, site_id=result.site_id,
                 seq=frame.seq, captured_at=frame.captured_at, bytes=len(frame.jpeg), source="console")
        item = QueuedFrame(frame, f"console:{result.id}", time.time(), time.monotonic())
        dropped = await self.queue.put(item)
        # FrameQueue.put answers None or the frame it pushed out, or (bounded by bytes) a list of them.
        for lost in dropped if isinstance(dropped, list) else [dropped] if dropped is not None else []:
            if lost.sid == item.sid:
                result.frames_analysed += 1  # one of ours that will never be analysed: do not wait for it
            if self.on_dropped is not None:
                await self.on_dropped(lost)
            elif self.metrics is not None:
                self.metrics.frames_dropped.labels(lost.frame.camera_id).inc()
        return frame.trace_id
