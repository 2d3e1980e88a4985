"""CPU work on one frame, run in a worker thread: decode, detect persons, cut and encode their crops.

Pillow (libjpeg-turbo) decodes and encodes here rather than OpenCV: the edge image must stay small, and
Pillow is a fraction of OpenCV's size. ONNX Runtime releases the GIL during inference, so several worker
threads share one detector and really run in parallel.

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
from dataclasses import dataclass

import numpy as np
from PIL import Image

from edgewatch import imaging
from edgewatch.edge.detection import PersonBox, PersonDetector
from edgewatch.edge.identity import crop_quality

#: Crop origins are multiples of this (YuNet's largest stride; also a multiple of JPEG's 8/16 px blocks).
CROP_GRID = 32


class FrameDecodeError(ValueError):
    """The frame's bytes are not a decodable image."""


class FrameTooLarge(FrameDecodeError):
    """The frame's header claims more pixels than the edge's limit; nothing was decoded."""


@dataclass(frozen=True, slots=True)
class PersonCrop:
    """One detected person: box in frame pixels, its JPEG crop and how useful the crop is for a face."""

    box: PersonBox
    crop_jpeg: bytes
    quality: float


@dataclass(frozen=True, slots=True)
class ProcessedFrame:
    persons: list[PersonCrop]
    width: int
    height: int
    decode_ms: float
    inference_ms: float
    crop_ms: float


def decode_jpeg(data: bytes, max_pixels: int = imaging.DEFAULT_MAX_PIXELS) -> Image.Image:
    """Upright RGB through :mod:`edgewatch.imaging` (pixel limit from the header, then a full decode so a
    truncated file fails here, not later in a crop)."""
    try:
        return imaging.load_image(data, max_pixels=max_pixels, name="frame")
    except imaging.ImageTooLarge as exc:
        raise FrameTooLarge(str(exc)) from None
    except imaging.ImageError as exc:
        raise FrameDecodeError(str(exc)) from None


class FrameProcessor:
    """Stateless apart from the (thread-safe) detector: safe to call from many worker threads at once."""

    def __init__(self, detector: PersonDetector, *, crop_padding: float = 0.1, crop_jpeg_quality: int = 95,
                 head_room: float = 0.1, max_pixels: int = imaging.DEFAULT_MAX_PIXELS) -> None:
        self.detector = detector
        self.max_pixels = max_pixels
        self.crop_padding = crop_padding
        self.crop_jpeg_quality = crop_jpeg_quality
        self.head_room = head_room

    def process(self, jpeg: bytes) -> ProcessedFrame:
        started = time.perf_counter()
        image = decode_jpeg(jpeg, self.max_pixels)
        decoded = time.perf_counter()
        boxes = self.detector.detect(np.asarray(image))
        detected = time.perf_counter()
        persons = [self._crop(image, box) for box in boxes]
        cropped = time.perf_counter()
        return ProcessedFrame(
            persons=persons,
            width=image.width,
            height=image.height,
            decode_ms=(decoded - started) * 1000,
            inference_ms=(detected - decoded) * 1000,
            crop_ms=(cropped - detected) * 1000,
        )

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

    def _crop(self, image: Image.Image, box: PersonBox) -> PersonCrop:
        rect = self.crop_rect(box, image.width, image.height)
        crop = image.crop(rect)
        if crop.mode != "RGB":
            crop = crop.convert("RGB")
        out = io.BytesIO()
        crop.save(out, format="JPEG", **self._jpeg_options(image))
        quality = crop_quality(np.asarray(crop.convert("L")))
        return PersonCrop(box=box, crop_jpeg=out.getvalue(), quality=quality)

    def _jpeg_options(self, frame: Image.Image) -> dict[str, object]:
        """The frame's own JPEG tables when it was a JPEG (near-lossless re-encoding), else the quality."""
        tables = getattr(frame, "quantization", None)
        if getattr(frame, "format", None) == "JPEG" and tables and frame.mode == "RGB":
            from PIL import JpegImagePlugin

            sampling = JpegImagePlugin.get_sampling(frame)
            if sampling != -1:
                return {"qtables": tables, "subsampling": sampling}
        return {"quality": self.crop_jpeg_quality}
