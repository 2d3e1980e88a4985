"""Verification accuracy of the local backend (YuNet + SFace, cosine similarity) on the data at hand.

Pairs:
  * shared data (../shared/data, when present): the known employee's 3 enrolment photos and the 4
    ceiling-camera frames of him (7 images, 21 genuine pairs), against the two bundled portraits;
  * bundled portraits (src/edgewatch/sim/assets): Grace Hopper and Eileen Collins, each also degraded the
    way camera crops are (mirrored, JPEG quality 30, darker, downscaled so the face is 40/24/16 px wide):
    genuine pairs = a variant against its original, impostor pairs = across the two persons.
Prints the similarity distributions, accuracy / false accepts / false rejects at the threshold, and the
smallest face the detector still finds (and still matches) in a small crop and in a 1280x720 frame.

With the shared data it also runs the edge's own pipeline on ``video1_frame1..4`` (camera JPEG at quality 85,
full width and --max-width 960/640/512, the edge's person detector and FrameProcessor) and prints, per
frame, the best similarity to the enrolment photos of the full frame and of the edge's person crop, the
way the edge cut crops before (any offset, +10 % padding, re-encoded at quality 90, cloud always upsampling
small images; emulated: the cloud's old rule is approximated by always preferring the upsampled search)
next to now (32 px grid, head-room, the frame's own JPEG tables, cloud searching at the image's own scale
first).

  python benchmarks/face_verification.py [--threshold 0.363] [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from edgewatch.cloud.backends.face_models import SFACE_COSINE_THRESHOLD, DetectorOptions, FaceModels

REPO = Path(__file__).resolve().parents[1]


def asset(name: str) -> Path:
    return Path(str(resources.files("edgewatch.sim") / "assets" / name))


def variants(pixels: np.ndarray, face_width: float) -> dict[str, np.ndarray]:
    out = {"mirrored": cv2.flip(pixels, 1)}
    out["jpeg-q30"] = cv2.imdecode(cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 30])[1], 1)
    out["darker"] = cv2.convertScaleAbs(pixels, alpha=0.5, beta=0)
    for width in (40, 24, 16):
        scale = width / face_width
        out[f"face-{width}px"] = cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return out


def largest(models: FaceModels, pixels: np.ndarray, label: str):
    faces = models.faces(pixels)
    if not faces:
        print(f"  (no face found in {label})")
        return None
    return faces[0]


def smallest_face(models: FaceModels, pixels: np.ndarray, reference: np.ndarray, face_width: float,
                  threshold: float) -> None:
    print("\nsmallest face (Grace Hopper's portrait scaled down; similarity to the full-size face):")
    print("  face px | crop alone (upsampled)   | inside a 1280x720 frame")
    for width in (6, 8, 10, 12, 14, 16, 20, 24, 32):
        scale = width / face_width
        small = cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        frame = np.full((720, 1280, 3), 120, np.uint8)
        frame[200:200 + small.shape[0], 600:600 + small.shape[1]] = small
        cells = []
        for image in (small, frame):
            faces = models.faces(image)
            if not faces:
                cells.append("not found")
            else:
                sim = float(faces[0].embedding @ reference)
                cells.append(f"found, sim {sim:.3f} {'match' if sim >= threshold else 'no match'}")
        print(f"  {width:7d} | {cells[0]:24s} | {cells[1]}")


def _old_crop(frame_bgr: np.ndarray, box, padding: float = 0.1) -> np.ndarray:
    """The edge's crop before this change: any offset, 10 % padding, re-encoded at JPEG quality 90."""
    pad_x, pad_y = (box.x2 - box.x1) * padding, (box.y2 - box.y1) * padding
    height, width = frame_bgr.shape[:2]
    x1, y1 = max(0, int(box.x1 - pad_x)), max(0, int(box.y1 - pad_y))
    x2, y2 = min(width, int(box.x2 + pad_x) + 1), min(height, int(box.y2 + pad_y) + 1)
    encoded = cv2.imencode(".jpg", frame_bgr[y1:y2, x1:x2], [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


def edge_crops(shared: Path, threshold: float) -> None:
    """Similarity of the known employee in the edge's person crops next to the full frames, old and new."""
    from edgewatch.camera.encoding import encode_jpeg
    from edgewatch.edge.detectors import create_detector
    from edgewatch.edge.frame_processing import FrameProcessor

    detector = create_detector()
    processor = FrameProcessor(detector)
    old_models = FaceModels(DetectorOptions(small_face=1 << 30, tta_factors=()))  # always upsampled (old rule)
    new_models = FaceModels()
    photos = [cv2.imread(str(p)) for p in sorted((shared / "known-faces").glob("*.png"))]
    galleries = {}
    for label, models in (("old", old_models), ("new", new_models)):
        galleries[label] = np.stack([models.faces(photo)[0].embedding for photo in photos])

    def best(models: FaceModels, label: str, pixels: np.ndarray) -> float | None:
        faces = models.faces(pixels)
        return None if not faces else float((galleries[label] @ faces[0].embedding).max())

    def cell(value: float | None) -> str:
        return "  none" if value is None else f"{value:.3f}{'*' if value < threshold else ' '}"

    print("\nedge crops vs full frames (best similarity to the 3 enrolment photos; * below the threshold):")
    print("  camera width | frame | old: full  crop  | new: full  crop")
    gaps: dict[str, list[float]] = {"old": [], "new": []}
    for max_width in (None, 960, 640, 512):
        for index in range(1, 5):
            source = cv2.imread(str(shared / "wisenet-frames" / f"video1_frame{index}.jpg"))
            jpeg = encode_jpeg(source, max_width, 85)
            frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            boxes = detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            if not boxes:
                print(f"  {max_width or 'full':>12} | {index:5d} | no person detected")
                continue
            old_full = best(old_models, "old", frame)
            old_crop = best(old_models, "old", _old_crop(frame, boxes[0]))
            new_full = best(new_models, "new", frame)
            crops = processor.process(jpeg).persons
            new_crop = best(new_models, "new", cv2.imdecode(np.frombuffer(crops[0].crop_jpeg, np.uint8), 1))
            for label, full, crop in (("old", old_full, old_crop), ("new", new_full, new_crop)):
                if full is not None:
                    gaps[label].append((crop if crop is not None else 0.0) - full)
            print(f"  {max_width or 'full':>12} | {index:5d} |   {cell(old_full)} {cell(old_crop)} |   "
                  f"{cell(new_full)} {cell(new_crop)}")
    for label, values in gaps.items():
        if values:
            print(f"  {label}: crop minus full frame: mean {np.mean(values):+.3f}, worst {min(values):+.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threshold", type=float, default=SFACE_COSINE_THRESHOLD)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    models = FaceModels()

    genuine: list[tuple[str, float]] = []
    impostor: list[tuple[str, float]] = []
    portraits = {}
    for person, name in (("grace", "grace_hopper.jpg"), ("eileen", "astronaut.jpg")):
        path = asset(name)
        if not path.is_file():
            print(f"(bundled {name} missing: skipped)")
            continue
        pixels = cv2.imread(str(path))
        face = largest(models, pixels, name)
        if face is None:
            continue
        portraits[person] = {"original": face.embedding}
        for label, image in variants(pixels, face.width).items():
            found = largest(models, image, f"{person}/{label}")
            if found is not None:
                portraits[person][label] = found.embedding
                genuine.append((f"{person}/{label} ~ {person}/original", float(found.embedding @ face.embedding)))
    for (p1, e1), (p2, e2) in itertools.combinations(portraits.items(), 2):
        for (l1, v1), (l2, v2) in itertools.product(e1.items(), e2.items()):
            impostor.append((f"{p1}/{l1} ~ {p2}/{l2}", float(v1 @ v2)))

    employee = {}
    if args.shared.is_dir():
        for path in sorted((args.shared / "known-faces").glob("*.png")) + sorted(
                (args.shared / "wisenet-frames").glob("video1_frame[1-4].jpg")):
            face = largest(models, cv2.imread(str(path)), path.name)
            if face is not None:
                employee[path.name] = (face.embedding, face.width)
        for (n1, (e1, _)), (n2, (e2, _)) in itertools.combinations(employee.items(), 2):
            genuine.append((f"employee {n1} ~ {n2}", float(e1 @ e2)))
        for name, (vector, _) in employee.items():
            for person, embeddings in portraits.items():
                for label, other in embeddings.items():
                    impostor.append((f"employee {name} ~ {person}/{label}", float(vector @ other)))
        widths = ", ".join(f"{n}: {w:.0f}px" for n, (_, w) in employee.items())
        print(f"shared data: {len(employee)} images of the known employee ({widths})")
    else:
        print(f"shared data absent ({args.shared}): bundled portraits only")

    t = args.threshold
    g = np.array([s for _, s in genuine])
    i = np.array([s for _, s in impostor])
    false_rejects = [(n, s) for n, s in genuine if s < t]
    false_accepts = [(n, s) for n, s in impostor if s >= t]
    total = len(g) + len(i)
    correct = total - len(false_rejects) - len(false_accepts)
    print(f"\ngenuine pairs : {len(g):4d}  similarity min {g.min():.3f}  mean {g.mean():.3f}  max {g.max():.3f}")
    print(f"impostor pairs: {len(i):4d}  similarity min {i.min():.3f}  mean {i.mean():.3f}  max {i.max():.3f}")
    print(f"threshold {t:.3f}: accuracy {correct}/{total} = {100 * correct / total:.1f} %, "
          f"false rejects {len(false_rejects)}/{len(g)}, false accepts {len(false_accepts)}/{len(i)}")
    for name, sim in sorted(false_rejects, key=lambda x: x[1]):
        print(f"  false reject {sim:.3f}  {name}")
    for name, sim in sorted(false_accepts, key=lambda x: -x[1]):
        print(f"  false accept {sim:.3f}  {name}")
    employee_pairs = [s for n, s in genuine if n.startswith("employee")]
    if employee_pairs:
        frames = [s for n, s in genuine if n.startswith("employee known") and "video1" in n]
        print(f"employee genuine pairs: min {min(employee_pairs):.3f}; enrolment photo ~ camera frame: "
              f"min {min(frames):.3f}, max {max(frames):.3f}")

    if args.shared.is_dir():
        edge_crops(args.shared, t)

    if "grace" in portraits:
        pixels = cv2.imread(str(asset("grace_hopper.jpg")))
        face = largest(models, pixels, "grace")
        smallest_face(models, pixels, face.embedding, face.width, t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
