"""The run as a person reads it first: its settings (what each node logged when it started), its alarms one
by one, and a headline of the figures that matter. Computed from the loaded logs, like every other figure."""

from __future__ import annotations

import math
import re
from typing import Any

from edgewatch.report.loader import LoadedLogs

#: Alarms listed one by one at most (a runaway run keeps its page readable; the counts stay complete).
MAX_ALARM_ROWS = 200

_SIMILARITY = re.compile(r"similarity\s+(-?\d+(?:\.\d+)?)")
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def redact_url(text: Any) -> Any:
    """``rtsp://user:secret@cam/stream`` → ``rtsp://***@cam/stream``: sources may carry credentials."""
    return _USERINFO.sub("***@", text) if isinstance(text, str) else text


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return redact_url(value)


def settings(logs: LoadedLogs) -> dict[str, list[dict[str, Any]]]:
    """Each node's start-up settings, the latest start per node (a restarted node counts once)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for fact, key in (("edge_started", "edges"), ("camera_started", "cameras"), ("cloud_ready", "clouds")):
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for record in sorted(logs.of(fact), key=lambda r: r.t or 0.0):
            latest[(record.origin, record.node)] = {
                "node": record.node, **{k: _clean(v) for k, v in sorted(record.values.items())}
            }
        out[key] = sorted(latest.values(), key=lambda e: e["node"])
    return out


def alarm_rows(logs: LoadedLogs) -> list[dict[str, Any]]:
    """Every alarm the edge raised (newest last, at most :data:`MAX_ALARM_ROWS`), with who received it,
    whether it was acknowledged and the similarity its detail names."""
    received: dict[str, list[str]] = {}
    for record in logs.of("alarm_received"):
        event_id = str(record.values.get("event_id"))
        received.setdefault(event_id, [])
        if record.node not in received[event_id]:
            received[event_id].append(record.node)
    acked = {str(r.values.get("event_id")) for r in logs.of("alarm_acked")}
    rows = []
    for record in sorted(logs.of("alarm_raised"), key=lambda r: r.t or 0.0):
        event_id = str(record.values.get("event_id"))
        detail = str(record.values.get("detail") or "")
        match = _SIMILARITY.search(detail)
        rows.append({
            "t": record.t,
            "event_id": event_id,
            "site": record.values.get("site"),
            "camera": record.values.get("camera"),
            "track": record.values.get("track"),
            "reason": record.values.get("reason"),
            "similarity": float(match[1]) if match else None,
            "detail": detail,
            "received_by": received.get(event_id, []),
            "acked": event_id in acked,
        })
    return rows[-MAX_ALARM_ROWS:]


def headline(summary: dict[str, Any]) -> dict[str, Any]:
    """The handful of figures at the top of the page, and one sentence about the alarms."""
    frames, alarms, tracks = summary["frames"], summary["alarms"], summary["tracks"]
    drops = summary["drops"]["totals"]
    per_hop, cross = summary["latency_ms"]["per_hop"], summary["latency_ms"]["cross_clock"]
    cameras = sorted({*frames["sent"], *frames["processed"]})
    raised, delivered, acked = alarms["raised"], alarms["received_events"], alarms["acked"]
    if not raised:
        sentence = "No alarm was raised."
    elif delivered >= raised and acked >= raised:
        sentence = f"{raised} alarm(s) raised; every one reached an alarm node and was acknowledged."
    else:
        sentence = (f"{raised} alarm(s) raised, {delivered} reached an alarm node, {acked} acknowledged: "
                    "check the alarm nodes.")
    return {
        "span_s": summary["throughput"].get("span_s"),
        "cameras": len(cameras),
        "sites": summary["input"].get("sites", []),
        "frames_sent": frames["totals"]["sent"],
        "frames_processed": frames["totals"]["processed"],
        "frames_dropped": drops["camera_side"] + drops["edge_side"],
        "tracks": tracks["started"],
        "decided": tracks["decided"],
        "alarms_raised": raised,
        "alarms_by_reason": alarms["by_reason"],
        "detection_p50_ms": per_hop["detection"].get("p50"),
        "cloud_round_trip_p50_ms": per_hop["cloud_round_trip"].get("p50"),
        "camera_to_verdict_p50_ms": cross["camera_to_verdict"].get("p50"),
        "alarms_sentence": sentence,
    }
