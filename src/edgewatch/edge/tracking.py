"""Per-camera person tracking: gives each detected person a track id that persists across frames.

Why our own small tracker rather than ByteTrack from ``trackers``/``supervision``: every maintained
ByteTrack on PyPI pulls SciPy, Matplotlib, PyAV and (``trackers``) the GUI build of OpenCV, about 300 MB,
which breaks the edge image's 400 MB budget, and ``opencv-python`` conflicts with the headless OpenCV the
other layers use. ByteTrack's Kalman motion model also buys little at the 1-5 fps edgewatch cameras send,
where a person moves far between frames. What remains is an association problem on a handful of boxes:
greedy matching on IoU, falling back to centre distance relative to box size for fast movers, with tracks
kept alive for ``max_age`` seconds through missed detections. The :class:`Tracker` protocol lets a
ByteTrack adapter be plugged in where image size does not matter.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edgewatch.edge.detection import PersonBox


@dataclass(frozen=True, slots=True)
class TrackedPerson:
    track_id: int
    box: PersonBox
    is_new: bool


class Tracker(Protocol):
    def update(self, boxes: list[PersonBox], now: float) -> list[TrackedPerson]: ...


@dataclass(slots=True)
class _Track:
    track_id: int
    box: PersonBox
    last_seen: float
    hits: int = 1


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def _centre_affinity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 at the same centre, 0 at a distance of one box diagonal (of the larger box) or more."""
    ca = np.stack([(a[:, 0] + a[:, 2]) / 2, (a[:, 1] + a[:, 3]) / 2], axis=1)
    cb = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2)
    diag_a = np.hypot(a[:, 2] - a[:, 0], a[:, 3] - a[:, 1])
    diag_b = np.hypot(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    scale = np.maximum(diag_a[:, None], diag_b[None, :])
    return np.clip(1.0 - dist / np.maximum(scale, 1e-9), 0.0, 1.0)


class IouTracker:
    """Greedy IoU/centre-distance tracker for one camera. Not thread-safe: one per camera, one caller."""

    def __init__(self, *, max_age: float = 3.0, min_iou: float = 0.2, min_centre: float = 0.5) -> None:
        self.max_age = max_age
        self.min_iou = min_iou
        self.min_centre = min_centre
        self._tracks: list[_Track] = []
        self._ids = itertools.count(1)
        #: Track ids that expired (no detection for ``max_age``) during the last ``update``.
        self.expired: list[int] = []

    @property
    def active(self) -> int:
        return len(self._tracks)

    def live(self, now: float) -> int:
        """Tracks seen within ``max_age`` of ``now`` (the ones the next ``update`` would keep)."""
        return sum(1 for t in self._tracks if now - t.last_seen <= self.max_age)

    def update(self, boxes: list[PersonBox], now: float) -> list[TrackedPerson]:
        alive = [t for t in self._tracks if now - t.last_seen <= self.max_age]
        self.expired = [t.track_id for t in self._tracks if now - t.last_seen > self.max_age]
        self._tracks = alive
        if not boxes:
            return []
        det = np.array([[b.x1, b.y1, b.x2, b.y2] for b in boxes], dtype=np.float64)
        assigned: dict[int, _Track] = {}
        if self._tracks:
            trk = np.array([[t.box.x1, t.box.y1, t.box.x2, t.box.y2] for t in self._tracks], dtype=np.float64)
            iou = _iou_matrix(trk, det)
            centre = _centre_affinity(trk, det)
            # IoU decides when boxes overlap; centre affinity (scaled below any real overlap) catches
            # persons who moved more than a box width between two low-fps frames.
            score = np.where(iou >= self.min_iou, 1.0 + iou, np.where(centre >= self.min_centre, centre, 0.0))
            used_tracks: set[int] = set()
            for flat in np.argsort(-score, axis=None):
                ti, di = divmod(int(flat), score.shape[1])
                if score[ti, di] <= 0:
                    break
                if ti in used_tracks or di in assigned:
                    continue
                used_tracks.add(ti)
                assigned[di] = self._tracks[ti]
        result = []
        for index, box in enumerate(boxes):
            track = assigned.get(index)
            if track is None:
                track = _Track(next(self._ids), box, now)
                self._tracks.append(track)
                result.append(TrackedPerson(track.track_id, box, is_new=True))
                continue
            track.box, track.last_seen, track.hits = box, now, track.hits + 1
            result.append(TrackedPerson(track.track_id, box, is_new=False))
        return result
