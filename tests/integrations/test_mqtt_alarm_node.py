"""``edgewatch alarm --mqtt-url ...`` as a real process against a real Mosquitto: it acts on each of its
site's alarms exactly once, ignores other sites and garbage, and a refused login is one clear line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiomqtt

from edgewatch.integrations.mqtt.messages import alarm_payload, dumps
from edgewatch.protocol import AlarmEvent, AlarmReason, new_trace_id


def _alarm(site: str = "site1") -> AlarmEvent:
    return AlarmEvent(site_id=site, camera_id="door", trace_id=new_trace_id(), reason=AlarmReason.INTRUDER,
                      track_id=2, detail="unknown face", snapshot_jpeg=b"\xff\xd8\xff" + b"1" * 50)


async def _publish(broker: Any, items: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port, username="edge", password=broker.users["edge"]) as client:
        for topic, payload in items:
            await client.publish(topic, payload, qos=1)


async def test_mqtt_alarm_node_acts_once_per_event(broker, node_process: Callable[..., Any], until) -> None:
    node = node_process(
        ["alarm", "--mqtt-url", broker.url, "--mqtt-username", "alarm", "--site-id", "site1", "--node-id", "siren"],
        env={"EDGEWATCH_MQTT_PASSWORD": broker.users["alarm"]},
    )
    await until(lambda: "mqtt_connected" in node.output()[1], timeout=60)
    mine, other = _alarm("site1"), _alarm("site2")
    body = dumps(alarm_payload(mine, "edge1"))
    topic = "edgewatch/site/site1/alarm"
    await _publish(broker, [
        (topic, body), (topic, body),  # a re-publish after a lost PUBACK: same event id
        (topic, dumps(alarm_payload(other, "edge1"))),  # another site's alarm on the wrong topic
        (topic, b"{not json"), (topic, json.dumps({"event_id": "x"}).encode()),
    ])
    await until(lambda: "alarm_duplicate" in node.output()[1] and node.output()[1].count("alarm_rejected") == 2,
                timeout=30)
    out, err = node.stop()
    lines = [line for line in out.splitlines() if line.startswith("ALARM ")]
    assert len(lines) == 1 and mine.event_id in lines[0] and "site1/door" in lines[0]
    assert "1 alarm(s) received" in out
    assert "alarm_other_site" in err and "Traceback" not in err
    assert node.proc.returncode == 0


async def test_mqtt_alarm_node_gets_alarms_published_while_it_was_away(broker, node_process: Callable[..., Any],
                                                                       until) -> None:
    args = ["alarm", "--mqtt-url", broker.url, "--mqtt-username", "alarm", "--site-id", "site1", "--node-id", "bell"]
    env = {"EDGEWATCH_MQTT_PASSWORD": broker.users["alarm"]}
    first = node_process(args, env=env)
    await until(lambda: "mqtt_connected" in first.output()[1], timeout=60)
    first.stop()  # its session (subscription) stays at the broker
    missed = _alarm()
    await _publish(broker, [("edgewatch/site/site1/alarm", dumps(alarm_payload(missed, "edge1")))])
    second = node_process(args, env=env)
    await until(lambda: missed.event_id in second.output()[0], timeout=60)
    await asyncio.sleep(0.5)
    assert second.output()[0].count(missed.event_id) == 1
    second.stop()
    third = node_process(args, env=env)  # the alarm was acknowledged after it sounded: not handed over again
    await until(lambda: "mqtt_connected" in third.output()[1], timeout=60)
    await asyncio.sleep(1.0)
    assert missed.event_id not in third.output()[0]


def test_mqtt_alarm_node_with_a_wrong_password_says_so_in_one_line(broker, node_process: Callable[..., Any]) -> None:
    node = node_process(["alarm", "--mqtt-url", broker.url, "--mqtt-username", "alarm", "--node-id", "siren"],
                        env={"EDGEWATCH_MQTT_PASSWORD": "not-the-password"})
    assert node.proc.wait(timeout=60) == 1
    _out, err = node.output()
    final = err.strip().splitlines()[-1]
    assert final.startswith("edgewatch alarm: MQTT broker mqtt://127.0.0.1:") and "refused the login" in final
    assert "Traceback" not in err and "not-the-password" not in err


async def test_an_alarm_from_mqtt_reaches_a_verifying_webhook_signed(broker, serve, until) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from edgewatch.alarm.mqtt_node import MqttAlarmNode
    from edgewatch.config import AlarmSettings
    from edgewatch.integrations.mqtt.broker import broker_config
    from edgewatch.integrations.webhooks import SIGNATURE_HEADER, WebhookSignatureError, WebhookVerifier

    secret = "mqtt-webhook-test-key"
    verifier = WebhookVerifier([secret.encode()])
    accepted: list[dict[str, Any]] = []

    async def hook(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            verifier(request.headers.get(SIGNATURE_HEADER), body)
        except WebhookSignatureError as exc:
            return JSONResponse({"error": str(exc)}, status_code=401)
        accepted.append(json.loads(body))
        return JSONResponse({"ok": True})

    receiver = serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
    settings = AlarmSettings(site_id="site1", node_id="hall", mqtt_url=broker.url, mqtt_username="alarm",
                             mqtt_password=broker.users["alarm"], webhook_url=f"{receiver.url}/hook",
                             webhook_secret=secret)
    node = MqttAlarmNode(settings, broker_config(settings), console=False)
    task = asyncio.create_task(node.run())
    try:
        await asyncio.wait_for(node.connected.wait(), 30)
        event = _alarm()
        body = dumps(alarm_payload(event, "edge1"))
        await _publish(broker, [("edgewatch/site/site1/alarm", body), ("edgewatch/site/site1/alarm", body)])
        await until(lambda: accepted, timeout=30)
        await asyncio.sleep(0.5)
    finally:
        await node.stop()
        await asyncio.wait_for(task, 30)
    assert [a["event_id"] for a in accepted] == [event.event_id] and accepted[0]["node_id"] == "hall"
    assert accepted[0]["snapshot_bytes"] is None  # the MQTT alarm carries no snapshot bytes
