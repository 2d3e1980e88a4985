"""Every node writes one JSON line per event, with node, time and the frame's trace id."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from edgewatch.telemetry import configure_logging, get_logger


def test_json_lines_to_log_dir(tmp_path: Path) -> None:
    log_file = configure_logging("edge-test", tmp_path / "logs")
    try:
        get_logger("edgewatch.test").info("frame_processed", trace_id="abc123def", inference_ms=12.5)
        logging.getLogger("uvicorn.error").warning("third-party %s", "line")
        for handler in logging.getLogger().handlers:
            handler.flush()
        lines = [json.loads(line) for line in Path(log_file).read_text().splitlines()]
    finally:
        configure_logging("pytest")
    first, second = lines
    assert first["event"] == "frame_processed" and first["trace_id"] == "abc123def"
    assert first["node"] == "edge-test" and first["inference_ms"] == 12.5
    assert isinstance(first["t"], float) and first["ts"].endswith("Z")
    assert second["event"] == "third-party line" and second["level"] == "warning"
