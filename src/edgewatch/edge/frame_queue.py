"""Per-camera frame buffers drained round-robin by the detection workers.

A live camera must never be answered with stale video: each camera has a small bounded buffer in which
the newest frame wins (the oldest is pushed out and reported back as dropped). Workers take frames camera
by camera, so one fast camera cannot starve the others. asyncio.Queue has neither per-key buffers nor
drop-oldest, hence this small class.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from edgewatch.protocol import Frame


@dataclass(slots=True)
class QueuedFrame:
    """A received frame waiting for a worker, with who sent it and when (edge clock)."""

    frame: Frame
    sid: str
    received_at: float  # time.time() on arrival
    received_mono: float = field(default=0.0)  # time.monotonic() on arrival, for the queue wait


class FrameQueue:
    """Bounded newest-wins buffers, one per camera; ``get`` serves cameras in turn."""

    def __init__(self, capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._buffers: dict[str, deque[QueuedFrame]] = {}
        self._turns: deque[str] = deque()  # cameras with frames waiting, in serving order
        self._changed = asyncio.Condition()

    def depth(self, camera_id: str) -> int:
        buffer = self._buffers.get(camera_id)
        return len(buffer) if buffer else 0

    def total(self) -> int:
        return sum(len(b) for b in self._buffers.values())

    async def put(self, item: QueuedFrame) -> QueuedFrame | None:
        """Buffer a frame; returns the older frame it pushed out, if the buffer was full."""
        camera_id = item.frame.camera_id
        async with self._changed:
            buffer = self._buffers.setdefault(camera_id, deque())
            dropped = buffer.popleft() if len(buffer) >= self.capacity else None
            buffer.append(item)
            if camera_id not in self._turns:
                self._turns.append(camera_id)
            self._changed.notify()
        return dropped

    async def get(self) -> QueuedFrame:
        """The oldest buffered frame of the camera whose turn it is; waits while all buffers are empty."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._turns))
            camera_id = self._turns.popleft()
            buffer = self._buffers[camera_id]
            item = buffer.popleft()
            if buffer:
                self._turns.append(camera_id)
            return item

    async def drain(self, camera_id: str) -> list[QueuedFrame]:
        """Remove and return everything buffered for one camera (it disconnected)."""
        async with self._changed:
            buffer = self._buffers.pop(camera_id, deque())
            if camera_id in self._turns:
                self._turns.remove(camera_id)
            return list(buffer)
