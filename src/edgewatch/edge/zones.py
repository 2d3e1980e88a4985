"""Zones and masks of one camera: where a detected person counts, and what to call that place.

A camera's view is configured in the edge's TOML (``[edge.per_camera.<camera id>]``) with polygons in
normalised image coordinates (0..1, x to the right, y down), so the same config holds at any resolution.
Each detection is judged by its *foot point*, the bottom centre of its box, which is where the person stands
on the floor (Frigate's rule too: a box's top half often overlaps a zone the person is not in):

- a foot point inside a **mask** is ignored (the street behind a window, a poster, a TV);
- a foot point inside a **zone** names where the person was; alarms carry that name;
- a box smaller than ``min_box`` (fraction of the frame's area; a zone may set its own) is ignored;
- with ``require_zone`` a person outside every zone is ignored as well.

Pure geometry, no I/O: every rule is testable on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgewatch.protocol import Identifier

if TYPE_CHECKING:  # the settings import this module: keep it free of the detector's imports
    from edgewatch.edge.detection import PersonBox

#: Bounds that keep a config's memory and per-detection cost small whatever is written in it.
MAX_POINTS = 64
MAX_POLYGONS = 32

Point = tuple[float, float]
Polygon = Annotated[list[tuple[float, float]], Field(min_length=3, max_length=MAX_POINTS)]


def _check_polygon(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    for x, y in points:
        if not (math.isfinite(x) and math.isfinite(y) and 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point ({x}, {y}) is outside the frame: coordinates are normalised, 0..1")
    if abs(_area(points)) < 1e-6:
        raise ValueError("polygon has no area (its points are on one line)")
    return points


def _area(points: list[tuple[float, float]]) -> float:
    """Signed area (shoelace formula)."""
    return 0.5 * sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True))


def point_in_polygon(x: float, y: float, polygon: list[tuple[float, float]]) -> bool:
    """Even-odd ray casting (W. R. Franklin, "PNPOLY"); points on an edge may fall either way."""
    inside = False
    j = len(polygon) - 1
    for i in range(len(polygon)):
        xi, yi = polygon[i]
        xj, yj = polygon[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


class ZoneConfig(BaseModel):
    """A named area: ``{name = "door", polygon = [[0.4, 0.5], [0.6, 0.5], [0.6, 1.0], [0.4, 1.0]]}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Identifier
    polygon: Polygon
    min_box: float | None = Field(default=None, ge=0, lt=1, description="overrides the camera's min_box here")

    @field_validator("polygon")
    @classmethod
    def _polygon_inside(cls, polygon: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return _check_polygon(polygon)


class CameraView(BaseModel):
    """One camera's zones, masks and minimum box size (``[edge.per_camera.<camera id>]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zones: list[ZoneConfig] = Field(default_factory=list, max_length=MAX_POLYGONS)
    masks: list[Polygon] = Field(default_factory=list, max_length=MAX_POLYGONS)
    min_box: float = Field(default=0.0, ge=0, lt=1, description="smallest person box, fraction of the frame area")
    require_zone: bool = Field(default=False, description="ignore persons whose foot point is outside every zone")

    @field_validator("masks")
    @classmethod
    def _masks_inside(cls, masks: list[list[tuple[float, float]]]) -> list[list[tuple[float, float]]]:
        for index, mask in enumerate(masks):
            try:
                _check_polygon(mask)
            except ValueError as exc:
                raise ValueError(f"mask {index}: {exc}") from None
        return masks

    @model_validator(mode="after")
    def _unique_names(self) -> CameraView:
        names = [zone.name for zone in self.zones]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"zone names must be unique per camera: {', '.join(duplicates)} repeated")
        if self.require_zone and not self.zones:
            raise ValueError("require_zone is set but the camera has no zones")
        return self


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a detection is: kept or not (with why not), and the zone its foot point is in."""

    keep: bool
    zone: str | None
    reason: str = ""


def foot_point(box: PersonBox, width: int, height: int) -> Point:
    """Bottom centre of ``box`` (frame pixels) in normalised coordinates."""
    return ((box.x1 + box.x2) / 2 / width, box.y2 / height)


def place(view: CameraView, box: PersonBox, width: int, height: int) -> Placement:
    """Judge one detection of a ``width`` x ``height`` frame against the camera's masks and zones."""
    x, y = foot_point(box, width, height)
    for mask in view.masks:
        if point_in_polygon(x, y, mask):
            return Placement(False, None, "masked")
    zone = next((z for z in view.zones if point_in_polygon(x, y, z.polygon)), None)
    min_box = zone.min_box if zone is not None and zone.min_box is not None else view.min_box
    area = max(0.0, box.x2 - box.x1) * max(0.0, box.y2 - box.y1) / (width * height)
    if area < min_box:
        return Placement(False, zone.name if zone else None, "too_small")
    if zone is None and view.require_zone:
        return Placement(False, None, "outside_zones")
    return Placement(True, zone.name if zone else None)
