"""The edge's own person crops of the known employee are recognised as him (issue 10, face recognition).

Real parts end to end: the camera's JPEG encoding, the edge's person detector and FrameProcessor, the
cloud's local backend (YuNet + SFace) enrolled with the three photos of the employee.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from edgewatch.camera.encoding import encode_jpeg
from edgewatch.cloud.backends.base import verdict_for
from edgewatch.cloud.backends.local import LocalBackend
from edgewatch.cloud.images import load_image
from edgewatch.edge.detection import PersonBox
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.frame_processing import CROP_GRID, FrameProcessor
from edgewatch.protocol import Verdict

FRAMES = [f"video1_frame{i}.jpg" for i in range(1, 5)]


@pytest.fixture(scope="module")
def enrolled(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> LocalBackend:
    backend = LocalBackend(tmp_path_factory.mktemp("faces") / "faces.db")
    photos = sorted((shared_data / "known-faces").glob("known_face*.png"))
    backend.add_person("employee", [load_image(p.read_bytes(), p.name, max_bytes=1 << 26) for p in photos])
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def processor() -> FrameProcessor:
    return FrameProcessor(create_detector())


@pytest.mark.shared_data
@pytest.mark.parametrize("frame", FRAMES)
def test_edge_crop_of_the_employee_is_known(shared_data: Path, enrolled: LocalBackend,
                                            processor: FrameProcessor, frame: str) -> None:
    # What the edge receives from a camera at full width (the camera re-encodes at quality 85).
    jpeg = encode_jpeg(cv2.imread(str(shared_data / "wisenet-frames" / frame)), None, 85)
    persons = processor.process(jpeg).persons
    assert persons, "the edge's detector must find the employee"
    crop = load_image(persons[0].crop_jpeg, "crop.jpg")
    faces = enrolled.identify(crop)
    assert verdict_for(faces) is Verdict.KNOWN, [f.similarity for f in faces]
    assert faces[0].match is not None and faces[0].match.name == "employee"
    # As recognisable as the whole frame, within the measured noise of SFace on 40 px faces.
    full = enrolled.identify(load_image(jpeg, frame))
    assert faces[0].similarity >= full[0].similarity - 0.05


def test_crop_origin_is_on_the_grid_and_keeps_head_room() -> None:
    processor = FrameProcessor(detector=None, crop_padding=0.1, head_room=0.1)  # type: ignore[arg-type]
    box = PersonBox(x1=411.3, y1=130.2, x2=560.0, y2=567.0, score=0.8)
    x1, y1, x2, y2 = processor.crop_rect(box, 1280, 720)
    assert x1 % CROP_GRID == 0 and y1 % CROP_GRID == 0
    height = box.y2 - box.y1
    assert y1 <= box.y1 - 0.2 * height  # padding plus head-room above the box
    assert x1 <= box.x1 - 0.1 * (box.x2 - box.x1) and x2 >= box.x2 and y2 >= box.y2
    # Clipped to the frame, never empty, at the edges too.
    assert processor.crop_rect(PersonBox(0, 0, 5, 5, 0.5), 64, 48) == (0, 0, 6, 6)
    assert processor.crop_rect(PersonBox(60, 40, 64, 48, 0.5), 64, 48)[2:] == (64, 48)


def test_jpeg_crop_reuses_the_frames_tables() -> None:
    """A JPEG frame's crop is encoded with the frame's quantisation tables: on the block grid, re-encoding
    changes the pixels far less than a fresh quality-90 encoding does."""
    rng = np.random.default_rng(3)
    pixels = cv2.GaussianBlur(rng.integers(0, 255, (256, 320, 3), dtype=np.uint8), (0, 0), 2.0)
    frame = Image.open(io.BytesIO(encode_jpeg(pixels, None, 85)))
    frame.load()
    processor = FrameProcessor(detector=None)  # type: ignore[arg-type]
    crop = processor._crop(frame, PersonBox(70.0, 50.0, 250.0, 230.0, 0.9))
    decoded = Image.open(io.BytesIO(crop.crop_jpeg))
    assert decoded.quantization == frame.quantization
    x1, y1, x2, y2 = processor.crop_rect(PersonBox(70.0, 50.0, 250.0, 230.0, 0.9), frame.width, frame.height)
    original = np.asarray(frame.convert("RGB"))[y1:y2, x1:x2].astype(np.int16)
    error = np.abs(np.asarray(decoded.convert("RGB")).astype(np.int16) - original).mean()
    out = io.BytesIO()
    Image.fromarray(original.astype(np.uint8)).save(out, "JPEG", quality=90)
    fresh = np.abs(np.asarray(Image.open(out).convert("RGB")).astype(np.int16) - original).mean()
    assert error < fresh
