"""Run a camera node: stream a video file, image folder, webcam or RTSP/HTTP URL to the site's edge.

Reads the source, limits the frame rate by time (video files play at their own speed, like a live camera),
optionally downscales, and sends JPEG frames over Socket.IO, reconnecting with backoff and jitter. While
the edge is away or slow only the newest frame(s) are kept; drops are counted and logged.

Examples:
  edgewatch camera --source videos/door.mp4 --loop --fps 2 --edge-url http://edge:8000
  edgewatch camera --source 0 --camera-id cam2 --max-width 960 --jpeg-quality 80
"""

from __future__ import annotations

import argparse

from edgewatch.cli_support import add_settings_options, settings_from_args
from edgewatch.config import CameraSettings


def configure(parser: argparse.ArgumentParser) -> None:
    add_settings_options(parser, CameraSettings)


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(CameraSettings, args)
    import asyncio
    import sys

    from edgewatch.camera.link import EXIT_REFUSED, EdgeRefused
    from edgewatch.camera.node import CameraNode
    from edgewatch.camera.sources import SourceError
    from edgewatch.camera.supervise import run_until_signalled
    from edgewatch.telemetry.logs import configure_logging, get_logger

    configure_logging(f"camera-{settings.camera_id}", settings.log_dir, settings.log_level)
    log = get_logger("edgewatch.camera")
    node = CameraNode(settings)
    try:
        stats = asyncio.run(run_until_signalled(node.run(), node.stop))
    except EdgeRefused as exc:  # cannot heal by retrying: say so once and exit non-zero
        log.error("camera_refused", code=exc.code.value, error=exc.message)
        sys.stderr.write(f"edgewatch camera: {exc}\n")
        return EXIT_REFUSED
    except SourceError as exc:
        log.error("source_error", error=str(exc))
        sys.stderr.write(f"edgewatch camera: {exc}\n")
        return 2
    except OSError as exc:  # e.g. the metrics port is taken
        log.error("camera_failed", error=str(exc))
        sys.stderr.write(f"edgewatch camera: {exc}\n")
        return 1
    sys.stdout.write(
        f"camera {settings.camera_id}: {stats.frames_sent} sent, {stats.frames_acked} acknowledged, "
        f"{stats.frames_dropped} dropped\n"
    )
    return 0
