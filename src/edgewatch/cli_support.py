"""Glue between argparse and the settings models, so every setting is also a documented CLI option."""

from __future__ import annotations

import argparse
import socket
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
        sys.stderr.write(f"edgewatch {settings_cls.table or 'node'}: {exc}\n")
        raise SystemExit(2) from None


class UserError(Exception):
    """A mistake the user can fix (bad path, port in use, missing store ...): ``edgewatch`` prints the
    message as one line ``edgewatch COMMAND: message`` and exits with status 2, without a traceback."""


#: The ``pip install 'edgewatch[EXTRA]'`` each command needs (named when one of its libraries is missing).
COMMAND_EXTRAS: dict[str, str] = {
    "camera": "camera", "alarm": "alarm", "edge": "edge", "detect": "edge", "cloud": "cloud",
    "persons": "cloud", "identify": "cloud", "demo": "all", "scene": "camera", "report": "report",
    "collect": "all",
}
#: Libraries that belong to an extra of their own whatever the command (boto3: only the AWS backend).
MODULE_EXTRAS: dict[str, str] = {"boto3": "aws", "botocore": "aws", "matplotlib": "report"}


def describe_user_error(command: str, exc: BaseException) -> str | None:
    """The one line for an expected failure of ``command`` (None: not a user error, let it propagate).

    Handles :class:`UserError`, :class:`SettingsError`, ``OSError`` (a path that is missing, a folder,
    a file, unwritable, ... or a port in use) and ``ModuleNotFoundError`` (an extra not installed)."""
    if isinstance(exc, UserError | SettingsError):
        return str(exc)
    if isinstance(exc, ModuleNotFoundError):
        module = (exc.name or "?").split(".")[0]
        extra = MODULE_EXTRAS.get(module) or COMMAND_EXTRAS.get(command, "all")
        return (f"needs the Python package {module!r}, which is not installed: "
                f"pip install 'edgewatch[{extra}]'")
    if isinstance(exc, OSError):
        return _describe_os_error(exc)
    return None


def _describe_os_error(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return reason
    name = str(exc.filename)
    if isinstance(exc, FileExistsError) and not Path(name).is_dir():
        return f"{name} is a file; a folder is needed there"
    if isinstance(exc, NotADirectoryError):
        return f"cannot use {name}: part of that path is a file, not a folder"
    if isinstance(exc, IsADirectoryError):
        return f"{name} is a folder; a file is needed there"
    if isinstance(exc, FileNotFoundError):
        return f"{name} does not exist"
    if isinstance(exc, PermissionError):
        return f"no permission to use {name}"
    target = name + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
    return f"cannot use {target}: {reason}"


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening, for ``uvicorn.Server.run(sockets=[...])``.

    Bound before the server starts so that an address in use (or a host that is not local) is one clear
    :class:`UserError` at start, not a JSON log line and uvicorn's exit status 3."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UserError(f"cannot listen on {host}:{port}: unknown host ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restart over TIME_WAIT
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = "address already in use (another process listens there)" if exc.errno == 98 else exc.strerror
        raise UserError(f"cannot listen on {host}:{port}: {reason or exc}") from None
    return sock
