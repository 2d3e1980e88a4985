"""Start ``edgewatch`` nodes as child processes and make sure none survives.

Each node runs in its own session (so a Ctrl-C in the terminal reaches only the supervisor, which then
stops the nodes in order: cameras first, the cloud last). Nodes are ended only by the PIDs we started:
SIGINT, then SIGTERM, then SIGKILL if they ignore it. On Linux each node also asks the kernel for SIGTERM
when the supervisor dies, so even a supervisor killed with SIGKILL leaves no node holding its ports.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx


def _die_with_parent() -> None:
    """Runs in the child before exec: PR_SET_PDEATHSIG(SIGTERM), so the node ends when its parent does."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG (linux/prctl.h)
    except (OSError, AttributeError):  # not Linux: the supervisor's own stop still applies
        pass


class NodeFailed(RuntimeError):
    """A node exited or never became ready; the message includes the tail of its output."""


@dataclass
class Node:
    name: str
    args: list[str]
    output: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.output.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """Owns a set of node processes; use as a context manager so they are always stopped."""

    def __init__(self, run_dir: Path, env: dict[str, str] | None = None) -> None:
        self.run_dir = run_dir
        self.env = {**os.environ, **(env or {})}
        self.nodes: list[Node] = []
        (run_dir / "stdio").mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def start(self, name: str, args: list[str], secrets: dict[str, str] | None = None) -> Node:
        """Start ``edgewatch ARGS`` as node ``name``; ``secrets`` (environment variables) go to this node
        only: a camera never holds the cloud's token."""
        output = self.run_dir / "stdio" / f"{name}.log"
        # One line per node, so a user can re-run any node by hand; secrets are passed in the environment
        # and therefore never written here.
        with (self.run_dir / "stdio" / "commands.txt").open("a", encoding="utf-8") as commands:
            commands.write(f"{name}: {shlex.join(['edgewatch', *args])}\n")
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "edgewatch", *args],
                stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**self.env, **(secrets or {})}, start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
            )
        node = Node(name, args, output, process)
        self.nodes.append(node)
        return node

    def check_alive(self) -> None:
        for node in self.nodes:
            code = node.process.poll()
            if code is not None:
                raise NodeFailed(f"{node.name} exited with status {code}:\n{node.tail()}")

    def wait_ready(self, node: Node, url: str, timeout: float = 120.0, verify: Any = True) -> None:
        """Poll ``url`` (a /readyz) until it answers 200 or the node dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.process.poll() is not None:
                raise NodeFailed(f"{node.name} exited with status {node.process.returncode}:\n{node.tail()}")
            try:
                if httpx.get(url, timeout=1.0, verify=verify).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise NodeFailed(f"{node.name} not ready at {url} after {timeout:.0f} s:\n{node.tail()}")

    def stop(self, node: Node, grace: float = 8.0) -> int | None:
        process = node.process
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if process.poll() is not None:
                break
            try:
                process.send_signal(sig)
                process.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        return process.poll()

    def stop_all(self) -> None:
        """Stop in reverse start order (the cloud was started first, so it stops last)."""
        for node in reversed(self.nodes):
            self.stop(node)
