"""``edgewatch report`` end to end: load logs, analyse, draw, write summary.json, PNGs and report.html."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgewatch.report.analysis import analyse
from edgewatch.report.loader import Progress, load_logs
from edgewatch.report.page import render_page
from edgewatch.report.page_sections import find_snapshots, run_title
from edgewatch.report.plots import Plot, draw_plots


class ReportError(Exception):
    """The report cannot be made at all (no log directory, no log files)."""


@dataclass(frozen=True)
class ReportResult:
    summary: dict[str, Any]
    summary_path: Path
    html_path: Path
    plots: list[Plot]


def _commands(log_dir: Path) -> list[str]:
    """The node command lines a demo run folder keeps beside its logs (``stdio/commands.txt``)."""
    path = log_dir.parent / "stdio" / "commands.txt"
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[:200] if path.is_file() else []
    except OSError:
        return []


def build_report(log_dir: Path, out_dir: Path, progress: Progress | None = None,
                 snapshot_dirs: list[Path] | None = None) -> ReportResult:
    """Write ``summary.json``, the PNG plots and ``report.html`` for the logs under ``log_dir``.

    Alarm snapshots are looked up under ``snapshot_dirs`` (default: ``log_dir`` and a ``snapshots`` folder
    beside it). Raises :class:`ReportError` when there is no log folder or no log file in it."""
    say = progress or (lambda _msg: None)
    log_dir = Path(log_dir)
    if not log_dir.is_dir():
        raise ReportError(f"{log_dir} is not a directory")
    logs = load_logs(log_dir, say)
    if not logs.files:
        raise ReportError(f"no *.jsonl log files under {log_dir}")
    say("computing figures")
    analysis = analyse(logs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    say("drawing plots")
    plots = draw_plots(analysis, out_dir)
    summary = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "log_dir": str(log_dir),
        **analysis.summary,
        "plots": [p.name for p in plots],
    }
    summary_path = out_dir / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    html_path = out_dir / "report.html"
    folders = snapshot_dirs if snapshot_dirs is not None else [log_dir, log_dir.parent / "snapshots"]
    snapshots = find_snapshots(folders, {row["event_id"] for row in summary.get("alarm_list", [])})
    page = render_page(summary, plots, out_dir, run_title(log_dir, summary), commands=_commands(log_dir),
                       snapshots=snapshots)
    html_path.write_text(page, encoding="utf-8")
    return ReportResult(summary=summary, summary_path=summary_path, html_path=html_path, plots=plots)
