"""Issue 10: cameras with the same id at two sites (two edges) are two rows of the report, not one."""

from __future__ import annotations

from pathlib import Path

from edgewatch.report.analysis import analyse
from edgewatch.report.loader import load_logs

from .conftest import write_log


def _site(out: Path, site: str, frames: int, persons_every: int) -> None:
    """One site's edge and its two cameras, as `collect` places them: same node names at every site."""
    label = f"docker-edgewatch-{site}"
    edge, cams = [], {"cam1": [], "cam2": []}
    for i in range(frames):
        for camera, events in cams.items():
            trace = f"{site}-{camera}-{i}"
            t = 1000.0 + i
            # cameras do not log their site: the report must find it through the trace id
            events.append({"t": t, "event": "frame_sent", "trace_id": trace, "camera_id": camera,
                                 "captured_at": t})
            edge.append({"t": t + 0.02, "event": "frame_received", "trace_id": trace, "camera_id": camera,
                         "site_id": site, "captured_at": t})
            edge.append({"t": t + 0.05, "event": "frame_processed", "trace_id": trace, "camera_id": camera,
                         "queue_ms": 1.0, "inference_ms": 20.0, "persons": int(i % persons_every == 0)})
    cams["cam1"].append({"t": 2000.0, "event": "frame_dropped", "trace_id": "never-sent", "camera_id": "cam1",
                         "reason": "backlog"})
    write_log(out / f"{label}-edge-1__edge.jsonl", "edge", edge)
    for camera, events in cams.items():
        write_log(out / f"{label}-{camera}-1__camera-{camera}.jsonl", f"camera-{camera}", events)


def test_same_camera_ids_at_two_sites_are_separate_rows(tmp_path: Path) -> None:
    _site(tmp_path, "site1", frames=6, persons_every=2)
    _site(tmp_path, "site2", frames=4, persons_every=4)
    summary = analyse(load_logs(tmp_path)).summary
    frames = summary["frames"]
    assert summary["input"]["sites"] == ["site1", "site2"]
    assert frames["processed"] == {"site1/cam1": 6, "site1/cam2": 6, "site2/cam1": 4, "site2/cam2": 4}
    assert frames["sent"] == frames["processed"]
    assert frames["with_persons"] == {"site1/cam1": 3, "site1/cam2": 3, "site2/cam1": 1, "site2/cam2": 1}
    # a camera-side record with no trace the edge saw still lands on its own site (same file and camera)
    assert summary["drops"]["camera_side"] == {"site1/cam1": 1, "site2/cam1": 1}
    assert set(summary["throughput"]["per_camera"]) == {"site1/cam1", "site1/cam2", "site2/cam1", "site2/cam2"}


def test_one_site_keeps_bare_camera_ids(tmp_path: Path) -> None:
    _site(tmp_path, "site1", frames=3, persons_every=1)
    summary = analyse(load_logs(tmp_path)).summary
    assert summary["frames"]["processed"] == {"cam1": 3, "cam2": 3}
