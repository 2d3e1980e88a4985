"""CPU work on one frame, run in a worker thread: gate, decode, detect, place, cut and encode crops.

Per frame, only what is needed is decoded (``decoding.load_image``):

1. with a motion gate, a 1/8-scale greyscale decode decides whether the detector runs at all
   (:mod:`edgewatch.edge.motion`); a gated frame stops here;
2. for the detector, a JPEG is decoded at the smallest libjpeg scale that still covers the model input
   (a 1280x720 frame for a 320 model: 1/4 scale, 320x180), and boxes are mapped back to frame pixels;
3. detections are judged by the camera's masks, zones and minimum box (:mod:`edgewatch.edge.zones`);
4. only a frame with a person left is decoded at full size, for the crops sent to the cloud.

Pillow (libjpeg-turbo) decodes and encodes here rather than OpenCV: the edge image must stay small (see
``benchmarks/jpeg_decode.py`` for the measurement). ONNX Runtime releases the GIL during inference, so
several worker threads share one detector and really run in parallel.

Person crops are cut so the cloud recognises a face in them as well as in the full frame (measured with
``benchmarks/face_verification.py`` on the WiseNET frames, see README "Face recognition of edge crops"):

- the crop's top-left corner lies on a :data:`CROP_GRID` (32 px) grid of the frame. YuNet (the cloud's face
  detector) has strides 8/16/32; a face moved off that grid by an arbitrary crop offset got landmarks 2-5 px
  off and scored 0.30 instead of 0.44 against its enrolment, on the grid it scores as in the frame;
- there is head-room above the box (``head_room`` of its height, on top of the padding): person boxes
  often start at the hair line;
- a JPEG frame's crop is re-encoded with the frame's own quantisation tables and chroma subsampling, on the
  frame's 16 px block grid, so re-encoding hardly changes a pixel (a second lossy generation at quality 90
  cost up to 0.02 of similarity); other frames are encoded at ``crop_jpeg_quality``.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from edgewatch import imaging
from edgewatch.edge.decoding import FrameDecodeError, frame_size, load_image
from edgewatch.edge.detection import PersonBox, PersonDetector
from edgewatch.edge.identity import crop_quality
from edgewatch.edge.motion import DetectReason, MotionGate
from edgewatch.edge.zones import CameraView, place

__all__ = ["FrameDecodeError", "FrameProcessor", "GatedFrame", "PersonCrop", "ProcessedFrame", "decode_jpeg"]

#: Crop origins are multiples of this (YuNet's largest stride; also a multiple of JPEG's 8/16 px blocks).
CROP_GRID = 32

_NO_VIEW = CameraView()


@dataclass(frozen=True, slots=True)
class PersonCrop:
    """One detected person: box in frame pixels, its JPEG crop, how useful the crop is for a face, and
    the zone its foot point is in (None: in no zone)."""

    box: PersonBox
    crop_jpeg: bytes
    quality: float
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class ProcessedFrame:
    persons: list[PersonCrop]
    width: int
    height: int
    decode_ms: float
    inference_ms: float
    crop_ms: float
    #: why the detector ran (None: no motion gate)
    reason: DetectReason | None = None
    motion: float | None = None
    #: detections dropped by the camera's masks, min_box or require_zone, by reason
    ignored: dict[str, int] = field(default_factory=dict)
    #: the size the detector's input was decoded at, and whether a full-size decode (for crops) followed
    detect_size: tuple[int, int] = (0, 0)
    decoded_full: bool = False


@dataclass(frozen=True, slots=True)
class GatedFrame:
    """A frame the motion gate kept from the detector."""

    motion: float
    gate_ms: float


def decode_jpeg(data: bytes, max_pixels: int = imaging.DEFAULT_MAX_PIXELS) -> Image.Image:
    """Full-size upright RGB through :mod:`edgewatch.imaging` (pixel limit from the header first)."""
    return load_image(data, max_pixels=max_pixels)


class FrameProcessor:
    """Stateless apart from the (thread-safe) detector and motion gate: safe to call from many worker
    threads at once."""

    def __init__(
        self, detector: PersonDetector, *, crop_padding: float = 0.1, crop_jpeg_quality: int = 95,
        head_room: float = 0.1, reduced_decode: bool = True, gate: MotionGate | None = None,
        max_pixels: int = imaging.DEFAULT_MAX_PIXELS,
    ) -> None:
        self.detector = detector
        self.max_pixels = max_pixels
        self.crop_padding = crop_padding
        self.crop_jpeg_quality = crop_jpeg_quality
        self.head_room = head_room
        self.reduced_decode = reduced_decode
        self.gate = gate

    def process(
        self, jpeg: bytes, *, camera_id: str = "", view: CameraView | None = None, track_active: bool = False,
        now: float | None = None,
    ) -> ProcessedFrame | GatedFrame:
        """Gate, detect and crop one frame. ``now``: monotonic seconds for the gate (default: now).
        Raises :class:`FrameDecodeError` for bytes that do not decode."""
        view = view or _NO_VIEW
        started = time.perf_counter()
        # The header first: a frame announcing too many pixels is refused before the gate decodes anything.
        width, height = frame_size(jpeg, self.max_pixels)
        reason = motion = None
        if self.gate is not None:
            decision = self.gate.decide(camera_id, jpeg, now=time.monotonic() if now is None else now,
                                        track_active=track_active, masks=view.masks)
            if decision.reason is None:
                return GatedFrame(decision.motion, (time.perf_counter() - started) * 1000)
            reason, motion = decision.reason, decision.motion
        small = load_image(jpeg, draft=self._draft_size(width, height) if self.reduced_decode else None,
                           max_pixels=self.max_pixels)
        decoded = time.perf_counter()
        boxes = self.detector.detect(np.asarray(small))
        detected = time.perf_counter()
        sx, sy = width / small.width, height / small.height
        kept: list[tuple[PersonBox, str | None]] = []
        ignored: dict[str, int] = {}
        for b in boxes:
            box = PersonBox(b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy, b.score)
            placement = place(view, box, width, height)
            if placement.keep:
                kept.append((box, placement.zone))
            else:
                ignored[placement.reason] = ignored.get(placement.reason, 0) + 1
        persons: list[PersonCrop] = []
        decoded_full = small.size == (width, height)
        if kept:
            full = small if decoded_full else load_image(jpeg, max_pixels=self.max_pixels)
            decoded_full = True
            persons = [self._crop(full, box, zone) for box, zone in kept]
        cropped = time.perf_counter()
        return ProcessedFrame(
            persons=persons, width=width, height=height,
            decode_ms=(decoded - started) * 1000, inference_ms=(detected - decoded) * 1000,
            crop_ms=(cropped - detected) * 1000, reason=reason, motion=motion, ignored=ignored,
            detect_size=small.size, decoded_full=decoded_full,
        )

    def _draft_size(self, width: int, height: int) -> tuple[int, int]:
        """The size the detector's letterbox would shrink the frame to: libjpeg decodes no smaller."""
        scale = min(1.0, self.detector.input_size / max(width, height))
        return max(1, int(width * scale)), max(1, int(height * scale))

    def crop_rect(self, box: PersonBox, width: int, height: int) -> tuple[int, int, int, int]:
        """Pixel rectangle (x1, y1, x2, y2) cut for ``box`` from a ``width`` x ``height`` frame: padded,
        with head-room, origin floored to :data:`CROP_GRID`, clipped to the frame, never empty."""
        pad_x = (box.x2 - box.x1) * self.crop_padding
        pad_y = (box.y2 - box.y1) * self.crop_padding
        top = (box.y2 - box.y1) * self.head_room
        x1 = max(0, int(box.x1 - pad_x)) // CROP_GRID * CROP_GRID
        y1 = max(0, int(box.y1 - pad_y - top)) // CROP_GRID * CROP_GRID
        x2, y2 = min(width, int(box.x2 + pad_x) + 1), min(height, int(box.y2 + pad_y) + 1)
        return x1, y1, max(x2, min(width, x1 + 1)), max(y2, min(height, y1 + 1))

    def _crop(self, image: Image.Image, box: PersonBox, zone: str | None = None) -> PersonCrop:
        rect = self.crop_rect(box, image.width, image.height)
        crop = image.crop(rect)
        if crop.mode != "RGB":
            crop = crop.convert("RGB")
        out = io.BytesIO()
        crop.save(out, format="JPEG", **self._jpeg_options(image))
        quality = crop_quality(np.asarray(crop.convert("L")))
        return PersonCrop(box=box, crop_jpeg=out.getvalue(), quality=quality, zone=zone)

    def _jpeg_options(self, frame: Image.Image) -> dict[str, object]:
        """The frame's own JPEG tables when it was a JPEG (near-lossless re-encoding), else the quality."""
        tables = getattr(frame, "quantization", None)
        if getattr(frame, "format", None) == "JPEG" and tables and frame.mode == "RGB":
            from PIL import JpegImagePlugin

            sampling = JpegImagePlugin.get_sampling(frame)
            if sampling != -1:
                return {"qtables": tables, "subsampling": sampling}
        return {"quality": self.crop_jpeg_quality}
