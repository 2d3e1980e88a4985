"""The interface every camera source implements, and its error; see :mod:`edgewatch.camera.sources`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Self

import numpy as np


class SourceError(RuntimeError):
    """A source that cannot be opened or read; the message names it."""


@dataclass(frozen=True)
class CapturedFrame:
    image: np.ndarray  # BGR, as OpenCV decodes it
    captured_at: float  # wall clock (epoch seconds) when the frame was taken from the source
    index: int  # position in the source: frame number of a video, file number of a folder
    name: str = ""  # file name for folder sources
    media_time: float | None = None  # video files: the frame's timestamp in the video (seconds)


class FrameSource(ABC):
    """One camera source. ``read`` blocks; ``None`` means the source ended (never for live sources)."""

    #: Live sources (webcam, stream) are reopened with backoff when they fail; files are not.
    live: bool = False
    description: str = ""

    @abstractmethod
    def read(self) -> CapturedFrame | None: ...

    def close(self) -> None:
        """Release the device or file. Never while another thread is inside ``read`` (OpenCV crashes)."""

    def reopen(self) -> FrameSource:
        """A fresh source of the same kind (live sources only)."""
        raise SourceError(f"{self.description} cannot be reopened")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
