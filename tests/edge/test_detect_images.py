"""``edgewatch detect`` on every kind of image a user has (issue 10, "Images: one way in"): a phone photo
with EXIF orientation 8, 16-bit greyscale, palette, alpha and CMYK each score like the plain photo, with
boxes in the displayed picture's coordinates. The real command in a subprocess, real inference."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "src" / "edgewatch" / "sim" / "assets"


def make_images(tmp_path: Path, source: Path) -> dict[str, Path]:
    photo = Image.open(source).convert("RGB")
    paths: dict[str, Path] = {"upright": source}
    exif = Image.Exif()
    exif[0x0112] = 8  # stored turned 90 degrees clockwise: viewers turn it back
    paths["exif8"] = tmp_path / "exif8.jpg"
    photo.transpose(Image.Transpose.ROTATE_270).save(paths["exif8"], quality=95, exif=exif.tobytes())
    grey = np.asarray(photo.convert("L"))
    paths["grey8"] = tmp_path / "grey8.png"
    Image.fromarray(grey).save(paths["grey8"])
    paths["grey16"] = tmp_path / "grey16.png"
    Image.fromarray(grey.astype(np.uint16) * 257).save(paths["grey16"])
    paths["palette"] = tmp_path / "palette.png"
    photo.quantize(colors=256).save(paths["palette"])
    paths["alpha"] = tmp_path / "alpha.png"
    rgba = photo.convert("RGBA")
    rgba.putalpha(255)
    rgba.save(paths["alpha"])
    paths["cmyk"] = tmp_path / "cmyk.jpg"
    photo.convert("CMYK").save(paths["cmyk"], quality=95)
    return paths


def detect(paths: dict[str, Path]) -> dict[str, list[dict]]:
    done = subprocess.run(
        [sys.executable, "-m", "edgewatch", "detect", "--json", *map(str, paths.values())],
        check=False, capture_output=True, text=True, timeout=180, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    by_path = {r["image"]: r["persons"] for r in records}
    return {name: by_path[str(path)] for name, path in paths.items()}


def best(persons: list[dict]) -> dict:
    return max(persons, key=lambda p: p["score"])


def test_every_image_kind_scores_like_the_plain_photo(tmp_path: Path) -> None:
    found = detect(make_images(tmp_path, ASSETS / "grace_hopper.jpg"))
    upright = best(found["upright"])
    assert upright["score"] > 0.7
    print({name: [round(p["score"], 3) for p in persons] for name, persons in found.items()})
    # EXIF orientation 8: the same person, the same score, the same box (displayed coordinates).
    assert len(found["exif8"]) == len(found["upright"])
    turned = best(found["exif8"])
    assert abs(turned["score"] - upright["score"]) < 0.05
    assert np.abs(np.subtract(turned["box"], upright["box"])).max() < 12
    # 16-bit grey is scaled, not clipped white: it scores like the 8-bit grey, with no false boxes.
    assert len(found["grey16"]) == len(found["grey8"]) >= 1
    assert abs(best(found["grey16"])["score"] - best(found["grey8"])["score"]) < 0.02
    for kind in ("palette", "alpha", "cmyk"):
        assert len(found[kind]) == len(found["upright"]), kind
        assert abs(best(found[kind])["score"] - upright["score"]) < 0.1, kind


def test_exif_rotated_astronaut_is_found_upright(tmp_path: Path) -> None:
    found = detect({k: v for k, v in make_images(tmp_path, ASSETS / "astronaut.jpg").items()
                    if k in ("upright", "exif8")})
    assert found["upright"] and found["exif8"]
    assert abs(best(found["exif8"])["score"] - best(found["upright"])["score"]) < 0.05


def test_too_large_and_unreadable_images_are_one_line_each(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.new("L", (5000, 5000)).save(big)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0 not really")
    done = subprocess.run(
        [sys.executable, "-m", "edgewatch", "detect", "--max-pixels", "1000000", str(big), str(junk),
         str(tmp_path / "missing.jpg"), str(ASSETS / "grace_hopper.jpg")],
        check=False, capture_output=True, text=True, timeout=180, cwd=REPO,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 3
    assert "5000x5000 pixels is more than the limit of 1000000" in errors[0]
    assert "junk.jpg" in errors[1] and "missing.jpg: no such file" in errors[2]
    assert "grace_hopper.jpg: 1 person" in done.stdout
