"""Per-connection frame buffers drained round-robin by the detection workers.

A live camera must never be answered with stale video: each camera connection has a small bounded buffer
in which the newest frame wins (the oldest is pushed out and reported back as dropped). Workers take frames
connection by connection, so one fast or hostile connection cannot starve the others, not even one that
claims a real camera's id (its frames never replace the real camera's). A connection's buffer is drained
when it closes, so frames of departed clients never hold memory or a worker's turn. asyncio.Queue has
neither per-key buffers nor drop-oldest, hence this small class.
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
    """Bounded newest-wins buffers, one per connection (``QueuedFrame.sid``); ``get`` serves them in turn."""

    def __init__(self, capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._buffers: dict[str, deque[QueuedFrame]] = {}
        self._turns: deque[str] = deque()  # cameras with frames waiting, in serving order
        self._changed = asyncio.Condition()

    def depth(self, sid: str) -> int:
        buffer = self._buffers.get(sid)
        return len(buffer) if buffer else 0

    def total(self) -> int:
        return sum(len(b) for b in self._buffers.values())

    async def put(self, item: QueuedFrame) -> QueuedFrame | None:
        """Buffer a frame; returns the older frame it pushed out, if the buffer was full."""
        key = item.sid
        async with self._changed:
            buffer = self._buffers.get(key)
            if buffer is None:
                buffer = self._buffers[key] = deque()
            dropped = buffer.popleft() if len(buffer) >= self.capacity else None
            buffer.append(item)
            if len(buffer) == 1 and dropped is None:  # it was empty: not yet in the serving order
                self._turns.append(key)
            self._changed.notify()
        return dropped

    async def get(self) -> QueuedFrame:
        """The oldest buffered frame of the connection whose turn it is; waits while all buffers are empty."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._turns))
            key = self._turns.popleft()
            buffer = self._buffers[key]
            item = buffer.popleft()
            if buffer:
                self._turns.append(key)
            else:
                del self._buffers[key]  # no empty buffers left behind by departed clients
            return item

    async def drain(self, sid: str) -> list[QueuedFrame]:
        """Remove and return everything buffered for one connection (it closed)."""
        async with self._changed:
            buffer = self._buffers.pop(sid, None)
            if buffer is None:
                return []
            self._turns.remove(sid)  # a non-empty buffer is always in the serving order, exactly once
            return list(buffer)
