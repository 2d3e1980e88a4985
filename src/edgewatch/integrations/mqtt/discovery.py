"""Home Assistant MQTT discovery: the retained config messages that make edgewatch appear in Home Assistant.

Home Assistant reads ``<discovery_prefix>/<component>/<node_id>/<object_id>/config`` (JSON) and creates one
entity per message; ``unique_id`` makes it editable in the UI, ``device`` groups entities, ``availability``
greys them out when the edge (Last Will) or the camera is offline. Source: Home Assistant's MQTT discovery
documentation and the MQTT Binary Sensor / Sensor / Image integration pages (home-assistant.io).

Per site: a device "edgewatch <site>" with ``binary_sensor`` *intruder* (device class ``safety``: on means
unsafe), ``sensor`` *last alarm* (state: the reason; attributes: camera, time, similarity, event id ...),
``image`` *last alarm snapshot* and ``event`` *alarm* (fires on every alarm, event type = the reason, for
automations that must run once per alarm, not once per state change). Per camera: a device "edgewatch <site>/<camera>" (``via_device`` the
site) with ``binary_sensor`` *person* (device class ``occupancy``), available while both the edge and the
camera are online.
"""

from __future__ import annotations

import re
from typing import Any

from edgewatch import __version__
from edgewatch.integrations.mqtt.topics import OFF, OFFLINE, ON, ONLINE, Topics
from edgewatch.protocol import AlarmReason

#: Home Assistant allows only these characters in node and object ids of a discovery topic.
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def _slug(*parts: str) -> str:
    return _UNSAFE.sub("_", "_".join(parts))


class Discovery:
    """Builds ``(topic, config)`` pairs for one edge; publish each retained with QoS 1."""

    def __init__(self, topics: Topics, edge_id: str, prefix: str = "homeassistant") -> None:
        self.topics = topics
        self.edge_id = edge_id
        self.prefix = prefix
        self.node_id = _slug("edgewatch", edge_id)

    def _topic(self, component: str, object_id: str) -> str:
        return f"{self.prefix}/{component}/{self.node_id}/{object_id}/config"

    def _availability(self, *extra: str) -> dict[str, Any]:
        topics = [self.topics.availability(self.edge_id), *extra]
        return {
            "availability": [{"topic": t, "payload_available": ONLINE, "payload_not_available": OFFLINE}
                             for t in topics],
            "availability_mode": "all",
        }

    @staticmethod
    def _origin() -> dict[str, str]:
        return {"name": "edgewatch", "sw_version": __version__}

    def site_device(self, site_id: str) -> dict[str, Any]:
        return {"identifiers": [_slug("edgewatch", "site", site_id)], "name": f"edgewatch {site_id}",
                "manufacturer": "edgewatch", "model": "site", "sw_version": __version__}

    def camera_device(self, site_id: str, camera_id: str) -> dict[str, Any]:
        return {"identifiers": [_slug("edgewatch", "camera", site_id, camera_id)],
                "name": f"edgewatch {site_id}/{camera_id}", "manufacturer": "edgewatch", "model": "camera",
                "sw_version": __version__, "via_device": _slug("edgewatch", "site", site_id)}

    def site(self, site_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The site's intruder sensor, last-alarm sensor, alarm event and snapshot image."""
        t = self.topics
        device = self.site_device(site_id)
        intruder_id = _slug(site_id, "intruder")
        last_id = _slug(site_id, "last_alarm")
        snapshot_id = _slug(site_id, "snapshot")
        alarm_id = _slug(site_id, "alarm")
        return [
            (self._topic("binary_sensor", intruder_id), {
                "name": "Intruder", "unique_id": _slug("edgewatch", self.edge_id, intruder_id),
                "state_topic": t.intruder(site_id), "payload_on": ON, "payload_off": OFF,
                "device_class": "safety", "json_attributes_topic": t.last_alarm(site_id),
                "device": device, "origin": self._origin(), **self._availability(),
            }),
            (self._topic("sensor", last_id), {
                "name": "Last alarm", "unique_id": _slug("edgewatch", self.edge_id, last_id),
                "state_topic": t.last_alarm(site_id), "value_template": "{{ value_json.reason }}",
                "json_attributes_topic": t.last_alarm(site_id), "icon": "mdi:alarm-light",
                "device": device, "origin": self._origin(), **self._availability(),
            }),
            (self._topic("event", alarm_id), {
                "name": "Alarm", "unique_id": _slug("edgewatch", self.edge_id, alarm_id),
                "state_topic": t.alarm(site_id), "event_types": [reason.value for reason in AlarmReason],
                "icon": "mdi:alarm-light",
                "device": device, "origin": self._origin(), **self._availability(),
            }),
            (self._topic("image", snapshot_id), {
                "name": "Last alarm snapshot", "unique_id": _slug("edgewatch", self.edge_id, snapshot_id),
                "image_topic": t.snapshot(site_id), "content_type": "image/jpeg",
                "device": device, "origin": self._origin(), **self._availability(),
            }),
        ]

    def camera(self, site_id: str, camera_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The camera's person sensor."""
        t = self.topics
        person_id = _slug(site_id, camera_id, "person")
        return [
            (self._topic("binary_sensor", person_id), {
                "name": "Person", "unique_id": _slug("edgewatch", self.edge_id, person_id),
                "state_topic": t.person(site_id, camera_id), "payload_on": ON, "payload_off": OFF,
                "device_class": "occupancy", "device": self.camera_device(site_id, camera_id),
                "origin": self._origin(), **self._availability(t.camera_state(site_id, camera_id)),
            }),
        ]
