"""The alarm node against the REAL edge (its durable SQLite outbox, site rooms, re-sending) and a real
webhook receiver, all on loopback. Alarms are put into the edge's outbox with ``store.add``; the edge then
delivers them exactly as it delivers the alarms its detector raises."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
import socketio

from edgewatch.alarm.actions import WebhookAction, alarm_line
from edgewatch.alarm.node import AlarmNode
from edgewatch.config import AlarmSettings
from edgewatch.edge.alarm_store import AlarmStore
from edgewatch.protocol import AlarmAck, AlarmEvent, AlarmReason, SocketEvent, decode, encode
from edgewatch.telemetry.logs import configure_logging

from .conftest import deliveries


def settings(url: str, **overrides: Any) -> AlarmSettings:
    values: dict[str, Any] = {"edge_url": url, "node_id": "hall", "site_id": "site1", "reconnect_delay": 0.1,
                              "reconnect_delay_max": 0.5, "reconnect_jitter": 0.05}
    values.update(overrides)
    return AlarmSettings(**values)


def alarm(site: str = "site1", camera: str = "cam2", **fields: Any) -> AlarmEvent:
    return AlarmEvent(site_id=site, camera_id=camera, trace_id="trace0001abcd", reason=AlarmReason.INTRUDER,
                      track_id=3, detail="person not recognised", **fields)


def outbox(edge: Any) -> AlarmStore:
    assert edge.store is not None, "the edge has not started"
    return edge.store


class Running:
    """An alarm node running in the test's loop, stopped (and awaited) on exit."""

    def __init__(self, node: AlarmNode) -> None:
        self.node = node

    async def __aenter__(self) -> AlarmNode:
        self.task = asyncio.create_task(self.node.run())
        await asyncio.wait_for(self.node.connected.wait(), 15)
        return self.node

    async def __aexit__(self, *_: object) -> None:
        await self.node.stop()
        await asyncio.wait_for(self.task, 15)


async def test_receives_acks_and_prints_an_alarm_of_its_site(real_edge, tmp_path: Path, until) -> None:
    edge, server = real_edge()
    event = alarm()
    assert outbox(edge).add(event)  # pending before any alarm node is there: delivered on connect
    out = io.StringIO()
    called: list[AlarmEvent] = []
    node = AlarmNode(settings(server.url), on_alarm=called.append, console_stream=out)
    async with Running(node):
        await until(lambda: edge.dispatcher is not None and edge.dispatcher.listeners("site1") == 1)
        assert edge.dispatcher is not None and edge.dispatcher.listeners("site2") == 0
        await until(lambda: outbox(edge).counts()["acked"] == 1 and called)

    [(acked_by, sent)] = deliveries(tmp_path / "alarms.db").values()
    assert acked_by == "hall" and sent >= 1  # the edge recorded this node's ack
    assert node.received == [event] == called
    line = out.getvalue()
    assert line.startswith("ALARM intruder site1/cam2 ") and "track 3: person not recognised" in line
    assert line.count("\n") == 1


async def test_resent_alarm_is_acked_again_but_acted_on_once(real_edge, tmp_path: Path, until) -> None:
    # The same alarm is pending in two edge outboxes (an edge replaced by one restored from a backup taken
    # before the ack): the node hears it from both, acknowledges both, sounds once.
    event = alarm()
    for name in ("a.db", "b.db"):
        store = AlarmStore(tmp_path / name)
        assert store.add(event)
        store.close()
    first_edge, first = real_edge(alarm_db=tmp_path / "a.db")
    out = io.StringIO()
    node = AlarmNode(settings(first.url), console_stream=out)
    async with Running(node):
        await until(lambda: outbox(first_edge).counts()["acked"] == 1)
        await asyncio.to_thread(first.stop)
        second_edge, _ = real_edge(port=first.port, alarm_db=tmp_path / "b.db")
        await until(lambda: outbox(second_edge).counts()["acked"] == 1, timeout=20)

    for db in ("a.db", "b.db"):
        assert deliveries(tmp_path / db)[event.event_id][0] == "hall"
    # every copy after the first was a duplicate; at least one copy from each edge was acknowledged
    assert node.received == [event] and node.duplicates >= 1 and node.acks_sent >= 2
    assert out.getvalue().count("ALARM") == 1


async def test_alarm_of_another_site_is_never_routed_to_this_node(real_edge, tmp_path: Path, until) -> None:
    edge, server = real_edge()
    theirs, mine = alarm(site="site2"), alarm()
    assert outbox(edge).add(theirs) and outbox(edge).add(mine)
    node = AlarmNode(settings(server.url), console=False)
    async with Running(node):
        await until(lambda: outbox(edge).counts()["acked"] == 1)
        await until(lambda: deliveries(tmp_path / "alarms.db")[mine.event_id][1] >= 1)
        # The site2 alarm is still pending and was never sent anywhere: no site2 node is connected.
        assert deliveries(tmp_path / "alarms.db")[theirs.event_id] == (None, 0)
        yard = AlarmNode(settings(server.url, node_id="yard", site_id="site2"), console=False)
        async with Running(yard):
            await until(lambda: outbox(edge).counts()["pending"] == 0)
    assert node.received == [mine] and yard.received == [theirs]
    assert node.ignored == 0 and yard.ignored == 0
    assert deliveries(tmp_path / "alarms.db")[theirs.event_id][0] == "yard"


class RawAlarmPeer:
    """The one Socket.IO double left in the alarm tests: a bare server that emits whatever payload the test
    gives it and records the acks. The real edge only ever sends valid alarms to the node's own site room
    (see the test above), so this is the only way to reach the node's defence against a peer that does not."""

    def __init__(self) -> None:
        self.acks: list[AlarmAck] = []
        self.sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
        self.sio.on(SocketEvent.ALARM_ACK.value, self._ack)
        self.sio.on("connect", self._connect)
        self.app = socketio.ASGIApp(self.sio)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        self._loop = asyncio.get_running_loop()

    async def _ack(self, sid: str, payload: Any) -> None:
        self.acks.append(decode(AlarmAck, payload))

    async def send(self, payload: Any) -> None:
        assert self._loop is not None, "no node connected yet"
        emitted = asyncio.run_coroutine_threadsafe(self.sio.emit(SocketEvent.ALARM.value, payload), self._loop)
        await asyncio.wrap_future(emitted)


async def test_ignores_other_sites_and_malformed_alarms(serve, until, tmp_path: Path) -> None:
    configure_logging("alarm-hall", tmp_path)
    peer = RawAlarmPeer()
    server = serve(peer.app)
    out = io.StringIO()
    node = AlarmNode(settings(server.url), console_stream=out)
    mine = alarm()
    async with Running(node):
        await peer.send(encode(alarm(site="site2")))
        await peer.send({"v": 1, "site_id": "site1", "reason": "burglar"})
        await peer.send("not even an object")
        await peer.send(encode(mine))
        await until(lambda: len(node.received) == 1 and len(peer.acks) == 1)

    assert node.received == [mine]
    assert [ack.event_id for ack in peer.acks] == [mine.event_id]  # no ack for what it did not handle
    assert node.ignored == 3
    assert "site2" not in out.getvalue()
    events = [json.loads(line) for line in (tmp_path / "alarm-hall.jsonl").read_text().splitlines()]
    names = [e["event"] for e in events]
    assert names.count("alarm_rejected") == 2 and names.count("alarm_other_site") == 1
    rejected = next(e for e in events if e["event"] == "alarm_rejected")
    assert "AlarmEvent" in rejected["error"]


async def test_webhook_post_reaches_a_real_server_after_a_retry(serve, real_edge, webhook, until) -> None:
    webhook.fail_first = 1  # the receiver hiccups once
    hook = serve(webhook.app())
    edge, server = real_edge()
    event = alarm(snapshot_jpeg=b"\xff\xd8\xff" + b"\0" * 97)
    assert outbox(edge).add(event)
    node = AlarmNode(settings(server.url, webhook_url=f"{hook.url}/hook", webhook_timeout=5),
                     console=False, webhook_backoff=0.05)
    async with Running(node):
        await until(lambda: len(webhook.bodies) == 1 and outbox(edge).counts()["acked"] == 1, timeout=15)

    body = webhook.bodies[0]
    assert webhook.attempts == 2
    assert body["event_id"] == event.event_id and body["site_id"] == "site1" and body["camera_id"] == "cam2"
    assert body["reason"] == "intruder" and body["track_id"] == 3 and body["node_id"] == "hall"
    assert "snapshot_jpeg" not in body and body["snapshot_bytes"] == 100


async def test_ack_does_not_wait_for_a_slow_webhook(serve, real_edge, webhook, until) -> None:
    webhook.release.clear()  # the webhook receiver hangs until the test lets it answer
    hook = serve(webhook.app())
    edge, server = real_edge()
    node = AlarmNode(settings(server.url, webhook_url=f"{hook.url}/hook", webhook_timeout=10), console=False)
    async with Running(node):
        assert outbox(edge).add(alarm())  # raised while the node is connected: the edge's re-send delivers it
        await until(lambda: outbox(edge).counts()["acked"] == 1)
        assert webhook.bodies == []  # acknowledged to the edge while the webhook is still pending
        webhook.release.set()
        await until(lambda: len(webhook.bodies) == 1)


async def test_unreachable_webhook_is_logged_and_the_node_keeps_working(
    real_edge, until, port: int, tmp_path: Path
) -> None:
    edge, server = real_edge()
    node = AlarmNode(settings(server.url, webhook_url=f"http://127.0.0.1:{port}/hook", webhook_timeout=1),
                     console=False, webhook_attempts=2, webhook_backoff=0.05)
    async with Running(node):
        assert outbox(edge).add(alarm())
        failures = "edgewatch_alarm_webhook_failures_total"
        await until(lambda: node.metrics.registry.get_sample_value(failures) == 1, timeout=15)
        second = alarm()
        assert outbox(edge).add(second)
        await until(lambda: outbox(edge).counts()["acked"] == 2)
    assert [e.event_id for e in node.received][-1] == second.event_id
    assert {by for by, _ in deliveries(tmp_path / "alarms.db").values()} == {"hall"}


async def test_reconnects_after_the_edge_restarts(real_edge, until, tmp_path: Path) -> None:
    _, first = real_edge()
    node = AlarmNode(settings(first.url), console=False)
    async with Running(node):
        await asyncio.to_thread(first.stop)
        await until(lambda: not node.connected.is_set(), timeout=10)
        second_edge, _ = real_edge(port=first.port)  # a new edge process on the same port, same outbox
        await until(lambda: node.link.connects == 2 and node.connected.is_set(), timeout=20)
        await until(lambda: second_edge.dispatcher is not None and second_edge.dispatcher.listeners("site1") == 1)
        event = alarm()
        assert outbox(second_edge).add(event)
        await until(lambda: len(node.received) == 1 and outbox(second_edge).counts()["acked"] == 1)
    assert node.received == [event]
    assert deliveries(tmp_path / "alarms.db")[event.event_id][0] == "hall"


def test_alarm_line_and_webhook_url_validation() -> None:
    event = alarm()
    line = alarm_line(event)
    assert line.startswith("ALARM intruder site1/cam2 ") and event.event_id in line
    with pytest.raises(ValueError, match="webhook_url"):
        WebhookAction("ftp://example/hook", "hall")
