"""The motion gate on real frames: still scenes are gated, a person walking in is not, K is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgewatch.edge.decoding import FrameDecodeError
from edgewatch.edge.motion import DetectReason, GateOptions, MotionGate

from .scenes import demo_frame, wisenet_scene


@pytest.fixture(scope="module")
def wisenet(shared_data: Path) -> Path:
    folder = shared_data / "wisenet-frames"
    if not folder.is_dir():
        pytest.skip("../shared/data/wisenet-frames is absent")
    return folder


@pytest.mark.shared_data
def test_camera_noise_is_not_motion_and_a_person_walking_in_is(wisenet: Path) -> None:
    scene = wisenet_scene(wisenet)
    gate = MotionGate(GateOptions(interval=1000))
    reasons = [gate.decide("cam1", frame, now=i).reason for i, frame in enumerate(scene.empty)]
    assert reasons == [DetectReason.FIRST, None, None], "three empty frames minutes apart: only the first runs"
    walked_in = gate.decide("cam1", scene.person[0], now=10)
    assert walked_in.reason is DetectReason.MOTION and walked_in.motion > 0.01
    assert gate.decide("cam1", scene.person[1], now=11).reason is None, "standing still, no track: gated"
    assert gate.decide("cam1", scene.person[2], now=12, track_active=True).reason is DetectReason.TRACK


def test_demo_scene_gates_the_empty_room_and_sees_the_person_enter() -> None:
    gate = MotionGate(GateOptions(interval=1000))
    decisions = {t: gate.decide("cam1", demo_frame(t), now=t) for t in (1.0, 2.0, 3.0, 5.0)}
    assert [d.reason for d in decisions.values()] == [DetectReason.FIRST, None, None, DetectReason.MOTION]


def test_at_least_every_k_seconds_whatever_happens() -> None:
    still = demo_frame(12.0)
    gate = MotionGate(GateOptions(interval=3.0))
    ran = [t for t in range(12) if gate.decide("cam1", still, now=float(t)).reason is not None]
    assert ran == [0, 3, 6, 9]


def test_motion_inside_a_mask_does_not_count() -> None:
    gate = MotionGate(GateOptions(interval=1000))
    whole = [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]]
    gate.decide("cam1", demo_frame(2.0), now=0, masks=whole)
    assert gate.decide("cam1", demo_frame(6.0), now=1, masks=whole).reason is None
    assert gate.decide("cam2", demo_frame(2.0), now=0).reason is DetectReason.FIRST
    assert gate.decide("cam2", demo_frame(6.0), now=1).reason is DetectReason.MOTION, "cameras are separate"


def test_forget_and_a_new_picture_size_start_over() -> None:
    from .scenes import jpeg

    gate = MotionGate(GateOptions(interval=1000))
    frame = demo_frame(1.0)
    gate.decide("cam1", frame, now=0)
    assert gate.decide("cam1", frame, now=1).reason is None
    gate.forget("cam1")
    assert gate.decide("cam1", frame, now=2).reason is DetectReason.FIRST
    import numpy as np

    small = jpeg(np.full((300, 300, 3), 128, np.uint8))
    assert gate.decide("cam1", small, now=3).reason is DetectReason.FIRST


def test_bytes_that_do_not_decode_raise_the_decode_error() -> None:
    gate = MotionGate()
    with pytest.raises(FrameDecodeError):
        gate.decide("cam1", b"\xff\xd8\xff\xe0 truncated", now=0)


def test_slow_movement_below_the_frame_to_frame_threshold_adds_up_against_the_last_analysed_frame() -> None:
    import numpy as np

    from .scenes import jpeg

    def creeper(x: int) -> bytes:
        """A 60-level darker figure on a grey wall, moved ``x`` pixels: 2 px a frame is under a quarter of
        one 8-pixel cell of the motion grid, too little to pass the threshold from one frame to the next."""
        image = np.full((720, 1280, 3), 150, np.uint8)
        image[200:600, 400 + x:560 + x] = 90
        return jpeg(image)

    gate = MotionGate(GateOptions(interval=1000))
    decisions = [gate.decide("cam1", creeper(2 * i), now=float(i)) for i in range(20)]
    frame_to_frame = MotionGate(GateOptions(interval=1000))._moving
    assert decisions[0].reason is DetectReason.FIRST
    caught = [i for i, d in enumerate(decisions) if d.reason is DetectReason.MOTION]
    assert caught, "a creeping person must reach the detector without waiting for K"
    from edgewatch.edge.motion.gate import _grid

    grids = [_grid(creeper(2 * i)) for i in (caught[0] - 1, caught[0])]
    unmasked = np.ones(grids[0].shape, bool)
    assert frame_to_frame(grids[1], grids[0], unmasked) < GateOptions().min_area, "invisible frame to frame"
