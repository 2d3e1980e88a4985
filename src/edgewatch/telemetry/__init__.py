"""Structured JSON logs (one line per event, trace id per frame) and Prometheus metrics."""

from edgewatch.telemetry.logs import configure_logging, get_logger

__all__ = ["configure_logging", "get_logger"]
