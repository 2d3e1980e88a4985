"""Person-detector interface shared by the edge's detection backends, and their shared pre/post-processing.

The edge image carries Pillow + numpy + ONNX Runtime only (no OpenCV, to stay small), so resizing is done
with Pillow and non-maximum suppression in numpy here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: grey used for letterbox padding (the value YOLO and NanoDet pipelines pad with).
PAD_VALUE = 114


@dataclass(frozen=True, slots=True)
class PersonBox:
    """One detected person in original-image pixel coordinates."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float


class PersonDetector(Protocol):
    """Anything that finds persons in an RGB uint8 image (H x W x 3, as Pillow decodes a JPEG).

    Implementations must be thread-safe for concurrent detect() calls (the edge runs several worker threads
    on one detector)."""

    name: str
    input_size: int

    def detect(self, image_rgb: np.ndarray) -> list[PersonBox]: ...


def check_rgb(image_rgb: np.ndarray) -> np.ndarray:
    """Return ``image_rgb`` as a C-contiguous uint8 H x W x 3 array, or raise ValueError."""
    image = np.asarray(image_rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ValueError(f"expected an RGB uint8 image of shape (H, W, 3), got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


def letterbox(
    image_rgb: np.ndarray, size: int, *, multiple: int | None = None
) -> tuple[np.ndarray, float, int, int]:
    """Resize (Pillow, bilinear, aspect kept) to fit ``size`` x ``size`` and pad the rest with grey.

    With ``multiple`` (a fully convolutional model's largest stride) the canvas is not square: each side is
    padded only up to the next multiple, so a 16:9 frame at size 320 becomes 320 x 192 instead of 320 x
    320, 40 % fewer pixels to run the model on, with the same detections.

    Returns ``(padded, scale, pad_x, pad_y)``: a point (x, y) of the original maps to
    (x * scale + pad_x, y * scale + pad_y) in ``padded``.
    """
    from PIL import Image

    image = check_rgb(image_rgb)
    height, width = image.shape[:2]
    scale = min(size / width, size / height)
    new_w = min(size, max(1, round(width * scale)))
    new_h = min(size, max(1, round(height * scale)))
    if (new_w, new_h) != (width, height):
        image = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR))
    if multiple:
        canvas_w = -(-new_w // multiple) * multiple
        canvas_h = -(-new_h // multiple) * multiple
    else:
        canvas_w = canvas_h = size
    pad_x = (canvas_w - new_w) // 2
    pad_y = (canvas_h - new_h) // 2
    padded = np.full((canvas_h, canvas_w, 3), PAD_VALUE, dtype=np.uint8)
    padded[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = image
    return padded, scale, pad_x, pad_y


def unletterbox(boxes: np.ndarray, scale: float, pad_x: int, pad_y: int, width: int, height: int) -> np.ndarray:
    """Map N x 4 (x1, y1, x2, y2) boxes from letterboxed input back to original pixels, clipped."""
    out = boxes.astype(np.float64, copy=True)
    out[:, [0, 2]] = np.clip((out[:, [0, 2]] - pad_x) / scale, 0, width)
    out[:, [1, 3]] = np.clip((out[:, [1, 3]] - pad_y) / scale, 0, height)
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns the kept indices, highest score first.

    Our own rather than cv2.dnn.NMSBoxes: the edge image has no OpenCV, and this is ~15 lines of numpy.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    x1, y1, x2, y2 = boxes.T
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        inter_w = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        inter_h = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = inter_w * inter_h
        union = areas[best] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def to_person_boxes(boxes: np.ndarray, scores: np.ndarray) -> list[PersonBox]:
    return [
        PersonBox(float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(s))
        for b, s in zip(boxes, scores, strict=True)
    ]
