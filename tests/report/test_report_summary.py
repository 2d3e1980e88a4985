"""`edgewatch report` figures from recorded JSON lines with known timestamps: exact numbers, clocks kept apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgewatch.report.analysis import analyse
from edgewatch.report.build import ReportError, build_report
from edgewatch.report.loader import load_logs


def summary_of(log_dir: Path) -> dict[str, Any]:
    return analyse(load_logs(log_dir)).summary


def test_per_hop_figures_are_the_logged_intervals(recorded_run: Path) -> None:
    hops = summary_of(recorded_run)["latency_ms"]["per_hop"]
    assert hops["camera_rtt"] == {
        "title": "camera round trip (camera)",
        "measured_by": "camera",
        "clock": "camera",
        "source": "frame_acked.rtt_ms",
        "n": 3,
        "p50": 50.0,
        "p90": 58.0,
        "p99": 59.8,
        "mean": 50.0,
        "min": 40.0,
        "max": 60.0,
    }
    # frame D's frame_processed has no queue_ms/inference_ms: counted as processed, not as a sample
    assert (hops["edge_queue"]["n"], hops["edge_queue"]["p50"], hops["edge_queue"]["p90"]) == (2, 10.0, 14.0)
    assert (hops["detection"]["n"], hops["detection"]["p50"], hops["detection"]["max"]) == (2, 25.0, 30.0)
    # the failed request (2000 ms) is not a round trip
    assert (hops["cloud_round_trip"]["n"], hops["cloud_round_trip"]["p99"]) == (1, 120.0)
    assert (hops["alarm_delivery"]["n"], hops["alarm_delivery"]["p50"]) == (1, 12.5)
    assert hops["cloud_identify"]["n"] == 0


def test_cross_clock_figures_are_separate_and_exact(recorded_run: Path) -> None:
    latency = summary_of(recorded_run)["latency_ms"]
    cross = latency["cross_clock"]
    assert set(cross) == {"camera_to_edge", "camera_to_verdict", "camera_to_alarm"}
    assert not set(cross) & set(latency["per_hop"])
    assert all(entry["cross_clock"] for entry in cross.values())
    # edge frame_received.t - camera frame_sent.t: A 30, B 50, D 20, E 10 ms
    edge = cross["camera_to_edge"]
    assert (edge["n"], edge["min"], edge["p50"], edge["max"], edge["mean"]) == (4, 10.0, 25.0, 50.0, 27.5)
    assert edge["clocks"] == ["camera", "edge"]
    # cloud_request.t 1000.300 - captured_at 999.990
    assert (cross["camera_to_verdict"]["n"], cross["camera_to_verdict"]["p50"]) == (1, 310.0)
    # alarm_received.t 1000.500 (the redelivery at .900 is not a second sample) - captured_at 999.990
    assert (cross["camera_to_alarm"]["n"], cross["camera_to_alarm"]["p50"]) == (1, 510.0)
    assert cross["camera_to_alarm"]["clocks"] == ["camera", "alarm"]


def test_clock_skew_moves_only_cross_clock_figures(tmp_path: Path, logkit: Any) -> None:
    plain = summary_of(logkit.full_run(tmp_path / "plain"))["latency_ms"]
    skewed = summary_of(logkit.full_run(tmp_path / "skewed", camera_skew=-2.0))["latency_ms"]
    assert skewed["per_hop"] == plain["per_hop"]
    assert skewed["cross_clock"]["camera_to_edge"]["p50"] == pytest.approx(2025.0)
    assert skewed["cross_clock"]["camera_to_verdict"]["p50"] == pytest.approx(2310.0)


def test_counts_drops_tracks_and_alarms(recorded_run: Path) -> None:
    summary = summary_of(recorded_run)
    assert summary["frames"]["totals"] == {"sent": 4, "received": 4, "processed": 3, "with_persons": 2}
    assert summary["frames"]["detection_ratio"] == 0.667
    assert summary["frames"]["detection_ratio_per_camera"] == {"cam1": 0.5, "cam2": 1.0}
    assert summary["drops"]["camera_side"] == {"cam1": 1}
    assert summary["drops"]["camera_side_reasons"] == {"cam1": {"backlog": 1}}
    assert summary["drops"]["edge_side"] == {"cam2": 1}
    cloud = summary["cloud"]
    assert (cloud["requests"], cloud["failures"]) == (1, 1)
    # cam1/1: one answered + one failed request (and the edge's tally says 2); cam2/1 never needed one
    assert cloud["requests_per_track"] == {
        "tracks": 2,
        "max": 2,
        "mean": 1.0,
        "distribution": {"0": 1, "2": 1},
    }
    assert cloud["verdicts_edge"] == {"intruder": 1}
    assert summary["tracks"] == {"started": 2, "decided": {"intruder": 1}}
    alarms = summary["alarms"]
    assert (alarms["raised"], alarms["by_reason"], alarms["acked"]) == (1, {"intruder": 1}, 1)
    assert (alarms["received"], alarms["received_events"]) == (1, 1)
    throughput = summary["throughput"]
    assert throughput["bucket_s"] == 1.0
    assert throughput["per_camera"] == {
        "cam1": {"frames": 2, "mean_fps": 1.0, "peak_fps": 1.0},
        "cam2": {"frames": 1, "mean_fps": 0.5, "peak_fps": 1.0},
    }


def test_malformed_lines_skipped_and_counted_unknown_events_listed(recorded_run: Path) -> None:
    inp = summary_of(recorded_run)["input"]
    # camera-cam1: one non-JSON line; edge: one JSON list (the blank line is not counted)
    assert inp["malformed_lines"] == 2
    assert {f["path"]: f["malformed"] for f in inp["files"]} == {
        "alarm-alarm1.jsonl": 0,
        "camera-cam1.jsonl": 1,
        "camera-cam2.jsonl": 0,
        "edge.jsonl": 1,
    }
    assert inp["unknown_events"] == {"camera_reconnected": 1}
    assert inp["nodes"] == {
        "alarm-alarm1": "alarm",
        "camera-cam1": "camera",
        "camera-cam2": "camera",
        "edge": "edge",
    }


def test_missing_cloud_logs_reported(recorded_run: Path) -> None:
    summary = summary_of(recorded_run)
    assert summary["input"]["roles_missing"] == ["cloud"]
    assert "no cloud logs: cloud identify (cloud) unavailable" in summary["missing"]
    assert summary["latency_ms"]["per_hop"]["cloud_identify"]["unavailable"] == (
        "no cloud logs: cloud identify (cloud) unavailable"
    )
    assert not any("camera" in m or "edge" in m for m in summary["missing"])


def test_edge_log_alone(tmp_path: Path, logkit: Any) -> None:
    logkit.edge_log(tmp_path)
    summary = summary_of(tmp_path)
    assert summary["input"]["roles_missing"] == ["camera", "cloud", "alarm"]
    missing = summary["missing"]
    assert "no camera logs: camera round trip (camera) unavailable" in missing
    # camera→verdict still works: the edge logs the camera's captured_at on receipt
    assert summary["latency_ms"]["cross_clock"]["camera_to_verdict"]["p50"] == 310.0
    assert summary["latency_ms"]["cross_clock"]["camera_to_edge"]["unavailable"] == (
        "no camera logs: camera → edge (cross-clock) unavailable"
    )
    assert summary["latency_ms"]["cross_clock"]["camera_to_alarm"]["unavailable"] == (
        "no alarm logs: camera → alarm (cross-clock) unavailable"
    )
    assert summary["alarms"]["timeline_clock"] == "edge"


def test_present_role_without_the_event(tmp_path: Path, logkit: Any) -> None:
    logkit.write_log(tmp_path / "cloud.jsonl", "cloud", [{"t": 1.0, "event": "cloud_started", "port": 8080}])
    hop = summary_of(tmp_path)["latency_ms"]["per_hop"]["cloud_identify"]
    assert hop["unavailable"] == "cloud logs have no 'identify' events: cloud identify (cloud) unavailable"


def test_role_from_file_name_and_events(tmp_path: Path, logkit: Any) -> None:
    # no node field: the collected file name "<source>__<node>.jsonl" names the node
    (tmp_path / "docker-x__cloud.jsonl").write_text(
        '{"t": 5.0, "event": "identify", "trace_id": "A", "verdict": "known", "elapsed_ms": 7.5, "backend": "local"}\n'
    )
    # a node name without a role: its events tell (frame_dropped is then a camera-side drop)
    logkit.write_log(
        tmp_path / "lobby.jsonl",
        "lobby",
        [
            {"t": 1.0, "event": "frame_sent", "trace_id": "Z", "camera_id": "lobby", "captured_at": 1.0},
            {"t": 1.1, "event": "frame_dropped", "trace_id": "Y", "camera_id": "lobby", "reason": "backlog"},
        ],
    )
    summary = summary_of(tmp_path)
    assert summary["input"]["nodes"] == {"cloud": "cloud", "lobby": "camera"}
    assert summary["latency_ms"]["per_hop"]["cloud_identify"]["p50"] == 7.5
    assert summary["cloud"]["verdicts_cloud"] == {"known": 1}
    assert summary["cloud"]["identify_backends"] == {"local": 1}
    assert summary["drops"]["camera_side"] == {"lobby": 1}


def test_no_logs_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no \\*.jsonl log files"):
        build_report(tmp_path, tmp_path / "out")
    with pytest.raises(ReportError, match="is not a directory"):
        build_report(tmp_path / "absent", tmp_path / "out")


def test_progress_lines(recorded_run: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    build_report(recorded_run, tmp_path / "out", lines.append)
    assert lines[0] == "reading alarm-alarm1.jsonl (1/4, 0.0 MB)"
    assert "read 4 file(s), 28 lines" in lines
