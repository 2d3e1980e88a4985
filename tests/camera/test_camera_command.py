"""``edgewatch camera`` as a user runs it: options documented, bad values refused, clean stop on signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import edge_count


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgewatch", *args], check=False, capture_output=True, text=True,
                          timeout=timeout)


def test_help_lists_the_camera_options() -> None:
    result = run_cli("camera", "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--source", "--fps", "--loop", "--max-width", "--jpeg-quality", "--send-buffer",
                   "--max-in-flight", "--edge-url", "--camera-id", "--site-id", "--metrics-port", "--config"):
        assert option in result.stdout, option


def test_negative_fps_exits_2_naming_the_field() -> None:
    result = run_cli("camera", "--fps", "-1")
    assert result.returncode == 2
    assert "fps (command line)" in result.stderr


def test_missing_source_exits_2_naming_it(tmp_path: Path) -> None:
    result = run_cli("camera", "--source", str(tmp_path / "nowhere"), "--edge-url", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert f"camera source not found: {tmp_path / 'nowhere'}" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_camera_process_streams_and_stops_cleanly(
    real_edge, image_folder: Path, node_process, tmp_path: Path, sig: signal.Signals
) -> None:
    import time

    edge, server = real_edge(cameras=["cam9"])  # the real edge, accepting only this camera
    node = node_process([
        "camera", "--source", image_folder.name, "--loop", "--fps", "10", "--edge-url", server.url,
        "--camera-id", "cam9", "--log-dir", str(tmp_path / "logs"), "--reconnect-delay", "0.1",
    ], cwd=image_folder.parent)  # a relative source, resolved from the working directory
    deadline = time.monotonic() + 30
    while edge_count(edge, "processed", "cam9") < 3:
        assert node.proc.poll() is None, node.output()
        assert time.monotonic() < deadline, "no frames from the camera process"
        time.sleep(0.05)
    node.proc.send_signal(sig)
    node.proc.wait(timeout=20)
    stdout, stderr = node.output()

    assert node.proc.returncode == 0, stderr
    assert "camera cam9:" in stdout and "sent" in stdout
    assert edge_count(edge, "received", "cam9") >= 3
    lines = [json.loads(line) for line in (tmp_path / "logs" / "camera-cam9.jsonl").read_text().splitlines()]
    assert all(line["node"] == "camera-cam9" for line in lines)
    assert any(line["event"] == "frame_sent" and line["trace_id"] for line in lines)
    assert any(line["event"] == "frame_acked" and line["status"] == "processed" for line in lines)
    assert lines[-1]["event"] == "camera_stopped"
