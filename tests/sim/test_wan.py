"""Issue 14: the WAN injector (edgewatch.sim.wan) on real loopback TCP connections."""

from __future__ import annotations

import asyncio
import json
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgewatch.sim.wan import LinkConditions, WanProxy, WanSpecError, parse_conditions, parse_wan_option


@pytest.mark.parametrize(("text", "expected"), [
    ("150±20ms", LinkConditions(150, 20)),
    ("150+-20ms", LinkConditions(150, 20)),
    ("150 +/- 20 ms", LinkConditions(150, 20)),
    ("150ms", LinkConditions(150, 0)),
    ("0.15s", LinkConditions(150, 0)),
    ("40±5ms,rate=2mbit,stall=2s/30s,both", LinkConditions(40, 5, 250_000, 2, 30, True)),
])
def test_conditions_parse(text: str, expected: LinkConditions) -> None:
    assert parse_conditions(text) == expected


@pytest.mark.parametrize("text", ["", "fast", "150±ms", "-5ms", "150ms,rate=0mbit", "150ms,stall=5s/2s", "150ms,x"])
def test_bad_conditions_are_refused(text: str) -> None:
    with pytest.raises(WanSpecError):
        parse_conditions(text)


def test_wan_option_names_a_known_link() -> None:
    assert parse_wan_option("edge-cloud=150±20ms") == ("edge-cloud", LinkConditions(150, 20))
    with pytest.raises(WanSpecError, match="camera-edge, edge-cloud"):
        parse_wan_option("edge-moon=150ms")


class _Sink:
    """A loopback server that timestamps every 8-byte message (a monotonic send time) on arrival."""

    def __init__(self) -> None:
        self.one_way_ms: list[float] = []
        self.order_ok = True
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        last = 0.0
        try:
            while True:
                sent = struct.unpack("!d", await reader.readexactly(8))[0]
                self.one_way_ms.append((time.monotonic() - sent) * 1000.0)
                self.order_ok &= sent > last
                last = sent
                writer.write(b"k")  # an answer, to check the downstream direction is not delayed
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()


async def _send(port: int, messages: int, gap: float, answers_ms: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(messages):
        writer.write(struct.pack("!d", time.monotonic()))
        await writer.drain()
        await asyncio.sleep(gap)
    writer.write_eof()
    got = await reader.read()
    answers_ms.append(len(got))
    writer.close()


@pytest.mark.timeout(120)
def test_injector_adds_the_configured_delay_and_spread() -> None:
    """300 messages over 10 connections through a 150 ± 20 ms link: their one-way times have the configured
    mean and standard deviation (within a tolerance for a loaded machine), and arrive in order."""

    async def scenario() -> tuple[list[float], bool, dict, list[float]]:
        sink = _Sink()
        target = await sink.start()
        proxy = await WanProxy("127.0.0.1", target, parse_conditions("150±20ms"), seed=7).start()
        answers: list[float] = []
        # 120 ms between messages of one connection: a later draw rarely has to wait for the one ahead
        await asyncio.gather(*(_send(proxy.port, 30, 0.12, answers) for _ in range(10)))
        await proxy.close()
        assert sink.server is not None
        sink.server.close()
        return sink.one_way_ms, sink.order_ok, proxy.stats(), answers

    one_way, in_order, stats, answers = asyncio.run(scenario())
    assert len(one_way) == 300 and in_order
    mean, sd = statistics.fmean(one_way), statistics.stdev(one_way)
    print(f"one-way through 150±20ms: mean {mean:.1f} ms, sd {sd:.1f} ms, min {min(one_way):.1f}, n={len(one_way)}")
    # lower bounds are tight (nothing can leave early); upper ones allow for event-loop lag on a loaded machine
    assert 146 <= mean <= 172, mean
    assert 16 <= sd <= 32, sd
    assert stats["connections"] == 10 and stats["upstream"]["chunks"] >= 280
    assert 146 <= stats["upstream"]["held_ms_mean"] <= 172
    # the draws themselves are the configured distribution (seeded: no machine load in them)
    assert abs(stats["upstream"]["drawn_ms_mean"] - 150) < 4 and abs(stats["upstream"]["drawn_ms_sd"] - 20) < 3
    assert stats["downstream"]["held_ms_mean"] < 20, "answers are not delayed unless 'both' is set"
    assert answers == [30] * 10


@pytest.mark.timeout(120)
def test_bandwidth_limit_and_stall() -> None:
    async def through(conditions: str, payload: bytes) -> tuple[float, int]:
        received = bytearray()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.extend(await reader.read())
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        proxy = await WanProxy("127.0.0.1", server.sockets[0].getsockname()[1], parse_conditions(conditions)).start()
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(payload)
        writer.write_eof()
        await reader.read()
        elapsed = time.monotonic() - started
        writer.close()
        await proxy.close()
        server.close()
        return elapsed, len(received)

    async def scenario() -> tuple[tuple[float, int], tuple[float, int]]:
        # 256 kB at 1 mbit/s (125 kB/s) cannot take less than 2 s
        limited = await through("0ms,rate=1mbit", bytes(256_000))
        # a stall of 1.5 s every 3 s from the proxy's start: a chunk sent at once leaves at 1.5 s
        stalled = await through("0ms,stall=1.5s/3s", b"x" * 10)
        return limited, stalled

    (limited_s, limited_n), (stalled_s, stalled_n) = asyncio.run(scenario())
    assert limited_n == 256_000 and limited_s >= 2.0, limited_s
    assert stalled_n == 10 and stalled_s >= 1.4, stalled_s


@pytest.mark.timeout(60)
def test_wan_command_proxies_and_logs_its_conditions(tmp_path: Path, node_process) -> None:
    """`edgewatch wan` as a process: traffic passes, and its log names the configured conditions."""
    import socket

    from tests.conftest import free_port

    with socket.create_server(("127.0.0.1", 0)) as upstream:
        listen = free_port()
        proxy = node_process(["wan", "--link", "edge-cloud", "--listen", f"127.0.0.1:{listen}", "--target",
                              f"127.0.0.1:{upstream.getsockname()[1]}", "--conditions", "50+-5ms",
                              "--log-dir", str(tmp_path)])
        deadline = time.monotonic() + 30
        while "wan edge-cloud" not in proxy.output()[0]:
            assert proxy.proc.poll() is None and time.monotonic() < deadline, proxy.output()
            time.sleep(0.1)
        with socket.create_connection(("127.0.0.1", listen), timeout=10) as client:
            client.sendall(b"hello")
            conn, _ = upstream.accept()
            conn.settimeout(10)
            assert conn.recv(16) == b"hello"
            conn.close()
    proxy.stop()
    lines = [json.loads(line) for line in (tmp_path / "wan-edge-cloud.jsonl").read_text().splitlines()]
    started = next(e for e in lines if e["event"] == "wan_link")
    assert started["text"] == "50±5ms" and started["delay_ms"] == 50 and started["jitter_ms"] == 5
    final = [e for e in lines if e["event"] == "wan_stats"][-1]
    assert final["upstream"]["chunks"] == 1 and final["upstream"]["held_ms_mean"] >= 35
    assert final["upstream"]["drawn_ms_mean"] >= 35
    bad = subprocess.run([sys.executable, "-m", "edgewatch", "wan", "--link", "edge-cloud", "--listen",
                          "127.0.0.1:0", "--target", "127.0.0.1:1", "--conditions", "soon"],
                         capture_output=True, text=True, check=False, timeout=60)
    assert bad.returncode == 2 and "bad delay 'soon'" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.timeout(420)
def test_edge_behind_a_slow_cloud_link_still_alarms_and_the_report_shows_the_delay(tmp_path: Path) -> None:
    """`edgewatch demo --wan edge-cloud=150+-20ms`: the unknown person still raises an alarm that reaches the
    alarm node, and the report puts the configured 150±20ms next to a cloud round trip that grew by it."""
    run_dir, report = tmp_path / "run", tmp_path / "report"
    demo = subprocess.run(
        [sys.executable, "-m", "edgewatch", "demo", "--duration", "30", "--cameras", "2", "--run-dir", str(run_dir),
         "--wan", "edge-cloud=150+-20ms"],
        capture_output=True, text=True, check=False, timeout=300,
    )
    assert demo.returncode == 0, demo.stderr[-3000:] + demo.stdout[-3000:]
    assert "WAN edge-cloud: 150+-20ms" in demo.stdout and "ALARM INTRUDER" in demo.stdout
    made = subprocess.run([sys.executable, "-m", "edgewatch", "report", str(run_dir / "logs"), "--out", str(report),
                           "--quiet"], capture_output=True, text=True, check=False, timeout=180)
    assert made.returncode == 0, made.stderr
    summary = json.loads((report / "summary.json").read_text())
    assert summary["alarms"]["by_reason"].get("intruder", 0) >= 1
    assert summary["alarms"]["received_events"] == summary["alarms"]["raised"]
    (wan,) = summary["wan"]
    assert wan["link"] == "edge-cloud" and wan["configured"] == "150±20ms"
    assert 130 <= wan["held_upstream"]["held_ms_mean"] <= 220
    assert 135 <= wan["held_upstream"]["drawn_ms_mean"] <= 165
    cloud_rtt = summary["latency_ms"]["per_hop"]["cloud_round_trip"]
    assert cloud_rtt["n"] >= 2 and cloud_rtt["p50"] >= 140, cloud_rtt  # ~35 ms on loopback without the link
    assert wan["measured_p50_ms"]["cloud_round_trip"] == cloud_rtt["p50"]
    page = (report / "report.html").read_text()
    assert "Network conditions (WAN injector)" in page and "150±20ms" in page
