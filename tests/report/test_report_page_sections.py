"""Issue 10: the report page a person reads first: a title naming the run, a headline, the run's settings,
the alarms one by one (similarity, delivery, snapshot thumbnail), verdicts once, no empty tables, and the
unused events folded away."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

from PIL import Image

from edgewatch.report.build import build_report

from .conftest import write_log

EVENT_ID = "ev-0123456789"


def _run_folder(root: Path) -> Path:
    """A demo-like run folder: logs/, stdio/commands.txt and an alarm node's snapshots/ folder."""
    logs = root / "20261130-061500" / "logs"
    write_log(logs / "edge.jsonl", "edge", [
        {"t": 1000.0, "event": "edge_started", "sites": ["site1"], "cameras": "any", "workers": 2,
         "detector": "nanodet", "input_size": 320},
        {"t": 1001.0, "event": "frame_received", "trace_id": "A", "camera_id": "cam1", "site_id": "site1",
         "captured_at": 1000.99},
        {"t": 1001.05, "event": "frame_processed", "trace_id": "A", "camera_id": "cam1", "queue_ms": 1.0,
         "inference_ms": 21.0, "persons": 1},
        {"t": 1001.05, "event": "track_started", "trace_id": "A", "camera_id": "cam1", "site_id": "site1",
         "track_id": 1},
        {"t": 1001.2, "event": "cloud_request", "trace_id": "A", "camera_id": "cam1", "track_id": 1,
         "verdict": "intruder", "ms": 40.0},
        {"t": 1001.2, "event": "track_decided", "camera_id": "cam1", "track_id": 1, "state": "intruder",
         "requests": 1},
        {"t": 1001.3, "event": "alarm_raised", "trace_id": "A", "event_id": EVENT_ID, "site_id": "site1",
         "camera_id": "cam1", "track_id": 1, "reason": "intruder",
         "detail": "face not recognised (best similarity 0.15 < 0.363)"},
        {"t": 1001.35, "event": "alarm_acked", "event_id": EVENT_ID, "node_id": "alarm1", "delivery_ms": 9.0},
        *({"t": 1002.0 + i, "event": f"housekeeping_{i}"} for i in range(12)),
    ])
    write_log(logs / "camera-cam1.jsonl", "camera-cam1", [
        {"t": 1000.5, "event": "camera_started", "source": "rtsp://admin:hunter2@10.0.0.7/stream", "fps": 2.0,
         "jpeg_quality": 85},
        {"t": 1001.0, "event": "frame_sent", "trace_id": "A", "camera_id": "cam1", "captured_at": 1000.99},
        {"t": 1001.06, "event": "frame_acked", "trace_id": "A", "camera_id": "cam1", "rtt_ms": 60.0,
         "status": "processed"},
    ])
    write_log(logs / "cloud.jsonl", "cloud", [
        {"t": 999.0, "event": "cloud_ready", "backend": "local", "threshold": 0.363},
        {"t": 1001.15, "event": "identify", "verdict": "intruder", "elapsed_ms": 30.0, "backend": "local"},
    ])
    write_log(logs / "alarm-alarm1.jsonl", "alarm-alarm1", [
        {"t": 1001.32, "event": "alarm_received", "trace_id": "A", "event_id": EVENT_ID, "site_id": "site1",
         "camera_id": "cam1", "reason": "intruder"},
    ])
    stdio = logs.parent / "stdio"
    stdio.mkdir()
    (stdio / "commands.txt").write_text("edge: edgewatch edge --port 8000 --sites site1\n")
    snapshots = logs.parent / "snapshots"
    snapshots.mkdir()
    Image.new("RGB", (1280, 720), (200, 30, 30)).save(snapshots / f"20261130T061501_cam1_{EVENT_ID}_frame.jpg")
    return logs


def test_page_leads_with_the_run_its_alarms_and_settings(tmp_path: Path) -> None:
    logs = _run_folder(tmp_path)
    result = build_report(logs, tmp_path / "report")
    page = result.html_path.read_text()
    summary = result.summary

    title = re.search(r"<h1>(.*?)</h1>", page)[1]
    assert title == "edgewatch run report: 20261130-061500 (1 camera(s), 0 s)", title

    head = summary["headline"]
    assert head["frames_processed"] == 1 and head["tracks"] == 1 and head["alarms_raised"] == 1
    assert head["alarms_sentence"] == "1 alarm(s) raised; every one reached an alarm node and was acknowledged."
    assert page.index('class="cards"') < page.index("<h2>Alarms</h2>") < page.index("<h2>Per-hop latency</h2>")

    (alarm,) = summary["alarm_list"]
    assert alarm["similarity"] == 0.15 and alarm["received_by"] == ["alarm-alarm1"] and alarm["acked"]
    thumbs = re.findall(r'<img class="thumb" src="data:image/jpeg;base64,([^"]+)"', page)
    assert len(thumbs) == 1
    with Image.open(io.BytesIO(base64.b64decode(thumbs[0]))) as thumb:
        assert max(thumb.size) == 160 and thumb.getpixel((80, 45))[0] > 150  # the saved red frame, shrunk

    settings = summary["settings"]
    assert settings["edges"][0]["detector"] == "nanodet" and settings["clouds"][0]["threshold"] == 0.363
    assert settings["cameras"][0]["source"] == "rtsp://***@10.0.0.7/stream"
    assert "hunter2" not in page and "hunter2" not in result.summary_path.read_text()
    assert "edgewatch edge --port 8000 --sites site1" in page

    # verdicts once (one table), no empty Drops table, unused events folded away
    assert page.count("answered by the cloud") == 1 and "Verdicts given by the cloud" not in page
    assert "No frame was dropped" in page and "edge side (evicted)" not in page
    assert "<summary>12 kind(s) of event not used by the report (12 lines)</summary>" in page


def test_alarms_that_did_not_arrive_are_called_out(tmp_path: Path) -> None:
    logs = _run_folder(tmp_path)
    (logs / "alarm-alarm1.jsonl").unlink()
    summary = build_report(logs, tmp_path / "report").summary
    assert summary["headline"]["alarms_sentence"].endswith("0 reached an alarm node, 1 acknowledged: check the alarm nodes.")
    assert summary["alarm_list"][0]["received_by"] == []
