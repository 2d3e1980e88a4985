"""Run an edge node: receive camera frames over Socket.IO, detect persons off the event loop, track them,
ask the cloud who they are, and raise alarms to the site's alarm nodes (stored until acknowledged).

Serves Socket.IO at /socket.io, liveness at /healthz, readiness (model loaded) at /readyz and Prometheus
metrics at /metrics. Without --cloud-url every person becomes an `unverified` alarm (fail secure).

Camera and alarm nodes must present a credential from --credentials-file (edgewatch credentials issue);
secrets come from the environment or a file (--cloud-token-file), never from the command line.

Examples:
  edgewatch edge --host 0.0.0.0 --port 8000 --sites site1,site2 --credentials-file edge-credentials.json
  EDGEWATCH_CLOUD_TOKEN="$TOKEN" edgewatch edge --cloud-url https://cloud:8443 --cloud-ca-file tls/ca.pem \\
      --tls-cert tls/server.pem --tls-key tls/server-key.pem --credentials-file edge-credentials.json
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
    # After the model and the port: nothing is served before the credentials and TLS files pass too.
    problem = security_problem(settings)
    if problem is not None:
        sock.close()
        log.error("edge_failed", error=problem)
        sys.stderr.write(f"edgewatch edge: {problem}\n")
        return 2
    # Last check before serving (so a refused start creates no file): a corrupt or unreadable outbox stops
    # the start in one line (exit 2) and is left untouched for the operator.
    from edgewatch.edge.alarm_store import AlarmStore, AlarmStoreError

    try:
        AlarmStore(settings.alarm_db).close()
    except AlarmStoreError as exc:
        sock.close()
        log.error("alarm_db_failed", alarm_db=str(settings.alarm_db), error=str(exc))
        sys.stderr.write(f"edgewatch edge: --alarm-db {settings.alarm_db}: {exc}\n")
        return 2
    if settings.cloud_url and settings.cloud_token is None:
        # Not fatal (a test-bench cloud may run without a token), but every person would end "unverified".
        warning = ("a cloud URL but no cloud token (EDGEWATCH_CLOUD_TOKEN or --cloud-token-file): a cloud that "
                   "needs one refuses every request, and every person ends as an 'unverified' alarm")
        log.warning("cloud_token_missing", detail=warning)
        sys.stderr.write(f"edgewatch edge: warning: {warning}\n")
    if not settings.cloud_url:
        log.warning("cloud_not_configured", detail="no cloud URL: nobody can be recognised; every person ends "
                    "as an 'unverified' alarm after --verify-timeout")
    from edgewatch.serving import server_config
    from edgewatch.telemetry.metrics import EdgeMetrics

    metrics = EdgeMetrics()
    log.info("edge_listening", host=settings.host, port=settings.port,
             scheme="https" if settings.tls_cert else "http")
    app = create_app(settings, detector, metrics)
    tls = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)} if settings.tls_cert else {}
    config = server_config(app, host=settings.host, port=settings.port, log_config=None, lifespan="on",
                           timeout_graceful_shutdown=5, header_timeout=settings.header_timeout,
                           idle_timeout=settings.idle_timeout,
                           on_timeout=lambda kind: metrics.http_timeouts.labels(kind).inc(), **tls)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except OSError as exc:
        log.error("edge_failed", error=str(exc))
        sys.stderr.write(f"edgewatch edge: {exc}\n")
        return 1
    return 0


def security_problem(settings: EdgeSettings) -> str | None:
    """One line saying why the security settings cannot be used, or None."""
    from edgewatch.security.credentials import CredentialsError, read_credentials
    from edgewatch.security.tls import TLSConfigError, check_server_files, client_context

    if settings.credentials_file is None:
        if not settings.allow_unauthenticated_nodes:
            # Fail secure: without credentials anyone on the site network can pose as a camera or alarm node.
            return ("no node credentials: set --credentials-file (edgewatch credentials issue --file FILE ...); "
                    "--allow-unauthenticated-nodes accepts any node, for a test bench on loopback only")
    elif not settings.credentials_file.is_file():
        return (f"credentials_file {settings.credentials_file} does not exist: issue node credentials with "
                f"edgewatch credentials issue --file {settings.credentials_file} ...")
    else:
        try:
            read_credentials(settings.credentials_file)
        except CredentialsError as exc:
            return f"credentials_file: {exc}"
    try:
        check_server_files(settings.tls_cert, settings.tls_key)
        if settings.cloud_url and "https://" in settings.cloud_url.lower():  # one URL or several
            client_context(settings.cloud_ca_file)
    except TLSConfigError as exc:
        return str(exc)
    return None
