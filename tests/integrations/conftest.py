"""Fixtures of the MQTT tests: a real Mosquitto broker (see :class:`mqtt_helpers.Broker`), stopped by PID.
Skips cleanly where Mosquitto (or, for TLS, openssl) is not installed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The test modules import their peers (mqtt_helpers) from this folder, however pytest is started.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mqtt_helpers import MOSQUITTO, MOSQUITTO_PASSWD, OPENSSL, Broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if MOSQUITTO is None or MOSQUITTO_PASSWD is None:
        pytest.skip("mosquitto is not installed (Debian package 'mosquitto')")
    folder = tmp_path / "broker"
    folder.mkdir()
    started = Broker(folder).start()
    yield started
    started.stop()


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Broker]:
    """Like ``broker``, plus a TLS listener on ``tls_port`` whose certificate is ``ca_file``."""
    if MOSQUITTO is None or MOSQUITTO_PASSWD is None or OPENSSL is None:
        pytest.skip("mosquitto or openssl is not installed (Debian packages 'mosquitto', 'openssl')")
    folder = tmp_path / "tls-broker"
    folder.mkdir()
    started = Broker(folder, tls=True).start()
    yield started
    started.stop()
