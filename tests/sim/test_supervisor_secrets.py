"""The demo's supervisor hands each secret to the node that needs it only: a camera (or any other node)
never holds the cloud's token in its environment."""

from __future__ import annotations

import time
from pathlib import Path

from edgewatch.sim.supervisor import Supervisor


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def test_secrets_reach_only_their_own_node(tmp_path: Path) -> None:
    proxy = ["wan", "--link", "edge-cloud", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:9",
             "--conditions", "1+-0ms"]
    with Supervisor(tmp_path) as nodes:
        holder = nodes.start("holder", proxy, secrets={"EDGEWATCH_CLOUD_TOKEN": "s3cret-of-the-cloud"})
        other = nodes.start("other", proxy)
        time.sleep(0.5)  # both running: their environments are fixed at exec
        assert holder.process.poll() is None and other.process.poll() is None
        assert _environ(holder.process.pid).get("EDGEWATCH_CLOUD_TOKEN") == "s3cret-of-the-cloud"
        assert "EDGEWATCH_CLOUD_TOKEN" not in _environ(other.process.pid)
    assert "s3cret" not in (tmp_path / "stdio" / "commands.txt").read_text()
