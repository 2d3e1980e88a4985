"""GStreamer helpers run with Debian's ``/usr/bin/python3`` (which has ``gi``): a real RTSP server and a
writer of Matroska files with chosen timestamps. Tests using them skip cleanly when GStreamer, its RTSP
server or the needed elements are absent (packages: tools/test-deps/apt.txt)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

SYSTEM_PYTHON = Path("/usr/bin/python3")
SCRIPTS = Path(__file__).resolve().parent / "gst"

_PROBE = """
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in ("videotestsrc", "jpegenc", "rtpjpegpay", "appsrc", "jpegparse", "matroskamux", "filesink")
           if Gst.ElementFactory.find(e) is None]
print(",".join(missing))
"""


def require_gstreamer() -> None:
    """Skip the calling test unless the system Python has GStreamer, its RTSP server and the elements."""
    if not SYSTEM_PYTHON.exists():
        pytest.skip("no /usr/bin/python3 (GStreamer's Python bindings come from Debian)")
    try:
        probe = subprocess.run([str(SYSTEM_PYTHON), "-c", _PROBE], capture_output=True, text=True, timeout=60,
                               check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"GStreamer probe failed: {exc}")
    if probe.returncode != 0:
        pytest.skip("GStreamer / gir1.2-gst-rtsp-server-1.0 / python3-gi not installed")
    if probe.stdout.strip():
        pytest.skip(f"GStreamer elements missing: {probe.stdout.strip()}")


class RtspServer:
    """``rtsp://127.0.0.1:PORT/cam`` served by GStreamer in a child process, started and ended by PID."""

    def __init__(self, port: int, workdir: Path, fps: int = 10) -> None:
        self.port = port
        self.fps = fps
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self, timeout: float = 30.0) -> RtspServer:
        self.starts += 1
        out = self.workdir / f"rtsp-{self.port}-{self.starts}.out"
        with out.open("wb") as handle:
            self.proc = subprocess.Popen(
                [str(SYSTEM_PYTHON), str(SCRIPTS / "rtsp_server.py"), str(self.port), str(self.fps)],
                stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while b"ready" not in out.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"RTSP server did not start: {out.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL: the camera sees the server vanish mid-stream."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def write_mkv(path: Path, times: list[float], declared_rate: str, size: tuple[int, int] = (160, 120)) -> Path:
    """A Matroska file whose frame ``i`` has grey level ``(10 * i) % 250`` and timestamp ``times[i]``
    seconds, with ``declared_rate`` (GStreamer caps, e.g. ``600/1``; ``0/1`` = variable) in its header."""
    frames_dir = path.parent / f"{path.stem}-frames"
    frames_dir.mkdir(exist_ok=True)
    listing = []
    for index, seconds in enumerate(times):
        image = np.full((size[1], size[0], 3), (index * 10) % 250, np.uint8)
        frame = frames_dir / f"{index:05d}.jpg"
        assert cv2.imwrite(str(frame), image)
        listing.append([str(frame), seconds])
    (frames_dir / "frames.json").write_text(json.dumps(listing))
    result = subprocess.run(
        [str(SYSTEM_PYTHON), str(SCRIPTS / "write_mkv.py"), str(path), declared_rate,
         str(frames_dir / "frames.json")], capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0 and path.exists(), result.stderr
    return path
