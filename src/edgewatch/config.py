"""Typed settings for every node: defaults < TOML file < ``EDGEWATCH_*`` environment < command line.

One TOML file can configure a whole host: each node reads its own table (``[camera]``, ``[alarm]``,
``[edge]``, ``[cloud]``). Environment variables are the field names upper-cased behind ``EDGEWATCH_``
(``EDGEWATCH_EDGE_URL``, ``EDGEWATCH_FPS`` ...), which is what containers and compose files use. A bad value
fails at start with :class:`SettingsError`, whose message names the field and where it came from.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from edgewatch.edge.zones import CameraView
from edgewatch.protocol import Identifier
from edgewatch.settings_checks import check_dir_path, check_file_path, check_url, check_url_list

ENV_PREFIX = "EDGEWATCH_"
CONFIG_ENV = "EDGEWATCH_CONFIG"


def _split_commas(value: Any) -> Any:
    """Lists may be given as ``a,b,c`` on the command line and in the environment."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


IdentifierList = Annotated[list[Identifier], NoDecode, BeforeValidator(_split_commas)]
StrList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]


def secret_fields(cls: type[BaseSettings]) -> list[str]:
    """Names of the ``SecretStr`` settings of ``cls``: never command-line options (argv is visible in ``ps``);
    each is set from its environment variable or read from the file named by its ``<name>_file`` setting."""
    names = []
    for name, info in cls.model_fields.items():
        annotation = info.annotation
        if annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ()):
            names.append(name)
    return names


def _read_secret_file(name: str, path: Any) -> str:
    try:
        value = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{name} file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{name} file {path} is not UTF-8 text") from None
    if not value:
        raise ValueError(f"{name} file {path} is empty")
    return value


def _json_object(value: Any) -> Any:
    """Tables may be given as a JSON object on the command line (TOML and the environment work as is)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected a JSON object: {exc}") from None
    return value


class SettingsError(ValueError):
    """Settings that cannot be used; the message names each bad field."""


class NodeSettings(BaseSettings):
    """Fields every node has."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    #: TOML table this node reads from a config file.
    table: ClassVar[str] = ""

    log_dir: Path | None = Field(
        default=None, description="directory for this node's JSON-lines log file (stderr only when unset)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="log level")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Command-line values arrive as init kwargs and win; the TOML table is passed the same way but
        # below the environment (see load_settings), so the order here is init > env.
        return init_settings, env_settings

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, values: Any) -> Any:
        """``<secret>_file`` settings: read the secret from that file (one value, surrounding blanks ignored)."""
        if not isinstance(values, dict):
            return values
        for name in secret_fields(cls):
            path = values.get(f"{name}_file")
            if path is None or f"{name}_file" not in cls.model_fields:
                continue
            if values.get(name) is not None:
                raise ValueError(f"{name} is given both directly and by {name}_file; use one")
            values = {**values, name: _read_secret_file(name, path)}
        return values

    # Start-up checks (issue 10, command line): a log folder that cannot be one fails at start.
    @field_validator("log_dir")
    @classmethod
    def _log_dir_usable(cls, value: Path | None) -> Path | None:
        return check_dir_path(value)


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


class CloudSettings(NodeSettings):
    """The cloud service: face recognition against known persons."""

    table: ClassVar[str] = "cloud"

    host: str = Field(default="127.0.0.1", description="listen address (0.0.0.0 in containers)")
    port: int = Field(default=8080, ge=1, le=65535, description="listen port")
    token: SecretStr | None = Field(
        default=None, description="bearer token every client must send (EDGEWATCH_TOKEN); required"
    )
    allow_no_token: bool = Field(
        default=False,
        description="serve without a token: anyone who reaches the port may enrol faces (test benches only)",
    )
    backend: Literal["local", "rekognition"] = Field(default="local", description="face-recognition backend")
    db_path: Path = Field(default=Path("edgewatch-faces.db"), description="SQLite store of the local backend")
    match_threshold: float = Field(
        default=0.363, gt=0, lt=1, description="local backend: cosine similarity to accept a match (SFace's)"
    )
    max_upload_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="largest accepted image")
    collection_id: str = Field(
        default="edgewatch", pattern=r"^[a-zA-Z0-9_.\-]+$", description="Rekognition collection id"
    )
    face_match_threshold: float = Field(
        default=80.0, ge=0, le=100, description="Rekognition FaceMatchThreshold (percent)"
    )
    aws_region: str | None = Field(default=None, description="AWS region (boto3's default chain when unset)")
    # ---- shared face store (replicas) ----
    db_url: SecretStr | None = Field(
        default=None,
        description="local backend: PostgreSQL URL (postgresql://user:pass@host/db) shared by cloud replicas, "
        "instead of the SQLite db_path; a secret (environment or file only)",
    )
    db_refresh_interval: float = Field(
        default=2.0, gt=0, le=60,
        description="seconds between the replica's checks of the shared store (changes also arrive by NOTIFY)",
    )
    shutdown_timeout: float = Field(
        default=20.0, ge=0, le=300,
        description="on SIGTERM, seconds to finish requests in flight before closing them (keep it below the "
        "orchestrator's grace period: Kubernetes' default is 30)",
    )
    # ---- web console (issue 11) ----
    operators_file: Path | None = Field(
        default=None, description="operator accounts of the web console at /console (no console when unset; "
        "manage with `edgewatch operators`)"
    )

    # -- TLS, secret files, metrics access (issue 9) --
    token_file: Path | None = Field(default=None, description="file holding the bearer token")
    tls_cert: Path | None = Field(default=None, description="serve HTTPS with this certificate (PEM)")
    tls_key: Path | None = Field(default=None, description="private key of tls_cert (PEM)")
    metrics_token: SecretStr | None = Field(
        default=None, description="bearer token for /metrics (the API token works too); without any token "
        "/metrics answers only on loopback",
    )
    metrics_token_file: Path | None = Field(default=None, description="file holding the metrics token")
    db_url_file: Path | None = Field(default=None, description="file holding db_url (it carries a password)")

    # -- bounds whatever clients send (issue 9, sec-bounds) --
    max_image_pixels: int = Field(
        default=40_000_000, ge=10_000,
        description="largest image in pixels, read from the header before decoding",
    )
    header_timeout: float = Field(
        default=10.0, gt=0, description="seconds a client may take to send a request's headers (slow-header defence)"
    )
    idle_timeout: float = Field(
        default=5.0, gt=0, description="seconds an idle keep-alive HTTP connection is kept open"
    )

    @field_validator("db_path")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Start-up check (issue 10): a folder or a path below a file fails at start, not with 503s later.
        return check_file_path(value.expanduser().resolve())  # type: ignore[return-value]


S = TypeVar("S", bound=NodeSettings)


def _read_table(path: Path, table: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise SettingsError(f"config file {path} is a directory, not a TOML file") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"config file {path} is not UTF-8 text (byte {exc.start}): is it a TOML file?") from None
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    section = data.get(table, {})
    if not isinstance(section, dict):
        raise SettingsError(f"config file {path}: [{table}] must be a table")
    return section


def _env_overrides(cls: type[NodeSettings]) -> set[str]:
    return {name for name in cls.model_fields if f"{ENV_PREFIX}{name.upper()}" in os.environ}


def load_settings(cls: type[S], config_file: Path | str | None = None, **overrides: Any) -> S:
    """Build settings for one node. ``overrides`` (the command line; None means "not given") beat the
    environment, which beats the TOML file (``config_file`` or ``$EDGEWATCH_CONFIG``), which beats the
    defaults. Raises :class:`SettingsError` naming each bad field and where its value came from."""
    config_file = config_file or os.environ.get(CONFIG_ENV)
    from_file = _read_table(Path(config_file), cls.table) if config_file else {}
    unknown = sorted(set(from_file) - set(cls.model_fields))
    if unknown:
        raise SettingsError(
            f"config file {config_file} [{cls.table}]: unknown setting(s) {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(cls.model_fields))}"
        )
    env_set = _env_overrides(cls)
    given = {k: v for k, v in overrides.items() if v is not None}
    values = {k: v for k, v in from_file.items() if k not in env_set}
    values.update(given)
    sources = {name: f"config file {config_file} [{cls.table}]" for name in values}
    sources.update({name: f"env {ENV_PREFIX}{name.upper()}" for name in env_set})
    sources.update({name: "command line" for name in given})
    try:
        return cls(**values)
    except ValidationError as exc:
        raise SettingsError(_describe(cls, exc, sources)) from None


def _describe(cls: type[NodeSettings], exc: ValidationError, sources: dict[str, str]) -> str:
    """One line per bad field (the first line alone when only one is bad): name, source, problem, value."""
    lines = []
    for item in exc.errors(include_url=False):
        message = str(item["msg"]).removeprefix("Value error, ")
        if not item["loc"]:  # a check across fields (secret files): the message names them
            lines.append(message)
            continue
        name = str(item["loc"][0])
        where = ".".join(str(part) for part in item["loc"])  # e.g. per_camera.cam1.zones.0.polygon
        shown = ""
        if (item["type"] != "value_error" and name in sources
                and not any(word in name for word in ("token", "secret", "password", "key"))):
            shown = f" (got {str(item.get('input'))[:80]!r})"
        lines.append(f"{where} ({sources.get(name, 'default')}): {message}{shown}")
    table = cls.table or "node"
    if len(lines) == 1:
        return f"invalid {table} setting {lines[0]}"
    return f"invalid {table} settings:\n" + "\n".join(f"  {line}" for line in lines)


def field_help(info: FieldInfo, name: str) -> str:
    """Help text for a settings field, with its default and environment variable (used by the CLI)."""
    if info.default_factory is not None:
        default: Any = info.default_factory()  # type: ignore[call-arg]
    else:
        default = info.default
    default_text = "unset" if default is None else default
    return f"{info.description or name} (default: {default_text}; env {ENV_PREFIX}{name.upper()})"
