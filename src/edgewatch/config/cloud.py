"""Settings of the cloud service.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from edgewatch.config.base import (
    NodeSettings,
)
from edgewatch.settings_checks import check_file_path


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
