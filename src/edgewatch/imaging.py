"""One way in for every image: edge frames, cloud uploads, ``detect``/``identify``/``persons`` files and
camera image folders all load pixels here, so they all see the same upright RGB picture and the same limits.

Order of work, and why:

1. :func:`probe` reads only the header (Pillow's lazy ``Image.open`` parses markers up to the frame header
   and skips junk bytes between segments, unlike a hand-written marker walk that gives up). An image whose
   header cannot be read is refused, never handed to a decoder that might guess.
2. The pixel count from the header is checked against ``max_pixels`` *before* anything is decoded, so a
   645 KB JPEG claiming 13000 x 13000 pixels costs a few kilobytes, not 2 GB.
3. Optionally a JPEG is decoded at reduced scale (``Image.draft``: libjpeg's DCT scaling by 1/2, 1/4, 1/8),
   which is much cheaper than decoding in full and resizing.
4. EXIF orientation is applied (``ImageOps.exif_transpose``): a phone held sideways gives an upright
   picture, and every box found in it is in the *displayed* picture's coordinates.
5. Any mode is converted to 8-bit RGB without clipping: 16/32-bit grey scaled by its nominal range, palette
   and alpha images composited on white, CMYK (including Adobe's inverted CMYK, which Pillow's JPEG reader
   un-inverts) through Pillow's converter, 1-bit and LA through grey.

Errors are :class:`ImageError` (a ``ValueError``) with one line naming the image; :class:`ImageTooLarge`
for the pixel limit, so callers can answer 413 and count it.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Default pixel limit of a decoded image (e.g. 8000 x 5000). A 4K camera frame has 8.3 Mpx.
DEFAULT_MAX_PIXELS = 40_000_000

#: The EXIF tag holding how a picture must be turned for display (1: as stored).
_ORIENTATION = 0x0112
#: Modes holding more than 8 bits of grey, scaled down by their nominal range (never clipped).
_WIDE_GREY = {"I;16", "I;16L", "I;16B", "I;16N", "I;16S", "I", "F"}
#: Modes with an alpha channel, composited on white (a transparent background is not black).
_ALPHA = {"RGBA", "RGBa", "LA", "La", "PA"}

ImageSource = bytes | bytearray | memoryview | Path | str


class ImageError(ValueError):
    """An image that cannot be used: the message is one line naming the image and why."""


class ImageTooLarge(ImageError):
    """More pixels than the limit, found from the header before any decoding."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header says: stored size in pixels (before EXIF rotation) and Pillow's format name."""

    width: int
    height: int
    format: str

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _name(source: ImageSource, name: str | None) -> str:
    if name:
        return name
    return str(source) if isinstance(source, Path | str) else "image"


def _open(source: ImageSource, name: str, max_pixels: int | None = None) -> Image.Image:
    """Open lazily (header only). Pillow's own bomb warning is silenced (our limit is explicit and a setting);
    its hard error, for more than twice ``Image.MAX_IMAGE_PIXELS``, becomes :class:`ImageTooLarge`."""
    try:
        fp = io.BytesIO(bytes(source)) if isinstance(source, bytes | bytearray | memoryview) else Path(source)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(fp)
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a directory, not an image") from None
    except PermissionError:
        raise ImageError(f"{name}: permission denied") from None
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        count = found.group(1) if found else "too many"
        limit = f"the limit of {max_pixels} pixels" if max_pixels else "Pillow's decompression-bomb limit"
        raise ImageTooLarge(f"{name}: {count} pixels is more than {limit}") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not a decodable image (unknown format or unreadable header)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"{name}: not a decodable image (header: {_short(exc)})") from None
    if image.width <= 0 or image.height <= 0:
        image.close()
        raise ImageError(f"{name}: header gives an empty size {image.width}x{image.height}")
    return image


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def probe(source: ImageSource, *, name: str | None = None) -> ImageInfo:
    """Size and format from the header only (nothing is decoded). Raises :class:`ImageError` when the
    header cannot be read, :class:`ImageTooLarge` beyond Pillow's hard limit (twice 89.5 Mpx)."""
    label = _name(source, name)
    image = _open(source, label)
    try:
        return ImageInfo(image.width, image.height, image.format or "unknown")
    finally:
        image.close()


def check_pixels(info: ImageInfo, max_pixels: int, name: str) -> None:
    """Raise :class:`ImageTooLarge` when ``info`` has more than ``max_pixels`` pixels."""
    if info.pixels > max_pixels:
        raise ImageTooLarge(
            f"{name}: {info.width}x{info.height} pixels is more than the limit of {max_pixels} pixels"
        )


def load_image(
    source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, draft: tuple[int, int] | None = None,
    name: str | None = None,
) -> Image.Image:
    """Decode ``source`` (bytes or a path) into an upright 8-bit RGB Pillow image.

    ``draft=(width, height)``: a JPEG may be decoded at 1/2, 1/4 or 1/8 scale as long as the result stays at
    least that size (other formats decode in full). The pixel limit applies to the stored size, before any
    decode. Raises :class:`ImageTooLarge` or :class:`ImageError`.
    """
    label = _name(source, name)
    image = _open(source, label, max_pixels)
    try:
        check_pixels(ImageInfo(image.width, image.height, image.format or "unknown"), max_pixels, label)
        if draft is not None and image.format == "JPEG":
            # Scaled DCT decoding in the stored orientation: a rotated target keeps the larger side large.
            side = max(1, min(draft))
            image.draft(image.mode if image.mode in ("RGB", "L") else None, (side, side))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()  # decode fully here, so a truncated file fails here and not in a later crop
            # exif_transpose copies even an upright image: skip it when there is nothing to turn.
            turned = image.getexif().get(_ORIENTATION, 1) not in (None, 1)
            upright = ImageOps.exif_transpose(image) if turned else image
    except ImageError:
        image.close()
        raise
    except Image.DecompressionBombError as exc:
        image.close()
        raise ImageTooLarge(f"{label}: {exc}") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        image.close()
        raise ImageError(f"{label}: not a decodable image ({_short(exc)})") from None
    return to_rgb(upright)


def load_rgb(
    source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, draft: tuple[int, int] | None = None,
    name: str | None = None,
) -> np.ndarray:
    """Like :func:`load_image`, as a ``(H, W, 3)`` uint8 RGB array (displayed orientation)."""
    return np.asarray(load_image(source, max_pixels=max_pixels, draft=draft, name=name))


def load_bgr(
    source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, draft: tuple[int, int] | None = None,
    name: str | None = None,
) -> np.ndarray:
    """Like :func:`load_rgb` in OpenCV's channel order: a contiguous ``(H, W, 3)`` uint8 BGR array."""
    image = load_image(source, max_pixels=max_pixels, draft=draft, name=name)
    rgb = np.asarray(image)
    bgr = np.empty_like(rgb)
    # Channel by channel: numpy's copy of a reversed-channel view (rgb[..., ::-1]) is several times slower.
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = rgb[..., 2], rgb[..., 1], rgb[..., 0]
    return bgr


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB: wide grey scaled by range, alpha composited on white, the rest via
    Pillow's converters (which handle palette, CMYK, YCbCr, LAB, 1-bit and grey)."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _WIDE_GREY:
        return Image.fromarray(_grey_to_u8(np.asarray(image))).convert("RGB")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in _ALPHA:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _grey_to_u8(values: np.ndarray) -> np.ndarray:
    """Scale wide grey to 0..255 by its nominal range, never clipping: 16-bit samples (0..65535) divided by
    257; 32-bit integers within 0..65535 likewise (Pillow's ``I`` mode for 16-bit files); floats in 0..1
    times 255; anything else (negative, beyond 16 bits) stretched from its own minimum to its maximum."""
    data = np.nan_to_num(values.astype(np.float64))
    if data.size == 0:
        return np.zeros(values.shape, np.uint8)
    low, high = float(data.min()), float(data.max())
    if values.dtype.kind in "ui" and low >= 0 and (values.dtype.itemsize == 2 or high <= 65535):
        scaled = data / 257.0
    elif values.dtype.kind == "f" and low >= 0 and high <= 1:
        scaled = data * 255.0
    elif high > low:
        scaled = (data - low) * (255.0 / (high - low))
    else:
        scaled = np.zeros_like(data)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
