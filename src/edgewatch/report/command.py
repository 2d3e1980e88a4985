"""Report where the time went in a run: per-hop latency, throughput, drops, verdicts and alarms.

Reads every *.jsonl node log under LOGDIR (as written with --log-dir, or gathered by `edgewatch collect`)
and writes summary.json, PNG plots (box plots and CDFs with p50/p90/p99, throughput, drops, requests per
track, verdicts, alarm timeline) and one self-contained report.html into --out. Per-hop figures use one
node's clock each; figures that subtract two hosts' clocks are reported separately as cross-clock. Missing
node logs are listed, not guessed. Progress lines go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "log_dir", type=Path, metavar="LOGDIR", help="folder of *.jsonl node logs (searched recursively)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="output folder (default: LOGDIR/report)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def main(args: argparse.Namespace) -> int:
    from edgewatch.report.build import ReportError, build_report

    out = args.out or args.log_dir / "report"

    def progress(message: str) -> None:
        if not args.quiet:
            sys.stderr.write(f"edgewatch report: {message}\n")
            sys.stderr.flush()

    try:
        result = build_report(args.log_dir, out, progress)
    except ReportError as exc:
        sys.stderr.write(f"edgewatch report: {exc}\n")
        return 1
    for line in result.summary["missing"]:
        sys.stderr.write(f"edgewatch report: missing: {line}\n")
    sys.stdout.write(
        f"{result.html_path}\n{result.summary_path}\n" + "".join(f"{out / p.name}\n" for p in result.plots)
    )
    return 0
