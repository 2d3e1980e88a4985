"""``edgewatch demo``: the whole topology on loopback, on bundled material, for about a minute.

It starts a cloud (local face model, the known person enrolled from a bundled photo), one edge, N cameras
streaming a scripted scene (a known and an unknown person walk through a room) and one alarm node, each as
its own process with its own JSON log. While it runs it prints what a person watching the site wants to
see (persons appearing, who was recognised, alarms as the alarm node receives them); at the end it stops
every process and prints a summary computed from the logs.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from edgewatch.sim.console_login import create_console_login
from edgewatch.sim.demo_security import DemoSecurity
from edgewatch.sim.run_folder import Stopped, stop_signals_raise
from edgewatch.sim.scene import KNOWN_ASSET, KNOWN_NAME, asset_path, default_script, write_scene
from edgewatch.sim.supervisor import NodeFailed, Supervisor


@dataclass(frozen=True, slots=True)
class DemoOptions:
    duration: float = 60.0
    cameras: int = 2
    fps: float = 2.0
    source: str | None = None
    run_dir: Path = Path("edgewatch-run")
    site_id: str = "site1"
    workers: int = 2
    #: known persons to enrol instead of the bundled one: name -> photo files
    known: tuple[tuple[str, tuple[Path, ...]], ...] = ()
    #: serve the edge (HTTPS + WSS) and the cloud (HTTPS) with a CA and certificates made in the run folder
    tls: bool = False
    #: WAN conditions per link (``edge-cloud``, ``camera-edge``) -> condition text (edgewatch.sim.wan)
    wan: tuple[tuple[str, str], ...] = ()


PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def parse_known(spec: str) -> tuple[str, tuple[Path, ...]]:
    """``NAME=PATH``: PATH is one photo or a folder whose photos all show NAME."""
    name, sep, raw = spec.partition("=")
    if not sep or not name.strip() or not raw.strip():
        raise ValueError(f"--known expects NAME=PHOTO_OR_FOLDER, got {spec!r}")
    path = Path(raw).expanduser()
    if path.is_dir():
        photos = tuple(sorted(p for p in path.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES))
        if not photos:
            raise ValueError(f"--known {name}: no .jpg/.jpeg/.png photos in {path}")
        return name.strip(), photos
    if not path.is_file():
        raise ValueError(f"--known {name}: no such photo or folder: {path}")
    return name.strip(), (path,)


class LogFollower:
    """Reads the JSON lines appended to every ``*.jsonl`` under a folder since the last call."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._offsets: dict[Path, int] = {}
        self._partial: dict[Path, str] = {}

    def poll(self) -> Iterator[dict[str, Any]]:
        for path in sorted(self.log_dir.glob("*.jsonl")):
            with path.open("r", encoding="utf-8", errors="replace") as handle:
                handle.seek(self._offsets.get(path, 0))
                chunk = handle.read()
                self._offsets[path] = handle.tell()
            text = self._partial.pop(path, "") + chunk
            lines = text.split("\n")
            if lines and lines[-1]:
                self._partial[path] = lines.pop()
            for line in lines:
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        continue


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def describe(event: dict[str, Any]) -> str | None:
    """The line a watching user sees for a log event, or None for events not worth showing."""
    name = event.get("event")
    if name == "track_started":
        return f"person appeared at {event.get('camera_id')} (track {event.get('track_id')})"
    if name == "track_decided" and event.get("state") == "known":
        return (f"recognised known person {event.get('name')} at {event.get('camera_id')} "
                f"(track {event.get('track_id')}, {event.get('requests')} cloud request(s))")
    if name == "alarm_received":
        return (f"ALARM {str(event.get('reason', '?')).upper()} at {event.get('site_id')}/"
                f"{event.get('camera_id')} (track {event.get('track_id')}) -> {event.get('node')}: "
                f"{event.get('detail', '')}")
    return None


class Demo:
    def __init__(self, options: DemoOptions, out: TextIO = sys.stdout) -> None:
        self.options = options
        self.out = out
        self.run_dir = options.run_dir.resolve()
        self.log_dir = self.run_dir / "logs"

    def say(self, text: str, started: float | None = None) -> None:
        stamp = f"[{time.monotonic() - started:6.1f}s] " if started is not None else ""
        try:
            self.out.write(f"{stamp}{text}\n")
            self.out.flush()
        except OSError:  # the terminal went away (SIGHUP): keep stopping the nodes regardless
            pass

    def sources(self) -> list[str]:
        if self.options.source:
            return [self.options.source] * self.options.cameras
        paths = []
        for index in range(self.options.cameras):
            folder = self.run_dir / "scenes" / f"cam{index + 1}"
            write_scene(folder, default_script(index, self.options.duration), self.options.fps)
            paths.append(str(folder))
        return paths

    def _shape(self, nodes: Supervisor, link: str, wan: dict[str, str], port: int) -> str | None:
        """Start a WAN proxy for ``link`` in front of ``127.0.0.1:port``; its URL, or None if not shaped."""
        if link not in wan:
            return None
        proxy_port = _free_port()
        node = nodes.start(f"wan-{link}", [
            "wan", "--link", link, "--listen", f"127.0.0.1:{proxy_port}", "--target", f"127.0.0.1:{port}",
            "--conditions", wan[link], "--log-dir", str(self.log_dir), "--stats-interval", "5",
        ])
        deadline = time.monotonic() + 60
        while f"wan {link}:" not in node.tail():  # it prints one line once it listens
            nodes.check_alive()
            if time.monotonic() > deadline:
                raise NodeFailed(f"wan-{link} did not start within 60 s:\n{node.tail()}")
            time.sleep(0.1)
        self.say(f"WAN {link}: {wan[link]} (proxy 127.0.0.1:{proxy_port})")
        return f"{'https' if self.options.tls else 'http'}://127.0.0.1:{proxy_port}"  # TLS passes through

    def run(self, on_event: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Start every node, narrate for ``duration`` seconds, stop every node, return the summary.

        SIGINT, SIGTERM and SIGHUP end the narration early (the summary still follows); during start-up
        they raise :class:`~edgewatch.sim.run_folder.Stopped` after every started node was stopped.
        Raises :class:`NodeFailed` when a node exits or never becomes ready.
        """
        with stop_signals_raise():
            return self._run(on_event)

    def _run(self, on_event: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
        o = self.options
        self.log_dir.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        cloud_port, edge_port = _free_port(), _free_port()
        scheme = "https" if o.tls else "http"
        cloud_url, edge_url = f"{scheme}://127.0.0.1:{cloud_port}", f"{scheme}://127.0.0.1:{edge_port}"
        security = DemoSecurity.create(self.run_dir, o.site_id, o.cameras, o.tls)
        db = self.run_dir / "faces.db"
        self.say(f"edgewatch demo: {o.cameras} camera(s) at {o.fps:g} fps for {o.duration:g} s; run folder {self.run_dir}")
        sources = self.sources()
        common = ["--log-dir", str(self.log_dir)]
        login = create_console_login(self.run_dir)
        console = ["--operators-file", str(login.operators_file)]  # the web consoles of the edge and the cloud
        # The secret travels in the environment, never on a command line: argv is readable by every local
        # user through ps, and argparse would take a token that starts with "-" for an option.
        # Each secret goes only to the node that needs it: the cloud's token to the cloud and the edge.
        with Supervisor(self.run_dir) as nodes:
            known = o.known or ((KNOWN_NAME, (asset_path(KNOWN_ASSET),)),)
            for name, photos in known:
                enrol = nodes.start("enrol", ["persons", "--db", str(db), "add", name, *map(str, photos)])
                if enrol.process.wait(120) != 0:
                    raise NodeFailed(f"enrolling the known person {name!r} failed:\n{enrol.tail()}")
                nodes.nodes.remove(enrol)
                origin = "the bundled photo" if not o.known else f"{len(photos)} photo(s)"
                self.say(f"cloud: known person '{name}' enrolled from {origin}")
            cloud = nodes.start("cloud", ["cloud", "--port", str(cloud_port), "--db-path", str(db), *common, *console,
                                          *security.server_args()], secrets={"EDGEWATCH_TOKEN": token})
            nodes.wait_ready(cloud, f"{cloud_url}/readyz", verify=security.verify())
            wan = dict(o.wan)
            # A shaped link puts a proxy in front of its server; the client is pointed at the proxy.
            edge_to_cloud = self._shape(nodes, "edge-cloud", wan, cloud_port) or cloud_url
            edge = nodes.start("edge", [
                "edge", "--port", str(edge_port), "--sites", o.site_id, "--cloud-url", edge_to_cloud,
                "--workers", str(o.workers), "--alarm-db", str(self.run_dir / "alarms.db"),
                *common, *console, *security.edge_args(),
            ], secrets={"EDGEWATCH_CLOUD_TOKEN": token})
            nodes.wait_ready(edge, f"{edge_url}/readyz", verify=security.verify())
            camera_to_edge = self._shape(nodes, "camera-edge", wan, edge_port) or edge_url
            nodes.start("alarm", ["alarm", "--edge-url", edge_url, "--site-id", o.site_id, "--node-id", "alarm1",
                                  *common, *security.node_args("alarm1")])
            for index, source in enumerate(sources):
                camera_id = f"cam{index + 1}"
                nodes.start(camera_id, [
                    "camera", "--edge-url", camera_to_edge, "--site-id", o.site_id, "--camera-id", camera_id,
                    "--source", source, "--fps", str(o.fps), "--loop", *common, *security.node_args(camera_id),
                ])
            self.say(f"started cloud {cloud_url}, edge {edge_url}, alarm node and {o.cameras} camera(s)")
            # Shown once, here on the user's screen (the demo's stdout is not a log); kept in a 0600 file.
            self.say(f"console: site {edge_url}/console/  cloud {cloud_url}/console/  login {login.name} / "
                     f"{login.password}  (also in {login.password_file})")
            follower = LogFollower(self.log_dir)
            started = time.monotonic()
            try:
                while time.monotonic() - started < o.duration:
                    nodes.check_alive()
                    # Several nodes' logs are read at once: show their events in time order.
                    for event in sorted(follower.poll(), key=lambda e: float(e.get("t", 0.0))):
                        if on_event is not None:
                            on_event(event)
                        line = describe(event)
                        if line:
                            self.say(line, started)
                    time.sleep(0.2)
            except KeyboardInterrupt as exc:
                how = exc.signame if isinstance(exc, Stopped) else "SIGINT"
                self.say(f"interrupted ({how}): stopping every node", started)
            self.say("stopping nodes", started)
        from edgewatch.sim.summary import summarise

        summary = summarise(self.log_dir)
        (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        return summary
