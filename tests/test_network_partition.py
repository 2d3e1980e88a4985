"""A network partition between an edge and a remote alarm node, in network namespaces this test creates.

Topology: namespace E holds the edge and a camera (the site's LAN), namespace A holds an alarm node on
another network; a veth pair joins them (10.213.77.1 <-> 10.213.77.2). With the alarm node connected,
the link is cut (no RST, packets just vanish, as with a failed uplink); a person then appears, the edge
raises an alarm it cannot deliver; the link comes back and the alarm must arrive, be acknowledged and be
acted on exactly once, while the edge never stopped processing frames.

Rules kept (DEVELOPERS.md): the test subnet is made unreachable in the root namespace first, every client
runs inside a namespace, everything is removed afterwards, and only the processes started here are ended,
by PID. Skipped where network namespaces cannot be created (not root, no iproute2).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

SUBNET = "10.213.77.0/24"
EDGE_IP, ALARM_IP = "10.213.77.1", "10.213.77.2"
ASSETS = Path(__file__).resolve().parents[1] / "src" / "edgewatch" / "sim" / "assets"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


class Namespaces:
    def __init__(self) -> None:
        tag = f"ew{os.getpid() % 100000}"
        self.edge_ns, self.alarm_ns = f"{tag}e", f"{tag}a"
        self.edge_if, self.alarm_if = f"{tag}x", f"{tag}y"
        self.processes: list[subprocess.Popen[bytes]] = []

    def create(self) -> None:
        ip("route", "add", "unreachable", SUBNET)  # first: nothing for this subnet ever leaves the host
        ip("netns", "add", self.edge_ns)
        ip("netns", "add", self.alarm_ns)
        ip("link", "add", self.edge_if, "type", "veth", "peer", "name", self.alarm_if)
        ip("link", "set", self.edge_if, "netns", self.edge_ns)
        ip("link", "set", self.alarm_if, "netns", self.alarm_ns)
        for ns, dev, addr in ((self.edge_ns, self.edge_if, EDGE_IP), (self.alarm_ns, self.alarm_if, ALARM_IP)):
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")

    def run(self, ns: str, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as sink:
            process = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "edgewatch", *args],
                                       stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def link(self, up: bool) -> None:
        ip("-n", self.alarm_ns, "link", "set", self.alarm_if, "up" if up else "down")

    def remove(self) -> None:
        for process in reversed(self.processes):  # `ip netns exec` execs the node: this PID is the node's
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        ip("netns", "del", self.edge_ns, check=False)  # takes its end of the veth pair, and so both ends
        ip("netns", "del", self.alarm_ns, check=False)
        ip("route", "del", "unreachable", SUBNET, check=False)


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("network namespaces need root and iproute2")
    spaces = Namespaces()
    try:
        spaces.create()
    except subprocess.CalledProcessError as exc:
        spaces.remove()
        pytest.skip(f"cannot create network namespaces here: {exc.stderr.strip()}")
    try:
        yield spaces
    finally:
        spaces.remove()


def events(log_dir: Path, name: str) -> list[dict[str, Any]]:
    found = []
    for path in log_dir.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if f'"{name}"' in line:
                event = json.loads(line)
                if event.get("event") == name:
                    found.append(event)
    return found


def token_file(credentials, role: str, node_id: str) -> Path:
    """Issue a site1 credential for the node; the token goes to the node in a file (never on argv)."""
    path = credentials.path.with_name(f"{node_id}.token")
    path.write_text(credentials.issue(role, "site1", node_id) + "\n")
    path.chmod(0o600)
    return path


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def scene(folder: Path) -> Path:
    """Two empty frames, then the unknown person for 40 frames (10 s at 4 fps)."""
    folder.mkdir()
    person = Image.open(ASSETS / "grace_hopper.jpg").convert("RGB")
    for index in range(42):
        frame = Image.new("RGB", (1280, 720), (120, 124, 128))
        if index >= 2:
            frame.paste(person, (380, 60))
        frame.save(folder / f"frame_{index:03d}.jpg", quality=85)
    return folder


@pytest.mark.timeout(180)
def test_alarm_raised_during_a_partition_arrives_once_after_it_heals(namespaces: Namespaces, tmp_path: Path,
                                                                    credentials) -> None:
    logs = tmp_path / "logs"
    remote, cam1 = token_file(credentials, "alarm", "remote"), token_file(credentials, "camera", "cam1")
    edge_url = f"http://{EDGE_IP}:8000"
    namespaces.run(namespaces.edge_ns, [
        "edge", "--host", EDGE_IP, "--port", "8000", "--sites", "site1", "--alarm-db", str(tmp_path / "alarms.db"),
        "--verify-timeout", "1", "--alarm-resend-interval", "1", "--confidence", "0.5", "--log-dir", str(logs),
        "--credentials-file", str(credentials.path),
    ], tmp_path / "edge.out")
    wait_for(lambda: bool(events(logs, "detector_ready")), 60, "the edge")
    namespaces.run(namespaces.alarm_ns, [
        "alarm", "--edge-url", edge_url, "--site-id", "site1", "--node-id", "remote", "--log-dir", str(logs),
        "--node-token-file", str(remote),
    ], tmp_path / "alarm.out")
    wait_for(lambda: bool(events(logs, "client_connected")), 60, "the alarm node to connect")

    namespaces.link(up=False)
    cut_at = time.time()
    namespaces.run(namespaces.edge_ns, [
        "camera", "--edge-url", edge_url, "--site-id", "site1", "--camera-id", "cam1", "--fps", "4",
        "--source", str(scene(tmp_path / "frames")), "--log-dir", str(logs), "--node-token-file", str(cam1),
    ], tmp_path / "camera.out")
    wait_for(lambda: bool(events(logs, "alarm_raised")), 30, "the edge to raise the alarm")
    time.sleep(3.0)  # the partition lasts: nothing may get through
    assert events(logs, "alarm_received") == [] and events(logs, "alarm_acked") == []
    namespaces.link(up=True)
    healed_at = time.time()

    wait_for(lambda: bool(events(logs, "alarm_acked")), 60, "the alarm to be acknowledged after the partition")
    (raised,) = events(logs, "alarm_raised")
    received = events(logs, "alarm_received")
    assert [e["event_id"] for e in received] == [raised["event_id"]], "acted on exactly once"
    assert received[0]["t"] >= healed_at - 0.5
    processed = [e for e in events(logs, "frame_processed") if cut_at < e["t"] < healed_at]
    assert len(processed) >= 8, "the edge kept detecting while the alarm node was cut off"
    assert all(p.poll() is None for p in namespaces.processes[:2]), "edge and alarm node still running"


@pytest.mark.timeout(180)
def test_camera_resumes_after_a_partition_without_flooding_the_edge_with_stale_frames(
    namespaces: Namespaces, tmp_path: Path, credentials
) -> None:
    """The camera sits on the far side of the cut link: while it is cut the camera keeps only its newest
    frames (counted drops), and when the link heals live frames flow again at once; only the few frames
    that were already in flight when the link died (max_in_flight) reach the edge late."""
    cam1 = token_file(credentials, "camera", "cam1")  # before the edge starts: it needs its credentials file
    logs = tmp_path / "logs"
    edge_url = f"http://{EDGE_IP}:8000"
    namespaces.run(namespaces.edge_ns, [
        "edge", "--host", EDGE_IP, "--port", "8000", "--sites", "site1", "--alarm-db", str(tmp_path / "alarms.db"),
        "--log-dir", str(logs), "--credentials-file", str(credentials.path),
    ], tmp_path / "edge.out")
    wait_for(lambda: bool(events(logs, "detector_ready")), 60, "the edge")
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(8):
        Image.new("RGB", (640, 360), (40 * index % 255, 90, 120)).save(frames / f"f{index}.jpg")
    namespaces.run(namespaces.alarm_ns, [
        "camera", "--edge-url", edge_url, "--site-id", "site1", "--camera-id", "cam1", "--fps", "5", "--loop",
        "--source", str(frames), "--log-dir", str(logs),
        "--node-token-file", str(cam1),
    ], tmp_path / "camera.out")
    wait_for(lambda: len(events(logs, "frame_processed")) >= 10, 60, "frames before the cut")

    namespaces.link(up=False)
    cut_at = time.time()
    time.sleep(6.0)
    namespaces.link(up=True)
    healed_at = time.time()
    wait_for(lambda: any(e["t"] > healed_at and e["captured_at"] > healed_at
                         for e in events(logs, "frame_received")), 60, "live frames after the partition")

    received = events(logs, "frame_received")
    late = [e for e in received if e["t"] > healed_at and cut_at < e["captured_at"] < healed_at]
    assert len(late) <= 2, f"{len(late)} frames captured during the cut reached the edge afterwards"
    dropped = [e for e in events(logs, "frame_dropped") if e["node"].startswith("camera") and cut_at < e["t"] < healed_at]
    assert len(dropped) >= 20, "the camera kept only its newest frames during the cut, and counted the rest"
