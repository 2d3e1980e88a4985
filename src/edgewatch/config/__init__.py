"""Typed settings for every node: defaults < TOML file < ``EDGEWATCH_*`` environment < command line.

One TOML file can configure a whole host: each node reads its own table (``[camera]``, ``[alarm]``,
``[edge]``, ``[cloud]``). Environment variables are the field names upper-cased behind ``EDGEWATCH_``
(``EDGEWATCH_EDGE_URL``, ``EDGEWATCH_FPS`` ...), which is what containers and compose files use. A bad value
fails at start with :class:`SettingsError`, whose message names the field and where it came from.
"""

from edgewatch.config.base import (
    CONFIG_ENV,
    ENV_PREFIX,
    IdentifierList,
    NodeSettings,
    SettingsError,
    StrList,
    secret_fields,
)
from edgewatch.config.cloud import CloudSettings
from edgewatch.config.edge import EdgeSettings
from edgewatch.config.iot import AlarmSettings, CameraSettings, ReconnectSettings
from edgewatch.config.loading import field_help, load_settings

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "AlarmSettings",
    "CameraSettings",
    "CloudSettings",
    "EdgeSettings",
    "IdentifierList",
    "NodeSettings",
    "ReconnectSettings",
    "SettingsError",
    "StrList",
    "field_help",
    "load_settings",
    "secret_fields",
]
