"""Building settings from their sources (defaults < TOML file < environment < command line), and
messages that name each bad field and where its value came from.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from edgewatch.config.base import (
    CONFIG_ENV,
    ENV_PREFIX,
    NodeSettings,
    SettingsError,
)

S = TypeVar("S", bound=NodeSettings)


#: The tables a config file may hold: one per node kind.
NODE_TABLES = frozenset({"camera", "alarm", "edge", "cloud"})


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
    # A misspelt table ([egde]) would silently leave every setting at its default (zones and masks not
    # applied, more false alarms): a table no node reads is an error, named with the valid ones.
    unknown = sorted(name for name in data if name not in NODE_TABLES)
    if unknown:
        raise SettingsError(f"config file {path}: unknown table(s) {', '.join(f'[{n}]' for n in unknown)}; "
                            f"valid: {', '.join(f'[{n}]' for n in sorted(NODE_TABLES))}")
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
