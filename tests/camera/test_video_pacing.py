"""Video files play at their real speed, by frame timestamps, whatever their header declares: a file whose
header says 600 fps but runs at 10, and a variable-frame-rate file (fast, then slow). The files are real
Matroska files written by GStreamer with explicit timestamps (generated in tmp, never committed)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from edgewatch.camera.node import CameraNode
from edgewatch.camera.sources import SourceError, VideoFileSource, open_source
from edgewatch.config import CameraSettings

from .conftest import edge_count
from .gst_tools import require_gstreamer, write_mkv

LYING = [i * 0.1 for i in range(30)]  # 10 fps for 3 s
VFR = [round(i * 0.04, 3) for i in range(10)] + [round(0.4 + i * 0.5, 3) for i in range(10)]  # 25 fps, then 2


class FakeClock:
    """A clock the test moves by hand (reads 'take' time by advancing it; sleeps advance it)."""

    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_gstreamer()
    folder = tmp_path_factory.mktemp("media")
    return {"lying": write_mkv(folder / "lying.mkv", LYING, "600/1"), "vfr": write_mkv(folder / "vfr.mkv", VFR, "0/1")}


def play(path: Path, step: float) -> tuple[list[tuple[int, float, float]], float]:
    """Read ``path`` to its end, the reader spending ``step`` s between reads: (index, frame timestamp, time
    since start when the read returned) per frame, and the total play time, all on a fake clock."""
    clock = FakeClock()
    source = VideoFileSource(path, clock=clock, sleep=clock.sleep)
    start = clock.now
    seen = []
    while (frame := source.read()) is not None:
        assert frame.media_time is not None
        seen.append((frame.index, frame.media_time, clock.now - start))
        clock.now += step
    source.close()
    return seen, clock.now - start


@pytest.mark.parametrize("name,times", [("lying", LYING), ("vfr", VFR)])
@pytest.mark.parametrize("step", [0.0, 0.03, 0.25])
def test_file_plays_at_the_speed_of_its_timestamps(media, name: str, times: list[float], step: float) -> None:
    seen, total = play(media[name], step)

    assert [t for _, t, _ in seen] == [pytest.approx(times[i], abs=1e-3) for i, _, _ in seen]
    indices = [i for i, _, _ in seen]
    assert indices == sorted(set(indices)) and indices[0] == 0 and indices[-1] == len(times) - 1
    for index, _t, at in seen:  # each read returns the frame on screen at the moment it returns
        assert times[index] <= at + 1e-6
        assert index == len(times) - 1 or times[index + 1] > at - 1e-6, (index, at)
    assert total >= times[-1] - 1e-6  # real speed: the video's own duration, never a fast-forward
    if step == 0.0:  # a reader faster than the video gets every frame, each at its time
        assert indices == list(range(len(times)))


def test_implausible_declared_rates_are_logged(media, logs) -> None:
    lying = open_source(str(media["lying"]))
    assert isinstance(lying, VideoFileSource) and lying.declared_fps == pytest.approx(600)
    vfr = open_source(str(media["vfr"]))
    for source in (lying, vfr):
        for _ in range(12):  # enough frames to measure the real rate
            source._grab()
        source.close()
    implausible = logs.of("video_fps_implausible")
    assert [e["declared_fps"] for e in implausible] == [pytest.approx(600)]
    mismatch = {e["path"]: e for e in logs.of("video_fps_mismatch")}
    assert mismatch[str(media["lying"])]["measured_fps"] == pytest.approx(10, abs=0.1)
    assert mismatch[str(media["vfr"])]["measured_fps"] == pytest.approx(25, abs=0.1)


async def test_lying_header_file_streams_all_its_frames_through_the_node(real_edge, media) -> None:
    edge, server = real_edge()
    node = CameraNode(CameraSettings(edge_url=server.url, source=str(media["lying"]), fps=20.0, send_buffer=30,
                                     max_in_flight=8, reconnect_delay=0.1))
    started = time.monotonic()
    stats = await asyncio.wait_for(node.run(), 60)
    elapsed = time.monotonic() - started

    # 30 frames at 10 fps take 3 s (the old pacing sent 1 frame and ended): a lower bound, safe under load
    assert elapsed >= 2.8
    assert stats.frames_read >= 27 and stats.frames_sent == stats.frames_read
    assert edge_count(edge, "received", "cam1") == stats.frames_sent


def test_close_ends_a_read_waiting_for_a_distant_frame(media, tmp_path: Path) -> None:
    """A read waiting out a long gap of a variable-frame-rate file holds the capture; close must neither
    release the capture under it (OpenCV would crash) nor wait for the gap to pass."""
    path = write_mkv(tmp_path / "gap.mkv", [0.0, 60.0], "0/1")
    source = VideoFileSource(path)
    assert source.read() is not None  # frame 0; the next one is a minute away
    outcome: list[BaseException | None] = []

    def read_next() -> None:
        try:
            source.read()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    reader = threading.Thread(target=read_next, daemon=True)
    reader.start()
    time.sleep(0.3)  # let it start waiting (the outcome does not depend on this)
    source.close()
    reader.join(timeout=20)
    assert not reader.is_alive(), "close left the reader waiting for the distant frame"
    assert len(outcome) == 1 and isinstance(outcome[0], SourceError) and "closed" in str(outcome[0])
