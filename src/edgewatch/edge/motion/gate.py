"""Per-camera motion gate: decide cheaply whether a frame is worth running the person detector on.

A surveillance camera shows an empty, still scene most of the day. The gate decodes each frame at 1/8
scale in greyscale (libjpeg DCT scaling: ~0.6 ms for 1280x720, against ~20 ms of detector), resizes it to a
small fixed grid, blurs away sensor noise, and compares it with the camera's previous frame. The fraction
of pixels that changed by more than ``threshold`` grey levels, outside the camera's masks, is the motion
figure. The detector then runs (:class:`DetectReason`):

- on a camera's first frame (nothing to compare with), or after its picture size changed;
- when the motion figure reaches ``min_area``, against the previous frame or against the last frame the
  detector ran on (so slow movement that stays under the threshold from one frame to the next adds up);
- while the camera has an active track (a person standing still makes no motion but must stay tracked);
- at least every ``interval`` seconds whatever happens (K), so a person who is still and no longer tracked
  is never missed for longer than K.

Otherwise the frame is *gated*: acked as such and counted, and the detector is not run. This is the idea
of Frigate's motion detector (frame differencing on a downscaled greyscale frame), kept to numpy + Pillow.
Thread-safe: the workers call it concurrently; each camera's state sits behind one lock.
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from edgewatch.edge.decoding import frame_size, load_image

#: Width of the grid motion is measured on (a 16:9 frame gives 160 x 90 pixels).
GRID_WIDTH = 160


class DetectReason(StrEnum):
    FIRST = "first"  # first frame of the camera, or its picture size changed
    MOTION = "motion"
    TRACK = "track"  # a track of this camera is active
    INTERVAL = "interval"  # K seconds since the last detector run


@dataclass(frozen=True, slots=True)
class GateOptions:
    threshold: int = 20
    min_area: float = 0.002
    interval: float = 10.0


@dataclass(frozen=True, slots=True)
class GateDecision:
    """``reason`` is None when the frame is gated; ``motion`` is the fraction of moving pixels (0..1)."""

    reason: DetectReason | None
    motion: float


@dataclass(slots=True)
class _CameraState:
    lock: threading.Lock
    previous: np.ndarray | None = None
    reference: np.ndarray | None = None  # the grid of the last frame the detector ran on
    last_detect: float | None = None
    masks: tuple[tuple[tuple[float, float], ...], ...] = ()
    unmasked: np.ndarray | None = None  # boolean grid: where motion counts


def _grid(data: bytes) -> np.ndarray:
    """The frame as a small blurred greyscale grid (float32), decoded at 1/8 scale."""
    width, height = frame_size(data)
    grid_h = max(1, round(GRID_WIDTH * height / width))
    image = load_image(data, mode="L", draft=(GRID_WIDTH, grid_h))
    image = image.resize((GRID_WIDTH, grid_h), Image.Resampling.BILINEAR).filter(ImageFilter.BoxBlur(1))
    return np.asarray(image, dtype=np.float32)


def _unmasked(shape: tuple[int, ...], masks: tuple[tuple[tuple[float, float], ...], ...]) -> np.ndarray:
    height, width = shape[:2]
    canvas = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for mask in masks:
        draw.polygon([(x * width, y * height) for x, y in mask], fill=1)
    return ~np.asarray(canvas, dtype=bool)


def _phase(camera_id: str) -> float:
    """A stable fraction in [0, 1) per camera id (CRC-32: the same after every restart)."""
    return (zlib.crc32(camera_id.encode()) % 997) / 997


class MotionGate:
    """Motion state of every camera of one edge; see the module docstring for the rules."""

    def __init__(self, options: GateOptions | None = None) -> None:
        self.options = options or GateOptions()
        self._cameras: dict[str, _CameraState] = {}
        self._lock = threading.Lock()

    def forget(self, camera_id: str) -> None:
        """Drop a camera's state (it disconnected); its next frame is a first frame again."""
        with self._lock:
            self._cameras.pop(camera_id, None)

    def _state(self, camera_id: str) -> _CameraState:
        with self._lock:
            return self._cameras.setdefault(camera_id, _CameraState(threading.Lock()))

    def decide(
        self, camera_id: str, jpeg: bytes, *, now: float, track_active: bool = False,
        masks: list[list[tuple[float, float]]] | None = None,
    ) -> GateDecision:
        """Measure the frame's motion against the camera's previous frame and decide whether to detect.

        ``now`` is a monotonic clock in seconds; ``masks`` the camera's mask polygons (normalised), where
        motion does not count. Raises :class:`~edgewatch.edge.decoding.FrameDecodeError` for bad bytes.
        """
        grid = _grid(jpeg)
        state = self._state(camera_id)
        mask_key = tuple(tuple(tuple(p) for p in m) for m in masks or ())
        with state.lock:
            previous, state.previous = state.previous, grid
            if state.unmasked is None or state.unmasked.shape != grid.shape or state.masks != mask_key:
                state.masks, state.unmasked = mask_key, _unmasked(grid.shape, mask_key)
            if previous is None or previous.shape != grid.shape:
                motion, reason = 1.0, DetectReason.FIRST
            else:
                motion = self._moving(grid, previous, state.unmasked)
                if state.reference is not None and state.reference.shape == grid.shape:
                    # Slow movement (someone creeping) stays under the threshold frame to frame, but adds
                    # up against the last frame the detector saw.
                    motion = max(motion, self._moving(grid, state.reference, state.unmasked))
                reason = None
                if motion >= self.options.min_area:
                    reason = DetectReason.MOTION
                elif track_active:
                    reason = DetectReason.TRACK
                elif state.last_detect is None or now - state.last_detect >= self.options.interval:
                    reason = DetectReason.INTERVAL
            if reason is not None:
                state.last_detect, state.reference = now, grid
                if reason is DetectReason.FIRST:
                    # Cameras that start together would otherwise run their every-K detections together, a
                    # burst of N detector runs every K seconds (the p99). A fixed per-camera phase spreads
                    # them; the first interval only gets shorter, so "at least every K" still holds.
                    state.last_detect = now - self.options.interval * _phase(camera_id)
            return GateDecision(reason, motion)

    def _moving(self, grid: np.ndarray, other: np.ndarray, unmasked: np.ndarray) -> float:
        moving = (np.abs(grid - other) >= self.options.threshold) & unmasked
        return float(moving.sum()) / max(1, int(unmasked.sum()))
