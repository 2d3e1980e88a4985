"""Frame preparation: optional downscale to a maximum width (aspect kept) and JPEG encoding."""

from __future__ import annotations

import cv2
import numpy as np


class EncodeError(RuntimeError):
    """OpenCV could not encode a frame."""


def resize_to_width(image: np.ndarray, max_width: int | None) -> np.ndarray:
    """Downscale ``image`` so it is at most ``max_width`` pixels wide, keeping its aspect ratio.
    Never upscales: a camera should not invent pixels the edge then has to carry."""
    height, width = image.shape[:2]
    if max_width is None or width <= max_width:
        return image
    new_height = max(1, round(height * max_width / width))
    return cv2.resize(image, (max_width, new_height), interpolation=cv2.INTER_AREA)


def encode_jpeg(image: np.ndarray, max_width: int | None = None, quality: int = 85) -> bytes:
    """``image`` (BGR) resized to ``max_width`` and encoded as a JPEG of the given quality (1-100)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1..100, got {quality}")
    ok, buffer = cv2.imencode(".jpg", resize_to_width(image, max_width), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise EncodeError(f"OpenCV could not encode a {image.shape} frame as JPEG")
    return buffer.tobytes()
