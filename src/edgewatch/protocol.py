"""Wire messages shared by every layer (versioned).

Layers never import each other's internals: a camera, an alarm node, an edge and a cloud agree only on the
models below. Socket.IO events carry them as plain dicts (``encode``), with JPEG bytes sent as binary
attachments; REST answers of the cloud use the same models as JSON. ``decode`` is the one door in: it turns
any malformed payload into a :class:`ProtocolError` whose message names the offending field, so a node can
answer with an ``error`` event and keep serving.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PROTOCOL_VERSION = 1

#: Largest JPEG a frame may carry (bytes). Rekognition's own image limit, and far above a 1080p JPEG.
MAX_FRAME_BYTES = 5 * 1024 * 1024

#: Identifiers of cameras, sites, nodes: safe in file names, metric labels and URLs.
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
TraceId = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

_JPEG_MAGIC = b"\xff\xd8\xff"


class ProtocolError(ValueError):
    """A message that does not decode; the text says which field is wrong and why."""


class SocketEvent(StrEnum):
    """Socket.IO event names between IoT nodes and the edge."""

    FRAME = "frame"  # camera -> edge
    FRAME_ACK = "frame_ack"  # edge -> camera
    ALARM = "alarm"  # edge -> alarm node
    ALARM_ACK = "alarm_ack"  # alarm node -> edge
    ERROR = "error"  # edge -> any client, after a rejected message


class NodeRole(StrEnum):
    CAMERA = "camera"
    ALARM = "alarm"


class RefusalCode(StrEnum):
    """Why the edge refused a Socket.IO connection. The edge raises ``ConnectionRefusedError`` with
    ``{"code": <RefusalCode>, "message": <text>}``; a client reads the code to tell a refusal that can heal
    by itself (retry with backoff) from one that cannot (a clear error and a non-zero exit)."""

    BAD_HELLO = "bad_hello"  # the Hello does not decode
    UNAUTHORIZED = "unauthorized"  # missing or wrong credential
    FORBIDDEN = "forbidden"  # a valid credential used for another node id, role or site
    REVOKED = "revoked"  # the node's credential was revoked
    UNKNOWN_SITE = "unknown_site"  # the edge does not serve this site
    UNKNOWN_CAMERA = "unknown_camera"  # not in the edge's camera list
    CAMERA_LIMIT = "camera_limit"  # the edge has as many cameras as it accepts: transient
    BUSY = "busy"  # the edge is starting or overloaded: transient

    @property
    def permanent(self) -> bool:
        """True when retrying the same credentials cannot succeed without an operator's change."""
        return self not in (RefusalCode.CAMERA_LIMIT, RefusalCode.BUSY)


def refusal(code: RefusalCode, message: str) -> dict[str, str]:
    """The payload of a refused connection (what ``ConnectionRefusedError`` carries to the client)."""
    return {"code": code.value, "message": message}


class AlarmReason(StrEnum):
    """Why the edge raised an alarm. ``unverified`` means a person whose identity could not be
    established (no face, cloud unreachable, backend error): fail secure, never "no intruder"."""

    INTRUDER = "intruder"
    UNVERIFIED = "unverified"


class Verdict(StrEnum):
    """The cloud's decision for one image. ``no_face`` is its own verdict, never folded into ``known``."""

    KNOWN = "known"
    INTRUDER = "intruder"
    NO_FACE = "no_face"


def new_trace_id() -> str:
    """A fresh trace id for one frame's journey across the layers."""
    return uuid.uuid4().hex


def new_event_id() -> str:
    return uuid.uuid4().hex


class Message(BaseModel):
    """Base of every wire message: strict fields, immutable, carrying the protocol version."""

    # Bytes (JPEG frames, snapshots) travel as Socket.IO binary attachments; in JSON (the edge's alarm
    # outbox, logs) they are base64.
    # Non-finite numbers (``captured_at: Infinity``, NaN) are refused in every message: they poison clocks,
    # timeouts and metrics downstream.
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=False, ser_json_bytes="base64", val_json_bytes="base64",
        allow_inf_nan=False,
    )

    v: Literal[1] = PROTOCOL_VERSION


class Hello(Message):
    """Sent as Socket.IO ``auth`` data when an IoT node connects to its edge."""

    role: NodeRole
    node_id: Identifier
    site_id: Identifier
    # Per-node credential (edgewatch credentials issue). Never logged; the edge drops it once checked.
    token: str | None = Field(default=None, max_length=128, repr=False)


class Frame(Message):
    """One JPEG frame from a camera."""

    camera_id: Identifier
    site_id: Identifier
    seq: int = Field(ge=0)
    captured_at: float = Field(gt=0, description="camera clock, seconds since the epoch")
    trace_id: TraceId
    jpeg: bytes = Field(min_length=4, max_length=MAX_FRAME_BYTES)

    @field_validator("jpeg")
    @classmethod
    def _looks_like_jpeg(cls, value: bytes) -> bytes:
        if not value.startswith(_JPEG_MAGIC):
            raise ValueError("is not a JPEG (missing FFD8FF start-of-image marker)")
        return value


class FrameStatus(StrEnum):
    PROCESSED = "processed"
    DROPPED = "dropped"  # replaced in the buffer by a newer frame before a worker took it
    FAILED = "failed"  # could not be decoded or detection raised
    GATED = "gated"  # no motion, no active track, detector not due: the detector did not run on it


class FrameAck(Message):
    """The edge's answer to one frame, carrying its own timings so a camera can measure round trips."""

    camera_id: Identifier
    seq: int = Field(ge=0)
    trace_id: TraceId
    status: FrameStatus
    persons: int = Field(default=0, ge=0)
    queue_ms: float = Field(default=0.0, ge=0)
    inference_ms: float = Field(default=0.0, ge=0)
    detail: str = ""


class AlarmEvent(Message):
    """An alarm the edge raises to every alarm node of a site."""

    event_id: str = Field(default_factory=new_event_id, min_length=8, max_length=64)
    site_id: Identifier
    camera_id: Identifier
    trace_id: TraceId
    reason: AlarmReason
    raised_at: float = Field(default_factory=time.time, gt=0)
    track_id: int | None = None
    detail: str = Field(default="", max_length=1000)
    snapshot_jpeg: bytes | None = Field(default=None, max_length=MAX_FRAME_BYTES)
    # zones and annotated snapshots (issue 12)
    zone: Identifier | None = Field(default=None, description="the camera zone the person stood in")
    frame_jpeg: bytes | None = Field(
        default=None, max_length=MAX_FRAME_BYTES,
        description="the full frame with the person's box drawn and the zone named (snapshot_jpeg: the crop)",
    )


class AlarmAck(Message):
    """An alarm node's receipt for one alarm, by event id."""

    event_id: str = Field(min_length=8, max_length=64)
    node_id: Identifier


class ErrorMessage(Message):
    """What a node answers to a message it rejected. ``code`` is stable and machine-readable."""

    code: str
    detail: str
    trace_id: str | None = None


# ---- cloud REST (edge -> cloud) ----------------------------------------------------------------------


class FaceMatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    similarity: float


class FaceResult(BaseModel):
    """One face found in an identify request, with its best match above the threshold, if any."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in image pixels")
    confidence: float = Field(description="face-detection confidence, 0..1")
    match: FaceMatch | None = None
    similarity: float | None = Field(default=None, description="best similarity seen, matched or not")


class IdentifyResult(BaseModel):
    """The cloud's answer to ``POST /v1/identify``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    v: Literal[1] = PROTOCOL_VERSION
    verdict: Verdict
    faces: list[FaceResult]
    threshold: float
    backend: str
    trace_id: str | None = None
    elapsed_ms: float = 0.0


M = TypeVar("M", bound=BaseModel)


def describe_validation_error(error: ValidationError) -> str:
    """One line naming every bad field, e.g. ``seq: Input should be greater than or equal to 0``."""
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "(message)"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def decode(model: type[M], payload: Any) -> M:
    """Validate a received payload into ``model`` or raise :class:`ProtocolError` naming the bad fields."""
    if not isinstance(payload, dict):
        raise ProtocolError(f"{model.__name__}: expected an object, got {type(payload).__name__}")
    version = payload.get("v", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"{model.__name__}: unsupported protocol version {version!r} (this node speaks {PROTOCOL_VERSION})"
        )
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise ProtocolError(f"{model.__name__}: {describe_validation_error(exc)}") from None


def encode(message: BaseModel) -> dict[str, Any]:
    """A message as a plain dict for Socket.IO (bytes stay bytes and travel as binary attachments)."""
    return message.model_dump(mode="python")
