"""Write the demo's scripted scene as a folder of JPEG frames, for cameras outside `edgewatch demo`.

The scene is composed from two bundled public-domain portraits: a known person (Eileen Collins, the photo
to enrol) walks through a room, then an unknown person (Grace Hopper). Point a camera node, or the
compose topology's media folder, at the result: exactly --duration seconds at --fps (frames of an earlier
scene in the folder are replaced). `--known-photo` also copies the photo to enrol.

Examples:
  edgewatch scene --out media --duration 60 --fps 2
  edgewatch scene --out media --camera-index 1 --known-photo known/eileen-collins.jpg
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder to write frame_00000.jpg ... into; earlier frame_*.jpg there are replaced")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of scene written, exactly (default: 60)")
    parser.add_argument("--fps", type=float, default=2.0, help="frames per second of scene (default: 2)")
    parser.add_argument("--camera-index", type=int, default=0,
                        help="odd indexes show the two persons in the opposite order (default: 0)")
    parser.add_argument("--known-photo", type=Path, default=None,
                        help="also copy the known person's photo here (to enrol it in the cloud)")


def main(args: argparse.Namespace) -> int:
    from edgewatch.sim.scene import KNOWN_ASSET, asset_path, default_script, write_scene

    if args.duration <= 0 or args.fps <= 0 or args.camera_index < 0:
        sys.stderr.write("edgewatch scene: --duration and --fps must be positive, --camera-index >= 0\n")
        return 2
    try:
        if args.out.exists() and not args.out.is_dir():
            sys.stderr.write(f"edgewatch scene: --out {args.out} is a file, not a folder\n")
            return 2
        paths = write_scene(args.out, default_script(args.camera_index, args.duration, tail=0.0), args.fps)
        if args.known_photo is not None:
            args.known_photo.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(asset_path(KNOWN_ASSET), args.known_photo)
    except OSError as exc:
        sys.stderr.write(f"edgewatch scene: {exc}\n")
        return 1
    sys.stdout.write(f"wrote {len(paths)} frames ({len(paths) / args.fps:g} s at {args.fps:g} fps) to {args.out}\n")
    return 0
