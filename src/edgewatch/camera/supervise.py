"""Run a node's main coroutine until it ends or SIGINT/SIGTERM asks it to stop cleanly."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def run_until_signalled(main: Awaitable[T], stop: Callable[[], Any]) -> T:
    """Await ``main``; SIGINT/SIGTERM call ``stop`` (sync or async) so ``main`` can finish its own way,
    flushing logs and closing sockets, and the process exits 0 instead of dying mid-frame."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[Any]] = set()

    def on_signal() -> None:
        result = stop()
        if asyncio.iscoroutine(result):
            task = loop.create_task(result)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signal support
            pass
    try:
        return await main
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
