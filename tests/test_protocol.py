"""Wire messages: round trips, version checks and clear errors for malformed payloads."""

from __future__ import annotations

import pytest

from edgewatch.protocol import (
    AlarmEvent,
    AlarmReason,
    Frame,
    FrameAck,
    FrameStatus,
    Hello,
    ProtocolError,
    decode,
    encode,
    new_trace_id,
)

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16


def make_frame(**changes: object) -> dict:
    frame = encode(
        Frame(camera_id="cam1", site_id="site1", seq=3, captured_at=1.7e9, trace_id=new_trace_id(), jpeg=JPEG)
    )
    frame.update(changes)
    return frame


def test_frame_round_trip_keeps_bytes_and_version() -> None:
    payload = make_frame()
    assert payload["v"] == 1 and isinstance(payload["jpeg"], bytes)
    frame = decode(Frame, payload)
    assert frame.jpeg == JPEG and frame.seq == 3 and frame.camera_id == "cam1"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"seq": -1}, "seq"),
        ({"camera_id": ""}, "camera_id"),
        ({"camera_id": "../etc"}, "camera_id"),
        ({"jpeg": b"GIF89a-not-a-jpeg"}, "jpeg"),
        ({"captured_at": "yesterday"}, "captured_at"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_malformed_frame_names_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ProtocolError, match=field):
        decode(Frame, make_frame(**changes))


def test_missing_field_and_non_object_are_rejected() -> None:
    payload = make_frame()
    del payload["trace_id"]
    with pytest.raises(ProtocolError, match="trace_id"):
        decode(Frame, payload)
    with pytest.raises(ProtocolError, match="expected an object"):
        decode(Frame, b"raw bytes")


def test_other_protocol_version_is_rejected_clearly() -> None:
    with pytest.raises(ProtocolError, match="unsupported protocol version 2"):
        decode(Frame, make_frame(v=2))


def test_oversized_frame_is_rejected() -> None:
    with pytest.raises(ProtocolError, match="jpeg"):
        decode(Frame, make_frame(jpeg=JPEG + b"\x00" * (5 * 1024 * 1024)))


def test_alarm_event_defaults_and_reasons() -> None:
    event = AlarmEvent(site_id="site1", camera_id="cam1", trace_id=new_trace_id(), reason=AlarmReason.UNVERIFIED)
    again = decode(AlarmEvent, encode(event))
    assert again == event and len(event.event_id) == 32 and event.raised_at > 0
    with pytest.raises(ProtocolError, match="reason"):
        decode(AlarmEvent, {**encode(event), "reason": "all_clear"})


def test_hello_and_ack_models() -> None:
    assert decode(Hello, {"role": "alarm", "node_id": "a1", "site_id": "s1"}).role == "alarm"
    with pytest.raises(ProtocolError, match="role"):
        decode(Hello, {"role": "printer", "node_id": "a1", "site_id": "s1"})
    ack = FrameAck(camera_id="cam1", seq=1, trace_id=new_trace_id(), status=FrameStatus.PROCESSED, persons=2)
    assert decode(FrameAck, encode(ack)).persons == 2
