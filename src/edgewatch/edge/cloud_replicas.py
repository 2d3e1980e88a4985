"""Which cloud replica the edge asks next: round robin over healthy replicas, skipping a failed one for a
cool-down, so one dead replica costs at most one failed attempt per cool-down instead of one per request.

Several URLs spread the edge's load across replicas without a load balancer; one URL (a load balancer's)
works the same. When every replica is cooling down the least recently failed one is tried anyway: the
edge never stops asking because of its own bookkeeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


def split_urls(value: str) -> list[str]:
    """``"https://a:8080, https://b:8080/"`` → ``["https://a:8080", "https://b:8080"]``."""
    return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]


@dataclass(slots=True)
class _Replica:
    url: str
    failed_at: float | None = None
    failures: int = 0


class ReplicaSet:
    """Thread-unsafe (lives on the edge's event loop). ``cooldown`` in seconds."""

    def __init__(self, urls: list[str], cooldown: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not urls:
            raise ValueError("at least one cloud URL is needed")
        self._replicas = [_Replica(url) for url in urls]
        self._next = 0
        self.cooldown = cooldown
        self._clock = clock

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self._replicas]

    def pick(self) -> str:
        """The next replica to ask: the next in turn that is not cooling down."""
        now = self._clock()
        count = len(self._replicas)
        for step in range(count):
            replica = self._replicas[(self._next + step) % count]
            if replica.failed_at is None or now - replica.failed_at >= self.cooldown:
                self._next = (self._next + step + 1) % count
                return replica.url
        return min(self._replicas, key=lambda r: r.failed_at or 0.0).url

    def available(self) -> int:
        """How many replicas are not cooling down (a retry can go to one of them at once)."""
        now = self._clock()
        return sum(1 for r in self._replicas if r.failed_at is None or now - r.failed_at >= self.cooldown)

    def failed(self, url: str) -> None:
        for replica in self._replicas:
            if replica.url == url:
                replica.failed_at, replica.failures = self._clock(), replica.failures + 1

    def succeeded(self, url: str) -> None:
        for replica in self._replicas:
            if replica.url == url:
                replica.failed_at = None
