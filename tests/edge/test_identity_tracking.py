"""Track identity rules and the per-camera tracker, each on its own (no I/O)."""

from __future__ import annotations

import numpy as np

from edgewatch.edge.detection import PersonBox
from edgewatch.edge.identity import (
    CropCandidate,
    IdentityBook,
    IdentityOptions,
    TrackState,
    crop_quality,
)
from edgewatch.edge.tracking import IouTracker
from edgewatch.protocol import AlarmReason, FaceMatch, FaceResult, IdentifyResult, Verdict

OPTIONS = IdentityOptions(min_interval=2.0, max_attempts=3, verify_timeout=10.0, forget_after=30.0)


def crop(quality: float = 1.0, t: float = 0.0, trace: str = "trace-a") -> CropCandidate:
    return CropCandidate(jpeg=b"\xff\xd8\xff" + bytes([int(quality) % 256]), quality=quality, trace_id=trace,
                         seen_at=t)


def answer(verdict: Verdict, name: str | None = None, similarity: float = 0.2) -> IdentifyResult:
    faces = [] if verdict is Verdict.NO_FACE else [
        FaceResult(box=(0, 0, 10, 10), confidence=0.9, similarity=similarity,
                   match=FaceMatch(name=name, similarity=similarity) if name else None)
    ]
    return IdentifyResult(verdict=verdict, faces=faces, threshold=0.363, backend="test")


def test_known_person_needs_one_request_and_no_alarm() -> None:
    book = IdentityBook(OPTIONS)
    track = book.observe("cam1", "site1", 1, 0.0, crop(5))
    sent = book.take_request(track, 0.0)
    assert sent is not None and book.take_request(track, 0.5) is None  # one request in flight at a time
    assert book.record_answer(track, answer(Verdict.KNOWN, "ada", 0.7), sent) == []
    assert track.state is TrackState.KNOWN and track.name == "ada"
    for t in range(1, 30):  # seen for a long time: not asked again before the re-check, never alarms
        book.observe("cam1", "site1", 1, float(t), crop(9, float(t)))
        assert book.take_request(track, float(t)) is None
        assert book.due(float(t)) == []
    assert book.requests_per_track[("cam1", 1)] == 1
    # Still in view after reverify_known (30 s): asked once more, beyond max_attempts, and stays known.
    for t in (30, 60, 90):
        book.observe("cam1", "site1", 1, float(t), crop(9, float(t)))
        again = book.take_request(track, float(t))
        assert again is not None and book.take_request(track, float(t) + 1) is None
        assert book.record_answer(track, answer(Verdict.KNOWN, "ada", 0.7), again) == []
    assert track.state is TrackState.KNOWN and book.requests_per_track[("cam1", 1)] == 4


def test_known_track_is_not_rechecked_when_reverification_is_off() -> None:
    book = IdentityBook(IdentityOptions(reverify_known=0))
    track = book.observe("cam1", "site1", 1, 0.0, crop())
    book.record_answer(track, answer(Verdict.KNOWN, "ada", 0.7), book.take_request(track, 0.0))
    book.observe("cam1", "site1", 1, 500.0, crop(t=500.0))
    assert book.take_request(track, 500.0) is None


def test_intruder_alarms_at_once_and_only_once() -> None:
    book = IdentityBook(OPTIONS)
    track = book.observe("cam1", "site1", 4, 0.0, crop(trace="trace-int"))
    sent = book.take_request(track, 0.0)
    decisions = book.record_answer(track, answer(Verdict.INTRUDER), sent)
    assert [(d.reason, d.trace_id) for d in decisions] == [(AlarmReason.INTRUDER, "trace-int")]
    assert "0.20 < 0.363" in decisions[0].detail
    assert book.take_request(book.observe("cam1", "site1", 4, 5.0, crop()), 5.0) is None
    assert book.due(20.0) == []  # no second alarm of any reason for this track


def test_known_track_survives_one_contradiction_but_not_a_strong_one() -> None:
    book = IdentityBook(OPTIONS)
    track = book.observe("cam1", "site1", 2, 0.0, crop())
    book.record_answer(track, answer(Verdict.KNOWN, "ada", 0.8), book.take_request(track, 0.0))
    # answers that were in flight when the track was confirmed, or from a later re-check
    assert book.record_answer(track, answer(Verdict.INTRUDER), crop()) == []
    assert book.record_answer(track, answer(Verdict.INTRUDER), crop()) == []
    decisions = book.record_answer(track, answer(Verdict.INTRUDER), crop())
    assert [d.reason for d in decisions] == [AlarmReason.INTRUDER] and track.state is TrackState.INTRUDER


def test_no_face_retries_with_interval_then_unverified_after_cap() -> None:
    book = IdentityBook(OPTIONS)
    track = book.observe("cam1", "site1", 3, 0.0, crop(1))
    assert book.record_answer(track, answer(Verdict.NO_FACE), book.take_request(track, 0.0)) == []
    book.observe("cam1", "site1", 3, 1.0, crop(2, 1.0))
    assert book.take_request(track, 1.0) is None  # min_interval not over
    second = book.take_request(track, 2.0)
    assert second is not None and second.quality == 2  # the best crop since the last request
    assert book.record_answer(track, answer(Verdict.NO_FACE), second) == []
    book.observe("cam1", "site1", 3, 4.0, crop(3, 4.0))
    decisions = book.record_answer(track, answer(Verdict.NO_FACE), book.take_request(track, 4.0))
    assert [d.reason for d in decisions] == [AlarmReason.UNVERIFIED]
    assert book.take_request(book.observe("cam1", "site1", 3, 9.0, crop()), 9.0) is None  # cap reached
    assert book.requests_per_track[("cam1", 3)] == 3


def test_cloud_down_gives_unverified_at_timeout_then_verification_resumes() -> None:
    book = IdentityBook(OPTIONS)
    track = book.observe("cam1", "site1", 5, 0.0, crop(4))
    sent = book.take_request(track, 0.0)
    book.record_failure(track, sent)
    assert track.best == sent  # the unsent crop is kept for the retry
    assert book.due(9.9) == []
    decisions = book.due(10.0)
    assert [d.reason for d in decisions] == [AlarmReason.UNVERIFIED] and "1 failed requests" in decisions[0].detail
    assert book.due(11.0) == []  # once per track
    retry = book.take_request(track, 12.0)  # the cloud is back: the unverified track is still asked
    assert retry is not None
    decisions = book.record_answer(track, answer(Verdict.INTRUDER), retry)
    assert [d.reason for d in decisions] == [AlarmReason.INTRUDER]


def test_settled_tracks_are_forgotten() -> None:
    book = IdentityBook(OPTIONS)
    track = book.observe("cam1", "site1", 6, 0.0, crop())
    book.record_answer(track, answer(Verdict.KNOWN, "ada", 0.9), book.take_request(track, 0.0))
    book.due(20.0)
    assert len(book) == 1
    book.due(31.0)
    assert len(book) == 0


def test_crop_quality_prefers_larger_and_sharper() -> None:
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, (90, 40)).astype(np.uint8)
    flat = np.full((90, 40), 128, np.uint8)
    assert crop_quality(sharp) > crop_quality(flat)
    assert crop_quality(np.tile(flat, (2, 2))) > crop_quality(flat)
    assert crop_quality(np.zeros((2, 2), np.uint8)) == 0.0


def box(x: float, y: float, w: float = 40, h: float = 100) -> PersonBox:
    return PersonBox(x, y, x + w, y + h, 0.9)


def test_tracker_keeps_ids_through_motion_and_gaps() -> None:
    tracker = IouTracker(max_age=3.0)
    first = tracker.update([box(10, 10), box(300, 10)], 0.0)
    assert [p.is_new for p in first] == [True, True]
    ids = {round(p.box.x1): p.track_id for p in first}
    moved = tracker.update([box(315, 12), box(22, 11)], 1.0)  # order swapped, both moved
    assert {round(p.box.x1): p.track_id for p in moved} == {315: ids[300], 22: ids[10]}
    assert not any(p.is_new for p in moved)
    fast = tracker.update([box(60, 10)], 2.0)  # moved more than a box width: centre affinity
    assert fast[0].track_id == ids[10]
    assert tracker.update([], 3.0) == []
    again = tracker.update([box(62, 10)], 4.5)  # missed one frame, still within max_age
    assert again[0].track_id == ids[10]
    late = tracker.update([box(62, 10)], 9.0)  # gone longer than max_age: a new track
    assert late[0].is_new and late[0].track_id not in ids.values()
