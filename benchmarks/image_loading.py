"""Image decoding cost before and after the one image-loading path (``edgewatch.imaging``), in one run.

"before" is what the edge and the cloud did until issue 10: Pillow ``open`` + ``load`` + ``convert("RGB")``
for edge frames, ``cv2.imdecode`` for cloud uploads. "after" is ``imaging.load_image`` / ``load_bgr``
(header probe + pixel limit + decode + EXIF orientation + mode conversion), and ``draft`` decoding at a
quarter of the size. Prints p50/p90 in milliseconds for a 1080p camera frame and a 512 x 600 portrait.

  python benchmarks/image_loading.py --repeats 200
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from edgewatch import imaging

PORTRAIT = Path(__file__).resolve().parents[1] / "src" / "edgewatch" / "sim" / "assets" / "grace_hopper.jpg"


def frame_1080p() -> bytes:
    portrait = Image.open(PORTRAIT).convert("RGB")
    canvas = Image.new("RGB", (1920, 1080), (90, 100, 110))
    for x in range(0, 1920, 512):
        canvas.paste(portrait.crop((0, 0, 512, 600)), (x, 240))
    out = io.BytesIO()
    canvas.save(out, format="JPEG", quality=85)
    return out.getvalue()


def before_edge(data: bytes) -> object:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB") if image.mode != "RGB" else image


def before_cloud(data: bytes) -> object:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def timed(function: Callable[[bytes], object], data: bytes, repeats: int) -> tuple[float, float]:
    function(data)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function(data)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    cases = {"1080p frame": frame_1080p(), "portrait 512x600": PORTRAIT.read_bytes()}
    runs: dict[str, Callable[[bytes], object]] = {
        "before: edge (Pillow)": before_edge,
        "after:  edge imaging.load_image": lambda d: imaging.load_image(d),
        "before: cloud (cv2.imdecode)": before_cloud,
        "after:  cloud imaging.load_bgr": lambda d: imaging.load_bgr(d),
        "after:  load_image draft 1/4": lambda d: imaging.load_image(d, draft=(480, 270)),
    }
    print(f"{'image':18} {'path':34} {'p50 ms':>8} {'p90 ms':>8}")
    for case, data in cases.items():
        for name, function in runs.items():
            p50, p90 = timed(function, data, args.repeats)
            print(f"{case:18} {name:34} {p50:8.2f} {p90:8.2f}")


if __name__ == "__main__":
    main()
