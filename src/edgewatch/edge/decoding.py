"""The edge's one door for JPEG bytes into pixels, at full size or scaled down while decoding.

libjpeg-turbo (through Pillow's ``Image.draft``) can decode at 1/2, 1/4 or 1/8 scale by skipping high DCT
frequencies: far cheaper than a full decode plus a resize (``benchmarks/jpeg_decode.py``: a 1280x720 frame
in 0.9 ms at 1/4 against 3.0 ms full, CPU time). OpenCV's full decode is about 2x faster than Pillow's, but
its scaled decodes are no faster than Pillow's, and OpenCV (162 MB installed) would put the edge image over
its 400 MB budget, so the edge decodes with Pillow only.

Everything goes through :func:`load_image`, so a shared loader with pixel limits (``edgewatch.imaging``)
can replace its body in one place.
"""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError


class FrameDecodeError(ValueError):
    """The frame's bytes are not a decodable image."""


def load_image(data: bytes, *, mode: str = "RGB", draft: tuple[int, int] | None = None) -> Image.Image:
    """Decode ``data`` into a loaded ``mode`` image ("RGB" or "L").

    With ``draft=(w, h)`` a JPEG is decoded at the smallest libjpeg scale (1, 1/2, 1/4, 1/8) that is still
    at least ``w`` x ``h``; other formats decode at full size. Decodes fully (``load``) so a truncated file
    fails here, not later. Raises :class:`FrameDecodeError` for anything that does not decode.
    """
    try:
        image = Image.open(io.BytesIO(data))
        if draft is not None:
            image.draft(mode, draft)
        image.load()
        return image.convert(mode) if image.mode != mode else image
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise FrameDecodeError(f"not a decodable image: {exc}") from exc


def frame_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from the image header, without decoding pixels."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise FrameDecodeError(f"not a decodable image: {exc}") from exc
