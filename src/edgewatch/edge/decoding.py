"""The edge's one door for frame bytes into pixels, at full size or scaled down while decoding.

Every decode goes through :mod:`edgewatch.imaging` (the project's one image-loading path): the pixel count
is checked from the header before anything is decoded, an unreadable header is refused, EXIF orientation
is applied and any mode becomes 8-bit. libjpeg-turbo (through Pillow's ``Image.draft``) can decode at 1/2,
1/4 or 1/8 scale by skipping high DCT frequencies: far cheaper than a full decode plus a resize
(``benchmarks/jpeg_decode.py``: a 1280x720 frame in 0.9 ms at 1/4 against 3.0 ms full, CPU time).
OpenCV's full decode is about 2x faster than Pillow's, but its scaled decodes are no faster than Pillow's,
and OpenCV (162 MB installed) would put the edge image over its 400 MB budget, so the edge decodes with
Pillow only.
"""

from __future__ import annotations

import io

from PIL import Image

from edgewatch import imaging

#: EXIF orientations that swap width and height (rotated by 90 or 270 degrees, possibly mirrored).
_SIDEWAYS = {5, 6, 7, 8}
_ORIENTATION = 0x0112


class FrameDecodeError(ValueError):
    """The frame's bytes are not a decodable image."""


class FrameTooLarge(FrameDecodeError):
    """The frame's header announces more pixels than the edge accepts (refused before any decode)."""


def frame_size(data: bytes, max_pixels: int = imaging.DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """``(width, height)`` as displayed (after EXIF rotation), from the header only. Raises
    :class:`FrameTooLarge` beyond ``max_pixels`` and :class:`FrameDecodeError` for an unreadable header."""
    try:
        info = imaging.probe(data, name="frame")
        imaging.check_pixels(info, max_pixels, "frame")
    except imaging.ImageTooLarge as exc:
        raise FrameTooLarge(str(exc)) from None
    except imaging.ImageError as exc:
        raise FrameDecodeError(str(exc)) from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            orientation = image.getexif().get(_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block means no rotation, as when decoding
        orientation = 1
    return (info.height, info.width) if orientation in _SIDEWAYS else (info.width, info.height)


def load_image(data: bytes, *, mode: str = "RGB", draft: tuple[int, int] | None = None,
               max_pixels: int = imaging.DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode ``data`` into a loaded, upright ``mode`` image ("RGB" or "L").

    With ``draft=(w, h)`` a JPEG is decoded at the smallest libjpeg scale (1, 1/2, 1/4, 1/8) that keeps it
    at least that size; other formats decode at full size. Raises :class:`FrameTooLarge` or
    :class:`FrameDecodeError`.
    """
    try:
        image = imaging.load_image(data, max_pixels=max_pixels, draft=draft, name="frame")
    except imaging.ImageTooLarge as exc:
        raise FrameTooLarge(str(exc)) from None
    except imaging.ImageError as exc:
        raise FrameDecodeError(str(exc)) from None
    return image if mode == "RGB" else image.convert(mode)
