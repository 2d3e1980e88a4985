"""The alarm node against a real python-socketio server and a real webhook receiver, both on loopback."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from edgewatch.alarm.actions import WebhookAction, alarm_line
from edgewatch.alarm.node import AlarmNode
from edgewatch.config import AlarmSettings
from edgewatch.protocol import AlarmEvent, AlarmReason, NodeRole, encode
from edgewatch.telemetry.logs import configure_logging


def settings(url: str, **overrides: Any) -> AlarmSettings:
    values: dict[str, Any] = {"edge_url": url, "node_id": "hall", "site_id": "site1", "reconnect_delay": 0.1,
                                  "reconnect_delay_max": 0.5, "reconnect_jitter": 0.05}
    values.update(overrides)
    return AlarmSettings(**values)


def alarm(site: str = "site1", camera: str = "cam2", **fields: Any) -> AlarmEvent:
    return AlarmEvent(site_id=site, camera_id=camera, trace_id="trace0001abcd", reason=AlarmReason.INTRUDER,
                      track_id=3, detail="person not recognised", **fields)


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


async def test_receives_acks_and_prints_an_alarm_of_its_site(serve, alarm_edge, until) -> None:
    server = serve(alarm_edge.app())
    out = io.StringIO()
    called: list[AlarmEvent] = []
    node = AlarmNode(settings(server.url), on_alarm=called.append, console_stream=out)
    event = alarm()
    async with Running(node):
        assert [(h.role, h.node_id, h.site_id) for h in alarm_edge.hellos] == [(NodeRole.ALARM, "hall", "site1")]
        await alarm_edge.send(encode(event))
        await until(lambda: len(alarm_edge.acks) == 1 and called)

    assert (alarm_edge.acks[0].event_id, alarm_edge.acks[0].node_id) == (event.event_id, "hall")
    assert node.received == [event] == called
    line = out.getvalue()
    assert line.startswith("ALARM intruder site1/cam2 ") and "track 3: person not recognised" in line
    assert line.count("\n") == 1


async def test_resent_alarm_is_acked_again_but_acted_on_once(serve, alarm_edge, until) -> None:
    server = serve(alarm_edge.app())
    out = io.StringIO()
    node = AlarmNode(settings(server.url), console_stream=out)
    event = alarm()
    async with Running(node):
        for _ in range(3):  # the edge re-sends until acknowledged
            await alarm_edge.send(encode(event))
        await until(lambda: len(alarm_edge.acks) == 3)

    assert {ack.event_id for ack in alarm_edge.acks} == {event.event_id}
    assert len(node.received) == 1 and node.duplicates == 2
    assert out.getvalue().count("ALARM") == 1


async def test_ignores_other_sites_and_malformed_alarms(serve, alarm_edge, until, tmp_path: Path) -> None:
    configure_logging("alarm-hall", tmp_path)
    server = serve(alarm_edge.app())
    out = io.StringIO()
    node = AlarmNode(settings(server.url), console_stream=out)
    mine = alarm()
    async with Running(node):
        await alarm_edge.send(encode(alarm(site="site2")))
        await alarm_edge.send({"v": 1, "site_id": "site1", "reason": "burglar"})
        await alarm_edge.send("not even an object")
        await alarm_edge.send(encode(mine))
        await until(lambda: len(node.received) == 1)
        await asyncio.sleep(0.2)  # time for any stray ack to arrive

    assert node.received == [mine]
    assert [ack.event_id for ack in alarm_edge.acks] == [mine.event_id]  # no ack for what it did not handle
    assert node.ignored == 3
    assert "site2" not in out.getvalue()
    events = [json.loads(line) for line in (tmp_path / "alarm-hall.jsonl").read_text().splitlines()]
    names = [e["event"] for e in events]
    assert names.count("alarm_rejected") == 2 and names.count("alarm_other_site") == 1
    rejected = next(e for e in events if e["event"] == "alarm_rejected")
    assert "AlarmEvent" in rejected["error"]


async def test_webhook_post_reaches_a_real_server_after_a_retry(serve, alarm_edge, webhook, until) -> None:
    webhook.fail_first = 1  # the receiver hiccups once
    hook = serve(webhook.app())
    server = serve(alarm_edge.app())
    node = AlarmNode(settings(server.url, webhook_url=f"{hook.url}/hook", webhook_timeout=5),
                     console=False, webhook_backoff=0.05)
    event = alarm(snapshot_jpeg=b"\xff\xd8\xff" + b"\0" * 97)
    async with Running(node):
        await alarm_edge.send(encode(event))
        await until(lambda: len(webhook.bodies) == 1, timeout=15)

    body = webhook.bodies[0]
    assert webhook.attempts == 2
    assert body["event_id"] == event.event_id and body["site_id"] == "site1" and body["camera_id"] == "cam2"
    assert body["reason"] == "intruder" and body["track_id"] == 3 and body["node_id"] == "hall"
    assert "snapshot_jpeg" not in body and body["snapshot_bytes"] == 100


async def test_ack_does_not_wait_for_a_slow_webhook(serve, alarm_edge, webhook, until) -> None:
    webhook.release.clear()  # the webhook receiver hangs until the test lets it answer
    hook = serve(webhook.app())
    server = serve(alarm_edge.app())
    node = AlarmNode(settings(server.url, webhook_url=f"{hook.url}/hook", webhook_timeout=10), console=False)
    event = alarm()
    async with Running(node):
        await alarm_edge.send(encode(event))
        await until(lambda: len(alarm_edge.acks) == 1)
        assert webhook.bodies == []  # acknowledged while the webhook is still pending
        webhook.release.set()
        await until(lambda: len(webhook.bodies) == 1)


async def test_unreachable_webhook_is_logged_and_the_node_keeps_working(
    serve, alarm_edge, until, port: int
) -> None:
    server = serve(alarm_edge.app())
    node = AlarmNode(settings(server.url, webhook_url=f"http://127.0.0.1:{port}/hook", webhook_timeout=1),
                     console=False, webhook_attempts=2, webhook_backoff=0.05)
    async with Running(node):
        await alarm_edge.send(encode(alarm()))
        await until(lambda: node.metrics.registry.get_sample_value("edgewatch_alarm_webhook_failures_total") == 1, timeout=15)
        second = alarm()
        await alarm_edge.send(encode(second))
        await until(lambda: len(alarm_edge.acks) == 2)
    assert [e.event_id for e in node.received][-1] == second.event_id


async def test_reconnects_after_the_edge_restarts(serve, alarm_edge, until) -> None:
    first = serve(alarm_edge.app())
    node = AlarmNode(settings(first.url), console=False)
    async with Running(node):
        await asyncio.to_thread(first.stop)
        await until(lambda: not node.connected.is_set(), timeout=10)
        serve(alarm_edge.app(), port=first.port)
        await until(lambda: len(alarm_edge.hellos) == 2, timeout=20)
        await asyncio.wait_for(node.connected.wait(), 10)
        event = alarm()
        await alarm_edge.send(encode(event))
        await until(lambda: len(node.received) == 1)
    assert alarm_edge.acks[-1].event_id == event.event_id


def test_alarm_line_and_webhook_url_validation() -> None:
    event = alarm()
    line = alarm_line(event)
    assert line.startswith("ALARM intruder site1/cam2 ") and event.event_id in line
    with pytest.raises(ValueError, match="webhook_url"):
        WebhookAction("ftp://example/hook", "hall")
