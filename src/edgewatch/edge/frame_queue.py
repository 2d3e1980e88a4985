"""Per-connection frame buffers drained round-robin by the detection workers.

A live camera must never be answered with stale video: each camera connection has a small bounded buffer
in which the newest frame wins (the oldest is pushed out and reported back as dropped). Workers take frames
connection by connection, so one fast or hostile connection cannot starve the others, not even one that
claims a real camera's id (its frames never replace the real camera's). A connection's buffer is drained
when it closes, so frames of departed clients never hold memory or a worker's turn. All buffers together
hold at most ``max_bytes`` of JPEG: past it, the connection buffering the most bytes loses its oldest frame
(so 64 connections sending 5 MB frames cost 64 MB, not 320 MB, and a real camera's 100 KB frames are the
last to go). asyncio.Queue has neither per-key buffers nor drop-oldest, hence this small class.
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

    def __init__(self, capacity: int = 1, max_bytes: int | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._bytes = 0  # JPEG bytes buffered, all connections
        self._buffers: dict[str, deque[QueuedFrame]] = {}
        self._turns: deque[str] = deque()  # cameras with frames waiting, in serving order
        self._changed = asyncio.Condition()

    def depth(self, sid: str) -> int:
        buffer = self._buffers.get(sid)
        return len(buffer) if buffer else 0

    def total(self) -> int:
        return sum(len(b) for b in self._buffers.values())

    def total_bytes(self) -> int:
        return self._bytes

    async def put(self, item: QueuedFrame) -> list[QueuedFrame]:
        """Buffer a frame; returns the frames it pushed out (its connection's oldest when that buffer was
        full, and the frames evicted to stay within ``max_bytes``; possibly ``item`` itself)."""
        key = item.sid
        dropped: list[QueuedFrame] = []
        async with self._changed:
            buffer = self._buffers.get(key)
            if buffer is None:
                buffer = self._buffers[key] = deque()
                self._turns.append(key)
            if len(buffer) >= self.capacity:  # newest wins within the connection's own buffer
                oldest = buffer.popleft()
                self._bytes -= len(oldest.frame.jpeg)
                dropped.append(oldest)
            buffer.append(item)
            self._bytes += len(item.frame.jpeg)
            while self.max_bytes is not None and self._bytes > self.max_bytes and self._buffers:
                heaviest = max(self._buffers, key=lambda k: sum(len(q.frame.jpeg) for q in self._buffers[k]))
                dropped.append(self._pop_oldest(heaviest))
            if self._buffers:
                self._changed.notify()
        return dropped

    def _pop_oldest(self, key: str) -> QueuedFrame:
        """Remove a connection's oldest frame; an emptied buffer leaves the serving order."""
        buffer = self._buffers[key]
        item = buffer.popleft()
        self._bytes -= len(item.frame.jpeg)
        if not buffer:
            del self._buffers[key]
            self._turns.remove(key)
        return item

    async def get(self) -> QueuedFrame:
        """The oldest buffered frame of the connection whose turn it is; waits while all buffers are empty."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._turns))
            key = self._turns.popleft()
            buffer = self._buffers[key]
            item = buffer.popleft()
            self._bytes -= len(item.frame.jpeg)
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
            self._bytes -= sum(len(q.frame.jpeg) for q in buffer)
            return list(buffer)
