"""Fixtures shared by the whole suite: shared test data, free loopback ports, real servers and processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
#: ``../shared/data`` beside the repo, or ``$EDGEWATCH_SHARED_DATA`` (a git worktree sits elsewhere).
SHARED_DATA = Path(os.environ.get("EDGEWATCH_SHARED_DATA") or REPO.parent / "shared" / "data").resolve()


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Tests that configure a node's logging to a temporary folder must not leak it into later tests."""
    yield
    from edgewatch.telemetry.logs import configure_logging

    configure_logging("pytest")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repo; tests using it are skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def port() -> int:
    return free_port()


class ThreadedServer:
    """A real uvicorn server on loopback, in a thread, for tests that talk HTTP/Socket.IO to an app."""

    def __init__(self, app: Any, port: int | None = None, **options: Any) -> None:
        import uvicorn

        self.port = port or free_port()
        #: https when uvicorn is given ssl_certfile/ssl_keyfile
        self.scheme = "https" if options.get("ssl_certfile") else "http"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on",
                                log_config=None, **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn on port {self.port} did not start")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


@pytest.fixture
def serve() -> Iterator[Callable[..., ThreadedServer]]:
    """``serve(app, port=None)`` starts a real uvicorn server on 127.0.0.1; all are stopped afterwards."""
    servers: list[ThreadedServer] = []

    def start(app: Any, port: int | None = None, **options: Any) -> ThreadedServer:
        server = ThreadedServer(app, port, **options).start()
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        server.stop()


class NodeProcess:
    """An ``edgewatch`` sub-command run as a real child process; ended by its own PID only.

    Output goes to files, not pipes: a chatty node must never block on a full pipe nobody reads.
    """

    def __init__(self, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        import tempfile

        full_env = {**os.environ, **(env or {})}
        self.args = args
        # Kept open for the node's lifetime and closed with the process object: not a `with` block.
        self._out = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self._err = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgewatch", *args],
            env=full_env, cwd=cwd, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL, text=True,
        )

    def output(self) -> tuple[str, str]:
        """Everything the node wrote so far to stdout and stderr."""
        texts = []
        for handle in (self._out, self._err):
            handle.flush()
            handle.seek(0)
            texts.append(handle.read())
        return texts[0], texts[1]

    def stop(self, timeout: float = 10.0) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.output()


@pytest.fixture
def node_process() -> Iterator[Callable[..., NodeProcess]]:
    """``node_process(["edge", "--port", "..."], env={...})`` runs a real node; all are stopped afterwards."""
    started: list[NodeProcess] = []

    def start(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> NodeProcess:
        node = NodeProcess(args, env, cwd)
        started.append(node)
        return node

    yield start
    for node in reversed(started):
        node.stop()


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll ``predicate`` on the running loop until it holds or fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


@pytest.fixture
def until() -> Callable[..., Any]:
    return wait_until


class Credentials:
    """An edge credentials file in a test's folder; ``issue(role, site, node)`` returns the node's token."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def issue(self, role: str, site_id: str, node_id: str) -> str:
        from edgewatch.security.credentials import issue

        return issue(self.path, role, site_id, node_id)

    def revoke(self, site_id: str, node_id: str) -> int:
        from edgewatch.security.credentials import revoke

        return revoke(self.path, None, site_id, node_id)


@pytest.fixture
def credentials(tmp_path: Path) -> Credentials:
    """Node credentials for a real edge: pass ``credentials.path`` as the edge's ``credentials_file``."""
    return Credentials(tmp_path / "edge-credentials.json")


@pytest.fixture(scope="session")
def site_tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site CA and a server certificate for 127.0.0.1/localhost (``ca.pem``, ``server.pem``,
    ``server-key.pem``), plus an unrelated CA in ``other/ca.pem`` for wrong-CA tests."""
    from edgewatch.security.tls import ensure_ca, init_site

    folder = tmp_path_factory.mktemp("tls")
    init_site(folder, ["127.0.0.1", "localhost"])
    ensure_ca(folder / "other", "some other CA")
    return folder


# ---- a real PostgreSQL server (cloud replicas on a shared face store) ---------------------------------


@pytest.fixture
def pg_server() -> Iterator[Any]:
    """A running PostgreSQL cluster of this test (skipped where the server binaries are absent)."""
    from edgewatch.sim.postgres import PgServer, postgres_bin

    if postgres_bin() is None:
        pytest.skip("PostgreSQL server binaries absent (Debian package postgresql)")
    server = PgServer(free_port()).start()
    try:
        yield server
    finally:
        server.close()
