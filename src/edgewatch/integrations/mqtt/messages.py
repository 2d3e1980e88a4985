"""JSON payloads on MQTT: what the edge publishes and how an alarm node reads an alarm back.

An alarm message is the :class:`~edgewatch.protocol.AlarmEvent` as JSON without the snapshot bytes (those go
to the retained ``snapshot`` topic as a JPEG), plus ``snapshot_bytes`` (their size, or null), ``edge_id``,
``similarity`` (the best face similarity the cloud reported for the track, when the edge knows it) and
``raised_at_iso`` (UTC, for people and Home Assistant templates) and ``event_type`` (the reason again: the
key Home Assistant's MQTT event entity reads, so each alarm fires an event there).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from edgewatch.protocol import AlarmEvent, ProtocolError, decode

#: Largest alarm message an alarm node parses (bytes); an alarm without its snapshot is a few hundred.
MAX_ALARM_MESSAGE = 64 * 1024

_EXTRA_FIELDS = ("snapshot_bytes", "edge_id", "similarity", "raised_at_iso", "event_type")


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def alarm_payload(event: AlarmEvent, edge_id: str, similarity: float | None = None) -> dict[str, Any]:
    body = event.model_dump(mode="json", exclude={"snapshot_jpeg"})
    body["snapshot_bytes"] = len(event.snapshot_jpeg) if event.snapshot_jpeg is not None else None
    body["edge_id"] = edge_id
    body["similarity"] = round(similarity, 4) if similarity is not None else None
    body["raised_at_iso"] = iso(event.raised_at)
    body["event_type"] = event.reason.value
    return body


def dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode("utf-8")


def parse_alarm(payload: bytes | bytearray | str | None) -> AlarmEvent:
    """An alarm message back into an :class:`AlarmEvent` (without snapshot); raises
    :class:`~edgewatch.protocol.ProtocolError` with a one-line reason for anything else."""
    if payload is None:
        raise ProtocolError("alarm message: empty payload")
    if len(payload) > MAX_ALARM_MESSAGE:
        raise ProtocolError(f"alarm message: {len(payload)} bytes, more than {MAX_ALARM_MESSAGE}")
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"alarm message: not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ProtocolError("alarm message: expected a JSON object")
    for name in _EXTRA_FIELDS:
        body.pop(name, None)
    return decode(AlarmEvent, body)
