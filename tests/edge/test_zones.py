"""Zones, masks and minimum box size of a camera: the foot-point rule and the TOML schema's errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from edgewatch.config import EdgeSettings, SettingsError, load_settings
from edgewatch.edge.detection import PersonBox
from edgewatch.edge.zones import CameraView, foot_point, place, point_in_polygon

DOOR = [(0.4, 0.5), (0.6, 0.5), (0.6, 1.0), (0.4, 1.0)]
WINDOW = [(0.0, 0.0), (0.3, 0.0), (0.3, 1.0), (0.0, 1.0)]
W, H = 1000, 500


def box(cx: float, foot_y: float, w: float = 100, h: float = 200) -> PersonBox:
    """A box (frame pixels) whose foot point is at normalised (cx, foot_y)."""
    x, y = cx * W, foot_y * H
    return PersonBox(x - w / 2, y - h, x + w / 2, y, 0.9)


def test_point_in_polygon_convex_and_concave() -> None:
    assert point_in_polygon(0.5, 0.7, DOOR) and not point_in_polygon(0.7, 0.7, DOOR)
    ell = [(0, 0), (1, 0), (1, 0.2), (0.2, 0.2), (0.2, 1), (0, 1)]  # an L shape
    assert point_in_polygon(0.1, 0.9, ell) and point_in_polygon(0.9, 0.1, ell)
    assert not point_in_polygon(0.6, 0.6, ell), "inside the L's bounding box but outside the L"


def test_foot_point_is_the_bottom_centre() -> None:
    assert foot_point(PersonBox(100, 50, 300, 450, 0.9), W, H) == (0.2, 0.9)


def test_mask_ignores_a_person_standing_in_it_but_not_one_reaching_into_it() -> None:
    view = CameraView(masks=[WINDOW])
    assert place(view, box(0.1, 0.9), W, H).reason == "masked"
    # Feet outside the mask, upper body overlapping it (a person passing in front of the window): kept.
    reaching = PersonBox(0.25 * W, 0.1 * H, 0.45 * W, 0.9 * H, 0.9)
    assert place(view, reaching, W, H).keep


def test_zone_names_where_the_person_stands() -> None:
    view = CameraView(zones=[{"name": "door", "polygon": DOOR}])
    assert place(view, box(0.5, 0.9), W, H).zone == "door"
    outside = place(view, box(0.8, 0.9), W, H)
    assert outside.keep and outside.zone is None
    required = CameraView(zones=[{"name": "door", "polygon": DOOR}], require_zone=True)
    assert place(required, box(0.8, 0.9), W, H).reason == "outside_zones"


def test_min_box_per_camera_and_per_zone() -> None:
    view = CameraView(min_box=0.05, zones=[{"name": "door", "polygon": DOOR, "min_box": 0.001}])
    small = (40, 50)  # 2000 px of 500 000: 0.4 % of the frame
    far = place(view, box(0.8, 0.9, *small), W, H)
    assert not far.keep and far.reason == "too_small"
    assert place(view, box(0.5, 0.9, *small), W, H).keep, "the door zone allows small boxes"
    assert place(view, box(0.8, 0.9, 300, 400), W, H).keep


@pytest.mark.parametrize(("view", "message"), [
    ({"masks": [[[0, 0], [1.5, 0], [1, 1]]]}, "outside the frame"),
    ({"masks": [[[0, 0], [1, 1]]]}, "at least 3"),
    ({"masks": [[[0, 0], [0.5, 0.5], [1, 1]]]}, "no area"),
    ({"zones": [{"name": "a", "polygon": DOOR}, {"name": "a", "polygon": WINDOW}]}, "unique"),
    ({"zones": [{"name": "bad name!", "polygon": DOOR}]}, "pattern"),
    ({"require_zone": True}, "no zones"),
    ({"min_box": 2}, "less than 1"),
    ({"maskz": []}, "Extra inputs"),
])
def test_bad_views_are_refused_with_the_reason(view: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CameraView(**view)


def test_toml_schema_loads_and_a_bad_polygon_names_its_place(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("""
[edge]
confirm_hits = 2
confirm_window = 3
[edge.per_camera.cam1]
min_box = 0.01
masks = [[[0.0, 0.0], [0.3, 0.0], [0.3, 1.0], [0.0, 1.0]]]
zones = [{name = "door", polygon = [[0.4, 0.5], [0.6, 0.5], [0.6, 1.0], [0.4, 1.0]]}]
""")
    settings = load_settings(EdgeSettings, good)
    assert settings.per_camera["cam1"].zones[0].name == "door" and settings.confirm_hits == 2
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace("[0.6, 1.0], [0.4", "[1.6, 1.0], [0.4"))
    with pytest.raises(SettingsError, match=r"per_camera\.cam1\.zones\.0\.polygon.*outside the frame"):
        load_settings(EdgeSettings, bad)
    with pytest.raises(SettingsError, match="confirm_hits"):
        load_settings(EdgeSettings, good, confirm_hits=4)


def test_edge_command_with_a_bad_zone_config_exits_with_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text('[edge.per_camera.cam1]\nzones = [{name = "door", polygon = [[0, 0], [1, 1]]}]\n')
    done = subprocess.run([sys.executable, "-m", "edgewatch", "edge", "--config", str(config)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "per_camera.cam1.zones.0.polygon" in done.stderr and "Traceback" not in done.stderr


def test_zones_for_a_camera_the_edge_does_not_know_are_refused() -> None:
    with pytest.raises(ValidationError, match="per_camera names camera"):
        EdgeSettings(cameras=["cam1"], per_camera={"cam9": {"min_box": 0.01}})
    assert EdgeSettings(per_camera={"cam9": {"min_box": 0.01}}).per_camera["cam9"].min_box == 0.01
