"""Camera sources behind one small interface: ``read()`` the frame that is current *now*, ``close()``.

Every source behaves like a live camera: a video file is played back in real time by its frames'
timestamps (frames that fall between two reads are skipped by time, not by count; :mod:`.video`), a webcam
or RTSP/HTTP stream is drained by a grabber thread that owns its capture, so a read never returns a frame
that sat in OpenCV's buffer and a stalled stream never crashes the process (:mod:`.live`), and an image folder yields
its images in name order, one per read (the node's pacer sets the rate). All methods block (OpenCV), so
the node calls them from a worker thread.
"""

from __future__ import annotations

import time
from pathlib import Path

from edgewatch import imaging
from edgewatch.camera.live import DEFAULT_TIMEOUT, LiveCaptureSource, StuckReaders
from edgewatch.camera.source_base import CapturedFrame, FrameSource, SourceError
from edgewatch.camera.video import DEFAULT_VIDEO_FPS, VideoFileSource
from edgewatch.telemetry.logs import get_logger

__all__ = [
    "DEFAULT_VIDEO_FPS", "CapturedFrame", "FrameSource", "ImageFolderSource", "LiveCaptureSource", "SourceError",
    "StuckReaders", "VideoFileSource", "open_source",
]

log = get_logger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
URL_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://")


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


def open_source(
    spec: str, loop: bool = False, cwd: Path | None = None, live_timeout: float = DEFAULT_TIMEOUT,
) -> FrameSource:
    """The source named by ``spec``: a digits-only string is a webcam index, a URL a stream, a folder an
    image folder, anything else a video file; relative paths are resolved from ``cwd`` (the working
    directory by default). Raises :class:`SourceError` naming the source when a file source cannot be
    used; a live source (webcam, stream) is not opened here: one that is down fails its first read and is
    retried like any later failure. ``live_timeout``: seconds without a frame before a live source fails."""
    spec = spec.strip()
    if not spec:
        raise SourceError("no camera source given (set --source / EDGEWATCH_SOURCE)")
    if spec.isdigit():
        return LiveCaptureSource(int(spec), live_timeout)
    if spec.lower().startswith(URL_SCHEMES):
        return LiveCaptureSource(spec, live_timeout)
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
