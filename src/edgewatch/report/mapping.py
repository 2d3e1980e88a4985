"""The one table that maps node log events and fields to the report's figures.

Everything the report reads from the JSON lines is named here and nowhere else: when a node renames an
event or a field, the fix is one line in this module. The rest of the report only sees *facts* (a role's
event, with its fields under stable logical names) and the figures declared below.

Clock discipline: a :class:`Hop` is an interval measured by one node on its own clock and logged by it, so
clock skew never enters it. A :class:`CrossHop` subtracts timestamps taken by two different nodes; it is
reported separately and always labelled *cross-clock*.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Node roles, found from the node name (``camera-cam1``, ``edge``, ``cloud``, ``alarm-alarm1`` ...):
#: the first name part that is one of these keys gives the role.
ROLE_NAMES: dict[str, str] = {
    "camera": "camera",
    "cam": "camera",
    "edge": "edge",
    "cloud": "cloud",
    "alarm": "alarm",
    "wan": "wan",
}

#: Roles whose absence the report flags; ``wan`` (the link shaper of edgewatch.sim.wan) is optional.
ROLES: tuple[str, ...] = ("camera", "edge", "cloud", "alarm")

#: Keys every line has (foundation: telemetry/logs.py).
TIME_KEY = "t"
NODE_KEY = "node"
EVENT_KEY = "event"
TRACE_KEY = "trace_id"


@dataclass(frozen=True)
class Fact:
    """One event logged by one role; ``fields`` maps logical names (used by the report) to log keys."""

    role: str
    event: str
    fields: dict[str, str] = field(default_factory=dict)


#: fact name -> where it is logged and which of its fields the report reads.
FACTS: dict[str, Fact] = {
    # camera node (camera clock)
    "frame_sent": Fact("camera", "frame_sent", {"camera": "camera_id", "captured_at": "captured_at"}),
    "frame_acked": Fact(
        "camera", "frame_acked", {"camera": "camera_id", "rtt_ms": "rtt_ms", "status": "status"}
    ),
    "camera_drop": Fact("camera", "frame_dropped", {"camera": "camera_id", "reason": "reason"}),
    # edge (edge clock)
    "frame_received": Fact(
        "edge", "frame_received", {"camera": "camera_id", "captured_at": "captured_at", "site": "site_id"}
    ),
    "edge_drop": Fact("edge", "frame_dropped", {"camera": "camera_id", "reason": "reason"}),
    "frame_processed": Fact(
        "edge",
        "frame_processed",
        {"camera": "camera_id", "queue_ms": "queue_ms", "inference_ms": "inference_ms", "persons": "persons"},
    ),
    "track_started": Fact("edge", "track_started", {"camera": "camera_id", "track": "track_id", "site": "site_id"}),
    "cloud_request": Fact(
        "edge",
        "cloud_request",
        {
            "camera": "camera_id",
            "track": "track_id",
            "verdict": "verdict",
            "ms": "ms",
            "cloud_ms": "cloud_ms",
        },
    ),
    "cloud_failed": Fact(
        "edge",
        "cloud_request_failed",
        {"camera": "camera_id", "track": "track_id", "error": "error", "ms": "ms"},
    ),
    "track_decided": Fact(
        "edge",
        "track_decided",
        {"camera": "camera_id", "track": "track_id", "state": "state", "requests": "requests"},
    ),
    "alarm_raised": Fact(
        "edge",
        "alarm_raised",
        {"event_id": "event_id", "camera": "camera_id", "track": "track_id", "reason": "reason", "site": "site_id",
         "detail": "detail"},
    ),
    "alarm_acked": Fact(
        "edge", "alarm_acked", {"event_id": "event_id", "alarm_node": "node_id", "delivery_ms": "delivery_ms"}
    ),
    # cloud (cloud clock)
    "identify": Fact("cloud", "identify", {"verdict": "verdict", "ms": "elapsed_ms", "backend": "backend"}),
    # alarm node (alarm node clock)
    "alarm_received": Fact(
        "alarm", "alarm_received",
        {"event_id": "event_id", "camera": "camera_id", "reason": "reason", "site": "site_id"},
    ),
    # the settings each node logs when it starts (the report's "run settings")
    "edge_started": Fact(
        "edge", "edge_started",
        {"sites": "sites", "cameras": "cameras", "workers": "workers", "detector": "detector",
         "input_size": "input_size"},
    ),
    "camera_started": Fact(
        "camera", "camera_started",
        {"source": "source", "fps": "fps", "max_width": "max_width", "jpeg_quality": "jpeg_quality"},
    ),
    "cloud_ready": Fact("cloud", "cloud_ready", {"backend": "backend", "threshold": "threshold"}),
    # WAN link shaper (edgewatch wan): the configured conditions and what it really held chunks for
    "wan_link": Fact(
        "wan", "wan_link", {"link": "link", "text": "text", "delay_ms": "delay_ms", "jitter_ms": "jitter_ms"}
    ),
    "wan_stats": Fact("wan", "wan_stats", {"link": "link", "upstream": "upstream", "downstream": "downstream"}),
}

#: The latency figures a shaped link adds to (keys of HOPS / CROSS_HOPS), shown beside its conditions.
WAN_AFFECTS: dict[str, tuple[str, ...]] = {
    "edge-cloud": ("cloud_round_trip", "camera_to_verdict", "camera_to_alarm"),
    "camera-edge": ("camera_rtt", "camera_to_edge", "camera_to_verdict"),
}


@dataclass(frozen=True)
class Hop:
    """A per-hop interval in milliseconds, measured and logged by ``FACTS[fact].role`` on its own clock."""

    key: str
    title: str
    fact: str
    value: str  # logical field name in FACTS[fact].fields


@dataclass(frozen=True)
class Stamp:
    """An epoch-seconds timestamp: a fact's ``t`` (``value=None``) or one of its fields, e.g. captured_at."""

    fact: str
    value: str | None = None
    clock: str | None = None  # whose clock took it; default: the role that logs the fact

    @property
    def clock_role(self) -> str:
        return self.clock or FACTS[self.fact].role


@dataclass(frozen=True)
class CrossHop:
    """``end - start`` in ms for the same trace id, where start and end come from different nodes' clocks.

    ``start`` lists alternatives tried in order (e.g. captured_at from the camera's log, else the copy the
    edge logged on receipt: both are camera-clock values).
    """

    key: str
    title: str
    start: tuple[Stamp, ...]
    end: Stamp


HOPS: tuple[Hop, ...] = (
    Hop("camera_rtt", "camera round trip (camera)", "frame_acked", "rtt_ms"),
    Hop("edge_queue", "edge queue wait (edge)", "frame_processed", "queue_ms"),
    Hop("detection", "detection / inference (edge)", "frame_processed", "inference_ms"),
    Hop("cloud_round_trip", "cloud round trip (edge)", "cloud_request", "ms"),
    Hop("cloud_identify", "cloud identify (cloud)", "identify", "ms"),
    Hop("alarm_delivery", "alarm delivery (edge)", "alarm_acked", "delivery_ms"),
)

CROSS_HOPS: tuple[CrossHop, ...] = (
    CrossHop(
        "camera_to_edge", "camera → edge (cross-clock)", (Stamp("frame_sent"),), Stamp("frame_received")
    ),
    CrossHop(
        "camera_to_verdict",
        "camera → verdict (cross-clock)",
        (Stamp("frame_sent", "captured_at"), Stamp("frame_received", "captured_at", clock="camera")),
        Stamp("cloud_request"),
    ),
    CrossHop(
        "camera_to_alarm",
        "camera → alarm (cross-clock)",
        (Stamp("frame_sent", "captured_at"), Stamp("frame_received", "captured_at", clock="camera")),
        Stamp("alarm_received"),
    ),
)


def role_of(node: str) -> str | None:
    """The role named by a node name such as ``camera-cam1`` or ``alarm_alarm1``; None when unknown."""
    for part in node.lower().replace("_", "-").replace(".", "-").split("-"):
        if part in ROLE_NAMES:
            return ROLE_NAMES[part]
    return None


def facts_by_event() -> dict[str, list[tuple[str, Fact]]]:
    """event name -> the facts logged under it (``frame_dropped`` is one per role)."""
    table: dict[str, list[tuple[str, Fact]]] = {}
    for name, fact in FACTS.items():
        table.setdefault(fact.event, []).append((name, fact))
    return table
