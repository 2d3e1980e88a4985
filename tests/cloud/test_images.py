"""Upload validation: types by content, sizes from headers before decoding, clear errors naming the file."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from edgewatch.cloud.errors import EmptyImage, PayloadTooLarge, UndecodableImage, UnsupportedMediaType
from edgewatch.cloud.images import load_image
from edgewatch.imaging import probe


def png_bytes(width: int, height: int) -> bytes:
    return cv2.imencode(".png", np.zeros((height, width, 3), np.uint8))[1].tobytes()


def test_header_size_of_real_jpeg_and_png(grace_jpeg: bytes) -> None:
    def size(data: bytes) -> tuple[int, int]:
        info = probe(data)
        return info.width, info.height

    assert size(grace_jpeg) == (512, 600)
    assert size(png_bytes(33, 21)) == (33, 21)
    progressive = cv2.imencode(".jpg", np.zeros((40, 70, 3), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1]
    assert size(progressive.tobytes()) == (70, 40)


def test_decoded_image_keeps_bytes_and_pixels(grace_jpeg: bytes) -> None:
    image = load_image(grace_jpeg, "g.jpg", "image/jpeg")
    assert (image.width, image.height, image.media_type) == (512, 600, "image/jpeg")
    assert image.data is grace_jpeg and image.pixels.shape == (600, 512, 3)


def test_png_with_alpha_and_grey_are_colour_images() -> None:
    rgba = cv2.imencode(".png", np.zeros((10, 12, 4), np.uint8))[1].tobytes()
    grey = cv2.imencode(".png", np.zeros((10, 12), np.uint8))[1].tobytes()
    assert load_image(rgba).pixels.shape == (10, 12, 3)
    assert load_image(grey).pixels.shape == (10, 12, 3)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    """A small PNG whose header claims 20000 x 20000 pixels never reaches the decoder."""
    data = bytearray(png_bytes(8, 8))
    data[16:24] = struct.pack(">II", 20000, 20000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    with pytest.raises(PayloadTooLarge, match="400000000 pixels is more than the limit"):
        load_image(bytes(data), "bomb.png")


@pytest.mark.parametrize(
    ("data", "media_type", "error"),
    [
        (b"", "image/jpeg", EmptyImage),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp", UnsupportedMediaType),
        (b"BM" + b"\x00" * 60, None, UnsupportedMediaType),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image/png", UndecodableImage),
        (b"{\"json\": true}", "application/json", UnsupportedMediaType),
        (b"{\"json\": true}", None, UndecodableImage),
    ],
)
def test_bad_uploads(data: bytes, media_type: str | None, error: type[Exception]) -> None:
    with pytest.raises(error, match="upload.bin"):
        load_image(data, "upload.bin", media_type)


def test_byte_limit(grace_jpeg: bytes) -> None:
    with pytest.raises(PayloadTooLarge, match="limit is 1000"):
        load_image(grace_jpeg, "g.jpg", "image/jpeg", max_bytes=1000)
