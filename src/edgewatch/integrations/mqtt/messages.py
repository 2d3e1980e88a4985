"""JSON payloads on MQTT: what the edge publishes and how an alarm node reads an alarm back.

An alarm message is the :class:`~edgewatch.protocol.AlarmEvent` as JSON without its picture bytes (the
picture goes to the retained ``snapshot`` topic as a JPEG), plus ``snapshot_bytes`` (their size, or null;
likewise ``<name>_bytes`` for any other picture field), ``edge_id``,
``similarity`` (the best face similarity the cloud reported for the track, when the edge knows it) and
``raised_at_iso`` (UTC, for people and Home Assistant templates) and ``event_type`` (the reason again: the
key Home Assistant's MQTT event entity reads, so each alarm fires an event there).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from edgewatch.protocol import AlarmEvent, ProtocolError, decode

#: Largest alarm message an alarm node parses (bytes); an alarm without its snapshot is a few hundred.
MAX_ALARM_MESSAGE = 64 * 1024


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def binary_fields(event: AlarmEvent) -> dict[str, bytes | None]:
    """The event's picture fields (``snapshot_jpeg``, and any other bytes field a newer protocol adds)."""
    return {name: getattr(event, name) for name, info in type(event).model_fields.items()
            if "bytes" in str(info.annotation)}


def picture(event: AlarmEvent) -> bytes | None:
    """The JPEG to show for an alarm: the annotated full frame when the edge attached one, else the crop."""
    frame = getattr(event, "frame_jpeg", None)
    return frame if isinstance(frame, bytes) and frame else event.snapshot_jpeg


def alarm_payload(event: AlarmEvent, edge_id: str, similarity: float | None = None) -> dict[str, Any]:
    pictures = binary_fields(event)
    body = event.model_dump(mode="json", exclude=set(pictures))
    for name, data in pictures.items():  # sizes only: the JPEG itself goes to the retained snapshot topic
        body[f"{name.removesuffix('_jpeg')}_bytes"] = len(data) if data is not None else None
    body["edge_id"] = edge_id
    body["similarity"] = round(similarity, 4) if similarity is not None and math.isfinite(similarity) else None
    body["raised_at_iso"] = iso(event.raised_at) if math.isfinite(event.raised_at) else None
    body["event_type"] = event.reason.value
    return body


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def dumps(body: dict[str, Any]) -> bytes:
    """Compact strict JSON; NaN and infinities (which JSON cannot carry) become null."""
    return json.dumps(_finite(body), separators=(",", ":"), allow_nan=False).encode("utf-8")


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
    for name in set(body) - set(AlarmEvent.model_fields):  # our additions, and what a newer edge adds
        body.pop(name)
    return decode(AlarmEvent, body)
