"""Live camera sources (webcam index, RTSP/HTTP URL), each read by a grabber thread that owns its capture.

Why the thread owns the capture: OpenCV crashes the process (SIGSEGV) when a ``cv2.VideoCapture`` is
released while another thread is inside its ``read()``/``grab()`` — which is what happened when a stalled
stream timed out and the node released the capture under its blocked reader. Here a capture is opened,
read and released by one thread only. When no frame comes for ``timeout`` seconds the source fails, the
node closes it and opens a fresh source with a fresh capture; the old thread is asked to stop and, if it is
still stuck inside OpenCV, abandoned (a daemon that releases its own capture if it ever returns).

FFmpeg's own timeouts (``CAP_PROP_OPEN_TIMEOUT_MSEC``, ``CAP_PROP_READ_TIMEOUT_MSEC``, OpenCV >= 4.6) make
a stuck read return in the common case, so abandoned threads are rare; they are counted per camera
(:class:`StuckReaders`) and capped: while ``limit`` of them are still stuck no new capture is opened (the
source fails at once and the node backs off), so a misbehaving server cannot pile up threads.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit, urlunsplit

import cv2

from edgewatch.camera.source_base import CapturedFrame, FrameSource, SourceError
from edgewatch.telemetry.logs import get_logger

log = get_logger(__name__)

#: Seconds without a frame before a live source is given up and reopened; also FFmpeg's open/read timeout.
DEFAULT_TIMEOUT = 10.0
#: Grabber threads that may stay stuck inside OpenCV before a camera stops opening new captures.
MAX_STUCK_READERS = 4
#: How long ``close`` waits for the grabber to leave OpenCV before abandoning it (seconds).
JOIN_TIMEOUT = 2.0


def redact_url(url: str) -> str:
    """``url`` without its password (``rtsp://admin:***@cam/stream``): descriptions end up in logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
    except ValueError:  # unparseable: keep nothing that could be a secret
        return url.split("://", 1)[0] + "://<unparseable URL>"


class StuckReaders:
    """Grabber threads given up on while still inside OpenCV, shared by one camera's successive sources."""

    def __init__(self, limit: int = MAX_STUCK_READERS) -> None:
        self.limit = limit
        self.total = 0  # ever abandoned
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def add(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads.append(thread)
            self.total += 1

    def alive(self) -> int:
        """Abandoned threads still inside OpenCV now."""
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            return len(self._threads)


class LiveCaptureSource(FrameSource):
    """A webcam index or an RTSP/HTTP URL. The grabber thread reads continuously and keeps only the newest
    frame, so a slow reader never gets video that waited in a buffer; ``read`` waits for a frame newer than
    the last one it returned and raises :class:`SourceError` when the source cannot be opened, ends, or
    sends nothing for ``timeout`` seconds. Constructing one never blocks and never raises: a source that is
    down at start fails its first ``read`` and is retried like any later failure.

    ``capture_timeout`` (default ``timeout``) is FFmpeg's own open/read timeout for URLs, in seconds."""

    live = True

    def __init__(
        self, target: int | str, timeout: float = DEFAULT_TIMEOUT, *, capture_timeout: float | None = None,
        stuck: StuckReaders | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.capture_timeout = timeout if capture_timeout is None else capture_timeout
        self.stuck = stuck if stuck is not None else StuckReaders()
        self.description = f"webcam {target}" if isinstance(target, int) else f"stream {redact_url(target)}"
        self._cond = threading.Condition()
        self._latest: CapturedFrame | None = None
        self._returned = -1
        self._failed: str | None = None
        self._opened = False
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        stuck_now = self.stuck.alive()
        if stuck_now >= self.stuck.limit:
            self._failed = (f"{self.description}: {stuck_now} earlier reader(s) are still stuck inside OpenCV; "
                            "not opening another until one returns")
            return
        self._thread = threading.Thread(target=self._grab, name=f"grab-{self.description}", daemon=True)
        self._thread.start()

    def _open(self) -> cv2.VideoCapture:
        if isinstance(self.target, int):
            return cv2.VideoCapture(self.target)
        ms = max(1, int(self.capture_timeout * 1000))
        return cv2.VideoCapture(self.target, cv2.CAP_FFMPEG,
                                [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])

    def _fail(self, reason: str) -> None:
        with self._cond:
            self._failed = reason
            self._cond.notify_all()

    def _grab(self) -> None:
        """The grabber thread: the only code that touches this source's capture, from open to release."""
        cap = self._open()
        try:
            if not cap.isOpened():
                self._fail(f"cannot open {self.description} (OpenCV could not open it)")
                return
            with self._cond:
                self._opened = True
            if not self._closed.is_set():
                log.info("source_opened", source=self.description)
            count = 0
            while not self._closed.is_set():
                ok, image = cap.read()
                if self._closed.is_set():
                    break
                if not ok or image is None:
                    self._fail(f"{self.description} stopped delivering frames")
                    break
                with self._cond:
                    self._latest = CapturedFrame(image, time.time(), count)
                    count += 1
                    self._cond.notify_all()
        finally:
            cap.release()  # here only: no other thread can be inside this capture

    def read(self) -> CapturedFrame | None:
        with self._cond:
            # The first frame may also wait for FFmpeg to open the stream.
            timeout = self.timeout + (0.0 if self._opened else self.capture_timeout)
            self._cond.wait_for(
                lambda: self._failed is not None or self._closed.is_set()
                or (self._latest is not None and self._latest.index > self._returned),
                timeout=timeout,
            )
            if self._latest is not None and self._latest.index > self._returned:
                self._returned = self._latest.index
                return self._latest
            if self._failed:
                raise SourceError(self._failed)
            if self._closed.is_set():
                raise SourceError(f"{self.description} is closed")
            stage = "no frame" if self._opened else "not opened"
            raise SourceError(f"{self.description}: {stage} for {timeout:g} s")

    def reopen(self) -> FrameSource:
        return LiveCaptureSource(self.target, self.timeout, capture_timeout=self.capture_timeout, stuck=self.stuck)

    def close(self) -> None:
        """Ask the grabber to stop; it releases its capture itself. A grabber still inside OpenCV after
        ``JOIN_TIMEOUT`` is abandoned (logged and counted), never released under its feet."""
        self._closed.set()
        with self._cond:
            self._cond.notify_all()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        thread.join(timeout=JOIN_TIMEOUT)
        if thread.is_alive():
            self.stuck.add(thread)
            log.warning("source_reader_abandoned", source=self.description, stuck_now=self.stuck.alive(),
                        abandoned_total=self.stuck.total, limit=self.stuck.limit)
        self._thread = None
