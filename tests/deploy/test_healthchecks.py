"""The images' HEALTHCHECK commands, taken from the Dockerfile and run as Docker would run them (exec form,
with the image's environment), against real camera and alarm processes and a real edge on loopback: they
pass only while the node is connected and, for a camera, while its frames are processed by the edge."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from edgewatch.config import EdgeSettings
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.server import EdgeNode

from .test_dockerfile import stages

ASSETS = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets"


def healthcheck_argv(layer: str) -> list[str]:
    """The exec-form CMD of the stage's HEALTHCHECK, with its interpreter replaced by this Python."""
    (line,) = [i for i in stages()[layer] if i.startswith("HEALTHCHECK")]
    argv = json.loads(line[line.index("CMD") + 3:].strip())
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


def check(layer: str, metrics_port: int) -> int:
    env = {**os.environ, "EDGEWATCH_METRICS_PORT": str(metrics_port)}
    return subprocess.run(healthcheck_argv(layer), env=env, capture_output=True, timeout=30, check=False).returncode


def poll_check(layer: str, port: int, want_ok: bool, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while (check(layer, port) == 0) != want_ok:
        assert time.monotonic() < deadline, f"{layer} HEALTHCHECK never {'passed' if want_ok else 'failed'}"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def detector() -> Any:
    return create_detector("nanodet", input_size=320, confidence=0.5)


def test_camera_and_alarm_healthchecks_follow_the_edge(serve, detector, node_process, tmp_path: Path,
                                                       port: int) -> None:
    node = EdgeNode(EdgeSettings(sites=["site1"], workers=1, alarm_db=tmp_path / "alarms.db"), detector)
    edge = serve(node.app)
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "person.jpg").write_bytes((ASSETS / "grace_hopper.jpg").read_bytes())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        alarm_port = sock.getsockname()[1]
    common = ["--edge-url", edge.url, "--reconnect-delay", "0.2", "--reconnect-delay-max", "1", "--site-id", "site1"]
    node_process(["camera", "--source", str(folder), "--loop", "--fps", "4", "--metrics-port", str(port),
                  "--health-window", "2", *common])
    node_process(["alarm", "--metrics-port", str(alarm_port), *common])

    poll_check("camera", port, want_ok=True)
    poll_check("alarm", alarm_port, want_ok=True)

    # Every frame now fails at the edge (its model breaks, as in test_edge_server): still connected, still
    # answered, but nothing is processed: the camera's HEALTHCHECK fails, the alarm node's still passes.
    good_outputs = detector._outputs
    detector._outputs = ["no_such_output"]
    try:
        poll_check("camera", port, want_ok=False)
        assert check("alarm", alarm_port) == 0
    finally:
        detector._outputs = good_outputs
    poll_check("camera", port, want_ok=True)

    edge.stop()  # the edge goes away: both fail
    poll_check("camera", port, want_ok=False)
    poll_check("alarm", alarm_port, want_ok=False)
