"""Real frames for the false-alarm and motion-gating tests: the WiseNET corridor (shared data) or the
bundled demo scene, each with where its person stands, in normalised coordinates."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Scene:
    name: str
    #: the person standing still, consecutive frames
    person: list[bytes]
    #: the same view without anyone
    empty: list[bytes]
    #: a polygon around the person's feet (for a zone or a mask), and one far from them
    around_feet: list[tuple[float, float]]
    elsewhere: list[tuple[float, float]]


def jpeg(rgb: np.ndarray, quality: int = 88) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def wisenet_scene(folder: Path) -> Scene:
    # The employee stands by the double door: box about x 410-560, y 130-567 of 1280x720 (feet at 0.38, 0.79).
    person = [(folder / f"video1_frame{i}.jpg").read_bytes() for i in (1, 2, 3, 4)]
    empty = [(folder / f"video1_frame{i}.jpg").read_bytes() for i in (610, 616, 638)]
    return Scene("wisenet", person, empty,
                 around_feet=[(0.25, 0.6), (0.5, 0.6), (0.5, 0.95), (0.25, 0.95)],
                 elsewhere=[(0.75, 0.1), (0.95, 0.1), (0.95, 0.3), (0.75, 0.3)])


def demo_script_times() -> tuple[object, dict[str, np.ndarray]]:
    from edgewatch.sim.scene import default_script, load_asset

    script = default_script(0, duration=60.0)
    sprites = {a.asset: load_asset(a.asset) for a in script.appearances}
    return script, sprites


def demo_frame(t: float) -> bytes:
    """The demo scene at ``t`` seconds (camera 0: empty until 4.8 s, a person walks in until 9 s, stands
    in the middle until 17.4 s, walks out until 21.6 s)."""
    from edgewatch.sim.scene import render_frame

    script, sprites = demo_script_times()
    return jpeg(render_frame(script, t, sprites)[:, :, ::-1].copy())  # type: ignore[arg-type]


def demo_scene() -> Scene:
    # Standing in the middle of the 1280x720 room, feet on the floor line at y = 0.78.
    return Scene("demo", [demo_frame(t) for t in (10.0, 11.0, 12.0, 13.0)], [demo_frame(t) for t in (1.0, 2.0)],
                 around_feet=[(0.3, 0.6), (0.7, 0.6), (0.7, 0.95), (0.3, 0.95)],
                 elsewhere=[(0.0, 0.0), (0.15, 0.0), (0.15, 0.2), (0.0, 0.2)])
