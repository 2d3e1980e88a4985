"""`edgewatch collect --from-dir`: real files gathered without overwriting, then reported with the same figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgewatch", *args], check=False, capture_output=True, text=True, timeout=120
    )


def test_collect_dirs_then_report(tmp_path: Path, logkit: Any) -> None:
    # one folder per host, as if copied from three machines; the edge folder also has a sub-folder
    logkit.camera_logs(tmp_path / "camhost")
    logkit.edge_log(tmp_path / "edgehost")
    logkit.alarm_log(tmp_path / "edgehost" / "alarms")
    (tmp_path / "edgehost" / "notes.txt").write_text("not a log")
    out = tmp_path / "collected"

    result = run_cli(
        "collect",
        "--out",
        str(out),
        "--from-dir",
        str(tmp_path / "camhost"),
        "--from-dir",
        str(tmp_path / "edgehost"),
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "collect.json",
        "dir-camhost__camera-cam1.jsonl",
        "dir-camhost__camera-cam2.jsonl",
        "dir-edgehost__alarms_alarm-alarm1.jsonl",
        "dir-edgehost__edge.jsonl",
    ]
    assert (out / "dir-edgehost__edge.jsonl").read_bytes() == (
        tmp_path / "edgehost" / "edge.jsonl"
    ).read_bytes()
    assert "total: 4 file(s) from 2 of 2 source(s); 0 failed" in result.stdout
    manifest = json.loads((out / "collect.json").read_text())
    assert [(s["kind"], s["label"], len(s["files"]), s["error"]) for s in manifest["sources"]] == [
        ("dir", "dir-camhost", 2, None),
        ("dir", "dir-edgehost", 2, None),
    ]

    report = run_cli("report", str(out), "--out", str(tmp_path / "report"), "--quiet")
    assert report.returncode == 0, report.stderr
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["latency_ms"]["per_hop"]["camera_rtt"]["p50"] == 50.0
    assert summary["latency_ms"]["cross_clock"]["camera_to_alarm"]["p50"] == 510.0
    assert summary["drops"]["totals"] == {"camera_side": 1, "edge_side": 1}
    assert summary["input"]["nodes"] == {
        "alarm-alarm1": "alarm",
        "camera-cam1": "camera",
        "camera-cam2": "camera",
        "edge": "edge",
    }


def test_same_names_from_two_sources_never_overwrite(tmp_path: Path, logkit: Any) -> None:
    for site in ("a", "b"):
        logkit.write_log(
            tmp_path / site / "logs" / "edge.jsonl",
            "edge",
            [{"t": 1.0, "event": "frame_dropped", "camera_id": site}],
        )
    out = tmp_path / "out"
    result = run_cli(
        "collect",
        "--out",
        str(out),
        "--from-dir",
        str(tmp_path / "a" / "logs"),
        "--from-dir",
        str(tmp_path / "b" / "logs"),
        "--from-dir",
        str(tmp_path / "a" / "logs"),
    )
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in out.glob("*.jsonl"))
    assert files == ["dir-logs-2__edge.jsonl", "dir-logs-3__edge.jsonl", "dir-logs__edge.jsonl"]
    assert '"camera_id": "b"' in (out / "dir-logs-2__edge.jsonl").read_text()


def test_missing_dir_reported_others_kept(tmp_path: Path, logkit: Any) -> None:
    logkit.edge_log(tmp_path / "logs")
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    result = run_cli(
        "collect",
        "--out",
        str(out),
        "--quiet",
        "--from-dir",
        str(tmp_path / "nowhere"),
        "--from-dir",
        str(tmp_path / "empty"),
        "--from-dir",
        str(tmp_path / "logs"),
    )
    assert result.returncode == 0
    assert f"FAIL dir    {tmp_path / 'nowhere'}: {tmp_path / 'nowhere'} is not a directory" in result.stdout
    # reached but empty (like a one-shot container that logged nothing) is not a failure
    assert f"none dir    {tmp_path / 'empty'}: no *.jsonl log files (nothing logged there)" in result.stdout
    assert "total: 1 file(s) from 1 of 3 source(s); 1 failed, 1 with no logs" in result.stdout
    assert (out / "dir-logs__edge.jsonl").is_file()


def test_nothing_collected_exits_1_and_no_source_exits_2(tmp_path: Path) -> None:
    result = run_cli("collect", "--out", str(tmp_path / "out"), "--from-dir", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert "total: 0 file(s) from 0 of 1 source(s); 1 failed" in result.stdout
    result = run_cli("collect", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "give at least one source" in result.stderr


def test_collecting_again_replaces_the_same_source(tmp_path: Path, logkit: Any) -> None:
    logkit.write_log(tmp_path / "logs" / "edge.jsonl", "edge", [{"t": 1.0, "event": "frame_dropped"}])
    out = tmp_path / "out"
    assert run_cli("collect", "--out", str(out), "--from-dir", str(tmp_path / "logs")).returncode == 0
    logkit.write_log(tmp_path / "logs" / "edge.jsonl", "edge", [{"t": 2.0, "event": "frame_dropped"}] * 2)
    assert run_cli("collect", "--out", str(out), "--from-dir", str(tmp_path / "logs")).returncode == 0
    assert [p.name for p in out.glob("*.jsonl")] == ["dir-logs__edge.jsonl"]
    assert len((out / "dir-logs__edge.jsonl").read_text().splitlines()) == 2
