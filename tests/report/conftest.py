"""Recorded JSON lines with known timestamps, shaped like the nodes' logs (helpers for tests/report)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def write_log(path: Path, node: str, events: list[dict[str, Any] | str]) -> Path:
    """One JSON line per dict (``node``, ``level``, ``ts`` added); strings are written verbatim."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for event in events:
        if isinstance(event, str):
            lines.append(event)
        else:
            lines.append(json.dumps({"ts": "2024-01-01T00:00:00Z", "node": node, "level": "info", **event}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def camera_logs(log_dir: Path, skew: float = 0.0) -> None:
    """Two cameras; ``skew`` seconds are added to every camera-clock value."""
    c = skew
    write_log(
        log_dir / "camera-cam1.jsonl",
        "camera-cam1",
        [
            {
                "t": 1000.000 + c,
                "event": "frame_sent",
                "trace_id": "A",
                "camera_id": "cam1",
                "site_id": "s1",
                "seq": 1,
                "captured_at": 999.990 + c,
            },
            {
                "t": 1001.000 + c,
                "event": "frame_sent",
                "trace_id": "B",
                "camera_id": "cam1",
                "site_id": "s1",
                "seq": 2,
                "captured_at": 1000.990 + c,
            },
            {
                "t": 1000.040 + c,
                "event": "frame_acked",
                "trace_id": "A",
                "camera_id": "cam1",
                "rtt_ms": 40.0,
                "status": "ok",
                "queue_ms": 5.0,
                "inference_ms": 20.0,
            },
            "{this line is not json",
            {
                "t": 1001.060 + c,
                "event": "frame_acked",
                "trace_id": "B",
                "camera_id": "cam1",
                "rtt_ms": 60.0,
                "status": "ok",
            },
            {
                "t": 1001.500 + c,
                "event": "frame_dropped",
                "trace_id": "C",
                "camera_id": "cam1",
                "reason": "backlog",
            },
            {"t": 1001.600 + c, "event": "camera_reconnected", "attempt": 1},
        ],
    )
    write_log(
        log_dir / "camera-cam2.jsonl",
        "camera-cam2",
        [
            {
                "t": 1000.500 + c,
                "event": "frame_sent",
                "trace_id": "D",
                "camera_id": "cam2",
                "site_id": "s1",
                "seq": 1,
                "captured_at": 1000.500 + c,
            },
            {
                "t": 1000.550 + c,
                "event": "frame_acked",
                "trace_id": "D",
                "camera_id": "cam2",
                "rtt_ms": 50.0,
                "status": "ok",
            },
            {
                "t": 1000.700 + c,
                "event": "frame_sent",
                "trace_id": "E",
                "camera_id": "cam2",
                "site_id": "s1",
                "seq": 2,
                "captured_at": 1000.700 + c,
            },
        ],
    )


def edge_log(log_dir: Path) -> None:
    write_log(
        log_dir / "edge.jsonl",
        "edge",
        [
            {
                "t": 1000.030,
                "event": "frame_received",
                "trace_id": "A",
                "camera_id": "cam1",
                "seq": 1,
                "captured_at": 999.990,
            },
            {
                "t": 1000.520,
                "event": "frame_received",
                "trace_id": "D",
                "camera_id": "cam2",
                "seq": 1,
                "captured_at": 1000.500,
            },
            {
                "t": 1000.060,
                "event": "frame_processed",
                "trace_id": "A",
                "camera_id": "cam1",
                "queue_ms": 5.0,
                "inference_ms": 20.0,
                "persons": 1,
            },
            {"t": 1000.060, "event": "track_started", "trace_id": "A", "camera_id": "cam1", "track_id": 1},
            {"t": 1000.550, "event": "frame_processed", "trace_id": "D", "camera_id": "cam2", "persons": 2},
            {"t": 1000.550, "event": "track_started", "trace_id": "D", "camera_id": "cam2", "track_id": 1},
            {
                "t": 1000.300,
                "event": "cloud_request",
                "trace_id": "A",
                "camera_id": "cam1",
                "track_id": 1,
                "verdict": "intruder",
                "ms": 120.0,
                "cloud_ms": 80.0,
            },
            {
                "t": 1000.400,
                "event": "alarm_raised",
                "event_id": "ev1",
                "trace_id": "A",
                "site_id": "s1",
                "camera_id": "cam1",
                "track_id": 1,
                "reason": "intruder",
            },
            {
                "t": 1000.420,
                "event": "alarm_acked",
                "event_id": "ev1",
                "node_id": "alarm1",
                "delivery_ms": 12.5,
            },
            {
                "t": 1000.710,
                "event": "frame_received",
                "trace_id": "E",
                "camera_id": "cam2",
                "seq": 2,
                "captured_at": 1000.700,
            },
            {"t": 1000.720, "event": "frame_dropped", "trace_id": "E", "camera_id": "cam2"},
            {
                "t": 1001.050,
                "event": "frame_received",
                "trace_id": "B",
                "camera_id": "cam1",
                "seq": 2,
                "captured_at": 1000.990,
            },
            {
                "t": 1001.070,
                "event": "frame_processed",
                "trace_id": "B",
                "camera_id": "cam1",
                "queue_ms": 15.0,
                "inference_ms": 30.0,
                "persons": 0,
            },
            {
                "t": 1001.200,
                "event": "cloud_request_failed",
                "trace_id": "A",
                "camera_id": "cam1",
                "track_id": 1,
                "error": "timeout",
                "ms": 2000.0,
            },
            {
                "t": 1001.300,
                "event": "track_decided",
                "camera_id": "cam1",
                "track_id": 1,
                "state": "intruder",
                "name": None,
                "requests": 2,
            },
            "",
            '["a json list, not an event"]',
        ],
    )


def alarm_log(log_dir: Path) -> None:
    write_log(
        log_dir / "alarm-alarm1.jsonl",
        "alarm-alarm1",
        [
            {
                "t": 1000.500,
                "event": "alarm_received",
                "event_id": "ev1",
                "trace_id": "A",
                "site_id": "s1",
                "camera_id": "cam1",
                "reason": "intruder",
                "raised_at": 1000.400,
            },
            # a redelivery of the same alarm: one delivery, the earliest
            {
                "t": 1000.900,
                "event": "alarm_received",
                "event_id": "ev1",
                "trace_id": "A",
                "site_id": "s1",
                "camera_id": "cam1",
                "reason": "intruder",
                "raised_at": 1000.400,
            },
        ],
    )


def full_run(log_dir: Path, camera_skew: float = 0.0) -> Path:
    """Camera, edge and alarm logs (no cloud log) of one short run."""
    camera_logs(log_dir, camera_skew)
    edge_log(log_dir)
    alarm_log(log_dir)
    return log_dir


@pytest.fixture
def recorded_run(tmp_path: Path) -> Path:
    """A folder with camera, edge and alarm logs of one short run with known timestamps (no cloud log)."""
    return full_run(tmp_path / "logs")


class LogKit:
    """The writers above, for tests (conftest modules cannot be imported under --import-mode=importlib)."""

    write_log = staticmethod(write_log)
    camera_logs = staticmethod(camera_logs)
    edge_log = staticmethod(edge_log)
    alarm_log = staticmethod(alarm_log)
    full_run = staticmethod(full_run)


@pytest.fixture
def logkit() -> type[LogKit]:
    return LogKit
