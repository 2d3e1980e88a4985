"""Alarm delivery from the edge's outbox into a real Mosquitto on this machine.

Starts its own ``mosquitto`` (loopback, free port, persistence in a temporary folder), then measures the
edge's MQTT publisher (:mod:`edgewatch.integrations.mqtt.publisher`) two ways, each with and without a
snapshot attached:

* latency: one alarm at a time is stored in the SQLite outbox and announced on the event bus (as the edge
  does); time from the store to a subscriber receiving it (QoS 1), percentiles over ``--alarms``;
* backlog drain: ``--backlog`` alarms already in the outbox (a broker that was down); alarms/s until the
  subscriber has every one, one alarm at a time (the first version) beside the pipelined batches.

  python benchmarks/mqtt_alarms.py [--alarms 50] [--backlog 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

from edgewatch.edge.alarm_store import AlarmStore
from edgewatch.edge.events import AlarmRaised, EventBus
from edgewatch.integrations.mqtt import publisher as publisher_module
from edgewatch.integrations.mqtt.broker import BrokerConfig
from edgewatch.integrations.mqtt.outbox import MqttOutbox
from edgewatch.integrations.mqtt.publisher import MqttPublisher
from edgewatch.protocol import AlarmEvent, AlarmReason, new_trace_id

SNAPSHOT = (Path(__file__).resolve().parents[1] / "src/edgewatch/sim/assets/grace_hopper.jpg").read_bytes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_broker(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(binary):
        sys.exit("mosquitto is not installed (Debian package 'mosquitto')")
    port = free_port()
    (folder / "data").mkdir()
    conf = folder / "mosquitto.conf"
    conf.write_text(f"user {pwd.getpwuid(os.getuid()).pw_name}\nlistener {port} 127.0.0.1\nallow_anonymous true\n"
                    f"persistence true\npersistence_location {folder / 'data'}/\n", encoding="utf-8")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    sys.exit("mosquitto did not start")


def alarm(snapshot: bool) -> AlarmEvent:
    return AlarmEvent(site_id="site1", camera_id="cam1", trace_id=new_trace_id(), reason=AlarmReason.INTRUDER,
                      track_id=1, snapshot_jpeg=SNAPSHOT if snapshot else None)


async def run_case(port: int, folder: Path, snapshot: bool, alarms: int, backlog: int,
                   batch: int) -> dict[str, float]:
    publisher_module.ALARM_BATCH = batch
    db = folder / f"alarms-{snapshot}-{batch}.db"
    store = AlarmStore(db)
    MqttOutbox(db).close()
    bus = EventBus()
    received: dict[str, float] = {}
    ready = asyncio.Event()

    async def subscribe() -> None:
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.subscribe("edgewatch/site/site1/alarm", qos=1)
            ready.set()
            async for message in client.messages:
                received[json.loads(message.payload)["event_id"]] = time.perf_counter()

    listener = asyncio.create_task(subscribe())
    await ready.wait()
    for _ in range(backlog):  # stored while "the broker was down"
        store.add(alarm(snapshot))
    publisher = MqttPublisher(BrokerConfig("127.0.0.1", port), bus, db, edge_id="bench", sites=["site1"])
    started = time.perf_counter()
    task = asyncio.create_task(publisher.run())
    while len(received) < backlog:
        await asyncio.sleep(0.005)
    drain_s = time.perf_counter() - started
    latencies = []
    for _ in range(alarms):
        event = alarm(snapshot)
        t0 = time.perf_counter()
        await store.add_async(event)
        bus.publish(AlarmRaised(event))
        while event.event_id not in received:
            await asyncio.sleep(0.0005)
        latencies.append((received[event.event_id] - t0) * 1000)
        await asyncio.sleep(0.02)
    await publisher.stop()
    for t in (task, listener):
        t.cancel()
    await asyncio.gather(task, listener, return_exceptions=True)
    store.close()
    q = statistics.quantiles(latencies, n=20)
    return {"p50": statistics.median(latencies), "p95": q[18], "max": max(latencies), "drain": backlog / drain_s}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alarms", type=int, default=50)
    parser.add_argument("--backlog", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_broker(Path(tmp))
        try:
            rows = []
            for label, snap in (("no snapshot", False), (f"snapshot {len(SNAPSHOT) // 1024} KB", True)):
                one = await run_case(port, Path(tmp), snap, args.alarms, args.backlog, batch=1)
                many = await run_case(port, Path(tmp), snap, args.alarms, args.backlog, batch=16)
                rows.append((label, one, many))
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
    print(f"{'alarm':<16} {'store→subscriber p50/p95/max ms':>32} {'backlog alarms/s: 1 at a time':>30} "
          f"{'16 pipelined':>13}")
    for label, one, many in rows:
        latency = f"{many['p50']:.1f}/{many['p95']:.1f}/{many['max']:.1f}"
        print(f"{label:<16} {latency:>32} {one['drain']:>30.0f} {many['drain']:>13.0f}")


if __name__ == "__main__":
    asyncio.run(main())
