"""A frame-rate limit by time: at most ``fps`` slots per second, awaited without blocking the loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Pacer:
    """Hands out send slots ``1/fps`` apart. A slot missed because reading took longer is not made up
    later (no burst after a stall), so the rate never exceeds ``fps`` over any window."""

    def __init__(self, fps: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.period = 1.0 / fps
        self._clock = clock
        self._next: float | None = None

    def claim(self) -> float:
        """Take the next slot; returns how long to wait for it (seconds, 0 when it is already due)."""
        now = self._clock()
        slot = now if self._next is None else max(self._next, now)
        self._next = slot + self.period
        return slot - now

    async def wait(self) -> None:
        """Sleep (asynchronously) until the next slot."""
        delay = self.claim()
        if delay > 0:
            await asyncio.sleep(delay)
