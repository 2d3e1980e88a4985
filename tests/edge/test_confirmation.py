"""N-of-M confirmation of tracks (pure bookkeeping)."""

from __future__ import annotations

import asyncio

import pytest

from edgewatch.edge.confirmation import Confirmation


def test_one_frame_never_confirms_two_of_three() -> None:
    c = Confirmation(2, 3)
    assert c.update("cam1", [1], []) == (set(), set())
    assert c.update("cam1", [], []) == (set(), set())
    assert c.update("cam1", [], []) == (set(), set())
    assert c.update("cam1", [], []) == (set(), set()), "dropped after a window without a hit"


def test_second_hit_within_the_window_confirms_and_stays_confirmed() -> None:
    c = Confirmation(2, 3)
    c.update("cam1", [7], [])
    c.update("cam1", [], [])
    assert c.update("cam1", [7], []) == ({7}, {7})
    assert c.update("cam1", [7], []) == ({7}, set()), "newly confirmed only once"
    c.update("cam1", [], [7])  # the tracker let it expire
    assert c.update("cam1", [7], []) == (set(), set()), "an expired id starts over"


def test_cameras_are_independent_and_off_means_at_once() -> None:
    c = Confirmation(2, 2)
    c.update("cam1", [1], [])
    assert c.update("cam2", [1], []) == (set(), set())
    assert c.update("cam1", [1], []) == ({1}, {1})
    assert Confirmation().update("cam1", [3], []) == ({3}, {3})


def test_hits_must_fit_the_window() -> None:
    with pytest.raises(ValueError):
        Confirmation(3, 2)


async def test_an_unconfirmed_track_neither_appears_nor_leaves_on_the_event_bus(tmp_path) -> None:
    from edgewatch.config import EdgeSettings
    from edgewatch.edge.detection import PersonBox
    from edgewatch.edge.events import EventBus, TrackAppeared, TrackLeft
    from edgewatch.edge.frame_processing import PersonCrop
    from edgewatch.edge.verification import FrameContext, VerificationService

    class NoAlarms:
        async def raise_alarm(self, event: object) -> None:
            raise AssertionError("nothing may alarm")

    bus = EventBus()
    events = bus.subscribe(maxsize=100, kinds=(TrackAppeared, TrackLeft))
    now = [100.0]
    settings = EdgeSettings(confirm_hits=2, confirm_window=3, track_max_age=1.0, verify_timeout=600,
                            alarm_db=tmp_path / "alarms.db")
    service = VerificationService(settings, NoAlarms(), clock=lambda: now[0], events=bus)
    person = PersonCrop(PersonBox(10, 10, 60, 160, 0.9), b"\xff\xd8\xff\xe0crop", 50.0)

    async def frame(*persons: PersonCrop) -> list[int]:
        now[0] += 1.5
        return await service.on_persons(FrameContext("cam1", "site1", "trace-0001", now[0]), list(persons))

    assert await frame(person) == [1]
    for _ in range(3):
        await frame()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(events.get(), 0.2)
    assert len(service.book) == 0, "an unconfirmed track never reaches the identity book"
    # Control: seen in two frames running, the next track is confirmed, appears, and later leaves.
    now[0] += 0.5
    await frame(person)
    now[0] -= 1.0
    await frame(person)
    appeared = await asyncio.wait_for(events.get(), 5)
    assert isinstance(appeared, TrackAppeared) and len(service.book) == 1
    await frame()
    left = await asyncio.wait_for(events.get(), 5)
    assert isinstance(left, TrackLeft) and left.track_id == appeared.track_id
    await service.aclose()
