"""Camera image folders load through edgewatch.imaging: EXIF orientation, 16-bit grey, pixel limit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from edgewatch.camera.sources import ImageFolderSource

ASSETS = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets"


def test_folder_frames_are_upright_bgr_and_oversized_files_skipped(tmp_path: Path) -> None:
    photo = Image.open(ASSETS / "grace_hopper.jpg").convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 8
    photo.transpose(Image.Transpose.ROTATE_270).save(tmp_path / "a_sideways.jpg", quality=95, exif=exif.tobytes())
    Image.new("L", (4000, 3000)).save(tmp_path / "b_huge.png")
    ramp = np.linspace(0, 65535, 64).astype(np.uint16)[None, :].repeat(4, 0)
    Image.fromarray(ramp).save(tmp_path / "c_grey16.png")
    source = ImageFolderSource(tmp_path, max_pixels=10_000_000 // 2)
    first, second = source.read(), source.read()
    assert first is not None and second is not None and source.read() is None
    assert first.image.shape == (600, 512, 3)  # upright, as displayed
    expected = np.asarray(photo)[:, :, ::-1].astype(int)  # BGR, like OpenCV
    assert np.abs(first.image.astype(int) - expected).mean() < 6
    assert second.image.shape == (4, 64, 3) and second.image[0, -1, 0] == 255 and second.image[0, 0, 0] == 0
