"""The short end-of-demo summary: a compact view of the figures `edgewatch report` computes from the logs.

One analysis serves both (edgewatch.report.analysis), so the demo, the benchmark and the report always
agree on what a frame, a drop, a request per track or a latency is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgewatch.report.analysis import analyse
from edgewatch.report.loader import load_logs

#: summary name -> (section of the report's latency figures, figure key)
LATENCIES: dict[str, tuple[str, str]] = {
    "camera_rtt": ("per_hop", "camera_rtt"),
    "edge_queue": ("per_hop", "edge_queue"),
    "detection": ("per_hop", "detection"),
    "cloud_round_trip": ("per_hop", "cloud_round_trip"),
    "camera_to_alarm": ("cross_clock", "camera_to_alarm"),
}


def _percentiles(figure: dict[str, Any] | None) -> dict[str, float] | None:
    if not figure or not figure.get("n"):
        return None
    return {"n": figure["n"], "p50": round(figure["p50"], 1), "p90": round(figure["p90"], 1),
            "p99": round(figure["p99"], 1)}


def summarise(log_dir: Path) -> dict[str, Any]:
    report = analyse(load_logs(log_dir)).summary
    frames, drops, cloud, alarms = report["frames"], report["drops"], report["cloud"], report["alarms"]
    span = report["throughput"].get("span_s") or 0.0
    processed = frames["totals"]["processed"]
    per_track = cloud["requests_per_track"]
    return {
        "frames_sent": frames["totals"]["sent"],
        "frames_processed": processed,
        "frames_dropped": drops["totals"]["edge_side"],
        "frames_dropped_camera": drops["totals"]["camera_side"],
        "frames_with_persons": frames["totals"]["with_persons"],
        "edge_fps": round((processed - 1) / span, 2) if span > 0 else 0.0,
        "tracks": report["tracks"]["started"],
        "tracks_decided": report["tracks"]["decided"],
        "cloud_requests": cloud["requests"],
        "cloud_failures": cloud["failures"],
        "cloud_requests_per_track_max": per_track["max"] or 0,
        "cloud_requests_per_track_mean": per_track["mean"] or 0.0,
        "alarms_raised": alarms["by_reason"],
        "alarms_received": alarms["received_events"],
        "alarms_acked": alarms["acked"],
        "latency_ms": {
            name: _percentiles(report["latency_ms"][section].get(key)) for name, (section, key) in LATENCIES.items()
        },
    }


def format_summary(summary: dict[str, Any]) -> str:
    decided = ", ".join(f"{k} {v}" for k, v in summary["tracks_decided"].items()) or "none decided"
    lines = [
        "summary",
        (f"  frames: {summary['frames_sent']} sent, {summary['frames_processed']} processed, "
         f"{summary['frames_dropped']} dropped at the edge, {summary['frames_dropped_camera']} at the cameras, "
         f"{summary['frames_with_persons']} with persons; edge throughput {summary['edge_fps']} frames/s"),
        f"  tracks: {summary['tracks']} ({decided})",
        (f"  cloud requests: {summary['cloud_requests']} answered, {summary['cloud_failures']} failed, "
         f"{summary['cloud_requests_per_track_mean']} per track on average, "
         f"at most {summary['cloud_requests_per_track_max']}"),
        (f"  alarms: raised {summary['alarms_raised'] or 'none'}, received {summary['alarms_received']}, "
         f"acknowledged {summary['alarms_acked']}"),
        "  latency (ms, p50 / p90 / p99):",
    ]
    for name, figures in summary["latency_ms"].items():
        text = "no data" if figures is None else f"{figures['p50']} / {figures['p90']} / {figures['p99']} (n={figures['n']})"
        lines.append(f"    {name:<17} {text}")
    return "\n".join(lines)
