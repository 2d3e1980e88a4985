"""One JSON line per event on every node, to stderr and optionally to ``<log_dir>/<node>.jsonl``.

structlog renders; the standard library's logging routes, so uvicorn's, socketio's and our own lines all
come out as the same JSON. Every line has ``ts`` (ISO-8601 UTC), ``t`` (epoch seconds, for latency
arithmetic), ``node``, ``level`` and ``event``; frame-related lines add ``trace_id``. Intervals are always
measured and logged by one node on its own clock, so clock skew between hosts never enters a per-hop figure.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import structlog

from edgewatch.telemetry.redact import redact_text

_NOISY = ("engineio", "socketio", "aiohttp.access", "httpx", "httpcore", "uvicorn.access")


def _redact_credentials(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Mask passwords inside URLs (``rtsp://user:pw@cam``, ``--cloud-url https://u:p@host``) in every
    string value of a log line, wherever the URL came from (see :mod:`edgewatch.telemetry.redact`)."""
    for key, value in event.items():
        if isinstance(value, str) and "@" in value and "://" in value:
            event[key] = redact_text(value)
    return event


def _add_epoch(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    event.setdefault("t", round(time.time(), 6))
    return event


def _drop_color_message(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """uvicorn adds ``color_message``, a copy of the message with ANSI escapes: noise in a JSON line."""
    event.pop("color_message", None)
    return event


def configure_logging(node: str, log_dir: Path | None = None, level: str = "INFO") -> Path | None:
    """Route every log record of this process to JSON lines tagged with ``node``.

    Returns the log file path when ``log_dir`` is given. Calling it again reconfigures (tests do).
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        _add_epoch,
        _redact_credentials,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_color_message],
        processors=[
            _bind_node(node),
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=False, default=str),
        ],
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    log_file = None
    if log_dir is not None:
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        log_file = log_dir / f"{node}.jsonl"
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    # uvicorn installs its own handlers with propagate=False when started with its default log config;
    # hand its records back to the root so they become JSON lines too.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        third_party = logging.getLogger(name)
        third_party.handlers.clear()
        third_party.propagate = True
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return log_file


_LEADING = ("ts", "t", "node", "level", "event", "trace_id")


def _bind_node(node: str) -> Any:
    def add_node(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("node", node)
        # Fixed leading keys make the lines easy to scan by eye and to grep.
        ordered = {key: event.pop(key) for key in _LEADING if key in event}
        ordered.update(event)
        return ordered

    return add_node


def get_logger(name: str | None = None, **bound: Any) -> structlog.stdlib.BoundLogger:
    """A logger whose calls produce JSON lines: ``log.info("frame_received", trace_id=..., ms=...)``.

    Without ``bound`` values the lazy proxy is returned unbound, so a module-level logger created before
    :func:`configure_logging` still follows the configuration made later (binding would freeze the
    defaults in place).
    """
    logger = structlog.stdlib.get_logger(name)
    return logger.bind(**bound) if bound else logger  # type: ignore[no-any-return]
