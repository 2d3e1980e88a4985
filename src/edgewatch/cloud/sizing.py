"""Resizing images to what a face backend accepts: small person crops up, large phone photos down.

- Rekognition refuses images with a side under 80 px (``InvalidParameterException``, the same answer as
  "no face"), and a 72x210 person crop is normal from a camera sending 512 px frames. Such images are
  scaled up (bicubic) until the shorter side is :data:`REKOGNITION_MIN_SIDE` x 2 before they are sent, so the
  face gets searched instead of silently becoming ``no_face``.
- Rekognition takes at most 5 MB of image bytes, and a phone photo is often 4-8 MB. Photos over a byte
  limit are scaled down (longer side to :data:`PHOTO_MAX_SIDE` px at first, where a face of a portrait is
  still hundreds of pixels wide) and re-encoded as JPEG until they fit.

Sources: Amazon Rekognition Developer Guide, "Guidelines and quotas" (minimum image dimension 80 px,
maximum image size as raw bytes 5 MB).
"""

from __future__ import annotations

import cv2
import numpy as np

from edgewatch import imaging

#: Rekognition's smallest accepted image side, px.
REKOGNITION_MIN_SIDE = 80
#: Rekognition's largest image passed as bytes.
REKOGNITION_MAX_BYTES = 5 * 1024 * 1024
#: Longer side a too-large photo is first scaled down to (px).
PHOTO_MAX_SIDE = 1920


class ImageTooLargeToFit(ValueError):
    """Even scaled down to 64 px, the image does not fit the byte limit (a limit far too small)."""


def encode_jpeg(pixels: np.ndarray, quality: int = 92) -> bytes:
    """BGR pixels (H, W, 3 uint8) as JPEG bytes."""
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("could not encode the image as JPEG")
    return encoded.tobytes()


def upscaled_for_rekognition(pixels: np.ndarray, min_side: int = 2 * REKOGNITION_MIN_SIDE) -> bytes | None:
    """JPEG bytes of ``pixels`` scaled up so the shorter side is ``min_side``, when any side is under
    :data:`REKOGNITION_MIN_SIDE`; None when the image is large enough as it is. Aspect ratio is kept, so
    relative boxes found in the result hold for the original."""
    height, width = pixels.shape[:2]
    if min(height, width) >= REKOGNITION_MIN_SIDE:
        return None
    scale = min_side / max(1, min(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return encode_jpeg(cv2.resize(pixels, size, interpolation=cv2.INTER_CUBIC), quality=95)


def fit_bytes(pixels: np.ndarray, max_bytes: int, max_side: int = PHOTO_MAX_SIDE) -> bytes:
    """JPEG bytes of ``pixels`` of at most ``max_bytes``: the longer side down to ``max_side`` (never up),
    then quality 90 and, while still too large, 3/4 of the size again. Raises :class:`ImageTooLargeToFit`."""
    height, width = pixels.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    while True:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        work = pixels if scale == 1.0 else cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        data = encode_jpeg(work, quality=90)
        if len(data) <= max_bytes:
            return data
        if max(size) <= 64:
            raise ImageTooLargeToFit(f"cannot fit the image into {max_bytes} bytes")
        scale *= 0.75


def fit_file_bytes(data: bytes, max_bytes: int, max_side: int = PHOTO_MAX_SIDE,
                   max_pixels: int = imaging.DEFAULT_MAX_PIXELS) -> bytes:
    """``data`` unchanged when it fits ``max_bytes``; else the image decoded through
    :mod:`edgewatch.imaging` (pixel limit from the header first, EXIF orientation applied) and re-encoded by
    :func:`fit_bytes`. Undecodable or too large data is returned unchanged, for the receiver to refuse with
    its own clear error."""
    if len(data) <= max_bytes:
        return data
    try:
        pixels = imaging.load_bgr(data, max_pixels=max_pixels)
    except imaging.ImageError:
        return data
    return fit_bytes(pixels, max_bytes, max_side)
