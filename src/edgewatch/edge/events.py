"""The edge's domain events, published in-process to whoever listens (console, MQTT, webhooks ...).

The edge's pipeline publishes what happened (a camera came or went, a frame was analysed, a track appeared,
was decided or left, an alarm was raised or acknowledged) and never waits for a listener: each subscriber
has a bounded queue, and a subscriber that falls behind loses its oldest events (counted), never slows a
frame. Events are immutable dataclasses; bytes (JPEG) are shared, not copied.

Integrations that must not lose anything (alarms to MQTT) read the durable outbox, not this bus: the bus is
for live views and best-effort notifications.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from edgewatch.protocol import AlarmEvent
from edgewatch.telemetry import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CameraOnline:
    site_id: str
    camera_id: str
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class CameraOffline:
    site_id: str
    camera_id: str
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class TrackedBox:
    """One person in an analysed frame: box in the frame's pixels ``(x1, y1, x2, y2)``, detector score,
    and the track id the camera's tracker gave it."""

    box: tuple[float, float, float, float]
    score: float
    track_id: int


@dataclass(frozen=True, slots=True)
class FrameAnalysed:
    """A frame the detector ran on, with the persons found (empty when none). ``jpeg`` is the frame as
    the camera sent it; ``width``/``height`` its size in pixels."""

    site_id: str
    camera_id: str
    trace_id: str
    seq: int
    captured_at: float
    jpeg: bytes
    width: int
    height: int
    persons: tuple[TrackedBox, ...]
    inference_ms: float
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class TrackAppeared:
    site_id: str
    camera_id: str
    track_id: int
    trace_id: str
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class TrackDecided:
    """A track's identity state changed: ``state`` is ``known``, ``intruder`` or ``unverified``; ``name``
    the known person's name; ``similarity`` the best similarity the cloud reported, when it did."""

    site_id: str
    camera_id: str
    track_id: int
    state: str
    name: str | None = None
    similarity: float | None = None
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class TrackLeft:
    site_id: str
    camera_id: str
    track_id: int
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class AlarmRaised:
    alarm: AlarmEvent
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class AlarmAcknowledged:
    site_id: str
    event_id: str
    node_id: str
    at: float = field(default_factory=time.time)


EdgeEvent = (
    CameraOnline | CameraOffline | FrameAnalysed | TrackAppeared | TrackDecided | TrackLeft | AlarmRaised
    | AlarmAcknowledged
)


class Subscription:
    """One listener's bounded queue. Iterate it (``async for event in sub``) or ``await sub.get()``;
    ``dropped`` counts events lost because this listener fell behind. ``close()`` unsubscribes."""

    def __init__(self, bus: EventBus, maxsize: int, kinds: tuple[type, ...] | None) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[EdgeEvent] = asyncio.Queue(maxsize)
        self.kinds = kinds
        self.dropped = 0

    def offer(self, event: EdgeEvent) -> None:
        if self.kinds is not None and not isinstance(event, self.kinds):
            return
        if self._queue.full():
            self._queue.get_nowait()  # newest wins: a live view wants the present, not the backlog
            self.dropped += 1
        self._queue.put_nowait(event)

    async def get(self) -> EdgeEvent:
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[EdgeEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[EdgeEvent]:
        while True:
            yield await self._queue.get()

    def close(self) -> None:
        self._bus._subscriptions.discard(self)


class EventBus:
    """In-process publish/subscribe on the event loop. ``publish`` never blocks and never raises."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def subscribe(self, maxsize: int = 256, kinds: tuple[type, ...] | None = None) -> Subscription:
        """A new listener; ``kinds`` limits it to some event classes (all when None)."""
        subscription = Subscription(self, maxsize, kinds)
        self._subscriptions.add(subscription)
        return subscription

    @property
    def listeners(self) -> int:
        return len(self._subscriptions)

    def publish(self, event: EdgeEvent) -> None:
        for subscription in tuple(self._subscriptions):
            try:
                subscription.offer(event)
            except Exception:  # a broken listener must never stop the pipeline
                log.exception("event_listener_failed", event=type(event).__name__)
