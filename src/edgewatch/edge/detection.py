"""Person-detector interface shared by the edge's detection backends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class PersonBox:
    """One detected person in original-image pixel coordinates."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float


class PersonDetector(Protocol):
    """Anything that finds persons in a BGR image. Implementations must be thread-safe for concurrent
    detect() calls (the edge runs several worker threads on one detector)."""

    name: str
    input_size: int

    def detect(self, image_bgr: np.ndarray) -> list[PersonBox]: ...
