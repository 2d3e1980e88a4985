"""Camera sources behind one small interface: ``read()`` the frame that is current *now*, ``close()``.

Every source behaves like a live camera: a video file is played back in real time at its own fps (frames
that fall between two reads are skipped by time, not by count), a webcam or RTSP/HTTP stream is drained by
a grabber thread so a read never returns a frame that sat in OpenCV's buffer, and an image folder yields
its images in name order, one per read (the node's pacer sets the rate). All methods block (OpenCV), so
the node calls them from a worker thread.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import cv2
import numpy as np

from edgewatch import imaging
from edgewatch.telemetry.logs import get_logger

log = get_logger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://")

#: Assumed when a video file does not declare its frame rate.
DEFAULT_VIDEO_FPS = 25.0


class SourceError(RuntimeError):
    """A source that cannot be opened or read; the message names it."""


@dataclass(frozen=True)
class CapturedFrame:
    image: np.ndarray  # BGR, as OpenCV decodes it
    captured_at: float  # wall clock (epoch seconds) when the frame was taken from the source
    index: int  # position in the source: frame number of a video, file number of a folder
    name: str = ""  # file name for folder sources


class FrameSource(ABC):
    """One camera source. ``read`` blocks; ``None`` means the source ended (never for live sources)."""

    #: Live sources (webcam, stream) are reopened with backoff when they fail; files are not.
    live: bool = False
    description: str = ""

    @abstractmethod
    def read(self) -> CapturedFrame | None: ...

    def close(self) -> None:
        """Release the device or file."""

    def reopen(self) -> FrameSource:
        """A fresh source of the same kind (live sources only)."""
        raise SourceError(f"{self.description} cannot be reopened")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class ImageFolderSource(FrameSource):
    """Images of one folder (jpg/jpeg/png/bmp) in name order, optionally looped."""

    def __init__(self, folder: Path, loop: bool = False, max_pixels: int = imaging.DEFAULT_MAX_PIXELS) -> None:
        self.folder = folder
        self.max_pixels = max_pixels
        self.loop = loop
        self.description = f"image folder {folder}"
        self.files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f"image folder {folder} has no {'/'.join(sorted(s[1:] for s in IMAGE_SUFFIXES))} images")
        self._next = 0
        self._read_in_pass = 0  # images decoded in the current pass (an all-corrupt folder must not spin)

    def read(self) -> CapturedFrame | None:
        while True:
            if self._next >= len(self.files):
                if not self.loop:
                    return None
                if self._read_in_pass == 0:
                    raise SourceError(f"image folder {self.folder}: no image could be decoded")
                self._next, self._read_in_pass = 0, 0
            path = self.files[self._next]
            index = self._next
            self._next += 1
            try:  # the one image path: EXIF orientation, any mode, pixel limit before decoding
                image = imaging.load_bgr(path, max_pixels=self.max_pixels)
            except imaging.ImageError as exc:
                log.warning("image_unreadable", path=str(path), error=str(exc))
                continue
            self._read_in_pass += 1
            return CapturedFrame(image, time.time(), index, path.name)


class VideoFileSource(FrameSource):
    """A video file played in real time at its own fps, like a live camera.

    A read returns the frame whose media time matches the wall time elapsed since playback started; the
    frames in between are grabbed and discarded. Reading faster than the file's fps waits for the next
    frame, as a camera would.
    """

    def __init__(
        self, path: Path, loop: bool = False, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = path
        self.loop = loop
        self.description = f"video file {path}"
        self._clock, self._sleep = clock, sleep
        self._cap = _open_capture(str(path), self.description)
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not np.isfinite(fps) or fps <= 0 or fps > 1000:
            log.warning("video_fps_unknown", path=str(path), assumed_fps=DEFAULT_VIDEO_FPS)
            fps = DEFAULT_VIDEO_FPS
        self.fps = fps
        self._pos = 0  # index of the next frame the capture will deliver
        self._origin: float | None = None  # clock time of frame 0 in the current pass

    def _rewind(self) -> None:
        """Start the next pass; media time continues where the last pass ended."""
        if self._pos == 0:
            raise SourceError(f"{self.description} has no readable frames")
        assert self._origin is not None
        self._origin += self._pos / self.fps
        if not self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
            self._cap.release()
            self._cap = _open_capture(str(self.path), self.description)
        self._pos = 0

    def read(self) -> CapturedFrame | None:
        if self._origin is None:
            self._origin = self._clock()
        while True:
            due = self._origin + self._pos / self.fps
            now = self._clock()
            if due > now:  # asked faster than the file's fps: wait for the frame, as a camera would
                self._sleep(due - now)
            target = int((self._clock() - self._origin) * self.fps + 1e-6)  # float noise must not lose a frame
            ended = False
            while self._pos < target:  # skip by time
                if not self._cap.grab():
                    ended = True
                    break
                self._pos += 1
            if not ended:
                ok, image = self._cap.read()
                if ok and image is not None:
                    index = self._pos
                    self._pos += 1
                    return CapturedFrame(image, time.time(), index)
            if not self.loop:
                return None
            self._rewind()

    def close(self) -> None:
        self._cap.release()


class LiveCaptureSource(FrameSource):
    """A webcam index or an RTSP/HTTP URL. A grabber thread reads continuously and keeps only the newest
    frame, so a slow reader never gets video that waited in a buffer; a read waits for a frame newer than
    the last one it returned."""

    live = True

    def __init__(self, target: int | str, read_timeout: float = 10.0) -> None:
        self.target = target
        self.read_timeout = read_timeout
        self.description = f"webcam {target}" if isinstance(target, int) else f"stream {target}"
        self._cap = _open_capture(target, self.description)
        self._cond = threading.Condition()
        self._latest: CapturedFrame | None = None
        self._returned = -1
        self._failed: str | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._grab, name=f"grab-{self.description}", daemon=True)
        self._thread.start()

    def _grab(self) -> None:
        count = 0
        while not self._closed:
            ok, image = self._cap.read()
            with self._cond:
                if self._closed:
                    break
                if not ok or image is None:
                    self._failed = f"{self.description} stopped delivering frames"
                    self._cond.notify_all()
                    break
                self._latest = CapturedFrame(image, time.time(), count)
                count += 1
                self._cond.notify_all()

    def read(self) -> CapturedFrame | None:
        with self._cond:
            fresh = self._cond.wait_for(
                lambda: self._failed is not None or self._closed
                or (self._latest is not None and self._latest.index > self._returned),
                timeout=self.read_timeout,
            )
            if self._latest is not None and self._latest.index > self._returned:
                self._returned = self._latest.index
                return self._latest
            if self._failed:
                raise SourceError(self._failed)
            if self._closed:
                raise SourceError(f"{self.description} is closed")
            assert not fresh
            raise SourceError(f"{self.description}: no frame for {self.read_timeout:g} s")

    def reopen(self) -> FrameSource:
        return LiveCaptureSource(self.target, self.read_timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        self._cap.release()


def _open_capture(target: int | str, description: str) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(target)
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"cannot open {description} (OpenCV could not open it)")
    return cap


def open_source(spec: str, loop: bool = False, cwd: Path | None = None) -> FrameSource:
    """The source named by ``spec``: a digits-only string is a webcam index, a URL a stream, a folder an
    image folder, anything else a video file; relative paths are resolved from ``cwd`` (the working
    directory by default). Raises :class:`SourceError` naming the source when it cannot be used."""
    spec = spec.strip()
    if not spec:
        raise SourceError("no camera source given (set --source / EDGEWATCH_SOURCE)")
    if spec.isdigit():
        return LiveCaptureSource(int(spec))
    if spec.lower().startswith(URL_SCHEMES):
        return LiveCaptureSource(spec)
    if "://" in spec:
        raise SourceError(f"unsupported camera source URL {spec!r} (use rtsp://, http:// or https://)")
    path = Path(spec).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    path = path.resolve()
    if not path.exists():
        raise SourceError(f"camera source not found: {path} (from {spec!r})")
    if path.is_dir():
        return ImageFolderSource(path, loop=loop)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise SourceError(f"camera source {path} is a single image; give the folder that holds it")
    return VideoFileSource(path, loop=loop)
