"""A real MJPEG-over-HTTP camera on loopback (``multipart/x-mixed-replace``, as IP cameras serve it) that
the test can make stall: while ``stalled`` is set, each connection sends ``frames_before_stall`` frames and
then nothing, keeping the connection open — the failure that crashed the camera node with SIGSEGV."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import cv2
import numpy as np


def jpeg(index: int, size: tuple[int, int] = (160, 120)) -> bytes:
    """A JPEG whose grey level encodes ``index`` (10 * index mod 250)."""
    image = np.full((size[1], size[0], 3), (index * 10) % 250, np.uint8)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


class MjpegServer:
    """``MjpegServer(frames_before_stall=10).start()``; ``url``; ``stalled`` (an Event, set at start when
    ``stall`` is true); ``connections`` and ``frames_sent`` counters; ``stop()`` closes every socket."""

    def __init__(self, frames_before_stall: int = 10, fps: float = 20.0, stall: bool = True) -> None:
        self.frames_before_stall = frames_before_stall
        self.period = 1.0 / fps
        self.stalled = threading.Event()
        if stall:
            self.stalled.set()
        self.connections = 0
        self.frames_sent = 0
        self.stalls = 0  # connections that reached the stall
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video.mjpg"

    def start(self) -> MjpegServer:
        self._listener.listen(8)
        threading.Thread(target=self._accept, name="mjpeg-accept", daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(conn)
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), name="mjpeg-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            conn.recv(65536)  # the request; any path is the stream
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n"
                         b"Cache-Control: no-cache\r\n\r\n")
            sent_here = 0
            counted_stall = False
            while not self._stop.is_set():
                if sent_here >= self.frames_before_stall and self.stalled.is_set():
                    if not counted_stall:
                        with self._lock:
                            self.stalls += 1
                        counted_stall = True
                    time.sleep(0.05)  # connection open, nothing sent
                    continue
                with self._lock:
                    index = self.frames_sent
                    self.frames_sent += 1
                data = jpeg(index)
                conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(data)
                             + data + b"\r\n")
                sent_here += 1
                time.sleep(self.period)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for conn in self._sockets:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    conn.close()
