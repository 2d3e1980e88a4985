"""Non-finite numbers (inf, -inf, NaN) are refused in every wire message that has a number field."""

from __future__ import annotations

import json
import math
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from edgewatch import protocol
from edgewatch.protocol import ProtocolError, decode, new_trace_id

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16
TRACE = new_trace_id()
FACE = {"box": [1.0, 2.0, 30.0, 40.0], "confidence": 0.9, "match": {"name": "ada", "similarity": 0.5},
        "similarity": 0.5}

#: A valid payload of each message with float fields, and the paths of those fields.
SAMPLES: dict[str, tuple[dict[str, Any], list[tuple[Any, ...]]]] = {
    "Frame": ({"camera_id": "cam1", "site_id": "site1", "seq": 1, "captured_at": 1.7e9, "trace_id": TRACE,
               "jpeg": JPEG}, [("captured_at",)]),
    "FrameAck": ({"camera_id": "cam1", "seq": 1, "trace_id": TRACE, "status": "processed", "queue_ms": 1.0,
                  "inference_ms": 2.0}, [("queue_ms",), ("inference_ms",)]),
    "AlarmEvent": ({"site_id": "site1", "camera_id": "cam1", "trace_id": TRACE, "reason": "intruder",
                    "raised_at": 1.7e9}, [("raised_at",)]),
    "FaceMatch": ({"name": "ada", "similarity": 0.5}, [("similarity",)]),
    "FaceResult": (FACE, [("box", 0), ("box", 3), ("confidence",), ("similarity",), ("match", "similarity")]),
    "IdentifyResult": ({"verdict": "known", "faces": [FACE], "threshold": 0.36, "backend": "local",
                        "elapsed_ms": 3.0},
                       [("threshold",), ("elapsed_ms",), ("faces", 0, "confidence"), ("faces", 0, "box", 1)]),
}


def _has_float(annotation: Any) -> bool:
    if annotation is float:
        return True
    return any(_has_float(arg) for arg in typing.get_args(annotation))


def _float_models() -> list[type[BaseModel]]:
    models = [m for m in vars(protocol).values()
              if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == protocol.__name__]
    return [m for m in models if any(_has_float(f.annotation) for f in m.model_fields.values())]


def _set(payload: dict[str, Any], path: tuple[Any, ...], value: float) -> dict[str, Any]:
    copy = json.loads(json.dumps(payload, default=lambda b: None))  # deep copy (bytes put back below)
    if "jpeg" in payload:
        copy["jpeg"] = payload["jpeg"]
    target: Any = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


def test_every_message_with_a_number_has_a_sample() -> None:
    assert {m.__name__ for m in _float_models()} <= set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan], ids=["inf", "-inf", "nan"])
def test_non_finite_numbers_are_refused(name: str, value: float) -> None:
    model = getattr(protocol, name)
    payload, paths = SAMPLES[name]
    assert decode(model, payload)  # the sample itself is valid
    for path in paths:
        with pytest.raises(ProtocolError, match="finite"):
            decode(model, _set(payload, path, value))


def test_infinity_from_json_text_is_refused() -> None:
    """``captured_at: Infinity`` is what Python's json module reads from a hostile client."""
    frame = json.loads('{"camera_id": "cam1", "site_id": "site1", "seq": 1, "captured_at": Infinity, '
                       f'"trace_id": "{TRACE}"}}')
    frame["jpeg"] = JPEG
    with pytest.raises(ProtocolError, match="captured_at"):
        decode(protocol.Frame, frame)
