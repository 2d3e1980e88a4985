"""The ``edgewatch`` command: one entry point, one sub-command per node or tool.

Each sub-command lives in a small ``command`` module of its layer that imports only argparse and settings;
heavy dependencies (ONNX Runtime, OpenCV, FastAPI ...) are imported when the command runs, so a camera
image without the edge extra still answers ``edgewatch --help``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from edgewatch import __version__
from edgewatch.cli_support import describe_user_error

#: sub-command -> module providing ``configure(parser)`` and ``main(args) -> int``.
COMMANDS: dict[str, str] = {
    "camera": "edgewatch.camera.command",
    "alarm": "edgewatch.alarm.command",
    "edge": "edgewatch.edge.command",
    "detect": "edgewatch.edge.detect_command",
    "cloud": "edgewatch.cloud.command",
    "persons": "edgewatch.cloud.persons_command",
    "identify": "edgewatch.cloud.identify_command",
    "demo": "edgewatch.sim.command",
    "scene": "edgewatch.sim.scene_command",
    "wan": "edgewatch.sim.wan_command",
    "collect": "edgewatch.report.collect_command",
    "report": "edgewatch.report.command",
    # issue 9: node credentials and the site's TLS material
    "credentials": "edgewatch.security.credentials_command",
    "tls": "edgewatch.security.tls_command",
    "operators": "edgewatch.console.command",
}


def _summary(doc: str) -> str:
    """The first sentence of a command module's docstring (it may wrap over several lines)."""
    paragraph = " ".join(doc.split("\n\n", 1)[0].split())
    sentence, dot, _rest = paragraph.partition(". ")
    return sentence if dot else paragraph.rstrip(".")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgewatch",
        description="Distributed intruder detection: camera and alarm nodes (IoT), an edge that detects and "
        "tracks persons, and a cloud that recognises known faces.",
    )
    parser.add_argument("--version", action="version", version=f"edgewatch {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        # Command modules import only the core at module level (their layer's libraries inside main()),
        # so every layer's image can build the whole parser with just its own extra installed.
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or name).strip()
        sub = subparsers.add_parser(
            name, help=_summary(doc), description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(sub)
        sub.set_defaults(handler=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one sub-command. Expected user errors (bad path, bad setting, port in use, missing extra) end
    as one line ``edgewatch COMMAND: ...`` on stderr and exit status 2, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        line = describe_user_error(args.command, exc)
        if line is None:
            raise
        sys.stderr.write(f"edgewatch {args.command}: {line}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
