"""The one image-loading path: every mode and bit depth converted right, EXIF orientation applied, pixel
limits checked from the header before decoding, one clear error for anything else. Images are made here."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgewatch.imaging import ImageError, ImageTooLarge, load_bgr, load_image, load_rgb, probe

ASSETS = Path(__file__).resolve().parents[1] / "src" / "edgewatch" / "sim" / "assets"
PERSON = ASSETS / "grace_hopper.jpg"


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def patch_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """A JPEG whose SOF header claims ``width`` x ``height`` (a few hundred bytes: a decompression bomb)."""
    at = data.index(b"\xff\xc0")
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def with_junk_after_app0(data: bytes) -> bytes:
    """One junk byte after the APP0 segment: marker walkers that expect 0xFF there give up."""
    assert data[2:4] == b"\xff\xe0"
    end = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:end] + b"\x00" + data[end:]


def small_jpeg() -> bytes:
    return encode(Image.new("RGB", (16, 16), (90, 120, 200)), "JPEG")


def test_probe_reads_only_the_header() -> None:
    info = probe(PERSON)
    assert (info.width, info.height, info.format) == (512, 600, "JPEG")
    bomb = patch_jpeg_size(small_jpeg(), 13000, 13000)
    assert len(bomb) < 1000
    assert (probe(bomb).width, probe(bomb).height) == (13000, 13000)


def test_pixel_limit_refused_before_decoding() -> None:
    bomb = patch_jpeg_size(small_jpeg(), 13000, 13000)
    with pytest.raises(ImageTooLarge, match="13000x13000 pixels is more than the limit of 40000000"):
        load_rgb(bomb, max_pixels=40_000_000)
    # Pillow's own bomb error (above 179 Mpx) becomes the same clear error, never a traceback.
    with pytest.raises(ImageTooLarge):
        load_rgb(patch_jpeg_size(small_jpeg(), 30000, 30000), max_pixels=10**12)


def test_junk_byte_after_app0_does_not_hide_the_size() -> None:
    bomb = with_junk_after_app0(patch_jpeg_size(small_jpeg(), 12000, 9000))
    assert (probe(bomb).width, probe(bomb).height) == (12000, 9000)
    with pytest.raises(ImageTooLarge, match="12000x9000"):
        load_rgb(bomb, max_pixels=40_000_000)
    huge = with_junk_after_app0(patch_jpeg_size(small_jpeg(), 30000, 30000))
    with pytest.raises(ImageTooLarge, match="900000000 pixels is more than the limit of 40000000"):
        load_rgb(huge, max_pixels=40_000_000)
    # The same junk byte in an ordinary image: still loads (Pillow skips it, as libjpeg does).
    assert load_rgb(with_junk_after_app0(small_jpeg())).shape == (16, 16, 3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a decodable image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 10, "not a decodable image"),
        (b"hello world", "not a decodable image"),
        (small_jpeg()[:40], "not a decodable image"),
        (PERSON.read_bytes()[: PERSON.stat().st_size // 2], "not a decodable image"),
    ],
    ids=["empty", "no-header", "text", "cut-in-header", "cut-in-scan"],
)
def test_unreadable_images_give_one_clear_line(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message) as info:
        load_rgb(data, name="upload.jpg")
    assert "upload.jpg" in str(info.value) and "\n" not in str(info.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        load_rgb(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="is a directory"):
        load_rgb(tmp_path)


def test_exif_orientation_8_gives_the_upright_picture() -> None:
    upright = load_rgb(PERSON)
    # Orientation 8: the stored picture is the upright one turned 90 degrees clockwise (camera held
    # sideways); viewers turn it back counter-clockwise.
    stored = Image.open(PERSON).transpose(Image.Transpose.ROTATE_270)
    exif = Image.Exif()
    exif[0x0112] = 8
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    assert (probe(data).width, probe(data).height) == (600, 512)
    loaded = load_rgb(data)
    assert loaded.shape == upright.shape == (600, 512, 3)
    assert np.abs(loaded.astype(int) - upright.astype(int)).mean() < 6


def test_16_bit_grey_is_scaled_not_clipped() -> None:
    ramp = (np.linspace(0, 65535, 256, dtype=np.float64)[None, :].repeat(8, 0)).astype(np.uint16)
    data = encode(Image.fromarray(ramp))  # a 16-bit greyscale PNG
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    rgb = load_rgb(data)
    assert rgb.shape == (8, 256, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[0, :, 0], np.arange(256))  # the full ramp survives, not a white wall
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()


def test_16_bit_photo_scores_like_the_8_bit_one() -> None:
    grey8 = np.asarray(Image.open(PERSON).convert("L"))
    data = encode(Image.fromarray(grey8.astype(np.uint16) * 257))
    assert np.abs(load_rgb(data)[..., 0].astype(int) - grey8).max() <= 1


def test_palette_with_and_without_transparency() -> None:
    rgb = Image.new("RGB", (20, 10), (200, 30, 40))
    palette = rgb.quantize(colors=4)
    loaded = load_rgb(encode(palette))
    assert loaded.shape == (10, 20, 3) and tuple(loaded[5, 5]) == (200, 30, 40)
    transparent = palette.copy()
    transparent.info["transparency"] = 0
    assert tuple(load_rgb(encode(transparent))[5, 5]) == (255, 255, 255)


def test_alpha_composited_on_white() -> None:
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    rgba.putpixel((1, 1), (10, 20, 30, 255))
    rgba.putpixel((2, 2), (0, 0, 0, 128))
    loaded = load_rgb(encode(rgba))
    assert tuple(loaded[0, 0]) == (255, 255, 255)
    assert tuple(loaded[1, 1]) == (10, 20, 30)
    assert 120 <= loaded[2, 2, 0] <= 135
    la = Image.new("LA", (3, 3), (40, 255))
    assert tuple(load_rgb(encode(la))[0, 0]) == (40, 40, 40)


def test_cmyk_jpeg_and_one_bit() -> None:
    cmyk = Image.new("RGB", (32, 32), (200, 40, 30)).convert("CMYK")
    loaded = load_rgb(encode(cmyk, "JPEG", quality=95))
    assert np.abs(loaded[16, 16].astype(int) - (200, 40, 30)).max() < 20
    bits = Image.new("1", (8, 8), 1)
    assert tuple(load_rgb(encode(bits))[0, 0]) == (255, 255, 255)


def test_adobe_inverted_cmyk_jpeg() -> None:
    """Photoshop writes CMYK JPEGs inverted with an Adobe APP14 marker; the colours must still be right."""
    cmyk = Image.new("RGB", (32, 32), (30, 160, 60)).convert("CMYK")
    data = encode(cmyk, "JPEG", quality=95)  # Pillow writes CMYK JPEGs with an inverted Adobe APP14
    assert b"Adobe" in data
    loaded = load_rgb(data)
    assert np.abs(loaded[16, 16].astype(int) - (30, 160, 60)).max() < 20


def test_draft_decodes_a_jpeg_at_reduced_scale() -> None:
    full = load_image(PERSON)
    small = load_image(PERSON, draft=(128, 128))
    assert full.size == (512, 600)
    assert small.size == (128, 150)  # 1/4 scale: the smallest that keeps both sides >= 128


def test_bgr_is_rgb_reversed() -> None:
    assert np.array_equal(load_bgr(PERSON), load_rgb(PERSON)[:, :, ::-1])
