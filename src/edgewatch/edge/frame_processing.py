"""CPU work on one frame, run in a worker thread: decode, detect persons, cut and encode their crops.

Pillow (libjpeg-turbo) decodes and encodes here rather than OpenCV: the edge image must stay small, and
Pillow is a fraction of OpenCV's size. ONNX Runtime releases the GIL during inference, so several worker
threads share one detector and really run in parallel.
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

    def __init__(self, detector: PersonDetector, *, crop_padding: float = 0.1, crop_jpeg_quality: int = 90,
                 max_pixels: int = imaging.DEFAULT_MAX_PIXELS) -> None:
        self.detector = detector
        self.max_pixels = max_pixels
        self.crop_padding = crop_padding
        self.crop_jpeg_quality = crop_jpeg_quality

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

    def _crop(self, image: Image.Image, box: PersonBox) -> PersonCrop:
        pad_x = (box.x2 - box.x1) * self.crop_padding
        pad_y = (box.y2 - box.y1) * self.crop_padding
        x1, y1 = max(0, int(box.x1 - pad_x)), max(0, int(box.y1 - pad_y))
        x2, y2 = min(image.width, int(box.x2 + pad_x) + 1), min(image.height, int(box.y2 + pad_y) + 1)
        crop = image.crop((x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)))
        out = io.BytesIO()
        crop.save(out, format="JPEG", quality=self.crop_jpeg_quality)
        quality = crop_quality(np.asarray(crop.convert("L")))
        return PersonCrop(box=box, crop_jpeg=out.getvalue(), quality=quality)
