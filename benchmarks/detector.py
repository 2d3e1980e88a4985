"""Person-detector latency and hit rate on this machine (real ONNX Runtime inference, no network).

Times ``detector.detect()`` (letterbox + inference + decode + NMS) per image at several input sizes and
prints p50/p90/p99 in milliseconds. Images: the WiseNET frames in ``../shared/data/wisenet-frames`` when
present, else the bundled portrait. On the WiseNET frames it also prints the hit rate: persons found on the
four frames that show one person, and false detections on the five empty frames.

  python benchmarks/detector.py                       # nanodet at 320/416/640, 1 thread
  python benchmarks/detector.py --threads 2 --repeats 50
  python benchmarks/detector.py --detector yolo --model-path my-yolov8n.onnx --sizes 640
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from edgewatch.edge.detectors import create_detector

REPO = Path(__file__).resolve().parents[1]
WISENET = REPO.parent / "shared" / "data" / "wisenet-frames"
PORTRAIT = REPO / "src" / "edgewatch" / "sim" / "assets" / "grace_hopper.jpg"
PERSON_FRAMES = [f"video1_frame{i}.jpg" for i in (1, 2, 3, 4)]
EMPTY_FRAMES = ["video1_frame610.jpg", "video1_frame616.jpg", "video1_frame638.jpg",
                "video2_frame2151.jpg", "video2_frame2156.jpg"]


def load_images() -> dict[str, np.ndarray]:
    paths = sorted(WISENET.glob("*.jpg")) if WISENET.is_dir() else []
    if not paths:
        paths = [PORTRAIT]
    images = {}
    for path in paths:
        with Image.open(path) as image:
            images[path.name] = np.asarray(image.convert("RGB"))
    return images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", default="nanodet", choices=("nanodet", "yolo"))
    parser.add_argument("--model-path", type=Path, default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 416, 640])
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    parser.add_argument("--confidence", type=float, default=0.35)
    parser.add_argument("--square", action="store_true",
                        help="nanodet: also time the square size x size canvas beside the default aspect-fit one")
    parser.add_argument("--repeats", type=int, default=20, help="timed passes over the image set")
    args = parser.parse_args()

    images = load_images()
    source = f"{len(images)} WiseNET frames" if WISENET.is_dir() else "bundled portrait (no WiseNET frames)"
    out = sys.stdout
    out.write(f"# {args.detector}, {args.threads} thread(s), confidence {args.confidence}, {source}; "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs\n")
    out.write(f"{'size':>5} {'canvas':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'samples':>8}  hit rate\n")
    shapes = (False, True) if args.square and args.detector == "nanodet" else (False,)
    for size, square in ((size, square) for size in args.sizes for square in shapes):
        extra = {"square": square} if args.detector == "nanodet" else {}
        detector = create_detector(args.detector, input_size=size, confidence=args.confidence,
                                   threads=args.threads, model_path=args.model_path, **extra)
        found = {name: detector.detect(image) for name, image in images.items()}  # also the warm-up
        times = []
        for _ in range(args.repeats):
            for image in images.values():
                started = time.perf_counter()
                detector.detect(image)
                times.append((time.perf_counter() - started) * 1000)
        p50, p90, p99 = np.percentile(times, [50, 90, 99])
        hits = ""
        if all(name in found for name in PERSON_FRAMES + EMPTY_FRAMES):
            with_person = sum(1 for name in PERSON_FRAMES if found[name])
            false_pos = sum(len(found[name]) for name in EMPTY_FRAMES)
            scores = " ".join(f"{max((b.score for b in found[n]), default=0):.2f}" for n in PERSON_FRAMES)
            hits = (f"persons in {with_person}/{len(PERSON_FRAMES)} (top scores {scores}), "
                    f"{false_pos} false on {len(EMPTY_FRAMES)} empty")
        canvas = "square" if square or args.detector != "nanodet" else "aspect"
        out.write(f"{detector.input_size:>5} {canvas:>7} {p50:>8.1f} {p90:>8.1f} {p99:>8.1f} {len(times):>8}  {hits}\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
