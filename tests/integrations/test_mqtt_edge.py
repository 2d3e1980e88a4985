"""The edge publishing into a real Mosquitto broker: what Home Assistant would read, alarms that survive a
broker crash, the Last Will of a killed edge, and a wrong broker password."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
from mqtt_helpers import PERSON_JPEG, Broker, Camera, Recorder, check_discovery

from edgewatch.alarm.mqtt_node import MqttAlarmNode
from edgewatch.config import AlarmSettings, EdgeSettings
from edgewatch.edge.detectors import create_detector
from edgewatch.edge.server import EdgeNode
from edgewatch.integrations.mqtt.broker import broker_config

AVAILABILITY = "edgewatch/edge/edge1/availability"
SITE = "edgewatch/site/site1"


@pytest.fixture(scope="module")
def detector() -> Any:
    return create_detector("nanodet", input_size=320, confidence=0.5)


def edge_settings(tmp_path: Path, broker: Any, **overrides: Any) -> EdgeSettings:
    values: dict[str, Any] = {
        "sites": ["site1"], "workers": 1, "alarm_db": tmp_path / "alarms.db", "verify_timeout": 0.5,
        "track_max_age": 0.6, "alarm_resend_interval": 0.5, "input_size": 320, "confidence": 0.5,
        "mqtt_url": broker.url, "mqtt_username": "edge", "mqtt_password": broker.users["edge"],
    }
    values.update(overrides)
    return EdgeSettings(**values)


def stored_alarms(db: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    try:
        return [json.loads(body) for (body,) in conn.execute("SELECT body FROM alarms ORDER BY raised_at")]
    finally:
        conn.close()


def mqtt_delivery(db: Path) -> dict[str, float | None]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT event_id, published_at FROM mqtt_outbox").fetchall())
    finally:
        conn.close()


def blank_jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 120, 120)).save(out, format="JPEG")
    return out.getvalue()


@pytest.mark.timeout(300)
async def test_a_person_at_a_camera_reaches_home_assistant(broker, serve, detector, tmp_path: Path, until) -> None:
    async with Recorder(broker, "ha", ("homeassistant/#", "edgewatch/#")) as ha:
        node = EdgeNode(edge_settings(tmp_path, broker), detector)
        server = serve(node.app)
        await until(lambda: ha.last(AVAILABILITY) == b"online", timeout=30)
        camera = await Camera().connect(server.url)
        try:
            await camera.send_until(PERSON_JPEG, lambda: ha.on(f"{SITE}/alarm"), timeout=90)
            # the person leaves: empty frames until the track expires
            await camera.send_until(blank_jpeg(), lambda: ha.last(f"{SITE}/camera/cam1/person") == b"OFF"
                                    and ha.on(f"{SITE}/camera/cam1/track/left"), timeout=60)
        finally:
            await camera.close()
        await until(lambda: ha.last(f"{SITE}/camera/cam1/state") == b"offline", timeout=20)

    # -- discovery: the entities Home Assistant would create -------------------------------------------------
    configs = {m.topic: json.loads(m.payload) for m in ha.matching(r"homeassistant/.+/config")}
    problems = [p for topic, config in configs.items() for p in check_discovery(topic, config)]
    assert problems == []
    by_kind = {(topic.split("/")[1], topic.split("/")[3]): config for topic, config in configs.items()}
    assert set(by_kind) == {("binary_sensor", "site1_cam1_person"), ("binary_sensor", "site1_intruder"),
                            ("sensor", "site1_last_alarm"), ("image", "site1_snapshot"), ("event", "site1_alarm")}
    unique_ids = [config["unique_id"] for config in configs.values()]
    assert len(set(unique_ids)) == len(unique_ids)
    site_device = by_kind[("sensor", "site1_last_alarm")]["device"]["identifiers"]
    assert by_kind[("binary_sensor", "site1_intruder")]["device"]["identifiers"] == site_device
    assert by_kind[("image", "site1_snapshot")]["device"]["identifiers"] == site_device
    assert by_kind[("binary_sensor", "site1_cam1_person")]["device"]["via_device"] == site_device[0]
    for config in configs.values():
        assert AVAILABILITY in [entry["topic"] for entry in config["availability"]]
    person = by_kind[("binary_sensor", "site1_cam1_person")]
    assert f"{SITE}/camera/cam1/state" in [entry["topic"] for entry in person["availability"]]

    # -- every topic an entity reads carried what the entity expects -----------------------------------------
    person_states = [m.payload for m in ha.on(person["state_topic"])]
    assert b"ON" in person_states and person_states[-1] == b"OFF"
    assert b"ON" in [m.payload for m in ha.on(by_kind[("binary_sensor", "site1_intruder")]["state_topic"])]
    last_alarm = json.loads(ha.last(by_kind[("sensor", "site1_last_alarm")]["state_topic"]) or b"{}")
    snapshot = ha.last(by_kind[("image", "site1_snapshot")]["image_topic"])
    assert snapshot is not None and snapshot.startswith(b"\xff\xd8\xff")

    # -- the alarm: from the edge's durable outbox, with its event id -----------------------------------------
    stored = stored_alarms(tmp_path / "alarms.db")
    assert len(stored) == 1
    alarms = ha.json_on(f"{SITE}/alarm")
    assert [a["event_id"] for a in alarms] == [stored[0]["event_id"]]
    alarm = alarms[0]
    assert alarm["reason"] == "unverified" and alarm["camera_id"] == "cam1" and alarm["site_id"] == "site1"
    assert alarm["snapshot_bytes"] == len(snapshot) and alarm["raised_at_iso"].endswith("Z")
    assert last_alarm["event_id"] == alarm["event_id"] and last_alarm["reason"] == "unverified"  # value_template
    event_entity = by_kind[("event", "site1_alarm")]
    assert event_entity["state_topic"] == f"{SITE}/alarm" and alarm["event_type"] in event_entity["event_types"]
    assert mqtt_delivery(tmp_path / "alarms.db")[alarm["event_id"]]

    # -- track events: appeared, verified (no cloud: unverified), left, for the alarm's track -----------------
    track = alarm["track_id"]
    appeared = ha.json_on(f"{SITE}/camera/cam1/track/appeared")
    verified = ha.json_on(f"{SITE}/camera/cam1/track/verified")
    left = ha.json_on(f"{SITE}/camera/cam1/track/left")
    assert track in [t["track_id"] for t in appeared]
    assert {"track_id": track, "state": "unverified"}.items() <= verified[0].items()
    assert track in [t["track_id"] for t in left]
    assert ha.last(f"{SITE}/intruder") == b"OFF"  # the intruder left, the camera went offline


async def test_retained_state_is_what_a_late_home_assistant_reads(broker, serve, detector, tmp_path: Path,
                                                                 until) -> None:
    node = EdgeNode(edge_settings(tmp_path, broker), detector)
    server = serve(node.app)
    camera = await Camera().connect(server.url)
    wanted = {AVAILABILITY, f"{SITE}/camera/cam1/state", f"{SITE}/camera/cam1/person", f"{SITE}/intruder"}
    try:
        async with Recorder(broker, "ha", ("homeassistant/#", "edgewatch/#")) as first:
            await until(lambda: wanted <= {m.topic for m in first.messages}
                        and len({m.topic for m in first.matching(r"homeassistant/.+/config")}) == 5, timeout=30)
        # Home Assistant started after the edge: everything arrives from the broker's retained store
        async with Recorder(broker, "ha", ("homeassistant/#", "edgewatch/#")) as late:
            await until(lambda: wanted <= {m.topic for m in late.messages}
                        and len({m.topic for m in late.matching(r"homeassistant/.+/config")}) == 5, timeout=30)
            assert all(m.retain for m in late.messages)
            assert late.last(AVAILABILITY) == b"online" and late.last(f"{SITE}/camera/cam1/state") == b"online"
            assert late.last(f"{SITE}/camera/cam1/person") == b"OFF" and late.last(f"{SITE}/intruder") == b"OFF"
    finally:
        await camera.close()


@pytest.mark.timeout(300)
async def test_an_alarm_raised_while_the_broker_is_down_arrives_once(broker, serve, detector, tmp_path: Path,
                                                                      until) -> None:
    db = tmp_path / "alarms.db"
    alarm_settings = AlarmSettings(site_id="site1", node_id="siren", mqtt_url=broker.url, mqtt_username="alarm",
                                   mqtt_password=broker.users["alarm"])
    siren = MqttAlarmNode(alarm_settings, broker_config(alarm_settings), console=False)
    siren_task = asyncio.create_task(siren.run())
    async with Recorder(broker, "ha", (f"{SITE}/alarm",), session="ha-test") as ha:
        await asyncio.wait_for(siren.connected.wait(), 30)
        node = EdgeNode(edge_settings(tmp_path, broker), detector)
        server = serve(node.app)
        await until(lambda: node.mqtt.publisher is not None and node.mqtt.publisher.status.state == "connected",
                    timeout=30)
        broker.kill()  # kill -9: the broker is gone while the alarm is raised
        camera = await Camera().connect(server.url)
        try:
            await camera.send_until(PERSON_JPEG, lambda: stored_alarms(db), timeout=90)
        finally:
            await camera.close()
        event_id = stored_alarms(db)[0]["event_id"]
        assert mqtt_delivery(db).get(event_id) is None  # pending for MQTT: not acknowledged by any broker
        await asyncio.sleep(1.0)
        assert ha.on(f"{SITE}/alarm") == [] and siren.received == []

        broker.start()  # same port, same persistence folder
        await until(lambda: ha.json_on(f"{SITE}/alarm"), timeout=90)
        await until(lambda: [a.event_id for a in siren.received] == [event_id], timeout=30)
        await until(lambda: bool(mqtt_delivery(db).get(event_id)), timeout=30)
        await asyncio.sleep(2 * 2.0)  # longer than the outbox poll: a second copy would have come by now
        # The edge published it once and the broker acknowledged it once. QoS 1 allows the broker to hand a
        # copy to a plain subscriber again (a PUBACK lost in a reconnect): the alarm node, which acts,
        # drops such copies by event id, and acts exactly once.
        copies = [a["event_id"] for a in ha.json_on(f"{SITE}/alarm")]
        assert set(copies) == {event_id}, copies
        assert [a.event_id for a in siren.received] == [event_id], (siren.received, siren.duplicates)
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(f"{server.url}/metrics")).text
        mqtt_lines = [line for line in metrics.splitlines() if line.startswith("edgewatch_edge_mqtt_")]
        assert "edgewatch_edge_mqtt_alarms_published_total 1.0" in mqtt_lines, mqtt_lines
        assert "edgewatch_edge_mqtt_alarms_pending 0.0" in mqtt_lines, mqtt_lines
        assert "edgewatch_edge_mqtt_connected 1.0" in mqtt_lines, mqtt_lines
    await siren.stop()
    await asyncio.wait_for(siren_task, 30)


def _credentials(tmp_path: Path) -> list[str]:
    """The node credentials file every `edgewatch edge` needs (issue 9), with one camera in it."""
    from edgewatch.security.credentials import issue

    path = tmp_path / "edge-credentials.json"
    if not path.exists():
        issue(path, "camera", "site1", "cam1")
    return ["--credentials-file", str(path)]


def _edge_args(tmp_path: Path, broker: Any, port: int) -> list[str]:
    return ["edge", "--port", str(port), "--sites", "site1", "--workers", "1", "--alarm-db",
            str(tmp_path / "alarms.db"), "--mqtt-url", broker.url, "--mqtt-username", "edge", *_credentials(tmp_path)]


@pytest.mark.timeout(300)
async def test_a_killed_edge_is_marked_offline_by_its_last_will(broker, node_process: Callable[..., Any],
                                                                tmp_path: Path, port: int, until) -> None:
    async with Recorder(broker, "ha", (AVAILABILITY,)) as ha:
        edge = node_process(_edge_args(tmp_path, broker, port), env={"EDGEWATCH_MQTT_PASSWORD": broker.users["edge"]})
        await until(lambda: ha.last(AVAILABILITY) == b"online", timeout=60)
        assert broker.users["edge"] not in " ".join(edge.args)  # the password never travels on argv
        os.kill(edge.proc.pid, signal.SIGKILL)
        edge.proc.wait(timeout=10)
        await until(lambda: ha.last(AVAILABILITY) == b"offline", timeout=60)
    async with Recorder(broker, "ha", (AVAILABILITY,)) as late:
        await until(lambda: late.on(AVAILABILITY), timeout=20)
        assert late.on(AVAILABILITY)[-1].payload == b"offline" and late.on(AVAILABILITY)[-1].retain


@pytest.mark.timeout(300)
async def test_a_wrong_broker_password_is_one_clear_line(broker, node_process: Callable[..., Any], tmp_path: Path,
                                                          port: int, until) -> None:
    edge = node_process(_edge_args(tmp_path, broker, port), env={"EDGEWATCH_MQTT_PASSWORD": "wrong-password"})
    url = f"http://127.0.0.1:{port}/readyz"
    ready: dict[str, Any] = {}

    async def refused() -> bool:
        try:
            async with httpx.AsyncClient() as client:
                ready.update((await client.get(url, timeout=5)).json())
        except httpx.HTTPError:
            return False
        return ready.get("mqtt", {}).get("state") == "auth_failed"

    deadline = time.monotonic() + 90
    while not await refused():
        assert edge.proc.poll() is None, edge.output()[1][-2000:]
        assert time.monotonic() < deadline, ready
        await asyncio.sleep(0.3)
    assert "refused the login" in ready["mqtt"]["error"]
    assert ready["status"] in ("ready", "loading")  # cameras and alarm nodes still work without the broker
    await asyncio.sleep(3)  # a few reconnect attempts later, still one line
    _out, err = edge.output()
    lines = [line for line in err.splitlines() if "mqtt_unavailable" in line]
    assert len(lines) == 1 and "refused the login" in lines[0]
    assert "Traceback" not in err and "wrong-password" not in err


@pytest.mark.timeout(300)
def test_bad_broker_settings_fail_the_start_in_one_line(node_process: Callable[..., Any], tmp_path: Path) -> None:
    cases = [
        (["--mqtt-url", "ftp://127.0.0.1:1883"], "mqtt_url must look like"),
        (["--mqtt-url", "mqtt://127.0.0.1:1", "--mqtt-password-file", str(tmp_path / "absent")], "absent"),
        (["--mqtt-url", "mqtt://127.0.0.1:1", "--mqtt-ca-file", str(tmp_path / "absent.pem")], "mqtt_ca_file"),
    ]
    for extra, words in cases:
        edge = node_process(["edge", "--alarm-db", str(tmp_path / "a.db"), *_credentials(tmp_path), *extra])
        assert edge.proc.wait(timeout=120) == 2
        err = edge.output()[1]
        assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


async def test_the_edge_publishes_over_tls_and_refuses_an_unknown_certificate(tls_broker, serve, detector,
                                                                              tmp_path: Path, until) -> None:
    async with Recorder(tls_broker, "ha", (AVAILABILITY,)) as ha:
        node = EdgeNode(edge_settings(tmp_path, tls_broker, mqtt_url=f"mqtts://127.0.0.1:{tls_broker.tls_port}",
                                      mqtt_ca_file=tls_broker.ca_file), detector)
        serve(node.app)
        await until(lambda: ha.last(AVAILABILITY) == b"online", timeout=30)
        assert node.mqtt.publisher.broker.tls

    # a CA that did not sign the broker's certificate: no connection, one line saying why
    other_ca = tmp_path / "other"
    other_ca.mkdir()
    stranger = Broker(other_ca, tls=True)  # never started: only its certificate is used
    node = EdgeNode(edge_settings(tmp_path / "x", tls_broker, mqtt_url=f"mqtts://127.0.0.1:{tls_broker.tls_port}",
                                  mqtt_ca_file=stranger.ca_file), detector)
    serve(node.app)
    await until(lambda: node.mqtt.publisher is not None and node.mqtt.publisher.status.error is not None, timeout=30)
    status = node.mqtt.publisher.status
    print("TLS refusal:", status.error)
    assert status.state == "disconnected" and "certificate" in status.error.lower()
    assert "\n" not in status.error


async def test_home_assistant_coming_online_gets_the_discovery_again(broker, serve, detector, tmp_path: Path,
                                                                      until) -> None:
    node = EdgeNode(edge_settings(tmp_path, broker), detector)
    serve(node.app)
    async with Recorder(broker, "ha", ("homeassistant/+/+/+/config",)) as ha:
        await until(lambda: len(ha.messages) == 4, timeout=30)  # the site's four entities (no camera yet)
        async with aiomqtt.Client("127.0.0.1", broker.port, username="ha", password=broker.users["ha"]) as hub:
            deadline = time.monotonic() + 30
            while len(ha.messages) < 8:  # again if the edge had not subscribed yet (it debounces repeats)
                assert time.monotonic() < deadline
                await hub.publish("homeassistant/status", b"online", qos=1)  # Home Assistant's birth message
                await asyncio.sleep(1.0)
        await asyncio.sleep(1.0)
        assert len(ha.messages) == 8
        assert not any(m.retain for m in ha.messages[4:])  # sent live, again, not replayed from the store


async def test_a_stopped_edge_says_offline_for_itself_and_its_cameras(broker, serve, detector, tmp_path: Path,
                                                                     until) -> None:
    node = EdgeNode(edge_settings(tmp_path, broker), detector)
    server = serve(node.app)
    async with Recorder(broker, "ha", ("edgewatch/#",)) as ha:
        camera = await Camera().connect(server.url)
        await until(lambda: ha.last(f"{SITE}/camera/cam1/state") == b"online"
                    and ha.last(AVAILABILITY) == b"online", timeout=30)
        try:
            await asyncio.to_thread(server.stop)  # a clean shutdown while the camera is still connected
            await until(lambda: ha.last(AVAILABILITY) == b"offline", timeout=30)
            assert ha.last(f"{SITE}/camera/cam1/state") == b"offline"
        finally:
            await camera.close()


@pytest.mark.timeout(240)
async def test_an_intruder_verified_by_a_real_cloud_carries_its_similarity(broker, serve, detector,
                                                                           tmp_path: Path, until) -> None:
    import subprocess
    import sys

    from mqtt_helpers import ASSETS

    from edgewatch.cloud.app import create_app as create_cloud_app
    from edgewatch.config import CloudSettings

    faces = tmp_path / "faces.db"
    await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "edgewatch", "persons", "--db", str(faces), "add", "eileen-collins",
                         str(ASSETS / "astronaut.jpg")], check=True, capture_output=True, timeout=180)
    token = "mqtt-test-token"
    cloud = serve(create_cloud_app(CloudSettings(db_path=faces, token=token)))
    node = EdgeNode(edge_settings(tmp_path, broker, cloud_url=cloud.url, cloud_token=token, verify_timeout=10.0,
                                  verify_interval=0.3), detector)
    server = serve(node.app)
    async with Recorder(broker, "ha", ("edgewatch/#",)) as ha:
        camera = await Camera().connect(server.url)
        try:
            await camera.send_until(PERSON_JPEG, lambda: ha.on(f"{SITE}/alarm"), timeout=120)
        finally:
            await camera.close()
        await until(lambda: ha.on(f"{SITE}/last_alarm"), timeout=20)
    alarm = ha.json_on(f"{SITE}/alarm")[0]
    assert alarm["reason"] == "intruder"
    verified = [t for t in ha.json_on(f"{SITE}/camera/cam1/track/verified") if t["track_id"] == alarm["track_id"]]
    assert verified and verified[-1]["state"] == "intruder" and isinstance(verified[-1]["similarity"], float)
    last = json.loads(ha.last(f"{SITE}/last_alarm") or b"{}")
    assert last["event_id"] == alarm["event_id"]
    assert last["similarity"] == pytest.approx(verified[-1]["similarity"], abs=1e-4)


async def test_readiness_follows_the_broker_going_away_and_coming_back(broker, serve, detector, tmp_path: Path,
                                                                       until) -> None:
    node = EdgeNode(edge_settings(tmp_path, broker, mqtt_discovery=False), detector)
    server = serve(node.app)

    async def mqtt_state() -> str:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{server.url}/readyz")).json()["mqtt"]["state"]

    states: list[str] = []

    async def reaches(wanted: str) -> None:
        deadline = time.monotonic() + 60
        while (state := await mqtt_state()) != wanted:
            states.append(state)
            assert time.monotonic() < deadline, states
            await asyncio.sleep(0.2)

    await reaches("connected")
    broker.kill()  # idle edge, no alarm due: it still notices at once
    await reaches("disconnected")
    broker.start()
    await reaches("connected")
