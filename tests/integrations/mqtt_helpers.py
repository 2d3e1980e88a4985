"""Test-side peers of the MQTT tests: a real Mosquitto broker (own config, a free 127.0.0.1 port, a password
file made by ``mosquitto_passwd``, persistence in a temporary folder saved on every change so even ``kill -9``
keeps sessions and queued QoS 1 messages, stopped by its PID), a subscriber standing in for Home Assistant
(records everything, can keep a persistent session across a broker restart), a raw Socket.IO camera, and
Home Assistant's discovery schema as the test checks it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import aiomqtt
import socketio

from edgewatch.protocol import Frame, Hello, NodeRole, SocketEvent, encode, new_trace_id

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
OPENSSL = shutil.which("openssl")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """One Mosquitto process; ``kill()``/``start()`` restart it on the same port and persistence folder."""

    def __init__(self, folder: Path, tls: bool = False) -> None:
        self.folder = folder
        self.port = free_port()
        self.tls_port: int | None = None
        tls_listener = ""
        if tls:  # a second listener with TLS, certificate for IP 127.0.0.1, self-signed (it is its own CA)
            self.tls_port = free_port()
            self.ca_file = folder / "broker.pem"
            key = folder / "broker.key"
            subprocess.run(
                [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                 "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(self.ca_file)],
                check=True, capture_output=True, timeout=120,
            )
            tls_listener = (f"listener {self.tls_port} 127.0.0.1\ncertfile {self.ca_file}\nkeyfile {key}\n"
                            "tls_version tlsv1.2\n")
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
            f"{tls_listener}"
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


ASSETS = Path(__file__).resolve().parents[2] / "src" / "edgewatch" / "sim" / "assets"
PERSON_JPEG = (ASSETS / "grace_hopper.jpg").read_bytes()


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float


class Recorder:
    """Subscribes to ``topics`` and records every message; reconnects until stopped. With ``session`` (a
    client id) the broker keeps its subscription and queues QoS 1 messages while it is away."""

    def __init__(self, broker: Any, user: str, topics: tuple[str, ...] = ("#",), session: str | None = None) -> None:
        self.broker = broker
        self.user = user
        self.topics = topics
        self.session = session
        self.messages: list[Received] = []
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.connected.wait(), 30)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", self.broker.port, username=self.user, password=self.broker.users[self.user],
                    identifier=self.session, clean_session=self.session is None, timeout=10,
                ) as client:
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    self.connected.set()
                    async for message in client.messages:
                        payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
                        self.messages.append(Received(str(message.topic), payload, bool(message.retain), time.time()))
            except aiomqtt.MqttError:
                self.connected.clear()
                await asyncio.sleep(0.2)

    def on(self, topic: str) -> list[Received]:
        return [m for m in self.messages if m.topic == topic]

    def last(self, topic: str) -> bytes | None:
        found = self.on(topic)
        return found[-1].payload if found else None

    def json_on(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(m.payload) for m in self.on(topic)]

    def matching(self, pattern: str) -> list[Received]:
        regex = re.compile(pattern)
        return [m for m in self.messages if regex.fullmatch(m.topic)]


class Camera:
    """A bare Socket.IO camera speaking the protocol by hand: sends a JPEG repeatedly while told to."""

    def __init__(self, camera_id: str = "cam1", site_id: str = "site1") -> None:
        self.camera_id, self.site_id = camera_id, site_id
        self.sio = socketio.AsyncClient(reconnection=False)
        self.seq = 0

    async def connect(self, url: str) -> Camera:
        hello = Hello(role=NodeRole.CAMERA, node_id=self.camera_id, site_id=self.site_id)
        await self.sio.connect(url, auth=encode(hello), transports=["websocket"], wait_timeout=20)
        return self

    async def send(self, jpeg: bytes) -> None:
        frame = Frame(camera_id=self.camera_id, site_id=self.site_id, seq=self.seq, captured_at=time.time(),
                      trace_id=new_trace_id(), jpeg=jpeg)
        self.seq += 1
        await self.sio.emit(SocketEvent.FRAME.value, encode(frame))

    async def send_until(self, jpeg: bytes, done: Callable[[], Any], timeout: float = 60.0,
                         interval: float = 0.25) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s of frames")
            await self.send(jpeg)
            await asyncio.sleep(interval)

    async def close(self) -> None:
        await self.sio.disconnect()


# ---- Home Assistant's MQTT discovery, as far as edgewatch uses it --------------------------------------
# Source: home-assistant.io, "MQTT" integration (discovery topic format, device, availability) and the
# MQTT Binary sensor / Sensor / Image pages (the keys each platform requires).

DISCOVERY_TOPIC = re.compile(
    r"^homeassistant/(binary_sensor|sensor|image|event)/([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)/config$")
REQUIRED = {"binary_sensor": ("state_topic",), "sensor": ("state_topic",), "image": ("image_topic",),
            "event": ("state_topic",)}
BINARY_SENSOR_CLASSES = {"occupancy", "safety", "motion", "presence", "problem"}


def _valid_publish_topic(topic: Any) -> bool:
    return isinstance(topic, str) and 0 < len(topic) <= 65535 and not set(topic) & {"+", "#", "\0"}


def check_discovery(topic: str, config: dict[str, Any]) -> list[str]:
    """What Home Assistant would reject or mis-handle in one discovery message (empty: fine)."""
    problems = []
    match = DISCOVERY_TOPIC.match(topic)
    if not match:
        return [f"{topic}: not <prefix>/<component>/<node_id>/<object_id>/config"]
    component = match.group(1)
    for key in REQUIRED[component]:
        if not _valid_publish_topic(config.get(key)):
            problems.append(f"{topic}: {key} missing or not a topic")
    if not isinstance(config.get("unique_id"), str) or not config["unique_id"]:
        problems.append(f"{topic}: unique_id missing")
    device = config.get("device")
    if not isinstance(device, dict) or not device.get("identifiers") or not isinstance(device["identifiers"], list):
        problems.append(f"{topic}: device.identifiers missing")
    availability = config.get("availability")
    if not isinstance(availability, list) or not availability:
        problems.append(f"{topic}: availability missing")
    else:
        for entry in availability:
            if not _valid_publish_topic(entry.get("topic")):
                problems.append(f"{topic}: availability entry without a topic")
    if config.get("availability_mode", "latest") not in ("all", "any", "latest"):
        problems.append(f"{topic}: bad availability_mode")
    if component == "binary_sensor" and config.get("device_class") not in BINARY_SENSOR_CLASSES | {None}:
        problems.append(f"{topic}: unexpected device_class")
    if component == "event" and (not isinstance(config.get("event_types"), list) or not config["event_types"]):
        problems.append(f"{topic}: event_types missing")
    if "json_attributes_topic" in config and not _valid_publish_topic(config["json_attributes_topic"]):
        problems.append(f"{topic}: json_attributes_topic is not a topic")
    return problems
