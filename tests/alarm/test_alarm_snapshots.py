"""The alarm node's snapshot folder: safe names, atomic files, a bad folder refused at start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgewatch.alarm.actions import webhook_body
from edgewatch.alarm.snapshots import SnapshotFolderAction, snapshot_paths
from edgewatch.config import AlarmSettings, SettingsError, load_settings
from edgewatch.protocol import AlarmEvent, AlarmReason

FRAME = b"\xff\xd8\xff" + b"frame" * 20
CROP = b"\xff\xd8\xff" + b"crop" * 10


def event(**fields) -> AlarmEvent:
    values = {"site_id": "site1", "camera_id": "cam1", "trace_id": "trace0001abcd", "reason": AlarmReason.INTRUDER,
              "zone": "door", "frame_jpeg": FRAME, "snapshot_jpeg": CROP}
    return AlarmEvent(**{**values, **fields})


def test_frame_and_crop_are_saved_whole_and_nothing_else(tmp_path: Path) -> None:
    folder = tmp_path / "snaps"
    written = SnapshotFolderAction(folder).save(event())
    assert sorted(p.read_bytes() for p in written) == sorted([FRAME, CROP])
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in written), "no .part left"
    assert SnapshotFolderAction(folder).save(event(frame_jpeg=None, snapshot_jpeg=None)) == []


def test_an_event_id_cannot_steer_a_write_out_of_the_folder(tmp_path: Path) -> None:
    hostile = event(event_id="../../../../tmp/evil-name")
    paths = snapshot_paths(tmp_path, hostile)
    assert all(p.parent == tmp_path and ".." not in p.name and "/" not in p.name for p in paths.values())


def test_webhook_body_carries_both_pictures_and_their_sizes() -> None:
    import base64

    body = webhook_body(event(), "hall", snapshots=True)
    assert base64.b64decode(body["frame_jpeg_base64"]) == FRAME and body["frame_bytes"] == len(FRAME)
    assert base64.b64decode(body["snapshot_jpeg_base64"]) == CROP and body["zone"] == "door"
    lean = webhook_body(event(), "hall")
    assert "frame_jpeg_base64" not in lean and "frame_jpeg" not in lean and lean["snapshot_bytes"] == len(CROP)


def test_a_snapshot_dir_that_is_a_file_is_refused_with_one_line(tmp_path: Path) -> None:
    file = tmp_path / "not-a-folder"
    file.write_text("x")
    with pytest.raises(SettingsError, match="a folder is needed"):
        load_settings(AlarmSettings, None, snapshot_dir=str(file))
    done = subprocess.run([sys.executable, "-m", "edgewatch", "alarm", "--snapshot-dir", str(file)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "a folder is needed" in done.stderr and "Traceback" not in done.stderr
