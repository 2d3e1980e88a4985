"""What the edge currently shows on MQTT: cameras online, persons tracked, alarming tracks per site.

Kept from the edge's event bus and re-published in full (retained) after every (re)connect, so a broker
restart or a Home Assistant restart always ends with the present state. Bounded: tracks are forgotten when
they leave or their camera goes offline, and similarities are capped.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

ALARMING_STATES = frozenset({"intruder", "unverified"})
_MAX_SIMILARITIES = 10_000

CameraKey = tuple[str, str]  # (site, camera)


@dataclass
class LiveState:
    cameras: dict[CameraKey, bool] = field(default_factory=dict)  # online?
    tracks: dict[CameraKey, set[int]] = field(default_factory=dict)
    alarming: dict[str, set[tuple[str, int]]] = field(default_factory=dict)  # site -> {(camera, track)}
    _similarity: OrderedDict[tuple[str, str, int], float] = field(default_factory=OrderedDict)

    def camera_online(self, site: str, camera: str, online: bool) -> None:
        self.cameras[(site, camera)] = online
        if not online:  # its tracks end with it
            self.tracks.pop((site, camera), None)
            self.alarming[site] = {(c, t) for c, t in self.alarming.get(site, set()) if c != camera}

    def track_appeared(self, site: str, camera: str, track: int) -> None:
        self.tracks.setdefault((site, camera), set()).add(track)

    def track_decided(self, site: str, camera: str, track: int, state: str, similarity: float | None) -> None:
        if similarity is not None:
            self._similarity[(site, camera, track)] = similarity
            while len(self._similarity) > _MAX_SIMILARITIES:
                self._similarity.popitem(last=False)
        if state in ALARMING_STATES:
            self.alarming.setdefault(site, set()).add((camera, track))
        else:
            self.alarming.get(site, set()).discard((camera, track))

    def track_left(self, site: str, camera: str, track: int) -> None:
        self.tracks.get((site, camera), set()).discard(track)
        self.alarming.get(site, set()).discard((camera, track))
        self._similarity.pop((site, camera, track), None)

    def similarity(self, site: str, camera: str, track: int | None) -> float | None:
        return None if track is None else self._similarity.get((site, camera, track))

    def person(self, site: str, camera: str) -> bool:
        return bool(self.tracks.get((site, camera)))

    def intruder(self, site: str) -> bool:
        return bool(self.alarming.get(site))
