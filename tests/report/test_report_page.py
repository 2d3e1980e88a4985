"""The report's files: summary.json, PNG plots and a self-contained report.html whose images all load."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs)["src"] or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def image_bytes(src: str, page_dir: Path) -> bytes:
    if src.startswith("data:"):
        header, payload = src.split(",", 1)
        assert header == "data:image/png;base64"
        return base64.b64decode(payload, validate=True)
    path = page_dir / src
    assert path.is_file(), src
    return path.read_bytes()


def test_cli_writes_summary_plots_and_page(recorded_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "edgewatch", "report", str(recorded_run), "--out", str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "reading edge.jsonl" in result.stderr  # progress lines
    assert "missing: no cloud logs: cloud identify (cloud) unavailable" in result.stderr

    summary = json.loads((out / "summary.json").read_text())
    assert summary["latency_ms"]["per_hop"]["camera_rtt"]["p50"] == 50.0
    assert summary["plots"] == [
        "latency_per_hop.png",
        "latency_cross_clock.png",
        "throughput.png",
        "drops.png",
        "detection_ratio.png",
        "cloud_requests_per_track.png",
        "verdicts.png",
        "alarms.png",
        "alarm_timeline.png",
    ]
    for name in summary["plots"]:
        assert (out / name).read_bytes().startswith(PNG_MAGIC)
        assert str(out / name) in result.stdout

    page = _Images()
    page.feed((out / "report.html").read_text(encoding="utf-8"))
    assert len(page.sources) == len(summary["plots"])
    for src in page.sources:
        assert image_bytes(src, out).startswith(PNG_MAGIC)
    text = " ".join(page.text)
    assert "no cloud logs: cloud identify (cloud) unavailable" in text
    assert "Cross-clock" in text


def test_page_with_little_data_has_no_broken_images(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "cloud.jsonl").write_text(
        '{"t": 5.0, "node": "cloud", "event": "identify", "verdict": "unknown", "elapsed_ms": 9.0, "backend": "local"}\n'
        "not json at all\n"
    )
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "edgewatch", "report", str(logs), "--out", str(out), "--quiet"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("missing:") >= 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["plots"] == ["latency_per_hop.png", "verdicts.png"]
    assert summary["input"]["malformed_lines"] == 1
    page = _Images()
    page.feed((out / "report.html").read_text(encoding="utf-8"))
    assert len(page.sources) == 2
    assert all(image_bytes(src, out).startswith(PNG_MAGIC) for src in page.sources)
    assert "no plot: no data for throughput.png" in " ".join(page.text)


def test_cli_without_logs_exits_1(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edgewatch", "report", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no *.jsonl log files under" in result.stderr
