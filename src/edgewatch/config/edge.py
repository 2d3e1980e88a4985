"""Settings of the edge node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator

from edgewatch.config.base import (
    IdentifierList,
    NodeSettings,
    StrList,
    _json_object,
)
from edgewatch.edge.zones import CameraView
from edgewatch.protocol import Identifier
from edgewatch.settings_checks import check_file_path, check_url_list


class EdgeSettings(NodeSettings):
    """An edge node: receives frames, detects persons off the event loop, raises alarms."""

    table: ClassVar[str] = "edge"

    host: str = Field(default="127.0.0.1", description="listen address (0.0.0.0 in containers)")
    port: int = Field(default=8000, ge=1, le=65535, description="listen port")
    sites: IdentifierList = Field(default_factory=lambda: ["site1"], description="sites this edge serves")
    cameras: IdentifierList = Field(
        default_factory=list, description="allowed camera ids (empty: accept any camera of a served site)"
    )
    detector: Literal["nanodet", "yolo"] = Field(
        default="nanodet", description="person detector: bundled NanoDet, or 'yolo' with your own YOLOv8-style ONNX"
    )
    model_path: Path | None = Field(default=None, description="ONNX weights for the 'yolo' detector")
    input_size: int = Field(
        default=320, ge=128, le=1280, multiple_of=32,
        description="detector input size (320: fastest, and on the WiseNET frames the best-scoring of 320/416/640)",
    )
    confidence: float = Field(default=0.4, gt=0, lt=1, description="person confidence threshold")
    iou: float = Field(default=0.5, gt=0, lt=1, description="NMS IoU threshold")
    workers: int = Field(default=2, ge=1, le=32, description="detection worker threads")
    model_threads: int = Field(default=1, ge=1, le=32, description="ONNX Runtime threads per inference")
    frame_buffer: int = Field(
        default=1, ge=1, le=100, description="frames buffered per camera (newest wins; older ones dropped)"
    )
    crop_padding: float = Field(default=0.1, ge=0, le=1, description="margin around person crops")
    cloud_url: str | None = Field(
        default=None,
        description="cloud service URL, or several cloud replicas' URLs separated by commas (requests go round "
        "robin, a retry moves to another replica); persons unverified when unset",
    )
    cloud_token: SecretStr | None = Field(default=None, description="bearer token for the cloud service")
    cloud_timeout: float = Field(default=5.0, gt=0, description="timeout of one cloud request, seconds")
    cloud_concurrency: int = Field(default=4, ge=1, le=64, description="cloud requests in flight at once")
    verify_interval: float = Field(
        default=2.0, ge=0, description="minimum seconds between two cloud requests about one track"
    )
    verify_attempts: int = Field(default=3, ge=1, le=20, description="answered cloud requests per track, at most")
    verify_timeout: float = Field(
        default=10.0, gt=0, description="seconds to establish a track's identity before an unverified alarm"
    )
    reverify_known_interval: float = Field(
        default=30.0, ge=0,
        description="seconds between re-checks of a track confirmed known while it stays in view (0: never)",
    )
    track_max_age: float = Field(
        default=3.0, gt=0, description="seconds a track survives without detections (missed frames)"
    )
    alarm_db: Path = Field(
        default=Path("edgewatch-alarms.db"), description="SQLite outbox of alarms not yet acknowledged"
    )
    alarm_resend_interval: float = Field(
        default=5.0, gt=0, description="seconds between re-sends of an unacknowledged alarm"
    )
    # -- health checks (issue 10)
    cloud_probe_interval: float = Field(
        default=10.0, gt=0, description="seconds between checks of the cloud's /readyz, shown in the edge's /readyz"
    )

    # -- node credentials, TLS, origins, metrics access (issue 9) --
    credentials_file: Path | None = Field(
        default=None, description="node credentials (edgewatch credentials issue); required unless "
        "allow_unauthenticated_nodes",
    )
    allow_unauthenticated_nodes: bool = Field(
        default=False, description="accept camera and alarm nodes without a credential (test benches only)"
    )
    allowed_origins: StrList = Field(
        default_factory=list, description="browser origins allowed on the WebSocket besides the edge's own "
        "(e.g. https://console.example:8443); none by default",
    )
    tls_cert: Path | None = Field(default=None, description="serve HTTPS/WSS with this certificate (PEM)")
    tls_key: Path | None = Field(default=None, description="private key of tls_cert (PEM)")
    cloud_token_file: Path | None = Field(default=None, description="file holding the cloud's bearer token")
    cloud_ca_file: Path | None = Field(
        default=None, description="CA certificate(s) that sign the cloud's certificate (system store when unset)"
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="bearer token for /metrics; without one /metrics answers only on loopback"
    )
    metrics_token_file: Path | None = Field(default=None, description="file holding the metrics token")

    # -- bounds whatever clients send (issue 9, sec-bounds) --
    max_image_pixels: int = Field(
        default=16_000_000, ge=10_000,
        description="largest frame in pixels, read from the header before decoding (4K is 8.3 Mpx)",
    )
    max_cameras: int = Field(
        default=64, ge=1, le=100_000, description="connected cameras accepted at once; more are refused (transient)"
    )
    frame_buffer_bytes: int = Field(
        default=64 * 1024 * 1024, ge=6 * 1024 * 1024,
        description="JPEG bytes buffered for all cameras together; past it the heaviest buffer loses its oldest frame",
    )
    camera_state_ttl: float = Field(
        default=60.0, ge=0,
        description="seconds after a camera disconnects before its tracker, identities and metric labels are freed",
    )
    header_timeout: float = Field(
        default=10.0, gt=0, description="seconds a client may take to send a request's headers (slow-header defence)"
    )
    idle_timeout: float = Field(
        default=5.0, gt=0, description="seconds an idle keep-alive HTTP connection is kept open"
    )
    alarm_retention: float = Field(
        default=7 * 24 * 3600.0, gt=0,
        description="seconds acknowledged alarms and their snapshots are kept in the outbox before pruning",
    )

    # -- MQTT and Home Assistant discovery (issue 13; edgewatch.integrations.mqtt) -------------------------
    mqtt_url: str | None = Field(
        default=None,
        description="publish alarms, tracks and camera state to this MQTT broker (mqtt://host:1883 or "
        "mqtts://host:8883; off when unset)",
    )
    mqtt_username: str | None = Field(default=None, description="MQTT user name")
    mqtt_password: SecretStr | None = Field(
        default=None, description="MQTT password (give it via the environment, or use mqtt_password_file)"
    )
    mqtt_password_file: Path | None = Field(default=None, description="file holding the MQTT password")
    mqtt_ca_file: Path | None = Field(default=None, description="CA certificate(s) to verify the broker (TLS)")
    mqtt_topic_prefix: str = Field(
        default="edgewatch", pattern=r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$",
        description="first levels of every topic this edge publishes",
    )
    mqtt_node_id: Identifier = Field(
        default="edge1", description="this edge's name on MQTT: availability topic, Home Assistant unique ids"
    )
    mqtt_discovery: bool = Field(default=True, description="publish Home Assistant MQTT discovery configs")
    mqtt_discovery_prefix: str = Field(
        default="homeassistant", pattern=r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$",
        description="Home Assistant's discovery prefix",
    )
    # ---- web console (issue 11) ----
    operators_file: Path | None = Field(
        default=None, description="operator accounts of the web console at /console (no console when unset; "
        "manage with `edgewatch operators`)"
    )

    # Start-up checks (issue 10, command line): URL, outbox path and sites are usable before anything starts.
    @field_validator("cloud_url")
    @classmethod
    def _cloud_url_usable(cls, value: str | None) -> str | None:
        return check_url_list(value)  # one URL or several replicas' URLs separated by commas

    @field_validator("alarm_db")
    @classmethod
    def _alarm_db_usable(cls, value: Path) -> Path:
        return check_file_path(value)  # type: ignore[return-value]

    @field_validator("sites")
    @classmethod
    def _some_site(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("an edge serves at least one site (e.g. --sites site1)")
        return value

    # ---- zones, masks, confirmation, motion gating (issue 12; README "Fewer false alarms") ----
    per_camera: Annotated[dict[Identifier, CameraView], BeforeValidator(_json_object)] = Field(
        default_factory=dict,
        description="zones, masks and min_box per camera id: TOML tables [edge.per_camera.<camera id>]",
    )
    confirm_hits: int = Field(
        default=1, ge=1, le=20,
        description="N: a track counts (cloud request, alarm) once seen in N of its last M analysed frames; "
        "1 = off. Each extra hit costs one frame of latency: 2 of 3 at 1 fps adds about 1 s",
    )
    confirm_window: int = Field(default=1, ge=1, le=50, description="M: the window of confirm_hits, in frames")
    motion_gate: bool = Field(
        default=False,
        description="skip the detector on frames without motion (runs anyway while a track is active and "
        "every detect_interval seconds); gated frames are acked 'gated'",
    )
    detect_interval: float = Field(
        default=10.0, gt=0, le=600,
        description="K: with motion_gate, the detector still runs at least every K seconds per camera, so a "
        "person standing still is never missed for longer than K (5 s: 3.4x the cameras per core of no gate, 10 s: 4.6x; README)",
    )
    motion_threshold: int = Field(
        default=20, ge=1, le=255, description="grey-level change (0-255) that counts a pixel as moving"
    )
    motion_min_area: float = Field(
        default=0.002, gt=0, lt=1, description="fraction of moving pixels (unmasked) that counts as motion"
    )
    reduced_decode: bool = Field(
        default=True,
        description="decode JPEGs at 1/2, 1/4 or 1/8 scale for detection when the model input is that much "
        "smaller; full size only for frames with persons, for their crops",
    )

    @model_validator(mode="after")
    def _confirmation_fits(self) -> EdgeSettings:
        if self.confirm_hits > self.confirm_window:
            raise ValueError(f"confirm_hits ({self.confirm_hits}) exceeds confirm_window ({self.confirm_window})")
        strays = sorted(set(self.per_camera) - set(self.cameras)) if self.cameras else []
        if strays:  # most likely a typo: the camera's zones and masks would silently never apply
            raise ValueError(f"per_camera names camera(s) not in cameras: {', '.join(strays)}")
        return self
