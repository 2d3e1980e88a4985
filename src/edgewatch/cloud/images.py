"""Decoding and validation of uploaded images (JPEG or PNG) with OpenCV.

Order of checks: empty (422), declared or sniffed type other than JPEG/PNG (415), larger than the byte
limit (413), more pixels than :data:`MAX_PIXELS` read from the header *before* decoding (413, so a small
"decompression bomb" never allocates gigabytes), then ``cv2.imdecode`` (422 when it fails).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from edgewatch.cloud.errors import EmptyImage, PayloadTooLarge, UndecodableImage, UnsupportedMediaType

#: Largest image accepted, in pixels (e.g. 8000 x 5000). Rekognition's own limit is on bytes (5 MB).
MAX_PIXELS = 40_000_000

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


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG IHDR or a JPEG SOF header without decoding; None if not found."""
    if data.startswith(_PNG):
        if len(data) >= 24 and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        return None
    if not data.startswith(_JPEG):
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        if marker == 0xDA:  # start of scan before any frame header
            return None
        i += 2 + length
    return None


def load_image(data: bytes, filename: str | None = None, content_type: str | None = None,
               max_bytes: int = 5 * 1024 * 1024) -> Image:
    """Validate and decode one uploaded image; raises the typed error that the client should see."""
    import cv2

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
    size = header_size(data)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise PayloadTooLarge(f"{name!r} is {size[0]}x{size[1]} pixels; the limit is {MAX_PIXELS} pixels")
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None or pixels.size == 0:
        raise UndecodableImage(f"{name!r} could not be decoded (corrupt or truncated {sniffed})")
    if pixels.shape[0] * pixels.shape[1] > MAX_PIXELS:
        raise PayloadTooLarge(f"{name!r} is {pixels.shape[1]}x{pixels.shape[0]} pixels; limit {MAX_PIXELS}")
    return Image(filename=name, data=data, pixels=pixels, media_type=sniffed)
