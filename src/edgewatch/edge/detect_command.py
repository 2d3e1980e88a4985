"""Detect persons in image files with the edge's person detector (offline, ONNX Runtime on CPU).

Prints one line per image: readable by default, or with --json one JSON object per line:
  {"image": PATH, "persons": [{"box": [x1, y1, x2, y2], "score": S}], "ms": INFERENCE_MS}
Boxes are in the displayed image's pixels (after its EXIF orientation). Images load through
edgewatch.imaging: any mode or bit depth, the pixel limit checked before decoding. An unreadable image is reported on stderr and skipped; the exit status is
then 1 (2 if the detector itself cannot be loaded).

Examples:
  edgewatch detect frames/*.jpg
  edgewatch detect --json --input-size 320 --confidence 0.3 door.jpg
  edgewatch detect --detector yolo --model-path my-yolov8n.onnx door.jpg
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _input_size(text: str) -> int:
    value = int(text)
    if value < 64 or value % 32:
        raise argparse.ArgumentTypeError(f"must be a multiple of 32 and at least 64, got {value}")
    return value


def _confidence(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _threads(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files (JPEG, PNG ...)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    parser.add_argument("--detector", choices=("nanodet", "yolo"), default="nanodet",
                        help="nanodet: bundled weights (default); yolo: a YOLOv8-style ONNX given by --model-path")
    parser.add_argument("--input-size", type=_input_size, default=320, metavar="PIXELS",
                        help="network input size, a multiple of 32 (default 320, as the edge)")
    parser.add_argument("--confidence", type=_confidence, default=0.4, metavar="SCORE",
                        help="minimum person score (default 0.4, as the edge)")
    parser.add_argument("--iou", type=_confidence, default=0.5, metavar="IOU",
                        help="non-maximum-suppression IoU threshold (default 0.5)")
    parser.add_argument("--model-path", type=Path, default=None, metavar="FILE",
                        help="ONNX weights (required for --detector yolo)")
    parser.add_argument("--threads", type=_threads, default=1, metavar="N",
                        help="ONNX Runtime intra-op threads (default 1)")
    parser.add_argument("--max-pixels", type=_threads, default=40_000_000, metavar="N",
                        help="refuse images with more pixels than this, read from the header (default 40000000)")


def main(args: argparse.Namespace) -> int:
    import json
    import sys
    import time

    from edgewatch.edge.detectors import create_detector
    from edgewatch.imaging import ImageError, load_rgb

    try:
        detector = create_detector(
            args.detector, input_size=args.input_size, confidence=args.confidence, iou=args.iou,
            threads=args.threads, model_path=args.model_path,
        )
    except (ValueError, OSError, RuntimeError) as exc:
        sys.stderr.write(f"edgewatch detect: cannot load the {args.detector} detector: {exc}\n")
        return 2

    status = 0
    for path in args.images:
        try:
            image = load_rgb(path, max_pixels=args.max_pixels)
        except ImageError as exc:
            sys.stderr.write(f"edgewatch detect: cannot read {exc}\n")
            status = 1
            continue
        started = time.perf_counter()
        persons = detector.detect(image)
        ms = (time.perf_counter() - started) * 1000
        if args.json:
            record = {
                "image": str(path),
                "persons": [
                    {"box": [round(b.x1, 1), round(b.y1, 1), round(b.x2, 1), round(b.y2, 1)],
                     "score": round(b.score, 4)}
                    for b in persons
                ],
                "ms": round(ms, 2),
            }
            sys.stdout.write(json.dumps(record) + "\n")
        else:
            found = ", ".join(
                f"[{b.x1:.0f},{b.y1:.0f},{b.x2:.0f},{b.y2:.0f}] {b.score:.2f}" for b in persons
            )
            count = f"{len(persons)} person{'s' if len(persons) != 1 else ''}"
            sys.stdout.write(f"{path}: {count}{': ' + found if found else ''} ({ms:.1f} ms)\n")
        sys.stdout.flush()
    return status
