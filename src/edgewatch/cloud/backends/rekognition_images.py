"""What the Rekognition backend sends: images sized to Rekognition's limits (at least 80 px a side, at
most 5 MB) and one crop per face when an image shows several."""

from __future__ import annotations

import cv2

from edgewatch.cloud.errors import BackendError
from edgewatch.cloud.images import Image
from edgewatch.cloud.sizing import REKOGNITION_MAX_BYTES, fit_bytes, upscaled_for_rekognition

#: Rekognition wants images of at least 80 px a side; face crops are scaled up to this shorter side.
MIN_CROP_SIDE = 160


def _payload(image: Image) -> bytes:
    """The bytes to send for ``image``: scaled up when a side is under Rekognition's 80 px (a small person
    crop would otherwise be refused like an image without a face), scaled down when over its 5 MB."""
    small = upscaled_for_rekognition(image.pixels)
    if small is not None:
        return small
    if len(image.data) > REKOGNITION_MAX_BYTES:
        return fit_bytes(image.pixels, REKOGNITION_MAX_BYTES)
    return image.data


def _pixel_box(box: dict[str, float], width: int, height: int) -> tuple[float, float, float, float]:
    left, top = float(box.get("Left", 0.0)), float(box.get("Top", 0.0))
    right, bottom = left + float(box.get("Width", 0.0)), top + float(box.get("Height", 0.0))
    clamp = lambda v, hi: round(min(max(v, 0.0), hi), 1)
    return (clamp(left * width, width), clamp(top * height, height),
            clamp(right * width, width), clamp(bottom * height, height))


def _crop_jpeg(image: Image, box: tuple[float, float, float, float], margin: float = 0.35) -> bytes:
    """One face with a margin around it, scaled up to :data:`MIN_CROP_SIDE`, as JPEG bytes."""
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = max(0, int(x1 - mx)), max(0, int(y1 - my))
    right, bottom = min(image.width, int(x2 + mx + 1)), min(image.height, int(y2 + my + 1))
    crop = image.pixels[top:bottom, left:right]
    if crop.size == 0:
        crop = image.pixels
    short = min(crop.shape[:2])
    if short < MIN_CROP_SIDE:
        scale = MIN_CROP_SIDE / max(short, 1)
        crop = cv2.resize(crop, (round(crop.shape[1] * scale), round(crop.shape[0] * scale)),
                          interpolation=cv2.INTER_CUBIC)
    ok, encoded = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise BackendError("could not encode a face crop")
    return encoded.tobytes()
