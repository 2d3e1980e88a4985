"""Who is each tracked person? The edge's per-track identity book.

The cloud is asked about a *track*, not a frame: once when it appears, then only while its identity is
uncertain, no sooner than ``min_interval`` apart and at most ``max_attempts`` answered times. Between
requests the book keeps the best crop seen (largest, sharpest head region) so the next request sends the
most useful picture. Verdicts accumulate: an ``intruder`` answer alarms at once (fail secure), a track
confirmed known stays known unless later answers contradict it strongly, and a track whose identity is
not established within ``verify_timeout`` seconds (no face, cloud down, errors) raises an ``unverified``
alarm. Each track raises at most one alarm per reason. The book is pure bookkeeping (no I/O) so every
rule is testable on its own; the pipeline does the requests and sends the alarms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from edgewatch.protocol import AlarmReason, IdentifyResult, Verdict


class TrackState(StrEnum):
    PENDING = "pending"
    KNOWN = "known"
    INTRUDER = "intruder"
    UNVERIFIED = "unverified"


@dataclass(frozen=True, slots=True)
class IdentityOptions:
    min_interval: float = 2.0
    max_attempts: int = 3
    verify_timeout: float = 10.0
    #: extra opposite verdicts needed to overturn a confirmed decision
    contradiction_margin: int = 2
    #: a settled track is forgotten this long after it was last seen
    forget_after: float = 30.0
    #: a track confirmed known is asked about again this often while it stays in view (0: never), so a
    #: person who takes over a known person's track (tailgating, a swap the tracker missed) is not
    #: covered by the first person's verdict for ever
    reverify_known: float = 30.0


@dataclass(frozen=True, slots=True)
class CropCandidate:
    """A person crop, with what an alarm snapshot needs: the frame it was cut from (shared bytes, not a
    copy), the person's box in that frame's pixels and the zone the person stood in."""

    jpeg: bytes
    quality: float
    trace_id: str
    seen_at: float
    frame_jpeg: bytes | None = None
    box: tuple[float, float, float, float] | None = None
    zone: str | None = None


@dataclass(slots=True)
class TrackIdentity:
    camera_id: str
    site_id: str
    track_id: int
    first_seen: float
    last_seen: float
    first_trace_id: str
    state: TrackState = TrackState.PENDING
    attempts: int = 0
    answered: int = 0
    in_flight: bool = False
    last_attempt: float | None = None
    known_votes: int = 0
    intruder_votes: int = 0
    no_face: int = 0
    errors: int = 0
    name: str | None = None
    best: CropCandidate | None = None
    #: the last zone the track was seen in (None: never in a zone)
    zone: str | None = None
    alarmed: set[AlarmReason] = field(default_factory=set)

    @property
    def key(self) -> tuple[str, int]:
        return (self.camera_id, self.track_id)


@dataclass(frozen=True, slots=True)
class AlarmDecision:
    track: TrackIdentity
    reason: AlarmReason
    detail: str
    trace_id: str
    snapshot: bytes | None
    #: the crop behind the decision (its frame, box and zone make the alarm's annotated snapshot)
    crop: CropCandidate | None = None


def crop_quality(crop_gray: np.ndarray) -> float:
    """Area of the crop times the sharpness (variance of a Laplacian) of its top third, where the head
    usually is. Bigger and sharper faces identify better, so this picks the crop to send."""
    if crop_gray.ndim != 2 or min(crop_gray.shape) < 3:
        return 0.0
    head = crop_gray[: max(3, crop_gray.shape[0] // 3)].astype(np.float32)
    lap = head[1:-1, :-2] + head[1:-1, 2:] + head[:-2, 1:-1] + head[2:, 1:-1] - 4 * head[1:-1, 1:-1]
    return float(crop_gray.size) * (1.0 + float(lap.var()))


class IdentityBook:
    """Identity state of every live track of one edge (all cameras). Used from the event loop only."""

    def __init__(self, options: IdentityOptions | None = None) -> None:
        self.options = options or IdentityOptions()
        self._tracks: dict[tuple[str, int], TrackIdentity] = {}
        self.requests_per_track: dict[tuple[str, int], int] = {}

    def __len__(self) -> int:
        return len(self._tracks)

    def get(self, camera_id: str, track_id: int) -> TrackIdentity | None:
        return self._tracks.get((camera_id, track_id))

    def observe(
        self, camera_id: str, site_id: str, track_id: int, now: float, crop: CropCandidate
    ) -> TrackIdentity:
        """Record a sighting of a track with its crop; keeps the best crop since the last request."""
        track = self._tracks.get((camera_id, track_id))
        if track is None:
            track = TrackIdentity(camera_id, site_id, track_id, now, now, crop.trace_id)
            self._tracks[track.key] = track
        track.last_seen = now
        if crop.zone is not None:
            track.zone = crop.zone
        if track.best is None or crop.quality >= track.best.quality:
            track.best = crop
        return track

    def take_request(self, track: TrackIdentity, now: float) -> CropCandidate | None:
        """The crop to send to the cloud now, or None when this track should not be asked now."""
        o = self.options
        if track.in_flight or track.best is None or track.state is TrackState.INTRUDER:
            return None
        if track.state is TrackState.KNOWN:
            # Re-verification of a known track is not capped by max_attempts: it is paced instead.
            if not o.reverify_known or track.last_attempt is None or now - track.last_attempt < o.reverify_known:
                return None
        elif track.answered >= o.max_attempts:
            return None
        if track.last_attempt is not None and now - track.last_attempt < o.min_interval:
            return None
        crop, track.best = track.best, None
        track.in_flight, track.last_attempt = True, now
        track.attempts += 1
        self.requests_per_track[track.key] = self.requests_per_track.get(track.key, 0) + 1
        return crop

    def record_answer(self, track: TrackIdentity, result: IdentifyResult, crop: CropCandidate) -> list[AlarmDecision]:
        """Fold a cloud verdict into the track; returns the alarms it now warrants."""
        track.in_flight = False
        track.answered += 1
        o = self.options
        if result.verdict is Verdict.NO_FACE:
            track.no_face += 1
            if track.answered >= o.max_attempts and track.state is TrackState.PENDING:
                return self._unverified(track, "no face visible after "
                                               f"{track.answered} cloud requests", crop)
            return []
        if result.verdict is Verdict.KNOWN:
            track.known_votes += 1
            names = [f.match.name for f in result.faces if f.match is not None]
            track.name = names[0] if names else track.name
            if track.state is not TrackState.INTRUDER or (
                track.known_votes >= track.intruder_votes + o.contradiction_margin
            ):
                track.state = TrackState.KNOWN
            return []
        track.intruder_votes += 1
        if track.state is TrackState.KNOWN and track.intruder_votes < track.known_votes + o.contradiction_margin:
            return []
        track.state = TrackState.INTRUDER
        if AlarmReason.INTRUDER in track.alarmed:
            return []
        track.alarmed.add(AlarmReason.INTRUDER)
        best = max((f.similarity or 0.0 for f in result.faces), default=0.0)
        return [AlarmDecision(track, AlarmReason.INTRUDER,
                              f"face not recognised (best similarity {best:.2f} < {result.threshold:.3f})",
                              crop.trace_id, crop.jpeg, crop)]

    def record_failure(self, track: TrackIdentity, crop: CropCandidate) -> None:
        """A request that got no answer: the track stays as it was (the timeout raises unverified) and
        the unsent crop goes back as a candidate for the retry unless a better one arrived meanwhile."""
        track.in_flight = False
        track.errors += 1
        if track.best is None or crop.quality > track.best.quality:
            track.best = crop

    def due(self, now: float) -> list[AlarmDecision]:
        """Unverified alarms for tracks whose identity is still open after ``verify_timeout``; forgets
        settled tracks that have not been seen for ``forget_after`` seconds."""
        decisions = []
        for key, track in list(self._tracks.items()):
            if track.state is TrackState.PENDING and now - track.first_seen >= self.options.verify_timeout:
                reason = (
                    f"identity not established within {self.options.verify_timeout:g} s "
                    f"({track.answered} answers, {track.no_face} without a face, {track.errors} failed requests)"
                )
                decisions.extend(self._unverified(track, reason, track.best))
            settled = track.state is not TrackState.PENDING
            if settled and not track.in_flight and now - track.last_seen > self.options.forget_after:
                del self._tracks[key]
                self.requests_per_track.pop(key, None)
        return decisions

    def forget_camera(self, camera_id: str) -> None:
        """Drop the settled, idle tracks of one camera (it has gone); pending ones stay until decided."""
        for key, track in list(self._tracks.items()):
            if key[0] == camera_id and track.state is not TrackState.PENDING and not track.in_flight:
                del self._tracks[key]
                self.requests_per_track.pop(key, None)

    def _unverified(self, track: TrackIdentity, detail: str, crop: CropCandidate | None) -> list[AlarmDecision]:
        track.state = TrackState.UNVERIFIED
        if AlarmReason.UNVERIFIED in track.alarmed or AlarmReason.INTRUDER in track.alarmed:
            return []
        track.alarmed.add(AlarmReason.UNVERIFIED)
        trace = crop.trace_id if crop else track.first_trace_id
        return [AlarmDecision(track, AlarmReason.UNVERIFIED, detail, trace, crop.jpeg if crop else None, crop)]
