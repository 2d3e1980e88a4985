"""Scripted demo scenes composed from the bundled public-domain portraits.

A scene is a folder of numbered JPEG frames at a given frame rate, so a camera node streams it exactly as
it would stream any image folder. People "walk" through a synthetic room: a known person (the astronaut
Eileen Collins, enrolled in the demo's cloud) and an unknown one (Rear Admiral Grace Hopper, who is not),
each entering from one side, pausing, and leaving. Frames are written once per run; nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

KNOWN_ASSET = "astronaut.jpg"
UNKNOWN_ASSET = "grace_hopper.jpg"
KNOWN_NAME = "eileen-collins"


@dataclass(frozen=True, slots=True)
class Appearance:
    """One person crossing the room: visible from ``start`` to ``end`` seconds of the scene."""

    asset: str
    start: float
    end: float
    height: int = 420
    left_to_right: bool = True


@dataclass(frozen=True, slots=True)
class SceneScript:
    duration: float
    appearances: tuple[Appearance, ...]
    width: int = 1280
    height: int = 720


#: Seconds of empty room the demo adds after its scene, so a looping camera does not replay it within the run.
DEMO_TAIL_S = 10.0


def default_script(camera_index: int = 0, duration: float = 60.0, tail: float = DEMO_TAIL_S) -> SceneScript:
    """Empty room, the known person, empty, the unknown person, empty, scaled to ``duration`` seconds,
    followed by ``tail`` seconds of empty room (the demo's default; ``edgewatch scene`` passes 0, so it
    writes exactly ``duration`` seconds). Odd cameras see the two persons in the opposite order, so several
    cameras never show the same frame at the same time."""
    first = Appearance(KNOWN_ASSET, 0.08 * duration, 0.36 * duration)
    second = Appearance(UNKNOWN_ASSET, 0.48 * duration, 0.76 * duration, left_to_right=False)
    if camera_index % 2:
        first, second = (
            Appearance(UNKNOWN_ASSET, 0.08 * duration, 0.36 * duration),
            Appearance(KNOWN_ASSET, 0.48 * duration, 0.76 * duration, left_to_right=False),
        )
    return SceneScript(duration=duration + tail, appearances=(first, second))


def asset_path(name: str) -> Path:
    """Path of a bundled asset (inside the installed package)."""
    return Path(str(resources.files("edgewatch.sim") / "assets" / name))


def load_asset(name: str) -> np.ndarray:
    image = cv2.imread(str(asset_path(name)), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"bundled asset missing or unreadable: {asset_path(name)}")
    return image


def _room(width: int, height: int) -> np.ndarray:
    """A plain room: wall, floor and a door, so empty frames are not featureless."""
    room = np.empty((height, width, 3), np.uint8)
    floor_y = int(height * 0.78)
    room[:floor_y] = (196, 204, 208)
    room[floor_y:] = (92, 104, 118)
    cv2.rectangle(room, (int(width * 0.42), int(height * 0.18)), (int(width * 0.58), floor_y), (60, 70, 84), -1)
    cv2.line(room, (0, floor_y), (width, floor_y), (70, 80, 90), 3)
    return room


def _position(appearance: Appearance, t: float, width: int, sprite_width: int) -> int:
    """Walk in over the first quarter, stand in the middle half, walk out over the last quarter."""
    span = appearance.end - appearance.start
    phase = (t - appearance.start) / span
    centre = (width - sprite_width) / 2
    if phase < 0.25:
        x = -sprite_width * 0.3 + (centre + sprite_width * 0.3) * (phase / 0.25)
    elif phase < 0.75:
        x = centre
    else:
        x = centre + (width - centre - sprite_width * 0.7) * ((phase - 0.75) / 0.25)
    if not appearance.left_to_right:
        x = width - sprite_width - x
    return round(x)


def render_frame(script: SceneScript, t: float, sprites: dict[str, np.ndarray]) -> np.ndarray:
    frame = _room(script.width, script.height)
    floor_y = int(script.height * 0.78)
    for appearance in script.appearances:
        if not appearance.start <= t < appearance.end:
            continue
        sprite = sprites[appearance.asset]
        scale = appearance.height / sprite.shape[0]
        sprite = cv2.resize(sprite, (int(sprite.shape[1] * scale), appearance.height), interpolation=cv2.INTER_AREA)
        x = _position(appearance, t, script.width, sprite.shape[1])
        y = max(0, floor_y - sprite.shape[0])
        x0, x1 = max(0, x), min(script.width, x + sprite.shape[1])
        if x1 > x0:
            frame[y : y + sprite.shape[0], x0:x1] = sprite[:, x0 - x : x1 - x]
    return frame


FRAME_GLOB = "frame_[0-9][0-9][0-9][0-9][0-9].jpg"


def remove_frames(out_dir: Path) -> int:
    """Delete the ``frame_NNNNN.jpg`` files an earlier scene left in ``out_dir`` (nothing else); returns how
    many. A camera streams every image of its folder, so stale frames would replay an older, longer scene."""
    stale = sorted(out_dir.glob(FRAME_GLOB)) if out_dir.is_dir() else []
    for path in stale:
        path.unlink()
    return len(stale)


def write_scene(out_dir: Path, script: SceneScript, fps: float, jpeg_quality: int = 88) -> list[Path]:
    """Render ``script`` at ``fps`` into ``out_dir`` as ``frame_00000.jpg``...; returns the paths.

    Frames of an earlier scene in ``out_dir`` are removed first, so the folder holds exactly this scene:
    ``round(script.duration * fps)`` frames. Raises OSError when the folder cannot be written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_frames(out_dir)
    sprites = {a.asset: load_asset(a.asset) for a in script.appearances}
    paths = []
    for index in range(max(1, round(script.duration * fps))):
        frame = render_frame(script, index / fps, sprites)
        path = out_dir / f"frame_{index:05d}.jpg"
        cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        paths.append(path)
    return paths
