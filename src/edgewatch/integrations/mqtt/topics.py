"""The topic layout, in one place so the edge, the alarm node and the Home Assistant configs agree.

Under ``prefix`` (``mqtt_topic_prefix``, default ``edgewatch``)::

    <prefix>/edge/<edge>/availability               online | offline (retained; offline is the Last Will)
    <prefix>/site/<site>/alarm                      every alarm, JSON with its event_id (QoS 1, not retained)
    <prefix>/site/<site>/last_alarm                 the latest alarm, JSON (retained)
    <prefix>/site/<site>/snapshot                   the latest alarm's snapshot, JPEG bytes (retained)
    <prefix>/site/<site>/intruder                   ON | OFF: an intruder or unverified person in view (retained)
    <prefix>/site/<site>/camera/<camera>/state      online | offline (retained)
    <prefix>/site/<site>/camera/<camera>/person     ON | OFF: any person tracked at the camera (retained)
    <prefix>/site/<site>/camera/<camera>/track/<e>  e = appeared | verified | left, JSON (QoS 0)

Site and camera ids are edgewatch identifiers (letters, digits, ``_ . -``), so they never contain the MQTT
separators ``/ + #``.
"""

from __future__ import annotations

from dataclasses import dataclass

ONLINE, OFFLINE = "online", "offline"
ON, OFF = "ON", "OFF"
TRACK_EVENTS = ("appeared", "verified", "left")


@dataclass(frozen=True)
class Topics:
    prefix: str = "edgewatch"

    def availability(self, edge_id: str) -> str:
        return f"{self.prefix}/edge/{edge_id}/availability"

    def site(self, site_id: str) -> str:
        return f"{self.prefix}/site/{site_id}"

    def alarm(self, site_id: str) -> str:
        return f"{self.site(site_id)}/alarm"

    def last_alarm(self, site_id: str) -> str:
        return f"{self.site(site_id)}/last_alarm"

    def snapshot(self, site_id: str) -> str:
        return f"{self.site(site_id)}/snapshot"

    def intruder(self, site_id: str) -> str:
        return f"{self.site(site_id)}/intruder"

    def camera(self, site_id: str, camera_id: str) -> str:
        return f"{self.site(site_id)}/camera/{camera_id}"

    def camera_state(self, site_id: str, camera_id: str) -> str:
        return f"{self.camera(site_id, camera_id)}/state"

    def person(self, site_id: str, camera_id: str) -> str:
        return f"{self.camera(site_id, camera_id)}/person"

    def track(self, site_id: str, camera_id: str, event: str) -> str:
        if event not in TRACK_EVENTS:
            raise ValueError(f"unknown track event {event!r}")
        return f"{self.camera(site_id, camera_id)}/track/{event}"
