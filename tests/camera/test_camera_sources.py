"""Camera sources on real files, folders and an HTTP stream; pacing and encoding without a network."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Route

from edgewatch.camera.encoding import encode_jpeg, resize_to_width
from edgewatch.camera.node import CameraNode
from edgewatch.camera.pacing import Pacer
from edgewatch.camera.sources import (
    ImageFolderSource,
    LiveCaptureSource,
    SourceError,
    VideoFileSource,
    open_source,
)
from edgewatch.config import CameraSettings

from .conftest import edge_count


class FakeClock:
    """A clock the test moves by hand, so skip-by-time is checked exactly (no wall-clock timing)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def grey_index(image: np.ndarray) -> int:
    return round(float(np.median(image)) / 10)


def test_folder_source_is_sorted_by_name_and_loops(image_folder: Path) -> None:
    source = open_source(str(image_folder), loop=True)
    assert isinstance(source, ImageFolderSource)
    names = [source.read().name for _ in range(14)]  # type: ignore[union-attr]
    assert names[:12] == [f"frame_{i:03d}.jpg" for i in range(12)]
    assert names[12:] == ["frame_000.jpg", "frame_001.jpg"]  # looped; notes.txt ignored


def test_folder_source_without_loop_ends_and_skips_corrupt_files(image_folder: Path) -> None:
    (image_folder / "frame_005.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with open_source(str(image_folder)) as source:
        names = []
        while (frame := source.read()) is not None:
            names.append(frame.name)
    assert len(names) == 11 and "frame_005.jpg" not in names


def test_relative_path_resolves_from_working_directory(image_folder: Path, monkeypatch) -> None:
    monkeypatch.chdir(image_folder.parent)
    source = open_source(image_folder.name)
    assert isinstance(source, ImageFolderSource) and source.folder == image_folder.resolve()


def test_video_file_plays_in_real_time_skipping_by_time(video_file) -> None:
    path = video_file(frames=10, fps=20.0)  # 0.5 s of video
    clock = FakeClock()
    source = VideoFileSource(path, loop=False, clock=clock, sleep=clock.sleep)
    assert source.fps == pytest.approx(20.0)
    seen = []
    for step in (0.0, 0.1, 0.26, 0.1):  # the wall time between two reads
        clock.now += step
        frame = source.read()
        assert frame is not None
        seen.append(grey_index(frame.image))
    assert seen == [0, 2, 7, 9]  # the frame that is live at each moment; those in between are skipped
    clock.now += 0.2
    assert source.read() is None  # past the end, no loop
    source.close()


def test_video_file_waits_for_its_next_frame_when_read_faster_than_its_fps(video_file) -> None:
    clock = FakeClock()
    source = VideoFileSource(video_file(frames=5, fps=10.0), clock=clock, sleep=clock.sleep)
    start = clock.now
    indices = [grey_index(source.read().image) for _ in range(3)]  # type: ignore[union-attr]
    assert indices == [0, 1, 2]
    assert clock.now - start == pytest.approx(0.2)  # like a camera: frame 2 exists only at t = 0.2 s
    source.close()


def test_video_file_loops(video_file) -> None:
    clock = FakeClock()
    source = VideoFileSource(video_file(frames=10, fps=20.0), loop=True, clock=clock, sleep=clock.sleep)
    seen = []
    for _ in range(8):
        frame = source.read()
        assert frame is not None
        seen.append(grey_index(frame.image))
        clock.now += 0.15  # 3 frames of the file per read
    assert seen == [0, 3, 6, 9, 2, 5, 8, 1]  # media time runs on across the wrap-around
    source.close()


def test_bad_file_sources_fail_at_start_naming_them(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found: .*missing.mp4"):
        open_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(SourceError, match="no camera source"):
        open_source("")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="has no .*images"):
        open_source(str(tmp_path / "empty"))
    (tmp_path / "not-a-video.mp4").write_text("hello")
    with pytest.raises(SourceError, match="cannot open video file .*not-a-video.mp4"):
        open_source(str(tmp_path / "not-a-video.mp4"))
    with pytest.raises(SourceError, match="unsupported camera source URL"):
        open_source("ftp://example/cam")
    missing_webcam = open_source("97", live_timeout=0.5)  # a live source: not opened at start, retried
    assert isinstance(missing_webcam, LiveCaptureSource)
    with pytest.raises(SourceError, match="cannot open webcam 97"):
        missing_webcam.read()
    missing_webcam.close()
    image = tmp_path / "one.jpg"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(SourceError, match="single image"):
        open_source(str(image))


def test_encode_resizes_keeping_aspect_and_applies_quality() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    assert resize_to_width(image, 320).shape == (240, 320, 3)
    assert resize_to_width(image, 1000) is image  # never upscaled
    small = cv2.imdecode(np.frombuffer(encode_jpeg(image, 160, 90), np.uint8), cv2.IMREAD_COLOR)
    assert small.shape == (120, 160, 3)
    assert len(encode_jpeg(image, None, 20)) < len(encode_jpeg(image, None, 95))
    with pytest.raises(ValueError, match="quality"):
        encode_jpeg(image, None, 0)


def test_pacer_hands_out_slots_by_time_without_bursts() -> None:
    clock = FakeClock()
    pacer = Pacer(4.0, clock=clock)
    assert pacer.claim() == 0.0  # the first slot is now
    assert pacer.claim() == pytest.approx(0.25)  # asked again at once: wait a whole period
    clock.now += 2.0  # a long stall (slow read) ...
    assert pacer.claim() == 0.0
    assert pacer.claim() == pytest.approx(0.25)  # ... is not made up by a burst of catch-up slots
    with pytest.raises(ValueError):
        Pacer(0)


async def test_video_file_streams_and_loops_through_the_node(real_edge, logs, video_file) -> None:
    edge, server = real_edge()
    # 0.5 s of video whose first half shows a person; played at 10 fps it has to loop to give 12 frames
    path = video_file(frames=10, fps=20.0, size=(640, 360), person_at=frozenset(range(5)))
    node = CameraNode(CameraSettings(edge_url=server.url, source=str(path), loop=True, fps=10.0, max_frames=12,
                                     send_buffer=12, reconnect_delay=0.1))
    stats = await asyncio.wait_for(node.run(), 30)

    assert stats.frames_sent == 12 == edge_count(edge, "processed", "cam1")
    persons = {e["trace_id"]: e["persons"] for e in logs.of("frame_processed")}
    seen = [persons[e["trace_id"]] > 0 for e in logs.of("frame_received")]  # in seq order, per the real detector
    assert seen[0], "the video starts with the person"
    assert any(not a and b for a, b in itertools.pairwise(seen)), f"the person never came back: no loop in {seen}"


async def test_stream_url_source_is_reopened_when_it_fails(serve, real_edge, video_file) -> None:
    """A finite HTTP video behaves like a stream that keeps dying: the node reopens it with backoff."""
    path = video_file(frames=5, fps=20.0)
    files = serve(Starlette(routes=[Route("/cam.avi", lambda request: FileResponse(path))]))
    edge, server = real_edge()
    url = f"{files.url}/cam.avi"
    assert isinstance(open_source(url), LiveCaptureSource)
    node = CameraNode(CameraSettings(edge_url=server.url, source=url, fps=20.0, max_frames=8, send_buffer=8,
                                     reconnect_delay=0.05, reconnect_delay_max=0.2))
    stats = await asyncio.wait_for(node.run(), 60)

    assert stats.frames_sent == 8 == edge_count(edge, "processed", "cam1")
    assert stats.source_failures >= 1  # the stream ended at least once and was reopened


async def test_streams_shared_wisenet_frames(real_edge, logs, shared_data: Path) -> None:
    folder = shared_data / "wisenet-frames"
    expected = sorted(folder.glob("*.jpg"))
    edge, server = real_edge()
    node = CameraNode(CameraSettings(edge_url=server.url, source=str(folder), fps=20.0, send_buffer=20,
                                     max_width=640, reconnect_delay=0.1))
    stats = await asyncio.wait_for(node.run(), 30)

    assert stats.frames_sent == len(expected) == edge_count(edge, "processed", "cam1")
    received = logs.of("frame_received")
    assert [e["seq"] for e in received] == list(range(len(expected)))
    # each is the camera's 640-wide encoding of that file (1280x720 downscaled to 640x360), in name order
    assert all(resize_to_width(cv2.imread(str(p)), 640).shape == (360, 640, 3) for p in expected)
    sizes = [len(encode_jpeg(cv2.imread(str(p), cv2.IMREAD_COLOR), 640, 85)) for p in expected]
    assert [e["bytes"] for e in received] == sizes
