"""JPEG decoding for the edge: OpenCV's decoder versus Pillow (libjpeg-turbo), full size and DCT-scaled.

libjpeg(-turbo) can decode a JPEG at 1/2, 1/4 or 1/8 of its size by skipping the high DCT frequencies,
far cheaper than a full decode followed by a resize. Pillow exposes it as ``Image.draft``; OpenCV as
``IMREAD_REDUCED_COLOR_2/4/8``. This prints the median and p90 milliseconds per decode of each, on the
WiseNET frames (1280x720) when present and on a 2200x1300 frame made from them (or from the demo scene),
so the edge's choice (see README "Zones, masks, confirmation, motion gating") rests on a measurement.

  python benchmarks/jpeg_decode.py --repeats 60

CPU time per decode (``time.process_time``) is printed beside wall time: on a loaded, shared machine the
CPU figure is the robust one.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
WISENET = REPO.parent / "shared" / "data" / "wisenet-frames"
ALT_WISENET = Path("/work/shared/data/wisenet-frames")


def sample_frames() -> dict[str, bytes]:
    folder = WISENET if WISENET.is_dir() else ALT_WISENET
    paths = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    if paths:
        base = Image.open(paths[0]).convert("RGB")
    else:
        from edgewatch.sim.scene import default_script, load_asset, render_frame

        script = default_script()
        sprites = {a.asset: load_asset(a.asset) for a in script.appearances}
        base = Image.fromarray(render_frame(script, script.appearances[0].start + 5, sprites)[:, :, ::-1])
    frames = {}
    for size in ((1280, 720), (2200, 1300)):
        out = io.BytesIO()
        base.resize(size, Image.Resampling.BICUBIC).save(out, format="JPEG", quality=88)
        frames[f"{size[0]}x{size[1]}"] = out.getvalue()
    return frames


def pillow(scale: int, mode: str = "RGB") -> Callable[[bytes], np.ndarray]:
    def run(data: bytes) -> np.ndarray:
        image = Image.open(io.BytesIO(data))
        if scale > 1:
            image.draft(mode, (image.width // scale, image.height // scale))
        return np.asarray(image.convert(mode))
    return run


def opencv(flag_name: str) -> Callable[[bytes], np.ndarray]:
    import cv2

    flag = getattr(cv2, flag_name)

    def run(data: bytes) -> np.ndarray:
        return cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    return run


def measure(fn: Callable[[bytes], np.ndarray], data: bytes, repeats: int) -> tuple[float, float, float, str]:
    fn(data)  # warm up
    walls, cpu_start = [], time.process_time()
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn(data)
        walls.append((time.perf_counter() - started) * 1000)
    cpu = (time.process_time() - cpu_start) * 1000 / repeats
    walls.sort()
    return statistics.median(walls), walls[int(0.9 * (len(walls) - 1))], cpu, f"{out.shape[1]}x{out.shape[0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    decoders: list[tuple[str, Callable[[bytes], np.ndarray]]] = [
        ("pillow full RGB", pillow(1)),
        ("pillow draft 1/2 RGB", pillow(2)),
        ("pillow draft 1/4 RGB", pillow(4)),
        ("pillow draft 1/8 L (motion)", pillow(8, "L")),
    ]
    try:
        import cv2  # noqa: F401

        decoders += [
            ("opencv full BGR", opencv("IMREAD_COLOR")),
            ("opencv reduced 1/2", opencv("IMREAD_REDUCED_COLOR_2")),
            ("opencv reduced 1/4", opencv("IMREAD_REDUCED_COLOR_4")),
            ("opencv reduced 1/8 grey", opencv("IMREAD_REDUCED_GRAYSCALE_8")),
        ]
    except ImportError:
        print("OpenCV not installed: Pillow only")
    print("machine shared with other jobs: wall times are noisy, CPU ms per decode is the robust figure")
    print(f"{'frame':<10} {'decoder':<28} {'out':>10} {'p50 ms':>8} {'p90 ms':>8} {'cpu ms':>8}")
    for name, data in sample_frames().items():
        for label, fn in decoders:
            p50, p90, cpu, shape = measure(fn, data, args.repeats)
            print(f"{name:<10} {label:<28} {shape:>10} {p50:>8.2f} {p90:>8.2f} {cpu:>8.2f}")


if __name__ == "__main__":
    main()
