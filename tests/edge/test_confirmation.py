"""N-of-M confirmation of tracks (pure bookkeeping)."""

from __future__ import annotations

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
