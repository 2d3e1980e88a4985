"""Person-detector backends for the edge (ONNX Runtime on CPU; no OpenCV, no torch).

- ``nanodet`` (default): NanoDet-g 416 COCO weights bundled in ``edgewatch/edge/models`` (MIT/Apache-2.0,
  see NOTICE.md there); any input size that is a multiple of 32.
- ``yolo``: a YOLOv8-style ONNX file the user provides with ``model_path`` (class 0 = person); nothing is
  bundled, since the usual YOLOv8 weights are AGPL-3.0.
"""

from __future__ import annotations

from pathlib import Path

from edgewatch.edge.detection import PersonDetector

KINDS = ("nanodet", "yolo")


def create_detector(
    kind: str = "nanodet",
    *,
    input_size: int = 416,
    confidence: float = 0.35,
    iou: float = 0.5,
    threads: int = 1,
    model_path: Path | None = None,
) -> PersonDetector:
    """Build a thread-safe person detector. Raises ValueError for an unknown kind or unusable model."""
    if kind == "nanodet":
        from edgewatch.edge.detectors.nanodet import NanoDetDetector

        return NanoDetDetector(
            input_size=input_size, confidence=confidence, iou=iou, threads=threads, model_path=model_path
        )
    if kind == "yolo":
        from edgewatch.edge.detectors.yolo import YoloDetector

        return YoloDetector(
            model_path=model_path, input_size=input_size, confidence=confidence, iou=iou, threads=threads
        )
    raise ValueError(f"unknown detector kind {kind!r}; choose one of: {', '.join(KINDS)}")


__all__ = ["KINDS", "create_detector"]
