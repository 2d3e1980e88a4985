"""Header and idle timeouts of the servers, with real sockets on loopback against a real uvicorn."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from edgewatch.serving import server_config


async def hello_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class Served:
    def __init__(self, header_timeout: float, idle_timeout: float) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.timeouts: list[str] = []
        config = server_config(hello_app, host="127.0.0.1", port=self.port, header_timeout=header_timeout,
                               idle_timeout=idle_timeout, on_timeout=self.timeouts.append, log_config=None,
                               lifespan="off", backlog=2048)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        return sock


@pytest.fixture
def served() -> Iterator[Served]:
    s = Served(header_timeout=1.0, idle_timeout=1.0)
    s.thread.start()
    deadline = time.monotonic() + 30
    while not s.server.started:
        assert time.monotonic() < deadline and s.thread.is_alive()
        time.sleep(0.02)
    yield s
    s.server.should_exit = True
    s.thread.join(10)


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """True when the server closes ``sock`` within ``within`` seconds (EOF or reset)."""
    sock.settimeout(within)
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def request(sock: socket.socket) -> bytes:
    sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    sock.settimeout(10)
    data = b""
    while not data.endswith(b"ok"):
        chunk = sock.recv(4096)
        assert chunk, "closed before the answer"
        data += chunk
    return data


def test_slow_and_silent_header_sockets_are_closed(served: Served) -> None:
    silent = [served.connect() for _ in range(150)]
    slow = [served.connect() for _ in range(150)]
    for sock in slow:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
    # Keep trickling header bytes: a slowloris client; the timer must not restart on each byte.
    for _ in range(3):
        time.sleep(0.3)
        for sock in slow:
            try:
                sock.sendall(b"X")
            except OSError:
                pass
    # Meanwhile an honest client is served at once.
    with served.connect() as honest:
        assert request(honest).startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    assert all(closed_by_server(sock, 20) for sock in silent + slow)
    assert time.monotonic() - started < 20
    assert served.timeouts.count("header") >= 300
    for sock in silent + slow:
        sock.close()


def test_idle_keep_alive_and_slow_second_request_are_closed(served: Served) -> None:
    with served.connect() as idle:
        assert request(idle).startswith(b"HTTP/1.1 200")
        assert request(idle).startswith(b"HTTP/1.1 200")  # keep-alive works
        assert closed_by_server(idle, 15)
    assert "idle" in served.timeouts
    with served.connect() as slow_second:
        assert request(slow_second).startswith(b"HTTP/1.1 200")
        slow_second.sendall(b"GET / HTTP/1.1\r\n")  # then never finishes the headers
        for _ in range(5):
            time.sleep(0.2)
            slow_second.sendall(b"Y")
        assert closed_by_server(slow_second, 15)
    assert "header" in served.timeouts


def test_a_slow_but_finished_request_is_answered(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(0.5)
        assert request_rest(sock).startswith(b"HTTP/1.1 200")


def request_rest(sock: socket.socket) -> bytes:
    sock.sendall(b"Host: t\r\n\r\n")
    sock.settimeout(10)
    data = b""
    while not data.endswith(b"ok"):
        chunk = sock.recv(4096)
        assert chunk
        data += chunk
    return data
