"""Settings of the IoT nodes: camera and alarm, and the reconnection both share.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from edgewatch.config.base import (
    NodeSettings,
)
from edgewatch.protocol import Identifier
from edgewatch.settings_checks import check_dir_path, check_url


class ReconnectSettings(NodeSettings):
    """Reconnection of IoT nodes to their edge: exponential backoff with jitter (python-socketio's)."""

    edge_url: str = Field(default="http://127.0.0.1:8000", description="URL of this site's edge node")
    reconnect_delay: float = Field(default=0.5, gt=0, description="first reconnect delay, seconds")
    reconnect_delay_max: float = Field(default=10.0, gt=0, description="cap of the reconnect delay, seconds")
    reconnect_jitter: float = Field(
        default=0.5, ge=0, le=1, description="randomisation factor applied to every reconnect delay"
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="serve Prometheus metrics on this port (off when unset)"
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="address of the metrics/health port: loopback by default (it is unauthenticated); "
        "0.0.0.0 for a scraper or an orchestrator's probe from outside the host or pod",
    )

    # -- per-node credential and TLS (issue 9) --
    node_token: SecretStr | None = Field(
        default=None, description="this node's credential (edgewatch credentials issue); environment only"
    )
    node_token_file: Path | None = Field(default=None, description="file holding this node's credential")
    ca_file: Path | None = Field(
        default=None, description="CA certificate(s) that sign the edge's certificate (https:// edge URLs; "
        "system trust store when unset)",
    )

    # Start-up checks (issue 10, command line): a typo in the edge's URL fails at start, not retried for ever.
    @field_validator("edge_url")
    @classmethod
    def _edge_url_usable(cls, value: str) -> str:
        return str(check_url(value, ("http", "https", "ws", "wss")))


class CameraSettings(ReconnectSettings):
    """A camera node: reads a source, limits the frame rate and streams JPEGs to its edge."""

    table: ClassVar[str] = "camera"

    camera_id: Identifier = Field(default="cam1", description="this camera's id, unique within its site")
    site_id: Identifier = Field(default="site1", description="the site this camera belongs to")
    source: str = Field(
        default="",
        description="video file, image folder, webcam index (e.g. 0) or rtsp/http URL; relative paths are "
        "resolved from the working directory",
    )
    loop: bool = Field(default=False, description="restart a video file or image folder at its end")
    fps: float = Field(default=1.0, gt=0, le=120, description="frames sent per second (a time-based limit)")
    max_width: int | None = Field(default=None, ge=16, description="downscale frames wider than this")
    jpeg_quality: int = Field(default=85, ge=1, le=100, description="JPEG quality of sent frames")
    send_buffer: int = Field(
        default=1, ge=1, le=100, description="newest frames kept while disconnected or while the edge is slow"
    )
    max_in_flight: int = Field(
        default=2, ge=1, le=64, description="frames sent but not yet acknowledged before the camera waits"
    )
    max_frames: int | None = Field(default=None, ge=1, description="stop after sending this many frames")
    # -- camera sources and health (issue 10)
    source_timeout: float = Field(
        default=10.0, gt=0, le=300,
        description="seconds a live source (stream, webcam) may send nothing before it is reopened; also "
        "FFmpeg's open/read timeout",
    )
    health_window: float = Field(
        default=30.0, gt=0,
        description="/healthz on the metrics port is 200 only while connected and a frame was processed by "
        "the edge within this many seconds (at least 3 frame periods)",
    )


class AlarmSettings(ReconnectSettings):
    """An alarm node: stays connected to its site's edge and sounds on every alarm event."""

    table: ClassVar[str] = "alarm"

    node_id: Identifier = Field(default="alarm1", description="this alarm node's id")
    site_id: Identifier = Field(default="site1", description="the site whose alarms this node receives")
    webhook_url: str | None = Field(default=None, description="also POST every alarm as JSON to this URL")
    webhook_timeout: float = Field(default=5.0, gt=0, description="webhook request timeout, seconds")

    # -- MQTT alarm listening and signed webhooks (issue 13; edgewatch.integrations) -----------------------
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key signing every webhook POST (give it via the environment)"
    )
    webhook_secret_file: Path | None = Field(default=None, description="file holding the webhook signing key")
    mqtt_url: str | None = Field(
        default=None,
        description="listen for the site's alarms on this MQTT broker (mqtt://host:1883 or mqtts://host:8883) "
        "instead of the edge's Socket.IO",
    )
    mqtt_username: str | None = Field(default=None, description="MQTT user name")
    mqtt_password: SecretStr | None = Field(
        default=None, description="MQTT password (give it via the environment, or use mqtt_password_file)"
    )
    mqtt_password_file: Path | None = Field(default=None, description="file holding the MQTT password")
    mqtt_ca_file: Path | None = Field(default=None, description="CA certificate(s) to verify the broker (TLS)")
    mqtt_topic_prefix: str = Field(
        default="edgewatch", pattern=r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$",
        description="topic prefix the edge publishes under",
    )

    # Start-up checks (issue 10, command line): a webhook URL that cannot be used fails at start.
    @field_validator("webhook_url")
    @classmethod
    def _webhook_url_usable(cls, value: str | None) -> str | None:
        return check_url(value)

    # ---- alarm snapshots (issue 12) ----
    snapshot_dir: Path | None = Field(
        default=None, description="save each alarm's annotated frame and person crop as JPEGs in this folder"
    )
    webhook_snapshots: bool = Field(
        default=True, description="webhook bodies carry the frame and crop JPEGs base64-encoded"
    )

    @field_validator("snapshot_dir")
    @classmethod
    def _a_folder(cls, value: Path | None) -> Path | None:
        return check_dir_path(value)
