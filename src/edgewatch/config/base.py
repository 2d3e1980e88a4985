"""Shared pieces of every node's settings: the environment prefix, list and secret-file parsing, the
base class with its source order (command line > environment > TOML > defaults) and :class:`SettingsError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from edgewatch.protocol import Identifier
from edgewatch.settings_checks import check_dir_path

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
