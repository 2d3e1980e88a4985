"""Issue 10: every run of the demo has a folder of its own, every way of ending it stops its nodes, and
`edgewatch scene` writes exactly the scene asked for."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgewatch.sim.run_folder import RunFolderError, new_run_dir


def _edgewatch(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgewatch", *args], capture_output=True, text=True,
                          check=False, timeout=timeout)


def _alive(run_dir: Path) -> list[str]:
    """PIDs of processes whose command line names this run folder (every node's --log-dir does)."""
    found = subprocess.run(["pgrep", "-f", str(run_dir)], capture_output=True, text=True, check=False)
    return found.stdout.split()


def test_default_run_folders_are_new_for_every_run(tmp_path: Path) -> None:
    same_second = 1_800_000_000.0
    first = new_run_dir(None, parent=tmp_path / "runs", now=same_second)
    (first / "logs").mkdir()
    second = new_run_dir(None, parent=tmp_path / "runs", now=same_second)
    assert first != second and first.is_dir() and second.is_dir()
    assert not any(second.iterdir()), "a new run starts in an empty folder"
    assert first.name == "20270115-080000" and second.name == "20270115-080000-2"


def test_a_named_run_folder_must_be_new_or_empty(tmp_path: Path) -> None:
    assert new_run_dir(tmp_path / "fresh").is_dir()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert new_run_dir(empty) == empty
    used = tmp_path / "used"
    (used / "logs").mkdir(parents=True)
    with pytest.raises(RunFolderError, match="not empty"):
        new_run_dir(used)
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(RunFolderError, match="is a file"):
        new_run_dir(afile)


@pytest.mark.parametrize("kind", ["earlier run", "file"])
def test_demo_refuses_a_used_run_folder_before_starting_anything(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "run"
    if kind == "file":
        target.write_text("not a folder")
    else:
        (target / "logs").mkdir(parents=True)
        (target / "logs" / "edge.jsonl").write_text('{"event": "frame_processed"}\n')
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = _edgewatch("demo", "--duration", "5", "--run-dir", str(target))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert ("is not empty" if kind == "earlier run" else "is a file") in result.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "nothing was written"


def _wait_for(path: Path, text: str, process: subprocess.Popen[str], timeout: float = 150.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(encoding="utf-8", errors="replace"):
        assert process.poll() is None, path.read_text()
        assert time.monotonic() < deadline, f"{text!r} not printed within {timeout} s: {path.read_text()}"
        time.sleep(0.2)


def _wait_gone(run_dir: Path, timeout: float = 60.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while (alive := _alive(run_dir)) and time.monotonic() < deadline:
        time.sleep(0.3)
    return alive


@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "SIGKILL"])
def test_every_stop_signal_stops_every_node(tmp_path: Path, how: str) -> None:
    """SIGTERM (kill, systemd) and SIGHUP (terminal closed) stop the nodes and still print the summary;
    even SIGKILL, which the demo cannot catch, leaves no node behind (each node asked the kernel for
    SIGTERM when its parent dies)."""
    run_dir = tmp_path / "run"
    out_path = tmp_path / "demo.out"
    with out_path.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "edgewatch", "demo", "--duration", "200", "--cameras", "1", "--run-dir", str(run_dir)],
            stdout=out, stderr=subprocess.STDOUT, text=True,
        )
    try:
        _wait_for(out_path, "started cloud", demo)
        assert len(_alive(run_dir)) >= 4  # cloud, edge, alarm, camera
        demo.send_signal(getattr(signal, how))
        code = demo.wait(90)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert _wait_gone(run_dir) == [], "nodes of this demo still running"
    text = out_path.read_text()
    if how == "SIGKILL":
        assert code == -signal.SIGKILL
    else:
        assert code == 0, text[-2000:]
        assert f"interrupted ({how}): stopping every node" in text and "summary" in text
        assert "next: edgewatch report" in text


@pytest.mark.timeout(300)
def test_timeout_command_stops_every_node(tmp_path: Path) -> None:
    """`timeout 40 edgewatch demo` (SIGTERM after 40 s, whatever the demo was doing then)."""
    run_dir = tmp_path / "run"
    result = subprocess.run(
        ["timeout", "40", sys.executable, "-m", "edgewatch", "demo", "--duration", "200", "--cameras", "1",
         "--run-dir", str(run_dir)],
        capture_output=True, text=True, check=False, timeout=200,
    )
    assert result.returncode in (0, 124, 130), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert (run_dir / "stdio" / "commands.txt").is_file(), "the demo had started nodes"
    assert _wait_gone(run_dir) == [], "nodes of this demo still running"


def test_scene_replaces_stale_frames_and_writes_exactly_the_duration(tmp_path: Path) -> None:
    out = tmp_path / "media"
    first = _edgewatch("scene", "--out", str(out), "--duration", "20", "--fps", "2")
    assert first.returncode == 0, first.stderr
    assert len(list(out.glob("frame_*.jpg"))) == 40
    (out / "notes.txt").write_text("mine")  # not a frame: left alone
    second = _edgewatch("scene", "--out", str(out), "--duration", "4", "--fps", "2")
    assert second.returncode == 0, second.stderr
    frames = sorted(p.name for p in out.glob("frame_*.jpg"))
    assert frames == [f"frame_{i:05d}.jpg" for i in range(8)]
    assert "wrote 8 frames (4 s at 2 fps)" in second.stdout
    assert (out / "notes.txt").read_text() == "mine"
    afile = tmp_path / "afile"
    afile.write_text("x")
    bad = _edgewatch("scene", "--out", str(afile), "--duration", "2")
    assert bad.returncode == 2 and "is a file" in bad.stderr and "Traceback" not in bad.stderr
