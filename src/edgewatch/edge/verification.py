"""From detections to verdicts to alarms: tracking, cloud verification per track, fail-secure timeouts.

For every processed frame the pipeline hands over the persons found (box, JPEG crop, crop quality). Each
camera's tracker assigns track ids; the identity book decides whether the cloud should be asked about a
track now and with which crop; requests run as background tasks so a slow cloud never delays frames; the
verdicts and the periodic timeout check produce alarms, which go to the alarm sink (the durable outbox).
Without a cloud configured every person ends as an ``unverified`` alarm after ``verify_timeout``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from edgewatch.config import EdgeSettings
from edgewatch.edge.cloud_client import CloudClient, CloudClientOptions, CloudError
from edgewatch.edge.confirmation import Confirmation
from edgewatch.edge.events import EventBus, TrackAppeared, TrackDecided, TrackLeft
from edgewatch.edge.frame_processing import PersonCrop
from edgewatch.edge.identity import (
    AlarmDecision,
    CropCandidate,
    IdentityBook,
    IdentityOptions,
    TrackIdentity,
    TrackState,
)
from edgewatch.edge.snapshots import annotate, label_for
from edgewatch.edge.tracking import IouTracker
from edgewatch.protocol import AlarmEvent
from edgewatch.telemetry import get_logger
from edgewatch.telemetry.metrics import EdgeMetrics

log = get_logger(__name__)


class AlarmSink(Protocol):
    async def raise_alarm(self, event: AlarmEvent) -> None: ...


@dataclass(frozen=True, slots=True)
class FrameContext:
    camera_id: str
    site_id: str
    trace_id: str
    captured_at: float
    #: the frame as received, kept by reference for alarm snapshots
    jpeg: bytes | None = None


class VerificationService:
    """Per-edge tracking and identity verification. Lives on the event loop; CPU work stays in workers."""

    def __init__(
        self,
        settings: EdgeSettings,
        alarms: AlarmSink,
        cloud: CloudClient | None = None,
        clock: Callable[[], float] = time.time,
        metrics: EdgeMetrics | None = None,
        events: EventBus | None = None,
    ) -> None:
        self.metrics = metrics or EdgeMetrics()
        self.events = events or EventBus()
        self.settings = settings
        self.alarms = alarms
        self.cloud = cloud
        self.clock = clock
        self.book = IdentityBook(
            IdentityOptions(
                min_interval=settings.verify_interval,
                max_attempts=settings.verify_attempts,
                verify_timeout=settings.verify_timeout,
                reverify_known=settings.reverify_known_interval,
            )
        )
        self._trackers: dict[str, IouTracker] = {}
        self.confirmation = Confirmation(settings.confirm_hits, settings.confirm_window)
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsent: list[AlarmEvent] = []  # alarms the sink failed to take; retried, never dropped

    @classmethod
    def from_settings(
        cls, settings: EdgeSettings, alarms: AlarmSink, metrics: EdgeMetrics | None = None,
        events: EventBus | None = None,
    ) -> VerificationService:
        cloud = None
        if settings.cloud_url:
            token = settings.cloud_token.get_secret_value() if settings.cloud_token else None
            cloud = CloudClient(
                settings.cloud_url, token,
                CloudClientOptions(timeout=settings.cloud_timeout, max_concurrency=settings.cloud_concurrency,
                                   ca_file=settings.cloud_ca_file),
            )
        return cls(settings, alarms, cloud, metrics=metrics, events=events)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.cloud is not None:
            await self.cloud.aclose()

    def track_active(self, camera_id: str) -> bool:
        """Does this camera have a live track (confirmed or not)? The motion gate then lets frames through."""
        tracker = self._trackers.get(camera_id)
        return tracker is not None and tracker.live(self.clock()) > 0

    def forget_camera(self, camera_id: str) -> None:
        """Free a departed camera's tracker and its settled identities. Tracks still pending keep their
        entry until they are decided (a person seen just before the camera went away still alarms)."""
        self._trackers.pop(camera_id, None)
        self.confirmation.forget(camera_id)
        self.book.forget_camera(camera_id)

    def cameras(self) -> int:
        """Cameras with a tracker (bounded by the connected cameras plus those within their TTL)."""
        return len(self._trackers)

    async def on_persons(self, frame: FrameContext, persons: list[PersonCrop]) -> list[int]:
        """Track the persons of one processed frame and start the cloud requests that are due.
        Returns the track id of each person, in order. A track reaches the identity book (cloud requests,
        alarms) only once confirmed (``confirm_hits`` of ``confirm_window`` frames)."""
        now = self.clock()
        tracker = self._trackers.setdefault(frame.camera_id, IouTracker(max_age=self.settings.track_max_age))
        tracked = tracker.update([p.box for p in persons], now)
        for track_id in tracker.expired:
            if self.confirmation.is_confirmed(frame.camera_id, track_id):  # unconfirmed ones never appeared
                self.events.publish(TrackLeft(frame.site_id, frame.camera_id, track_id))
        confirmed, newly = self.confirmation.update(
            frame.camera_id, [t.track_id for t in tracked], tracker.expired)
        for person, tracked_person in zip(persons, tracked, strict=True):
            if tracked_person.track_id not in confirmed:
                log.debug("track_unconfirmed", trace_id=frame.trace_id, camera_id=frame.camera_id,
                          track_id=tracked_person.track_id)
                continue
            b = person.box
            crop = CropCandidate(person.crop_jpeg, person.quality, frame.trace_id, now, frame.jpeg,
                                 (b.x1, b.y1, b.x2, b.y2), person.zone)
            track = self.book.observe(frame.camera_id, frame.site_id, tracked_person.track_id, now, crop)
            if tracked_person.track_id in newly:
                self.metrics.tracks.labels(frame.camera_id).inc()
                log.info("track_started", trace_id=frame.trace_id, camera_id=frame.camera_id,
                         site_id=frame.site_id, track_id=track.track_id, zone=person.zone)
                self.events.publish(TrackAppeared(frame.site_id, frame.camera_id, track.track_id, frame.trace_id))
            if self.cloud is None:
                continue
            request = self.book.take_request(track, now)
            if request is not None:
                self._spawn(self._verify(track, request))
        await self.check_timeouts()
        return [t.track_id for t in tracked]

    async def check_timeouts(self) -> None:
        """Raise the unverified alarms that are due (also called periodically when no frames arrive), and
        retry alarms that could not be stored before: a decided alarm is never dropped."""
        retry, self._unsent = self._unsent, []
        for event in retry:
            await self._raise(event)
        for decision in self.book.due(self.clock()):
            await self._alarm(decision)

    async def _verify(self, track: TrackIdentity, crop: CropCandidate) -> None:
        assert self.cloud is not None
        started = time.perf_counter()
        try:
            result = await self.cloud.identify(
                crop.jpeg, site_id=track.site_id, camera_id=track.camera_id, trace_id=crop.trace_id,
                track_id=track.track_id,
            )
        except CloudError as exc:
            self.metrics.cloud_requests.labels(type(exc).__name__).inc()
            self.book.record_failure(track, crop)
            return
        except Exception:  # a bug must not leave the track waiting for an answer that never comes
            log.exception("cloud_request_crashed", trace_id=crop.trace_id, camera_id=track.camera_id,
                          track_id=track.track_id)
            self.metrics.cloud_requests.labels("crashed").inc()
            self.book.record_failure(track, crop)
            return
        self.metrics.cloud_latency.observe(time.perf_counter() - started)
        self.metrics.cloud_requests.labels(result.verdict.value).inc()
        before = track.state
        decisions = self.book.record_answer(track, result, crop)
        log.info("track_verdict", trace_id=crop.trace_id, camera_id=track.camera_id, track_id=track.track_id,
                 verdict=result.verdict.value, state=track.state.value, attempts=track.attempts)
        if track.state is not before and track.state in (TrackState.KNOWN, TrackState.INTRUDER):
            self.metrics.requests_per_track.observe(self.book.requests_per_track.get(track.key, 0))
            log.info("track_decided", trace_id=crop.trace_id, camera_id=track.camera_id,
                     track_id=track.track_id, state=track.state.value, name=track.name,
                     requests=self.book.requests_per_track.get(track.key, 0))
            best = max((f.similarity or 0.0 for f in result.faces), default=None)
            self.events.publish(TrackDecided(track.site_id, track.camera_id, track.track_id, track.state.value,
                                             track.name, best))
        for decision in decisions:
            await self._alarm(decision)

    async def _alarm(self, decision: AlarmDecision) -> None:
        track = decision.track
        if decision.reason.value == "unverified":
            self.metrics.requests_per_track.observe(self.book.requests_per_track.get(track.key, 0))
            log.info("track_decided", trace_id=decision.trace_id, camera_id=track.camera_id,
                     track_id=track.track_id, state="unverified", name=None,
                     requests=self.book.requests_per_track.get(track.key, 0))
            self.events.publish(TrackDecided(track.site_id, track.camera_id, track.track_id, "unverified"))
        crop = decision.crop
        zone = crop.zone if crop is not None and crop.zone is not None else track.zone
        detail = f"{decision.detail} (zone {zone})" if zone else decision.detail
        event = AlarmEvent(
            site_id=track.site_id, camera_id=track.camera_id, trace_id=decision.trace_id,
            reason=decision.reason, track_id=track.track_id, detail=detail[:1000],
            snapshot_jpeg=decision.snapshot, zone=zone, frame_jpeg=await self._frame_snapshot(decision, zone),
        )
        await self._raise(event)

    async def _frame_snapshot(self, decision: AlarmDecision, zone: str | None) -> bytes | None:
        """The annotated full frame, drawn in a thread; an alarm is never lost or held up for want of it."""
        crop = decision.crop
        if crop is None or crop.frame_jpeg is None or crop.box is None:
            return None
        label = label_for(decision.reason.value, zone, decision.track.track_id)
        try:
            return await asyncio.wait_for(asyncio.to_thread(annotate, crop.frame_jpeg, crop.box, label), 5.0)
        except Exception:
            log.exception("alarm_snapshot_failed", trace_id=decision.trace_id, camera_id=decision.track.camera_id)
            return None

    async def _raise(self, event: AlarmEvent) -> None:
        """Hand an alarm to the sink; if that fails (e.g. the outbox's disk), keep it and retry on the next
        timeout check with the same event id. The identity book has already marked the track alarmed, so
        dropping it here would lose the alarm for good."""
        try:
            await self.alarms.raise_alarm(event)
        except Exception:
            log.exception("alarm_not_stored", trace_id=event.trace_id, event_id=event.event_id,
                          camera_id=event.camera_id, track_id=event.track_id, reason=event.reason.value)
            self._unsent.append(event)

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("verification_task_failed", error=repr(task.exception()))
