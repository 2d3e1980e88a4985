"""Person detector for a user-supplied YOLOv8-style ONNX model (ONNX Runtime, CPU).

For users who bring their own weights (for example Ultralytics YOLOv8 exports, which are AGPL-3.0: they are
NOT shipped with edgewatch). Expected model: one input 1 x 3 x H x W (float32 or float16, RGB, pixel / 255,
letterboxed with grey 114), one output [1, 4 + nc, N] (or [1, N, 4 + nc]) whose rows are box centre x,
centre y, width, height in input pixels followed by nc class scores (already sigmoid); class 0 is "person".
A model with a fixed input size runs at that size whatever ``input_size`` says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgewatch.edge.detection import PersonBox, check_rgb, letterbox, nms, to_person_boxes, unletterbox
from edgewatch.edge.detectors.nanodet import make_session

PERSON = 0
MAX_CANDIDATES = 1000


class ModelLoadError(ValueError):
    """The model file is missing, unreadable or not a YOLOv8-style detector."""


def decode_yolo(output: np.ndarray, confidence: float, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """YOLOv8 raw output -> (boxes N x 4 as x1, y1, x2, y2 in input pixels, person scores N), after NMS."""
    pred = np.asarray(output, dtype=np.float32)
    if pred.ndim == 3:
        pred = pred[0]
    if pred.ndim != 2 or min(pred.shape) < 5:
        raise ValueError(f"not a YOLOv8-style output: shape {np.shape(output)}")
    if pred.shape[0] > pred.shape[1]:  # [N, 4 + nc] -> [4 + nc, N] (N, e.g. 8400, is the larger one)
        pred = pred.T
    scores = pred[4 + PERSON]
    keep = np.flatnonzero(scores >= confidence)
    if keep.size > MAX_CANDIDATES:
        keep = keep[np.argsort(-scores[keep])[:MAX_CANDIDATES]]
    cx, cy, w, h = pred[:4, keep]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kept = nms(boxes, scores[keep], iou)
    return boxes[kept], scores[keep][kept]


class YoloDetector:
    """Thread-safe: detect() only reads shared state, and ``InferenceSession.run`` is thread-safe."""

    name = "yolo"

    def __init__(
        self,
        *,
        model_path: Path | None,
        input_size: int = 640,
        confidence: float = 0.35,
        iou: float = 0.5,
        threads: int = 1,
    ) -> None:
        if model_path is None:
            raise ModelLoadError("the 'yolo' detector needs model_path: a YOLOv8-style ONNX file you provide")
        path = Path(model_path)
        if not path.is_file():
            raise ModelLoadError(f"YOLO model not found: {path}")
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {confidence}")
        try:
            self._session = make_session(path, threads)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
            raise ModelLoadError(f"cannot load YOLO model {path}: {exc}") from exc
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ModelLoadError(f"{path}: expected one 1x3xHxW input, got {[i.shape for i in inputs]}")
        if len(outputs) != 1 or len(outputs[0].shape) != 3:
            raise ModelLoadError(
                f"{path}: not a YOLOv8-style detector: expected one [1, 4 + classes, N] output, got "
                f"{[o.shape for o in outputs]}"
            )
        height, width = inputs[0].shape[2:]
        if isinstance(height, int) and isinstance(width, int):
            if height != width:
                raise ModelLoadError(f"{path}: only square inputs are supported, got {height}x{width}")
            input_size = height
        elif input_size % 32:
            raise ValueError(f"YOLO input size must be a multiple of 32, got {input_size}")
        self.input_size = int(input_size)
        self.confidence = confidence
        self.iou = iou
        self.model_path = path
        self._input_name = inputs[0].name
        self._input_dtype = np.float16 if inputs[0].type == "tensor(float16)" else np.float32
        self._output_name = outputs[0].name

    def detect(self, image_rgb: np.ndarray) -> list[PersonBox]:
        image = check_rgb(image_rgb)
        padded, scale, pad_x, pad_y = letterbox(image, self.input_size)
        tensor = (padded.astype(np.float32) / 255.0).transpose(2, 0, 1)[np.newaxis]
        tensor = np.ascontiguousarray(tensor, dtype=self._input_dtype)
        (output,) = self._session.run([self._output_name], {self._input_name: tensor})
        boxes, scores = decode_yolo(output, self.confidence, self.iou)
        if boxes.size == 0:
            return []
        height, width = image.shape[:2]
        mapped = unletterbox(boxes, scale, pad_x, pad_y, width, height)
        valid = (mapped[:, 2] > mapped[:, 0]) & (mapped[:, 3] > mapped[:, 1])
        return to_person_boxes(mapped[valid], scores[valid])
