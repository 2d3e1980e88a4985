"""Validation of uploaded images (JPEG or PNG), decoded through :mod:`edgewatch.imaging`.

Order of checks: empty (422), declared or sniffed type other than JPEG/PNG (415), larger than the byte
limit (413), then :func:`edgewatch.imaging.load_bgr`: a header that cannot be read (422, never decoded), more
pixels than the limit read from the header *before* decoding (413, so a small "decompression bomb" never
allocates gigabytes, whatever junk sits between its segments), a failing decode (422). The pixels are
upright (EXIF orientation applied) and in OpenCV's BGR order, which the face models expect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewatch import imaging
from edgewatch.cloud.errors import EmptyImage, PayloadTooLarge, UndecodableImage, UnsupportedMediaType

#: Default largest image, in pixels (e.g. 8000 x 5000; the setting ``max_image_pixels``). Rekognition's own
#: limit is on bytes (5 MB).
MAX_PIXELS = imaging.DEFAULT_MAX_PIXELS

ACCEPTED_TYPES = {"image/jpeg", "image/jpg", "image/pjpeg", "image/png"}
#: Declared types we do not hold against a file: clients that do not know, or send a generic type.
NEUTRAL_TYPES = {"", "application/octet-stream", "binary/octet-stream"}

_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"
_OTHER_IMAGES = {
    b"GIF87a": "GIF", b"GIF89a": "GIF", b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF",
    b"\x00\x00\x01\x00": "ICO",
}


@dataclass(frozen=True, slots=True)
class Image:
    """A decoded upload: original bytes (what Rekognition receives), BGR pixels, and where it came from."""

    filename: str
    data: bytes
    pixels: np.ndarray
    media_type: str

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def sniff(data: bytes) -> str | None:
    """``image/jpeg``, ``image/png`` or None from the first bytes."""
    if data.startswith(_JPEG):
        return "image/jpeg"
    if data.startswith(_PNG):
        return "image/png"
    return None


def _other_format(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypavif", b"ftypmif1"):
        return "HEIF/AVIF"
    for magic, name in _OTHER_IMAGES.items():
        if data.startswith(magic):
            return name
    return None


def load_image(data: bytes, filename: str | None = None, content_type: str | None = None,
               max_bytes: int = 5 * 1024 * 1024, max_pixels: int = MAX_PIXELS) -> Image:
    """Validate and decode one uploaded image; raises the typed error that the client should see."""
    name = filename or "image"
    if not data:
        raise EmptyImage(f"{name!r} is empty")
    declared = (content_type or "").split(";")[0].strip().lower()
    sniffed = sniff(data)
    if declared not in ACCEPTED_TYPES and declared not in NEUTRAL_TYPES:
        raise UnsupportedMediaType(f"{name!r} has type {declared!r}; send image/jpeg or image/png")
    if sniffed is None:
        other = _other_format(data)
        if other:
            raise UnsupportedMediaType(f"{name!r} is a {other} image; send JPEG or PNG")
        raise UndecodableImage(f"{name!r} is not a JPEG or PNG image")
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{name!r} has {len(data)} bytes; the limit is {max_bytes}")
    try:
        pixels = imaging.load_bgr(data, max_pixels=max_pixels, name=repr(name))
    except imaging.ImageTooLarge as exc:
        raise PayloadTooLarge(str(exc)) from None
    except imaging.ImageError as exc:
        raise UndecodableImage(f"{exc} (corrupt or truncated {sniffed}?)") from None
    return Image(filename=name, data=data, pixels=pixels, media_type=sniffed)
