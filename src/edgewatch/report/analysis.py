"""Turn loaded facts into the report's figures: latency distributions, counts, throughput, alarms.

Per-hop figures come from intervals one node measured on its own clock; cross-clock figures subtract two
nodes' timestamps and are kept apart (``latency_ms.cross_clock``) so skew never pollutes a per-hop figure.
Whatever cannot be computed is listed in ``missing`` with the reason, rather than shown as zero.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgewatch.report import mapping, run_facts
from edgewatch.report.loader import LoadedLogs, Record
from edgewatch.report.sites import qualify_cameras

#: Longest throughput series kept; longer runs use wider buckets (still reported as frames per second).
MAX_BUCKETS = 600

#: What is lost when a role's logs are absent (latency figures say so themselves, hop by hop).
_ROLE_LOSSES: dict[str, str] = {
    "camera": "frames sent and camera-side drops",
    "edge": "throughput, detection ratio, edge-side drops, tracks, cloud requests per track and alarms raised",
    "cloud": "cloud verdicts and identify backends",
    "alarm": "alarms received by alarm nodes",
}


@dataclass
class Analysis:
    """``summary`` is what goes to summary.json; the rest are the raw series the plots draw."""

    summary: dict[str, Any]
    hop_samples: dict[str, list[float]] = field(default_factory=dict)
    cross_samples: dict[str, list[float]] = field(default_factory=dict)
    throughput: dict[str, list[float]] = field(default_factory=dict)
    throughput_bucket_s: float = 1.0
    timeline: list[dict[str, Any]] = field(default_factory=list)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _r(value: float) -> float:
    return round(float(value), 3)


def distribution(values: list[float]) -> dict[str, Any]:
    """Count, p50/p90/p99 (linear interpolation), mean, min and max of ``values``."""
    if not values:
        return {"n": 0}
    arr = np.asarray(values, dtype=float)
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {
        "n": int(arr.size),
        "p50": _r(p50),
        "p90": _r(p90),
        "p99": _r(p99),
        "mean": _r(arr.mean()),
        "min": _r(arr.min()),
        "max": _r(arr.max()),
    }


def _key(value: Any) -> str:
    return "unknown" if value is None else str(value)


def _unavailable(logs: LoadedLogs, fact_name: str, value: str | None, title: str) -> str:
    fact = mapping.FACTS[fact_name]
    if fact.role not in logs.roles_present:
        return f"no {fact.role} logs: {title} unavailable"
    if not logs.of(fact_name):
        return f"{fact.role} logs have no '{fact.event}' events: {title} unavailable"
    key = fact.fields.get(value or "", mapping.TIME_KEY)
    return f"'{fact.event}' events lack a numeric '{key}': {title} unavailable"


def _hops(logs: LoadedLogs, missing: list[str]) -> tuple[dict[str, Any], dict[str, list[float]]]:
    figures: dict[str, Any] = {}
    samples: dict[str, list[float]] = {}
    for hop in mapping.HOPS:
        fact = mapping.FACTS[hop.fact]
        values = [v for r in logs.of(hop.fact) if (v := _num(r.values.get(hop.value))) is not None]
        entry = {
            "title": hop.title,
            "measured_by": fact.role,
            "clock": fact.role,
            "source": f"{fact.event}.{fact.fields[hop.value]}",
            **distribution(values),
        }
        if not values:
            entry["unavailable"] = _unavailable(logs, hop.fact, hop.value, hop.title)
            missing.append(entry["unavailable"])
        figures[hop.key] = entry
        samples[hop.key] = values
    return figures, samples


def _stamp(record: Record, stamp: mapping.Stamp) -> float | None:
    return record.t if stamp.value is None else _num(record.values.get(stamp.value))


def _cross_hops(logs: LoadedLogs, missing: list[str]) -> tuple[dict[str, Any], dict[str, list[float]]]:
    figures: dict[str, Any] = {}
    samples: dict[str, list[float]] = {}
    for hop in mapping.CROSS_HOPS:
        starts: dict[str, float] = {}
        for stamp in hop.start:  # alternatives in order: the first source that has a trace wins
            for record in logs.of(stamp.fact):
                value = _stamp(record, stamp)
                if record.trace_id and value is not None:
                    starts.setdefault(record.trace_id, value)
        ends: dict[tuple[str, str], float] = {}  # (trace, measuring node) -> earliest end
        for record in logs.of(hop.end.fact):
            value = _stamp(record, hop.end)
            if record.trace_id in starts and value is not None:
                key = (record.trace_id, record.node)
                ends[key] = min(value, ends.get(key, value))
        values = [(end - starts[trace]) * 1000.0 for (trace, _node), end in ends.items()]
        clocks = list(dict.fromkeys([*(s.clock_role for s in hop.start), hop.end.clock_role]))
        entry = {
            "title": hop.title,
            "clocks": clocks,
            "cross_clock": True,
            "source": " / ".join(f"{mapping.FACTS[s.fact].event}.{s.value or 't'}" for s in hop.start)
            + f" → {mapping.FACTS[hop.end.fact].event}.{hop.end.value or 't'}",
            **distribution(values),
        }
        if not values:
            if not starts:
                first = hop.start[0]
                reason = _unavailable(logs, first.fact, first.value, hop.title)
            elif not logs.of(hop.end.fact):
                reason = _unavailable(logs, hop.end.fact, hop.end.value, hop.title)
            else:
                reason = f"no trace id appears at both ends: {hop.title} unavailable"
            entry["unavailable"] = reason
            missing.append(reason)
        figures[hop.key] = entry
        samples[hop.key] = values
    return figures, samples


def _person_count(value: Any) -> float:
    """``persons`` as a count, or as the list of detections a node might log instead."""
    if isinstance(value, (list, tuple)):
        return len(value)
    return _num(value) or 0


def _per_camera(records: list[Record]) -> dict[str, int]:
    return dict(sorted(Counter(_key(r.values.get("camera")) for r in records).items()))


def _frames(logs: LoadedLogs) -> dict[str, Any]:
    processed = logs.of("frame_processed")
    with_persons = [r for r in processed if _person_count(r.values.get("persons")) > 0]
    per_processed = _per_camera(processed)
    per_persons = _per_camera(with_persons)
    return {
        "sent": _per_camera(logs.of("frame_sent")),
        "received": _per_camera(logs.of("frame_received")),
        "processed": per_processed,
        "with_persons": per_persons,
        "detection_ratio": _r(len(with_persons) / len(processed)) if processed else None,
        "detection_ratio_per_camera": {
            cam: _r(per_persons.get(cam, 0) / n) for cam, n in per_processed.items()
        },
        "totals": {
            "sent": len(logs.of("frame_sent")),
            "received": len(logs.of("frame_received")),
            "processed": len(processed),
            "with_persons": len(with_persons),
        },
    }


def _drops(logs: LoadedLogs) -> dict[str, Any]:
    camera = logs.of("camera_drop")
    edge = logs.of("edge_drop")
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for record in camera:
        reasons[_key(record.values.get("camera"))][_key(record.values.get("reason"))] += 1
    return {
        "camera_side": _per_camera(camera),
        "edge_side": _per_camera(edge),
        "camera_side_reasons": {cam: dict(c) for cam, c in sorted(reasons.items())},
        "totals": {"camera_side": len(camera), "edge_side": len(edge)},
    }


def _throughput(logs: LoadedLogs) -> tuple[dict[str, Any], dict[str, list[float]], float]:
    stamped = [(r.t, _key(r.values.get("camera"))) for r in logs.of("frame_processed") if r.t is not None]
    if not stamped:
        return {"bucket_s": None, "per_camera": {}}, {}, 1.0
    t0 = min(t for t, _ in stamped)
    span = max(t for t, _ in stamped) - t0
    bucket = 1.0 if span < MAX_BUCKETS else float(math.ceil((span + 1) / MAX_BUCKETS))
    buckets = int(span // bucket) + 1
    counts: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(buckets))
    for t, cam in stamped:
        counts[cam][int((t - t0) // bucket)] += 1
    series = {cam: (arr / bucket).tolist() for cam, arr in sorted(counts.items())}
    per_camera = {
        cam: {
            "frames": int(counts[cam].sum()),
            "mean_fps": _r(counts[cam].sum() / (buckets * bucket)),
            "peak_fps": _r(max(values)),
        }
        for cam, values in series.items()
    }
    return (
        {"bucket_s": bucket, "start_t": t0, "span_s": _r(span), "clock": "edge", "per_camera": per_camera},
        series,
        bucket,
    )


def _cloud(logs: LoadedLogs) -> dict[str, Any]:
    per_track: dict[tuple[str, str], int] = {}
    for record in logs.of("track_started"):
        per_track.setdefault((_key(record.values.get("camera")), _key(record.values.get("track"))), 0)
    counted: Counter[tuple[str, str]] = Counter()
    for record in logs.of("cloud_request") + logs.of("cloud_failed"):
        if record.values.get("track") is not None:
            counted[(_key(record.values.get("camera")), _key(record.values.get("track")))] += 1
    for key, n in counted.items():
        per_track[key] = max(per_track.get(key, 0), n)
    for record in logs.of("track_decided"):  # the edge's own tally, when it logs one, is authoritative
        n = _num(record.values.get("requests"))
        key = (_key(record.values.get("camera")), _key(record.values.get("track")))
        if n is not None:
            per_track[key] = max(per_track.get(key, 0), int(n))
    values = list(per_track.values())
    return {
        "requests": len(logs.of("cloud_request")),
        "failures": len(logs.of("cloud_failed")),
        "failure_errors": dict(
            Counter(_key(r.values.get("error")) for r in logs.of("cloud_failed")).most_common(10)
        ),
        "requests_per_track": {
            "tracks": len(values),
            "max": max(values) if values else None,
            "mean": _r(sum(values) / len(values)) if values else None,
            "distribution": {str(k): v for k, v in sorted(Counter(values).items())},
        },
        "verdicts_edge": dict(Counter(_key(r.values.get("verdict")) for r in logs.of("cloud_request"))),
        "verdicts_cloud": dict(Counter(_key(r.values.get("verdict")) for r in logs.of("identify"))),
        "identify_backends": dict(Counter(_key(r.values.get("backend")) for r in logs.of("identify"))),
    }


def _tracks(logs: LoadedLogs) -> dict[str, Any]:
    return {
        "started": len(logs.of("track_started")),
        "decided": dict(Counter(_key(r.values.get("state")) for r in logs.of("track_decided"))),
    }


def _alarms(logs: LoadedLogs) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    raised = logs.of("alarm_raised")
    received = logs.of("alarm_received")
    deliveries = {(_key(r.values.get("event_id")), r.node) for r in received}
    source = raised or received
    timeline = sorted(
        (
            {
                "t": r.t,
                "camera_id": _key(r.values.get("camera")),
                "reason": _key(r.values.get("reason")),
                "event_id": r.values.get("event_id"),
                "node": r.node,
            }
            for r in source
            if r.t is not None
        ),
        key=lambda item: item["t"],
    )
    summary = {
        "raised": len(raised),
        "by_reason": dict(Counter(_key(r.values.get("reason")) for r in raised)),
        "by_camera": _per_camera(raised),
        "received": len(deliveries),
        "received_events": len({e for e, _ in deliveries}),
        "received_by_node": dict(Counter(node for _, node in deliveries)),
        "received_by_reason": dict(Counter(_key(r.values.get("reason")) for r in received)),
        "acked": len(logs.of("alarm_acked")),
        "timeline_clock": "edge" if raised else ("alarm" if received else None),
    }
    return summary, timeline


def _wan(logs: LoadedLogs, latency: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each shaped link: its configured conditions, how long the proxy really held chunks (its last
    ``wan_stats``), and the p50 of the latency figures the link adds to, side by side."""
    links: dict[tuple[str, str], dict[str, Any]] = {}
    for record in logs.of("wan_link"):
        link = _key(record.values.get("link"))
        links[(record.node, link)] = {
            "link": link,
            "node": record.node,
            "configured": record.values.get("text"),
            "delay_ms": _num(record.values.get("delay_ms")),
            "jitter_ms": _num(record.values.get("jitter_ms")),
            "held_upstream": None,
            "held_downstream": None,
        }
    for record in sorted(logs.of("wan_stats"), key=lambda r: r.t or 0.0):
        entry = links.get((record.node, _key(record.values.get("link"))))
        if entry is not None:
            entry["held_upstream"] = record.values.get("upstream")
            entry["held_downstream"] = record.values.get("downstream")
    measured = {**latency["per_hop"], **latency["cross_clock"]}
    for entry in links.values():
        entry["measured_p50_ms"] = {
            key: measured[key].get("p50") for key in mapping.WAN_AFFECTS.get(entry["link"], ()) if key in measured
        }
    return sorted(links.values(), key=lambda e: (e["link"], e["node"]))


def analyse(logs: LoadedLogs) -> Analysis:
    """All figures of the report from ``logs``; never raises on partial or odd data.

    With more than one site in the logs, cameras are keyed ``site/camera`` (see :mod:`edgewatch.report.sites`).
    """
    sites = qualify_cameras(logs)
    missing: list[str] = [
        f"no {role} logs: {loss} unavailable"
        for role, loss in _ROLE_LOSSES.items()
        if role not in logs.roles_present
    ]
    hop_figures, hop_samples = _hops(logs, missing)
    cross_figures, cross_samples = _cross_hops(logs, missing)
    throughput, series, bucket = _throughput(logs)
    alarms, timeline = _alarms(logs)
    summary: dict[str, Any] = {
        "input": {
            "files": [
                {
                    "path": f.path,
                    "lines": f.lines,
                    "used": f.used,
                    "malformed": f.malformed,
                    "nodes": sorted(f.nodes),
                }
                for f in logs.files
            ],
            "lines": sum(f.lines for f in logs.files),
            "malformed_lines": logs.malformed_lines,
            "nodes": {node: role for node, role in sorted(logs.node_roles.items())},
            "roles_present": sorted(logs.roles_present),
            "roles_missing": [r for r in mapping.ROLES if r not in logs.roles_present],
            "unknown_events": dict(logs.unknown_events.most_common(30)),
            "sites": sorted(sites),
        },
        "missing": missing,
        "latency_ms": {"per_hop": hop_figures, "cross_clock": cross_figures},
        "frames": _frames(logs),
        "drops": _drops(logs),
        "throughput": throughput,
        "tracks": _tracks(logs),
        "cloud": _cloud(logs),
        "alarms": alarms,
        "wan": _wan(logs, {"per_hop": hop_figures, "cross_clock": cross_figures}),
        "settings": run_facts.settings(logs),
        "alarm_list": run_facts.alarm_rows(logs),
    }
    summary["headline"] = run_facts.headline(summary)
    return Analysis(
        summary=summary,
        hop_samples=hop_samples,
        cross_samples=cross_samples,
        throughput=series,
        throughput_bucket_s=bucket,
        timeline=timeline,
    )
