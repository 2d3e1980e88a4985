"""Confirmation before a track counts: a person must be detected in N of the last M analysed frames.

A single-frame false detection (a coat on a chair seen as a person once, a reflection) gets a track id
from the tracker like anything else; without confirmation it would at once cost a cloud request and, if
no face is found, end as an ``unverified`` alarm. Here a track becomes *confirmed* once it was matched in
``hits`` of the last ``window`` frames the detector ran on for its camera; until then it is not sent to
the cloud and raises nothing. Once confirmed it stays confirmed for its life.

Latency: a person is confirmed no earlier than ``hits - 1`` analysed frames after first being seen, i.e.
about ``(hits - 1) / fps`` seconds (2 of 3 at 1 fps: +1 s before the first cloud request). Frames gated by
the motion gate are not analysed and do not count as misses (a track is active, so they are not gated).
``hits = window = 1`` switches confirmation off. Used from the event loop only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Pending:
    seen: deque[bool]


@dataclass(slots=True)
class _CameraTracks:
    pending: dict[int, _Pending] = field(default_factory=dict)
    confirmed: set[int] = field(default_factory=set)


class Confirmation:
    """N-of-M confirmation of every camera's tracks. Memory: one small deque per unconfirmed live track."""

    def __init__(self, hits: int = 1, window: int = 1) -> None:
        if not 1 <= hits <= window:
            raise ValueError(f"need 1 <= hits <= window, got hits={hits}, window={window}")
        self.hits, self.window = hits, window
        self._cameras: dict[str, _CameraTracks] = {}

    def update(self, camera_id: str, seen: list[int], expired: list[int]) -> tuple[set[int], set[int]]:
        """Record one analysed frame of ``camera_id``: the track ids matched in it, and those the tracker
        let expire. Returns ``(confirmed, newly_confirmed)`` among ``seen``."""
        cam = self._cameras.setdefault(camera_id, _CameraTracks())
        for track_id in expired:
            cam.pending.pop(track_id, None)
            cam.confirmed.discard(track_id)
        seen_set = set(seen)
        for track_id in seen_set - cam.confirmed - cam.pending.keys():
            cam.pending[track_id] = _Pending(deque(maxlen=self.window))
        newly: set[int] = set()
        for track_id, pending in list(cam.pending.items()):
            pending.seen.append(track_id in seen_set)
            if sum(pending.seen) >= self.hits:
                del cam.pending[track_id]
                cam.confirmed.add(track_id)
                newly.add(track_id)
            elif len(pending.seen) == self.window and not any(pending.seen):
                del cam.pending[track_id]  # gone for a whole window: the tracker will expire it too
        if not cam.pending and not cam.confirmed:
            del self._cameras[camera_id]
        return seen_set & cam.confirmed, newly

    def is_confirmed(self, camera_id: str, track_id: int) -> bool:
        cam = self._cameras.get(camera_id)
        return cam is not None and track_id in cam.confirmed

    def forget(self, camera_id: str) -> None:
        self._cameras.pop(camera_id, None)
