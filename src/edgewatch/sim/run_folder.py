"""The demo's run folder and its stop signals: every run gets a folder of its own, and every way of ending
the demo (Ctrl-C, SIGTERM from ``kill`` or ``timeout``, SIGHUP from a closed terminal) stops its nodes.

A run folder holds the logs the summary and ``edgewatch report`` read; a second run writing into the first's
folder would replay the first run's events into its own figures. So a folder named on the command line
must be new or empty, and the default is a fresh, timestamped folder under ``./edgewatch-runs``.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

#: Parent of the default run folders: ``edgewatch-runs/20261130-071500`` (then ``-2``, ``-3`` ... on a clash).
DEFAULT_PARENT = Path("edgewatch-runs")


class RunFolderError(ValueError):
    """The requested run folder cannot be used; the message is one line for the user."""


def new_run_dir(requested: Path | None, parent: Path = DEFAULT_PARENT, now: float | None = None) -> Path:
    """Create and return the folder for one demo run.

    ``requested`` must not exist, or be an empty folder; ``None`` creates ``parent/<UTC timestamp>``.
    Raises :class:`RunFolderError` for a file, a non-empty folder or a folder that cannot be created.
    """
    if requested is not None:
        path = requested.expanduser()
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"--run-dir {path} is a file, not a folder")
        if path.is_dir() and any(path.iterdir()):
            raise RunFolderError(
                f"--run-dir {path} is not empty (an earlier run's logs would mix into this one): "
                "name a new folder, or leave --run-dir out for a fresh one under ./edgewatch-runs"
            )
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(f"--run-dir {path}: {exc.strerror or exc}") from None
        return path
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    for attempt in range(1, 1000):
        path = parent / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            path.mkdir(parents=True, exist_ok=False)  # exclusive: two demos started in the same second differ
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunFolderError(f"cannot create a run folder under {parent}: {exc.strerror or exc}") from None
        return path
    raise RunFolderError(f"cannot create a run folder under {parent}: too many runs in the same second")


class Stopped(KeyboardInterrupt):
    """Raised in the main thread by a stop signal; a KeyboardInterrupt, so Ctrl-C paths handle it too."""

    def __init__(self, signame: str) -> None:
        super().__init__(signame)
        self.signame = signame


#: Signals that end the demo cleanly: SIGINT (Ctrl-C), SIGTERM (kill, timeout, systemd), SIGHUP (terminal closed).
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Within the block the first stop signal raises :class:`Stopped`; later ones are ignored, so a second
    Ctrl-C or ``timeout``'s follow-up cannot interrupt the orderly stop of the nodes. Outside the main thread
    (where Python cannot install handlers) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def handler(signum: int, _frame: FrameType | None) -> None:
        nonlocal fired
        if fired:
            return
        fired = True
        raise Stopped(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
