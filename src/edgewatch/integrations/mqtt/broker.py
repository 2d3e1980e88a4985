"""How to reach an MQTT broker: address, TLS and credentials from node settings, and errors in one line.

``mqtt_url`` is ``mqtt://host[:port]`` (plain TCP, port 1883) or ``mqtts://host[:port]`` (TLS, port 8883).
The password comes from the environment (``EDGEWATCH_MQTT_PASSWORD``) or ``mqtt_password_file``, never from
the URL: a URL is logged and shown on command lines, a secret must be neither.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edgewatch.integrations.webhooks import read_secret

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}

#: paho-mqtt's own log lines ("failed to receive on socket ...") repeat what edgewatch logs once, in its
#: own words, per problem; only its critical ones pass.
PAHO_LOGGER = logging.getLogger("edgewatch.integrations.mqtt.paho")
PAHO_LOGGER.setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class BrokerConfig:
    """Where and how to connect. ``password`` is kept out of ``repr`` so it never reaches a log."""

    host: str
    port: int
    tls: bool = False
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        """``mqtt(s)://host:port`` - safe to log."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`aiomqtt.Client` (address, credentials, TLS)."""
        return {"hostname": self.host, "port": self.port, "username": self.username, "password": self.password,
                "tls_context": self.tls_context(), "logger": PAHO_LOGGER}


def broker_config(settings: Any) -> BrokerConfig | None:
    """The broker of an edge's or alarm node's settings (``mqtt_*`` fields), None when MQTT is off.

    Raises ValueError with a one-line reason for a URL, CA file or password file that cannot be used."""
    url = getattr(settings, "mqtt_url", None)
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"mqtt_url must look like mqtt://host:1883 or mqtts://host:8883, got scheme "
                         f"{parts.scheme or '(none)'!r}")
    if parts.username or parts.password:
        raise ValueError("mqtt_url must not carry credentials: use mqtt_username and EDGEWATCH_MQTT_PASSWORD "
                         "or mqtt_password_file")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ValueError("mqtt_url has an invalid port") from None
    ca_file = getattr(settings, "mqtt_ca_file", None)
    if ca_file is not None:
        if not Path(ca_file).is_file():
            raise ValueError(f"mqtt_ca_file {ca_file} is not a readable file")
        try:
            ssl.create_default_context(cafile=str(ca_file))
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"mqtt_ca_file {ca_file} holds no usable certificate: {exc}") from None
    secret = getattr(settings, "mqtt_password", None)
    password = read_secret(secret.get_secret_value() if secret else None,
                           getattr(settings, "mqtt_password_file", None), "mqtt_password")
    username = getattr(settings, "mqtt_username", None)
    if password and not username:
        raise ValueError("an MQTT password is set but no mqtt_username: MQTT sends a password only with a user name")
    return BrokerConfig(
        host=parts.hostname, port=port, tls=parts.scheme == "mqtts" or ca_file is not None, ca_file=ca_file,
        username=username, password=password.decode() if password else None,
    )


#: MQTT 3.1.1 CONNACK return codes (spec section 3.2.2.3) and what an operator should do about them.
_REFUSALS = {
    1: "the broker does not speak MQTT 3.1.1",
    2: "the broker refused the client id",
    3: "the broker is unavailable",
    4: "the broker refused the login: bad user name or password",
    5: "the broker refused the login: not authorised (check mqtt_username and the password)",
}


def describe_error(exc: BaseException) -> str:
    """One line for a failed connect or publish, e.g. ``the broker refused the login: bad user name or
    password``. ``auth`` errors are told apart by :func:`is_auth_error`."""
    rc = getattr(exc, "rc", None)
    value = getattr(rc, "value", rc)
    if isinstance(value, int) and value in _REFUSALS and type(exc).__name__ == "MqttConnectError":
        return _REFUSALS[value]
    if isinstance(value, int) and value in (134, 135):  # MQTT 5 reason codes
        return _REFUSALS[4 if value == 134 else 5]
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc.__cause__, ssl.SSLError) or "CERTIFICATE" in text.upper():
        return f"TLS to the broker failed: {text}"
    return text.splitlines()[0][:300]


def is_auth_error(exc: BaseException) -> bool:
    """True when retrying cannot help without an operator changing credentials."""
    rc = getattr(exc, "rc", None)
    value = getattr(rc, "value", rc)
    return type(exc).__name__ == "MqttConnectError" and value in (4, 5, 134, 135)
