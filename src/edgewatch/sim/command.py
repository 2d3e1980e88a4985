"""Run the whole topology locally on bundled material: cloud, edge, cameras and an alarm node.

Starts every node as its own process on loopback, plays a scripted scene in which a known person and an
unknown person walk through a room, prints recognitions and alarms as they happen, stops by itself after
--duration seconds (Ctrl-C stops earlier) and prints a summary: frames, persons, tracks, cloud requests,
alarms and latency percentiles. Ctrl-C, SIGTERM (kill, timeout) and SIGHUP stop every node too. Logs,
scenes and the summary stay in the run folder: a new one per run under ./edgewatch-runs, or --run-dir
(which must be new or empty, so two runs never mix).

Examples:
  edgewatch demo                                   # bundled scene, 2 cameras, 60 s
  edgewatch demo --source ../shared/data/wisenet-frames --known employee=../shared/data/known-faces \\
      --cameras 1 --fps 1 --duration 40            # real surveillance frames and their known person
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=60.0, help="seconds to run (default: 60)")
    parser.add_argument("--cameras", type=int, default=2, help="camera nodes to start (default: 2)")
    parser.add_argument("--fps", type=float, default=2.0, help="frames per second per camera (default: 2)")
    parser.add_argument(
        "--source", default=None,
        help="stream this video file, image folder, webcam index or URL instead of the bundled scene",
    )
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="new or empty folder for logs, scenes and summary.json "
                        "(default: a fresh ./edgewatch-runs/<UTC date-time>)")
    parser.add_argument("--workers", type=int, default=2, help="edge detection workers (default: 2)")
    parser.add_argument("--tls", action="store_true",
                        help="run every link over TLS (site CA and certificates made in the run folder)")
    parser.add_argument(
        "--known", action="append", default=[], metavar="NAME=PATH",
        help="enrol NAME from a photo or a folder of photos instead of the bundled known person (repeatable); "
        "e.g. with --source pointing at your own cameras' material",
    )
    parser.add_argument(
        "--wan", action="append", default=[], metavar="LINK=CONDITIONS",
        help="shape a link with a delay/jitter/bandwidth/stall proxy (repeatable): LINK is edge-cloud or "
        "camera-edge, e.g. --wan edge-cloud=150±20ms (or 150+-20ms; see edgewatch wan --help)",
    )


def main(args: argparse.Namespace) -> int:
    from edgewatch.sim.demo import Demo, DemoOptions
    from edgewatch.sim.summary import format_summary
    from edgewatch.sim.supervisor import NodeFailed

    if args.duration <= 0 or args.cameras < 1 or args.fps <= 0 or args.workers < 1:
        sys.stderr.write("edgewatch demo: --duration, --cameras, --fps and --workers must be positive\n")
        return 2
    from edgewatch.sim.demo import parse_known

    if args.source and "://" not in args.source and not args.source.isdigit():
        # A local file or folder that is not there: say so before any node starts (webcams and stream URLs
        # can only be tried by the cameras themselves, which retry them).
        from pathlib import Path

        if not Path(args.source).expanduser().exists():
            sys.stderr.write(f"edgewatch demo: --source {args.source}: no such file or folder\n")
            return 2
    try:
        known = tuple(parse_known(spec) for spec in args.known)
    except ValueError as exc:
        sys.stderr.write(f"edgewatch demo: {exc}\n")
        return 2
    from edgewatch.sim.run_folder import RunFolderError, new_run_dir
    from edgewatch.sim.wan import WanSpecError, parse_wan_option

    try:
        wan = tuple((link, spec.partition("=")[2]) for spec in args.wan
                    for link, _conditions in [parse_wan_option(spec)])
    except WanSpecError as exc:
        sys.stderr.write(f"edgewatch demo: {exc}\n")
        return 2

    try:
        run_dir = new_run_dir(args.run_dir)
    except RunFolderError as exc:
        sys.stderr.write(f"edgewatch demo: {exc}\n")
        return 2
    options = DemoOptions(duration=args.duration, cameras=args.cameras, fps=args.fps, source=args.source,
                          run_dir=run_dir, workers=args.workers, known=known, wan=wan, tls=args.tls)
    try:
        summary = Demo(options).run()
    except NodeFailed as exc:
        sys.stderr.write(f"edgewatch demo: a node failed: {exc}\n")
        return 1
    except KeyboardInterrupt:  # during start-up: the supervisor has already stopped what it started
        sys.stderr.write("edgewatch demo: interrupted\n")
        return 130
    sys.stdout.write(format_summary(summary) + "\n")
    logs = run_dir.resolve() / "logs"
    sys.stdout.write(f"next: edgewatch report {shlex.quote(str(logs))} --out "
                     f"{shlex.quote(str(logs.parent / 'report'))}   # plots and an HTML page of this run\n")
    return 0
