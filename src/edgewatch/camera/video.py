"""A video file played back in real time by its frames' own timestamps, like a live camera.

The declared frame rate of a file cannot be trusted: a header may say 600 fps for video that runs at 10,
and a variable-frame-rate file (phones, screen recorders, Frigate exports) has no single rate at all.
Playback therefore follows each frame's presentation timestamp (``CAP_PROP_POS_MSEC`` after ``grab()``);
the declared rate is only a fallback for containers without timestamps, and an implausible one is logged.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edgewatch.camera.source_base import CapturedFrame, FrameSource, SourceError
from edgewatch.telemetry.logs import get_logger

log = get_logger(__name__)

#: Assumed when a video file does not declare a usable frame rate (and has no timestamps).
DEFAULT_VIDEO_FPS = 25.0
#: Declared rates outside (0, MAX_PLAUSIBLE_FPS] are logged as implausible.
MAX_PLAUSIBLE_FPS = 240.0
#: Frame intervals measured before the declared rate is compared with the real one.
RATE_SAMPLE = 10


class VideoFileSource(FrameSource):
    """A video file played in real time, by frame timestamps.

    ``read`` returns the frame on screen now: the latest frame whose timestamp is not after the time
    elapsed since playback started; the frames in between are skipped (grabbed, not converted). Reading
    faster than the video waits for its next frame, as a camera would. With ``loop`` media time continues
    across passes. ``clock``/``sleep`` are injectable for tests (seconds)."""

    def __init__(
        self, path: Path, loop: bool = False, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.path = path
        self.loop = loop
        self.description = f"video file {path}"
        self._closing = threading.Event()
        # A wait for the next frame ends early when the source is closed (a VFR gap may last seconds).
        self._clock, self._sleep = clock, sleep or self._closing.wait
        self._lock = threading.Lock()  # read and close never overlap: releasing under a read crashes OpenCV
        self._cap = self._open()
        declared = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.declared_fps = declared
        if not np.isfinite(declared) or declared <= 0 or declared > MAX_PLAUSIBLE_FPS:
            log.warning("video_fps_implausible", path=str(path), declared_fps=declared,
                        note="pacing by frame timestamps", fallback_fps=DEFAULT_VIDEO_FPS)
            declared = DEFAULT_VIDEO_FPS
        self.fps = declared  # only used for frames without a usable timestamp
        self._origin: float | None = None  # clock time of media time 0
        self._offset = 0.0  # media time at which the current pass started (loops)
        self._index = -1  # frame number in the current pass of the grabbed frame
        self._next_t: float | None = None  # media time of the grabbed, not yet converted frame
        self._current: CapturedFrame | None = None  # the newest converted frame
        self._current_t = 0.0
        self._returned = True  # the current frame was handed out already
        self._pass_frames = 0
        self._last_t = -1.0  # media time of the last grabbed frame
        self._delta = 1.0 / self.fps  # the last interval between frames (seconds)
        self._intervals: list[float] = []
        self._rate_checked = False

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open {self.description} (OpenCV could not open it)")
        return cap

    # ---- timestamps -------------------------------------------------------------------------------------

    def _grab(self) -> bool:
        """Grab the next frame and note its media time; False at the end of the file."""
        if not self._cap.grab():
            self._next_t = None
            return False
        self._index += 1
        self._pass_frames += 1
        stamp = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        t = self._offset + stamp if np.isfinite(stamp) and stamp >= 0 else -1.0
        if self._last_t >= 0 and t <= self._last_t:  # no usable timestamp: fall back to the declared rate
            t = self._last_t + 1.0 / self.fps
        t = max(t, self._offset)
        if self._last_t >= 0 and t > self._last_t:
            self._delta = t - self._last_t
            self._check_rate(self._delta)
        self._last_t = t
        self._next_t = t
        return True

    def _check_rate(self, interval: float) -> None:
        if self._rate_checked:
            return
        self._intervals.append(interval)
        if len(self._intervals) < RATE_SAMPLE:
            return
        self._rate_checked = True
        measured = 1.0 / statistics.median(self._intervals)
        plausible = self.declared_fps > 0 and 1 / 1.5 <= measured / self.declared_fps <= 1.5
        if not plausible:
            log.warning("video_fps_mismatch", path=str(self.path), declared_fps=self.declared_fps,
                        measured_fps=round(measured, 2), note="pacing by frame timestamps")

    def _convert(self) -> None:
        """Decode the grabbed frame into ``_current``."""
        ok, image = self._cap.retrieve()
        if ok and image is not None:
            assert self._next_t is not None
            self._current = CapturedFrame(image, time.time(), self._index, media_time=self._next_t)
            self._current_t = self._next_t
            self._returned = False

    def _rewind(self) -> None:
        """Start the next pass; media time continues where the last pass ended."""
        if self._pass_frames == 0:
            raise SourceError(f"{self.description} has no readable frames")
        self._offset = self._last_t + self._delta
        self._last_t = -1.0
        if not self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
            self._cap.release()
            self._cap = self._open()
        self._index, self._pass_frames = -1, 0

    # ---- reading ----------------------------------------------------------------------------------------

    def read(self) -> CapturedFrame | None:
        with self._lock:
            if self._closing.is_set():
                raise SourceError(f"{self.description} is closed")
            return self._read()

    def _read(self) -> CapturedFrame | None:
        if self._origin is None:
            self._origin = self._clock()
            self._grab()
        while True:
            if self._next_t is None and not self._grab():  # end of this pass
                if self._current is not None and not self._returned:
                    self._returned = True
                    return self._current
                if not self.loop:
                    return None
                self._rewind()
                continue
            assert self._next_t is not None
            elapsed = self._clock() - self._origin
            if self._next_t <= elapsed + 1e-6:  # the grabbed frame is due (float noise must not lose one)
                if self._next_t + 1.5 * self._delta <= elapsed and self._current is not None:
                    self._next_t = None  # the one after it is due too: skip without converting
                    continue
                self._convert()
                self._next_t = None
                continue
            if self._current is not None and not self._returned:
                self._returned = True
                return self._current
            self._sleep(max(0.0, self._origin + self._next_t - self._clock()))  # faster than the video: wait
            if self._closing.is_set():
                raise SourceError(f"{self.description} is closed")

    def close(self) -> None:
        self._closing.set()  # wakes a read waiting for its frame; the lock then waits for it to leave OpenCV
        with self._lock:
            self._cap.release()
