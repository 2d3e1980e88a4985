"""Which cameras are connected to the edge, how many may be, and when a departed camera's state is freed.

Distinct connected camera ids are counted against ``max_cameras``: more are refused with the transient
``camera_limit`` code, so 3,000 throwaway ids cannot make the edge hold 3,000 buffers. One camera id holds
at most :data:`MAX_SESSIONS_PER_CAMERA` connections (a reconnecting camera may overlap its old session
briefly), so one stolen camera token cannot fill the cap and lock the other cameras out. A camera
id whose last connection closed is remembered with the time it left; after ``ttl`` seconds without a new
connection :meth:`CameraPresence.due` hands it out once so its tracker, settled identities and metric label
series can be freed (a camera that comes back within ``ttl`` keeps its tracks). Event-loop only.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Connections one camera id may hold at once.
MAX_SESSIONS_PER_CAMERA = 2


class CameraPresence:
    def __init__(self, max_cameras: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_cameras = max_cameras
        self.ttl = ttl
        self.clock = clock
        self._sids: dict[str, set[str]] = {}  # camera id -> its open connections
        self._gone: dict[str, float] = {}  # camera id -> when its last connection closed

    @property
    def connections(self) -> int:
        return sum(len(s) for s in self._sids.values())

    def full(self, camera_id: str | None = None) -> bool:
        """True when a connection of ``camera_id`` would add a camera beyond ``max_cameras`` (another
        connection of a camera already connected adds none)."""
        if camera_id is not None and camera_id in self._sids:
            return False
        return len(self._sids) >= self.max_cameras

    def sessions(self, camera_id: str) -> int:
        """Open connections of one camera id."""
        return len(self._sids.get(camera_id, ()))

    def joined(self, camera_id: str, sid: str) -> None:
        self._sids.setdefault(camera_id, set()).add(sid)
        self._gone.pop(camera_id, None)

    def left(self, camera_id: str, sid: str) -> bool:
        """Forget one connection; True when it was the camera's last one (the camera is gone)."""
        sids = self._sids.get(camera_id)
        if sids is None:
            return False
        sids.discard(sid)
        if sids:
            return False
        del self._sids[camera_id]
        self._gone[camera_id] = self.clock()
        return True

    def is_connected(self, camera_id: str) -> bool:
        return camera_id in self._sids

    def due(self) -> list[str]:
        """Cameras gone for at least ``ttl`` seconds, each returned once."""
        cutoff = self.clock() - self.ttl
        expired = [camera for camera, left_at in self._gone.items() if left_at <= cutoff]
        for camera in expired:
            del self._gone[camera]
        return expired

    def waiting(self) -> int:
        """Departed cameras whose state is still kept."""
        return len(self._gone)
