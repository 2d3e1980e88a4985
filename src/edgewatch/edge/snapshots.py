"""Alarm snapshots that show the reason: the full frame with the person's box drawn and the zone named.

Drawn only when an alarm is raised (rare), never per frame: the identity book keeps a reference to the
frame a crop was cut from, and this turns it into a JPEG at alarm time, in a worker thread. The text uses
Pillow's bundled font (no font files, nothing downloaded); without FreeType, Pillow's bitmap font.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from edgewatch.edge.decoding import load_image
from edgewatch.protocol import MAX_FRAME_BYTES

#: Frames wider than this are shrunk for the snapshot (an alarm view needs no 4K picture).
MAX_SNAPSHOT_WIDTH = 1920
BOX_COLOUR = (230, 30, 30)


def label_for(reason: str, zone: str | None, track_id: int | None) -> str:
    """``intruder - zone door - track 3``: what the snapshot's caption says."""
    parts = [reason, f"zone {zone}" if zone else "no zone"]
    if track_id is not None:
        parts.append(f"track {track_id}")
    return " - ".join(parts)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow without FreeType: the fixed-size bitmap font
        return ImageFont.load_default()


def annotate(frame_jpeg: bytes, box: tuple[float, float, float, float], label: str, *, quality: int = 85) -> bytes:
    """The frame as a JPEG with ``box`` (frame pixels, x1 y1 x2 y2) outlined and ``label`` written above
    it. Raises :class:`~edgewatch.edge.decoding.FrameDecodeError` when the frame does not decode."""
    image = load_image(frame_jpeg)
    scale = min(1.0, MAX_SNAPSHOT_WIDTH / image.width)
    if scale < 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)
    x1, y1, x2, y2 = (v * scale for v in box)
    line = max(2, round(image.width / 400))
    draw = ImageDraw.Draw(image)
    draw.rectangle((x1, y1, x2, y2), outline=BOX_COLOUR, width=line)
    font = _font(max(12, round(image.height / 30)))
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    text_w, text_h = right - left + 2 * line, bottom - top + 2 * line
    tx = min(max(0.0, x1), max(0.0, image.width - text_w))
    ty = y1 - text_h if y1 - text_h >= 0 else min(y2, image.height - text_h)
    draw.rectangle((tx, ty, tx + text_w, ty + text_h), fill=BOX_COLOUR)
    draw.text((tx + line - left, ty + line - top), label, fill=(255, 255, 255), font=font)
    for q in (quality, 70, 50):  # a huge noisy frame must still fit in an alarm message
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=q)
        if out.tell() <= MAX_FRAME_BYTES:
            break
    return out.getvalue()
