"""The alarm node's snapshot folder: each alarm's pictures saved as JPEG files for the person on watch.

Per alarm, up to two files: ``<time>_<camera>_<event id>_frame.jpg`` (the full frame with the person's box
drawn and the zone named) and ``..._crop.jpg`` (the crop the edge sent to the cloud). Written to a
temporary name and renamed, so a viewer never sees half a file; written in a thread, so a slow disk never
holds up the alarm's acknowledgement. Names are built only from validated identifiers and a sanitised event
id: an event id can never steer a write outside the folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from edgewatch.protocol import AlarmEvent
from edgewatch.telemetry.logs import get_logger

log = get_logger(__name__)

_SAFE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def _safe_id(event_id: str) -> str:
    return event_id if _SAFE.match(event_id) else hashlib.sha256(event_id.encode()).hexdigest()[:32]


def snapshot_paths(folder: Path, event: AlarmEvent) -> dict[str, Path]:
    """Where the frame and crop of ``event`` go (keys ``frame`` and ``crop``)."""
    when = datetime.fromtimestamp(event.raised_at, UTC).strftime("%Y%m%dT%H%M%SZ")
    stem = f"{when}_{event.camera_id}_{_safe_id(event.event_id)}"
    return {"frame": folder / f"{stem}_frame.jpg", "crop": folder / f"{stem}_crop.jpg"}


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


class SnapshotFolderAction:
    """Saves each alarm's annotated frame and crop into ``folder`` (created if missing)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def save(self, event: AlarmEvent) -> list[Path]:
        """Write the files now (blocking); returns the paths written."""
        self.folder.mkdir(parents=True, exist_ok=True)
        paths = snapshot_paths(self.folder, event)
        written = []
        for kind, data in (("frame", event.frame_jpeg), ("crop", event.snapshot_jpeg)):
            if data:
                _write(paths[kind], data)
                written.append(paths[kind])
        return written

    async def __call__(self, event: AlarmEvent) -> list[Path]:
        written = await asyncio.to_thread(self.save, event)
        log.info("alarm_snapshots_saved", trace_id=event.trace_id, event_id=event.event_id,
                 files=[p.name for p in written])
        return written
