"""The built images, run for real with Podman (issue 14). Run by CI's `containers` stage
(deploy/ci/container-tests.sh), which sets the engine up, builds the images and sets
``EDGEWATCH_CONTAINER_TESTS=1``; anywhere else every test here skips with the reason.

Everything these tests start is named ``ewci-...`` (containers, networks, volumes, the compose project) and
is removed by that name afterwards, even when a test fails. The Podman API service and the health ticker
they start are stopped by their PIDs. Checks read the nodes' JSON log lines (``podman logs``) and the
engine's health state, never credentials, so they hold however the nodes authenticate.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
SHARED_CONTAINERS = Path(os.environ.get("EDGEWATCH_SHARED_CONTAINERS", REPO.parent / "shared" / "containers"))
TAG = os.environ.get("EDGEWATCH_TAG", "ci")
KNOWN = "eileen-collins"


def podman(*args: str, timeout: float = 120, check: bool = True, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False,
                            env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="session")
def engine() -> str:
    if os.environ.get("EDGEWATCH_CONTAINER_TESTS") != "1":
        pytest.skip("container tests run in CI's containers stage (deploy/ci/container-tests.sh)")
    if shutil.which("podman") is None:
        pytest.skip("no container engine: podman not installed")
    for layer in ("edge", "cloud", "camera", "alarm"):
        if podman("image", "exists", f"edgewatch-{layer}:{TAG}", check=False).returncode != 0:
            pytest.fail(f"image edgewatch-{layer}:{TAG} is missing: run deploy/ci/build-images.sh {TAG}")
    return "podman"


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON log lines of a node's output (anything else, e.g. a shell line, is skipped)."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                found.append(value)
    return found


def container_log(name: str) -> list[dict[str, Any]]:
    result = podman("logs", name, check=False, timeout=60)
    return json_lines(result.stdout + "\n" + result.stderr)


def wait_for(what: str, check: Callable[[], bool], timeout: float, interval: float = 3.0,
             explain: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s\n{explain()}")
        time.sleep(interval)


def wait_healthy(name: str, timeout: float = 180) -> None:
    """Run the container's own HEALTHCHECK until it passes (no systemd timers here to run it)."""
    def healthy() -> bool:
        state = podman("inspect", "--format", "{{.State.Status}}", name, check=False).stdout.strip()
        if state in ("exited", "stopped"):
            pytest.fail(f"{name} exited:\n{podman('logs', '--tail', '30', name, check=False).stderr}")
        return podman("healthcheck", "run", name, check=False, timeout=60).returncode == 0

    wait_for(f"{name} healthy", healthy, timeout, explain=lambda: podman("logs", "--tail", "20", name,
                                                                          check=False).stderr)


@dataclass(frozen=True)
class Material:
    """The scripted demo scene as frames (read-only camera media) and the known person's photo."""

    media: Path
    known: Path


@pytest.fixture(scope="session")
def material(engine: str) -> Iterator[Material]:
    # Under /tmp with 0755 folders: the nodes run as uid 10001 and must read the bind mounts.
    root = Path(tempfile.mkdtemp(prefix="ewci-material-"))
    root.chmod(0o755)
    result = subprocess.run(
        [sys.executable, "-m", "edgewatch", "scene", "--out", str(root / "media"), "--duration", "40", "--fps", "2",
         "--known-photo", str(root / "known" / f"{KNOWN}.jpg")],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert result.returncode == 0, result.stderr
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield Material(root / "media", root / "known")
    shutil.rmtree(root, ignore_errors=True)


def _background(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a helper we started, by its PID (its own session: the ticker's `sleep` goes with it)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(15)


@pytest.fixture(scope="session")
def health_ticker(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Podman runs HEALTHCHECKs from systemd timers; there is no systemd here, so this loop plays the timer
    (compose's ``condition: service_healthy`` and ``--wait`` depend on it)."""
    script = SHARED_CONTAINERS / "health-ticker.sh"
    body = script.read_text() if script.is_file() else (
        "while :; do for c in $(podman ps -q); do podman healthcheck run \"$c\" >/dev/null 2>&1; done; "
        "sleep \"${1:-5}\"; done\n")
    local = tmp_path_factory.mktemp("ticker") / "health-ticker.sh"
    local.write_text(body)
    process = _background(["sh", str(local), "3"], local.with_suffix(".log"))
    yield
    _stop(process)


@pytest.fixture(scope="session")
def docker_host(engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Podman's Docker-compatible API on a private socket, for Docker Compose v2; stopped by PID after."""
    folder = tmp_path_factory.mktemp("podman-api")
    sock = folder / "podman.sock"
    process = _background(["podman", "system", "service", "--time=0", f"unix://{sock}"], folder / "service.log")
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(str(sock))
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"podman system service did not start: {(folder / 'service.log').read_text()}")
            time.sleep(0.3)
    yield f"unix://{sock}"
    _stop(process)


def remove_by_prefix(prefix: str) -> None:
    """Remove every container, then network and volume, whose name starts with ``prefix``."""
    names = podman("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split()
    mine = [n for n in names if n.startswith(prefix)]
    if mine:
        podman("rm", "-f", "-t", "5", *mine, check=False, timeout=180)
    for kind in ("network", "volume"):
        listed = podman(kind, "ls", "--format", "{{.Name}}", check=False).stdout.split()
        for name in listed:
            if name.startswith(prefix):
                podman(kind, "rm", "-f", name, check=False)


def compose_project(project: str, files: tuple[str, ...], compose_bin: Path, docker_host: str,
                    material: Material, tmp_path: Path) -> Iterator[Any]:
    """Body of a test's ``compose`` fixture: yields ``run(*args, timeout=...)`` for ``docker-compose -p
    PROJECT -f FILE...`` against Podman, with both sites' media and known faces; ``down -v`` afterwards."""
    from tests.conftest import free_port
    from tests.deploy.conftest import COMPOSE_DIR, clean_env

    env = clean_env(tmp_path, DOCKER_HOST=docker_host, EDGEWATCH_TAG=TAG, EDGEWATCH_MEDIA=str(material.media),
                    EDGEWATCH_KNOWN_DIR=str(material.known), EDGEWATCH_FPS="2",
                    SITE1_EDGE_PORT=str(free_port()), SITE2_EDGE_PORT=str(free_port()), CLOUD_PORT=str(free_port()))
    empty_env = tmp_path / "empty.env"
    empty_env.write_text("")

    def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        argv = [str(compose_bin), "--env-file", str(empty_env), "-p", project]
        for name in files:
            argv += ["-f", str(COMPOSE_DIR / name)]
        return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout, check=False,
                              cwd=COMPOSE_DIR, env=env)

    remove_by_prefix(project)
    try:
        yield run
    finally:
        down = run("down", "-v", "--timeout", "10", timeout=300)
        if down.returncode != 0:
            sys.stderr.write(f"compose down: {down.stderr[-2000:]}\n")
        remove_by_prefix(project)
