"""The short end-of-demo summary, computed from the run's JSON logs (``edgewatch report`` goes further)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np


def _events(log_dir: Path) -> list[dict[str, Any]]:
    events = []
    for path in sorted(log_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


def _percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    p50, p90, p99 = np.percentile(np.asarray(values, dtype=float), [50, 90, 99])
    return {"n": len(values), "p50": round(float(p50), 1), "p90": round(float(p90), 1), "p99": round(float(p99), 1)}


def summarise(log_dir: Path) -> dict[str, Any]:
    events = _events(log_dir)
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_name[str(event.get("event"))].append(event)
    requests_per_track = Counter(
        (e.get("camera_id"), e.get("track_id")) for e in by_name["cloud_request"] + by_name["cloud_request_failed"]
    )
    captured = {e.get("trace_id"): e.get("captured_at") for e in by_name["frame_sent"]}
    camera_to_alarm = [
        (e["t"] - captured[e["trace_id"]]) * 1000
        for e in by_name["alarm_received"]
        if captured.get(e.get("trace_id")) and "t" in e
    ]
    decided = Counter(str(e.get("state")) for e in by_name["track_decided"])
    processed_at = [e["t"] for e in by_name["frame_processed"] if "t" in e]
    span = (max(processed_at) - min(processed_at)) if len(processed_at) > 1 else 0.0
    drops = by_name["frame_dropped"]
    return {
        "frames_sent": len(by_name["frame_sent"]),
        "frames_processed": len(by_name["frame_processed"]),
        "frames_dropped": sum(1 for e in drops if str(e.get("node", "")).startswith("edge")),
        "frames_dropped_camera": sum(1 for e in drops if not str(e.get("node", "")).startswith("edge")),
        "edge_fps": round((len(processed_at) - 1) / span, 2) if span > 0 else 0.0,
        "frames_with_persons": sum(1 for e in by_name["frame_processed"] if e.get("persons")),
        "tracks": len(by_name["track_started"]),
        "tracks_decided": dict(decided),
        "cloud_requests": len(by_name["cloud_request"]),
        "cloud_failures": len(by_name["cloud_request_failed"]),
        "cloud_requests_per_track_max": max(requests_per_track.values(), default=0),
        "cloud_requests_per_track_mean": (
            round(sum(requests_per_track.values()) / len(requests_per_track), 2) if requests_per_track else 0.0
        ),
        "alarms_raised": dict(Counter(str(e.get("reason")) for e in by_name["alarm_raised"])),
        "alarms_received": len({e.get("event_id") for e in by_name["alarm_received"]}),
        "alarms_acked": len(by_name["alarm_acked"]),
        "latency_ms": {
            "camera_rtt": _percentiles([e["rtt_ms"] for e in by_name["frame_acked"] if "rtt_ms" in e]),
            "edge_queue": _percentiles([e["queue_ms"] for e in by_name["frame_processed"] if "queue_ms" in e]),
            "detection": _percentiles([e["inference_ms"] for e in by_name["frame_processed"] if "inference_ms" in e]),
            "cloud_round_trip": _percentiles([e["ms"] for e in by_name["cloud_request"] if "ms" in e]),
            "camera_to_alarm": _percentiles(camera_to_alarm),
        },
    }


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        "summary",
        f"  frames: {summary['frames_sent']} sent, {summary['frames_processed']} processed, "
        f"{summary['frames_dropped']} dropped at the edge, {summary['frames_dropped_camera']} at the cameras, "
        f"{summary['frames_with_persons']} with persons; edge throughput {summary['edge_fps']} frames/s",
        f"  tracks: {summary['tracks']} ({', '.join(f'{k} {v}' for k, v in summary['tracks_decided'].items()) or 'none decided'})",
        f"  cloud requests: {summary['cloud_requests']} answered, {summary['cloud_failures']} failed, "
        f"{summary['cloud_requests_per_track_mean']} per asked track on average, "
        f"at most {summary['cloud_requests_per_track_max']}",
        f"  alarms: raised {summary['alarms_raised'] or 'none'}, received {summary['alarms_received']}, "
        f"acknowledged {summary['alarms_acked']}",
        "  latency (ms, p50 / p90 / p99):",
    ]
    for name, figures in summary["latency_ms"].items():
        text = "no data" if figures is None else f"{figures['p50']} / {figures['p90']} / {figures['p99']} (n={figures['n']})"
        lines.append(f"    {name:<17} {text}")
    return "\n".join(lines)
