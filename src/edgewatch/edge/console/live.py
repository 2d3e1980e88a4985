"""What the console shows live: one tile per camera and the tracks in view, kept from the edge's event bus.

One bounded subscription feeds this view; browsers do not subscribe to the bus themselves. Every change
bumps a version number, and each live stream (server-sent events) sends what changed since the version it
last sent, at most every ``min_interval`` seconds: a slow browser gets fewer, newer updates and never
holds memory on the edge. Each tile keeps its camera's last few frames (the newest few only, released when
the camera goes offline), so a browser can fetch exactly the frame whose boxes it was told about.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgewatch.edge.events import (
    AlarmAcknowledged,
    AlarmRaised,
    CameraOffline,
    CameraOnline,
    EventBus,
    FrameAnalysed,
    TrackAppeared,
    TrackDecided,
    TrackLeft,
)

#: Frames kept per camera, so the frame a browser was told about is still there when it asks.
FRAMES_KEPT = 3
MAX_TILES = 256
MAX_TRACKS = 2000
#: Recent alarms remembered for live streams (the outbox is the record).
RECENT_ALARMS = 20
#: Window of the frames-per-second figure.
FPS_WINDOW = 10.0


@dataclass(slots=True)
class CameraTile:
    site_id: str
    camera_id: str
    online: bool = False
    last_seen: float | None = None
    frames: int = 0
    seq: int | None = None
    width: int = 0
    height: int = 0
    boxes: list[dict[str, Any]] = field(default_factory=list)
    version: int = 0
    times: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    recent: deque[tuple[int, bytes]] = field(default_factory=lambda: deque(maxlen=FRAMES_KEPT))

    def fps(self, now: float) -> float:
        inside = [t for t in self.times if now - t <= FPS_WINDOW]
        if len(inside) < 2:
            return 0.0
        span = max(inside[-1] - inside[0], 1e-6)
        return (len(inside) - 1) / span


@dataclass(slots=True)
class TrackView:
    site_id: str
    camera_id: str
    track_id: int
    appeared_at: float
    last_seen: float
    state: str = "pending"
    name: str | None = None
    similarity: float | None = None


class LiveView:
    """State for the console's pages and live streams; fed by :meth:`run` (a task on the edge's loop)."""

    def __init__(self, bus: EventBus, drops: Callable[[str], float] | None = None, *,
                 track_max_age: float = 3.0, on_alarm: Callable[[AlarmRaised, float | None], Any] | None = None) -> None:
        self._subscription = bus.subscribe(maxsize=1024)
        self.drops = drops or (lambda camera_id: 0.0)
        self.track_max_age = track_max_age
        self.on_alarm = on_alarm
        self.tiles: OrderedDict[tuple[str, str], CameraTile] = OrderedDict()
        self.tracks: OrderedDict[tuple[str, str, int], TrackView] = OrderedDict()
        self.alarms: deque[tuple[int, dict[str, Any]]] = deque(maxlen=RECENT_ALARMS)
        self.version = 0
        self.tracks_version = 0
        self._changed = asyncio.Condition()

    @property
    def lost_events(self) -> int:
        return self._subscription.dropped

    async def run(self) -> None:
        try:
            async for event in self._subscription:
                self.apply(event)
                async with self._changed:
                    self._changed.notify_all()
        finally:
            self._subscription.close()

    async def wait_change(self, since: int, timeout: float) -> bool:
        """Wait until something changed after version ``since``; False on timeout."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version > since), timeout)
            except TimeoutError:
                return False
        return True

    # ---- applying events ------------------------------------------------------------------------------

    def apply(self, event: object) -> None:
        self.version += 1
        v = self.version
        if isinstance(event, CameraOnline | CameraOffline):
            tile = self._tile(event.site_id, event.camera_id)
            tile.online = isinstance(event, CameraOnline)
            tile.last_seen = event.at
            if not tile.online:
                tile.recent.clear()  # an offline camera's frames are released
                self._drop_tracks(event.site_id, event.camera_id)
            tile.version = v
        elif isinstance(event, FrameAnalysed):
            tile = self._tile(event.site_id, event.camera_id)
            tile.online, tile.last_seen, tile.frames = True, event.at, tile.frames + 1
            tile.times.append(event.at)
            tile.seq, tile.width, tile.height = event.seq, event.width, event.height
            tile.boxes = [{"box": [round(c, 1) for c in p.box], "score": round(p.score, 3), "track_id": p.track_id}
                          for p in event.persons]
            tile.recent.append((event.seq, event.jpeg))
            tile.version = v
            for person in event.persons:
                track = self.tracks.get((event.site_id, event.camera_id, person.track_id))
                if track is not None:
                    track.last_seen = event.at
        elif isinstance(event, TrackAppeared):
            key = (event.site_id, event.camera_id, event.track_id)
            self.tracks[key] = TrackView(event.site_id, event.camera_id, event.track_id, event.at, event.at)
            while len(self.tracks) > MAX_TRACKS:
                self.tracks.popitem(last=False)
            self.tracks_version = v
        elif isinstance(event, TrackDecided):
            track = self.tracks.get((event.site_id, event.camera_id, event.track_id))
            if track is not None:
                track.state, track.name, track.similarity = event.state, event.name, event.similarity
                self.tracks_version = v
        elif isinstance(event, TrackLeft):
            if self.tracks.pop((event.site_id, event.camera_id, event.track_id), None) is not None:
                self.tracks_version = v
        elif isinstance(event, AlarmRaised):
            alarm = event.alarm
            track = self.tracks.get((alarm.site_id, alarm.camera_id, alarm.track_id or -1))
            similarity = track.similarity if track is not None else None
            self.alarms.append((v, {"event_id": alarm.event_id, "site_id": alarm.site_id,
                                    "camera_id": alarm.camera_id, "track_id": alarm.track_id,
                                    "reason": alarm.reason.value, "detail": alarm.detail,
                                    "raised_at": alarm.raised_at, "similarity": similarity}))
            if self.on_alarm is not None:
                self.on_alarm(event, similarity)
        elif isinstance(event, AlarmAcknowledged):
            self.alarms.append((v, {"event_id": event.event_id, "acked_by": event.node_id, "acked_at": event.at}))

    def _tile(self, site_id: str, camera_id: str) -> CameraTile:
        key = (site_id, camera_id)
        tile = self.tiles.get(key)
        if tile is None:
            tile = self.tiles[key] = CameraTile(site_id, camera_id)
            while len(self.tiles) > MAX_TILES:
                offline = next((k for k, t in self.tiles.items() if not t.online), None)
                self.tiles.pop(offline if offline is not None else next(iter(self.tiles)))
        return tile

    def _drop_tracks(self, site_id: str, camera_id: str) -> None:
        gone = [k for k in self.tracks if k[0] == site_id and k[1] == camera_id]
        for key in gone:
            del self.tracks[key]
        if gone:
            self.tracks_version = self.version

    # ---- reading ----------------------------------------------------------------------------------------

    def frame(self, site_id: str, camera_id: str, seq: int | None) -> tuple[int, bytes] | None:
        """The camera's frame ``seq`` when still kept, else its newest one (None when it has none)."""
        tile = self.tiles.get((site_id, camera_id))
        if tile is None or not tile.recent:
            return None
        for kept in tile.recent:
            if kept[0] == seq:
                return kept
        return tile.recent[-1]

    def tile_json(self, tile: CameraTile, now: float | None = None) -> dict[str, Any]:
        now = now or time.time()
        return {"site_id": tile.site_id, "camera_id": tile.camera_id, "online": tile.online,
                "last_seen": tile.last_seen, "frames": tile.frames, "fps": round(tile.fps(now), 2),
                "drops": int(self.drops(tile.camera_id)), "seq": tile.seq, "width": tile.width,
                "height": tile.height, "boxes": tile.boxes, "has_frame": bool(tile.recent)}

    def tracks_json(self, now: float | None = None) -> list[dict[str, Any]]:
        """Tracks in view now: seen within the tracker's max age (a camera that stopped sends no 'left')."""
        now = now or time.time()
        return [{"site_id": t.site_id, "camera_id": t.camera_id, "track_id": t.track_id, "state": t.state,
                 "name": t.name, "similarity": t.similarity, "appeared_at": t.appeared_at, "last_seen": t.last_seen}
                for t in reversed(self.tracks.values()) if now - t.last_seen <= self.track_max_age + 1.0]

    def changes(self, since: int) -> list[tuple[str, Any]]:
        """(SSE event name, data) for everything that changed after version ``since``."""
        now = time.time()
        out: list[tuple[str, Any]] = [("tile", self.tile_json(t, now)) for t in self.tiles.values() if t.version > since]
        if self.tracks_version > since or out:  # tracks age out with time: refresh them with every frame
            out.append(("tracks", self.tracks_json(now)))
        out += [("alarm", data) for v, data in self.alarms if v > since]
        return out
