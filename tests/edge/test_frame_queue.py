"""Per-connection frame buffers: served in turn, drained when a connection closes, and within a byte budget
where the heaviest buffer pays first."""

from __future__ import annotations

import time

from edgewatch.edge.frame_queue import FrameQueue, QueuedFrame
from edgewatch.protocol import Frame, new_trace_id


def item(sid: str, size: int, camera: str = "cam1", seq: int = 0) -> QueuedFrame:
    jpeg = b"\xff\xd8\xff" + b"\0" * (size - 3)
    frame = Frame(camera_id=camera, site_id="site1", seq=seq, captured_at=time.time(), trace_id=new_trace_id(),
                  jpeg=jpeg)
    return QueuedFrame(frame, sid, time.time(), time.monotonic())


async def test_connections_are_served_in_turn_and_one_claiming_a_cameras_id_cannot_replace_its_frames() -> None:
    queue = FrameQueue(capacity=1)
    real = item("real", 1000, camera="door")
    assert await queue.put(real) == []
    for index in range(5):  # an impostor with the same camera id, on its own connection
        await queue.put(item("impostor", 1000, camera="door", seq=index))
    assert queue.total() == 2
    first, second = await queue.get(), await queue.get()
    assert first is real and second.sid == "impostor" and second.frame.seq == 4
    assert queue.total() == 0 and queue.total_bytes() == 0


async def test_drain_releases_a_closed_connections_frames() -> None:
    queue = FrameQueue(capacity=3)
    for seq in range(3):
        await queue.put(item("gone", 500, seq=seq))
    await queue.put(item("stays", 500))
    assert [q.frame.seq for q in await queue.drain("gone")] == [0, 1, 2]
    assert await queue.drain("gone") == []
    assert queue.total() == 1 and queue.total_bytes() == 500
    assert (await queue.get()).sid == "stays"


async def test_byte_budget_drops_from_the_heaviest_buffer_first() -> None:
    queue = FrameQueue(capacity=2, max_bytes=10_000)
    camera = item("camera", 1_000)
    await queue.put(camera)
    dropped = []
    for index in range(8):  # 4 KB frames from two heavy connections
        dropped += await queue.put(item(f"heavy{index % 2}", 4_000, seq=index))
    assert queue.total_bytes() <= 10_000
    assert dropped and all(d.sid.startswith("heavy") for d in dropped)
    assert camera in [await queue.get() for _ in range(queue.total())]
    assert queue.total_bytes() == 0


async def test_a_single_frame_over_the_budget_is_dropped_at_once() -> None:
    queue = FrameQueue(capacity=1, max_bytes=5_000)
    big = item("big", 6_000)
    assert await queue.put(big) == [big]
    assert queue.total() == 0 and queue.total_bytes() == 0
