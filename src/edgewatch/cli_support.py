"""Glue between argparse and the settings models, so every setting is also a documented CLI option."""

from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from edgewatch.config import ENV_PREFIX, NodeSettings, SettingsError, field_help, load_settings, secret_fields

S = TypeVar("S", bound=NodeSettings)


def _is_bool(annotation: Any) -> bool:
    if annotation is bool:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return bool in typing.get_args(annotation)
    return False


def add_settings_options(parser: argparse.ArgumentParser, settings_cls: type[NodeSettings]) -> None:
    """Add ``--config`` and one ``--field-name`` option per setting (values parsed by pydantic later)."""
    parser.add_argument(
        "--config", type=Path, default=None, metavar="FILE",
        help=f"TOML file; this node reads its [{settings_cls.table}] table (env EDGEWATCH_CONFIG)",
    )
    group = parser.add_argument_group("settings (command line > environment > config file > default)")
    secrets = set(secret_fields(settings_cls))
    for name, info in settings_cls.model_fields.items():
        flag = "--" + name.replace("_", "-")
        if name in secrets:
            # A secret on the command line is visible to every local user (ps, /proc/PID/cmdline). The flag
            # exists only to say so (and so that argparse cannot take it for an abbreviation of --X-file).
            group.add_argument(flag, dest=f"_refused_{name}", nargs="?", action=RefuseSecret, help=argparse.SUPPRESS)
            continue
        if _is_bool(info.annotation):
            group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None,
                               help=field_help(info, name))
        else:
            group.add_argument(flag, dest=name, default=None, metavar=name.upper(), help=field_help(info, name))


class RefuseSecret(argparse.Action):
    """Rejects a secret given on the command line, naming the environment variable and file option to use."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        name = self.dest.removeprefix("_refused_")
        parser.error(f"{option_string} is not accepted on the command line (other users could read it with ps): "
                     f"set {ENV_PREFIX}{name.upper()} in the environment or use --{name.replace('_', '-')}-file")


def settings_from_args(settings_cls: type[S], args: argparse.Namespace) -> S:
    """Settings from parsed args; on a bad value print which field is wrong and exit with status 2."""
    overrides = {name: getattr(args, name, None) for name in settings_cls.model_fields}
    try:
        return load_settings(settings_cls, getattr(args, "config", None), **overrides)
    except SettingsError as exc:
        sys.stderr.write(f"edgewatch: {exc}\n")
        raise SystemExit(2) from None
