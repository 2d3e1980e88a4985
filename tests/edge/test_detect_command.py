"""``edgewatch detect``: the real command in a subprocess, with real inference on real images."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
PORTRAIT = REPO / "src" / "edgewatch" / "sim" / "assets" / "grace_hopper.jpg"


def run_detect(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgewatch", "detect", *map(str, args)],
        check=False, capture_output=True, text=True, timeout=120, cwd=REPO,
    )


def blank_png(tmp_path: Path) -> Path:
    path = tmp_path / "blank.png"
    Image.fromarray(np.full((240, 320, 3), 200, np.uint8)).save(path)
    return path


def check_record(record: dict) -> None:
    assert set(record) == {"image", "persons", "ms"}
    assert isinstance(record["ms"], float) and record["ms"] > 0
    for person in record["persons"]:
        assert set(person) == {"box", "score"}
        x1, y1, x2, y2 = person["box"]
        assert x1 < x2 and y1 < y2
        assert 0 < person["score"] <= 1


def test_json_lines_for_each_image(tmp_path: Path) -> None:
    blank = blank_png(tmp_path)
    result = run_detect("--json", PORTRAIT, blank)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    portrait, empty = (json.loads(line) for line in lines)
    for record in (portrait, empty):
        check_record(record)
    assert portrait["image"] == str(PORTRAIT)
    assert portrait["persons"], "the portrait shows a person"
    x1, y1, x2, y2 = max(portrait["persons"], key=lambda p: p["score"])["box"]
    assert x1 <= 256 <= x2 and y1 <= 300 <= y2  # covers the centre of the 512 x 600 photo
    assert empty == {**empty, "image": str(blank), "persons": []}


def test_options_reach_the_detector() -> None:
    def persons(*options: str) -> list[dict]:
        result = run_detect("--json", *options, PORTRAIT)
        assert result.returncode == 0, result.stderr
        (record,) = map(json.loads, result.stdout.splitlines())
        return record["persons"]

    # The portrait's person scores about 0.83-0.85 at these sizes: the threshold decides whether it is found.
    found = persons("--input-size", "320", "--confidence", "0.5", "--threads", "2")
    assert found and all(p["score"] >= 0.5 for p in found)
    assert persons("--input-size", "320", "--confidence", "0.95") == []
    # A different input size gives a different (but still confident) score: the option reached the model.
    other = persons("--input-size", "640", "--confidence", "0.5")
    assert other and max(p["score"] for p in other) != max(p["score"] for p in found)


def test_unreadable_image_is_named_and_the_rest_still_run(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(PORTRAIT.read_bytes()[:2000])  # truncated JPEG
    missing = tmp_path / "missing.jpg"
    result = run_detect("--json", corrupt, PORTRAIT, missing)
    assert result.returncode == 1
    assert str(corrupt) in result.stderr and str(missing) in result.stderr
    (record,) = map(json.loads, result.stdout.splitlines())
    assert record["image"] == str(PORTRAIT) and record["persons"]


def test_readable_output_without_json(tmp_path: Path) -> None:
    blank = blank_png(tmp_path)
    result = run_detect(PORTRAIT, blank)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first.startswith(f"{PORTRAIT}: ") and " person" in first and first.endswith(" ms)")
    assert second.startswith(f"{blank}: 0 persons (")


def test_yolo_without_a_model_is_a_clear_error() -> None:
    result = run_detect("--detector", "yolo", PORTRAIT)
    assert result.returncode == 2
    assert "model_path" in result.stderr and result.stdout == ""


def test_bad_input_size_is_rejected_by_argparse() -> None:
    result = run_detect("--input-size", "100", PORTRAIT)
    assert result.returncode == 2
    assert "multiple of 32" in result.stderr
