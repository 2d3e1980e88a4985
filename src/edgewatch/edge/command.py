"""Run an edge node: receive camera frames over Socket.IO, detect persons off the event loop, track them,
ask the cloud who they are, and raise alarms to the site's alarm nodes (stored until acknowledged).

Serves Socket.IO at /socket.io, liveness at /healthz, readiness (model loaded) at /readyz and Prometheus
metrics at /metrics. Without --cloud-url every person becomes an `unverified` alarm (fail secure).

Examples:
  edgewatch edge --host 0.0.0.0 --port 8000 --sites site1,site2
  EDGEWATCH_CLOUD_TOKEN="$TOKEN" edgewatch edge --cloud-url http://cloud:8080 --workers 2 --input-size 320
"""

from __future__ import annotations

import argparse

from edgewatch.cli_support import add_settings_options, listen_socket, settings_from_args
from edgewatch.config import EdgeSettings


def configure(parser: argparse.ArgumentParser) -> None:
    add_settings_options(parser, EdgeSettings)


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(EdgeSettings, args)
    import sys

    import uvicorn

    from edgewatch.edge.detectors import create_detector
    from edgewatch.edge.server import create_app
    from edgewatch.telemetry.logs import configure_logging, get_logger

    configure_logging("edge", settings.log_dir, settings.log_level)
    log = get_logger("edgewatch.edge")
    # Check the outbox before anything else: a corrupt or unreadable file stops the start in one line
    # (exit 2) and is left untouched for the operator.
    from edgewatch.edge.alarm_store import AlarmStore, AlarmStoreError

    try:
        AlarmStore(settings.alarm_db).close()
    except AlarmStoreError as exc:
        log.error("alarm_db_failed", alarm_db=str(settings.alarm_db), error=str(exc))
        sys.stderr.write(f"edgewatch edge: --alarm-db {settings.alarm_db}: {exc}\n")
        return 2
    from edgewatch.integrations.mqtt.broker import broker_config

    try:
        broker_config(settings)  # a bad broker URL, CA or password file fails the start, in one line
    except ValueError as exc:
        sys.stderr.write(f"edgewatch edge: {exc}\n")
        return 2
    # Load the model before listening, so a bad model path fails the start with a clear message.
    try:
        detector = create_detector(
            settings.detector, input_size=settings.input_size, confidence=settings.confidence, iou=settings.iou,
            threads=settings.model_threads, model_path=settings.model_path,
        )
    except (ValueError, OSError, RuntimeError) as exc:
        log.error("detector_failed", error=str(exc))
        sys.stderr.write(f"edgewatch edge: cannot load the {settings.detector} detector: {exc}\n")
        return 2
    sock = listen_socket(settings.host, settings.port)  # port in use: one line, exit 2 (UserError)
    from edgewatch.serving import server_config
    from edgewatch.telemetry.metrics import EdgeMetrics

    metrics = EdgeMetrics()
    app = create_app(settings, detector, metrics)
    config = server_config(app, host=settings.host, port=settings.port, log_config=None, lifespan="on",
                           timeout_graceful_shutdown=5, header_timeout=settings.header_timeout,
                           idle_timeout=settings.idle_timeout,
                           on_timeout=lambda kind: metrics.http_timeouts.labels(kind).inc())
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except OSError as exc:
        log.error("edge_failed", error=str(exc))
        sys.stderr.write(f"edgewatch edge: {exc}\n")
        return 1
    return 0
