"""``edgewatch alarm`` as a user runs it: options documented, bad values refused, alarms on stdout."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from edgewatch.protocol import AlarmEvent, AlarmReason

from .conftest import deliveries


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgewatch", *args], check=False, capture_output=True, text=True, timeout=60)


def test_help_lists_the_alarm_options() -> None:
    result = run_cli("alarm", "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--edge-url", "--node-id", "--site-id", "--webhook-url", "--webhook-timeout",
                   "--reconnect-delay", "--metrics-port", "--log-dir", "--config"):
        assert option in result.stdout, option


def test_bad_values_exit_2_naming_the_field() -> None:
    result = run_cli("alarm", "--webhook-timeout", "0")
    assert result.returncode == 2 and "webhook_timeout (command line)" in result.stderr
    result = run_cli("alarm", "--webhook-url", "ftp://example.org/hook")
    assert result.returncode == 2 and "webhook_url" in result.stderr


async def test_alarm_process_prints_alarms_and_stops_cleanly(
    real_edge, node_process, until, tmp_path: Path
) -> None:
    edge, server = real_edge()
    assert edge.store is not None
    event = AlarmEvent(site_id="site1", camera_id="cam2", trace_id="trace0001abcd", reason=AlarmReason.UNVERIFIED,
                       detail="no face visible")
    assert edge.store.add(event)  # pending in the real edge's outbox: delivered when the node connects
    node = node_process(["alarm", "--edge-url", server.url, "--site-id", "site1", "--node-id", "door",
                         "--log-dir", str(tmp_path / "logs"), "--reconnect-delay", "0.1"])
    await until(lambda: edge.store.counts()["acked"] == 1 or node.proc.poll() is not None, timeout=30)
    assert node.proc.poll() is None, node.output()
    await asyncio.sleep(0.2)
    stdout, stderr = await asyncio.to_thread(node.stop)

    assert node.proc.returncode == 0, stderr
    assert "ALARM unverified site1/cam2 " in stdout and "no face visible" in stdout
    assert stdout.count("ALARM") == 1
    assert deliveries(tmp_path / "alarms.db")[event.event_id][0] == "door"
    lines = [json.loads(line) for line in (tmp_path / "logs" / "alarm-door.jsonl").read_text().splitlines()]
    received = [line for line in lines if line["event"] == "alarm_received"]
    assert len(received) == 1 and received[0]["trace_id"] == "trace0001abcd"
    assert received[0]["node"] == "alarm-door"
