"""A real Mosquitto broker for the MQTT tests: own config, a free 127.0.0.1 port, a password file made by
``mosquitto_passwd``, persistence in a temporary folder (saved on every change, so even ``kill -9`` keeps
sessions and queued QoS 1 messages), stopped by its PID. Skips cleanly where Mosquitto is not installed."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# The test modules import their peers (mqtt_helpers) from this folder, however pytest is started.
sys.path.insert(0, str(Path(__file__).resolve().parent))


MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """One Mosquitto process; ``kill()``/``start()`` restart it on the same port and persistence folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.users = {"edge": secrets.token_urlsafe(12), "alarm": secrets.token_urlsafe(12),
                      "ha": secrets.token_urlsafe(12)}
        passwords = folder / "passwords"
        # Written in clear, then hashed in place by mosquitto_passwd -U: no password on any command line.
        passwords.write_text("".join(f"{user}:{pw}\n" for user, pw in self.users.items()), encoding="utf-8")
        passwords.chmod(0o600)
        subprocess.run([MOSQUITTO_PASSWD, "-U", str(passwords)], check=True, capture_output=True, timeout=30)
        (folder / "data").mkdir()
        self.log = folder / "mosquitto.log"
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            # Mosquitto started as root drops to user "mosquitto", who could not write our temp folder.
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {passwords}\n"
            "persistence true\n"
            f"persistence_location {folder / 'data'}/\n"
            "autosave_interval 1\n"
            "autosave_on_changes true\n"
            f"log_dest file {self.log}\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n",
            encoding="utf-8",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Broker:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not listen in time") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """``kill -9`` of our own broker process, by PID."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if MOSQUITTO is None or MOSQUITTO_PASSWD is None:
        pytest.skip("mosquitto is not installed (Debian package 'mosquitto')")
    folder = tmp_path / "broker"
    folder.mkdir()
    started = Broker(folder).start()
    yield started
    started.stop()
