"""Decode only what is needed: the detector sees a DCT-scaled decode and finds the same persons; only
frames with a person (after masks) are decoded at full size, for their crops."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from edgewatch.edge.detectors import create_detector
from edgewatch.edge.frame_processing import FrameDecodeError, FrameProcessor, ProcessedFrame
from edgewatch.edge.zones import CameraView

from .scenes import Scene, demo_scene, wisenet_scene


@pytest.fixture(scope="module", params=["demo", pytest.param("wisenet", marks=pytest.mark.shared_data)])
def scene(request: pytest.FixtureRequest) -> Scene:
    if request.param == "wisenet":
        folder = request.getfixturevalue("shared_data") / "wisenet-frames"
        if not folder.is_dir():
            pytest.skip("../shared/data/wisenet-frames is absent")
        return wisenet_scene(folder)
    return demo_scene()


@pytest.fixture(scope="module")
def detector():
    return create_detector("nanodet", input_size=320, confidence=0.3)


def iou(a, b) -> float:
    w = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    h = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = w * h
    return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter)


def test_scaled_decode_finds_the_same_persons_in_frame_pixels(detector, scene: Scene) -> None:
    full, scaled = FrameProcessor(detector, reduced_decode=False), FrameProcessor(detector)
    for jpeg in [*scene.person, *scene.empty]:
        a, b = full.process(jpeg), scaled.process(jpeg)
        assert isinstance(a, ProcessedFrame) and isinstance(b, ProcessedFrame)
        assert b.detect_size == (320, 180) and a.detect_size == (1280, 720), "1280x720 at 1/4 for a 320 model"
        assert len(a.persons) == len(b.persons)
        for pa, pb in zip(a.persons, b.persons, strict=True):
            assert iou(pa.box, pb.box) > 0.9, (pa.box, pb.box)
            crop = Image.open(io.BytesIO(pb.crop_jpeg))
            assert crop.height >= 0.9 * (pb.box.y2 - pb.box.y1), "crops come from the full-size frame"


def test_only_frames_with_a_person_left_are_decoded_at_full_size(detector, scene: Scene) -> None:
    processor = FrameProcessor(detector)
    assert not processor.process(scene.empty[0]).decoded_full  # type: ignore[union-attr]
    with_person = processor.process(scene.person[0])
    assert isinstance(with_person, ProcessedFrame) and with_person.decoded_full and with_person.persons
    masked = processor.process(scene.person[0], view=CameraView(masks=[scene.around_feet]))
    assert isinstance(masked, ProcessedFrame) and masked.persons == [] and masked.ignored == {"masked": 1}
    assert not masked.decoded_full, "a masked person costs no full decode"


def test_a_broken_frame_is_a_decode_error(detector, tmp_path: Path) -> None:
    good = demo_scene().empty[0]
    with pytest.raises(FrameDecodeError):
        FrameProcessor(detector).process(good[: len(good) // 3])
