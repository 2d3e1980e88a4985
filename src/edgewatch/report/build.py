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
from edgewatch.report.plots import Plot, draw_plots


class ReportError(Exception):
    """The report cannot be made at all (no log directory, no log files)."""


@dataclass(frozen=True)
class ReportResult:
    summary: dict[str, Any]
    summary_path: Path
    html_path: Path
    plots: list[Plot]


def build_report(log_dir: Path, out_dir: Path, progress: Progress | None = None) -> ReportResult:
    """Write ``summary.json``, the PNG plots and ``report.html`` for the logs under ``log_dir``."""
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
    title = f"edgewatch report: {log_dir.resolve().name}"
    html_path.write_text(render_page(summary, plots, out_dir, title), encoding="utf-8")
    return ReportResult(summary=summary, summary_path=summary_path, html_path=html_path, plots=plots)
