"""The MQTT delivery state beside the alarm outbox (real SQLite), and a restarted edge publishing what its
outbox still holds to a real broker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from mqtt_helpers import Recorder

from edgewatch.edge.alarm_store import AlarmStore
from edgewatch.edge.events import EventBus
from edgewatch.integrations.mqtt.broker import BrokerConfig, broker_config
from edgewatch.integrations.mqtt.discovery import Discovery
from edgewatch.integrations.mqtt.messages import alarm_payload, dumps, parse_alarm
from edgewatch.integrations.mqtt.outbox import MqttOutbox
from edgewatch.integrations.mqtt.publisher import MqttPublisher
from edgewatch.integrations.mqtt.topics import Topics
from edgewatch.protocol import AlarmEvent, AlarmReason, ProtocolError, new_trace_id


def _alarm(site: str = "site1", raised_at: float | None = None) -> AlarmEvent:
    extra = {"raised_at": raised_at} if raised_at else {}
    return AlarmEvent(site_id=site, camera_id="cam1", trace_id=new_trace_id(), reason=AlarmReason.UNVERIFIED,
                      track_id=1, **extra)


def test_alarms_stored_before_mqtt_was_switched_on_are_not_flooded(tmp_path: Path) -> None:
    db = tmp_path / "alarms.db"
    store = AlarmStore(db)
    old = _alarm(raised_at=1_700_000_000)
    store.add(old)
    outbox = MqttOutbox(db)  # MQTT switched on now
    assert outbox.pending() == []
    new = _alarm()
    store.add(new)
    assert [a.event_id for a in outbox.pending()] == [new.event_id]
    outbox.mark_failed(new.event_id, "broker away")
    assert [a.event_id for a in outbox.pending()] == [new.event_id]  # a failure keeps it pending
    outbox.mark_published(new.event_id)
    assert outbox.pending() == [] and outbox.counts() == {"published": 1, "pending": 0}
    outbox.close()
    later = MqttOutbox(db)  # a restart does not skip anything: the table exists now
    newest = _alarm()
    store.add(newest)
    assert [a.event_id for a in later.pending()] == [newest.event_id]
    later.close()
    store.close()


async def test_a_restarted_edge_publishes_what_its_outbox_still_holds(broker, tmp_path: Path, until) -> None:
    db = tmp_path / "alarms.db"
    store = AlarmStore(db)
    MqttOutbox(db).close()  # MQTT was on before the edge went down ...
    pending = _alarm()
    store.add(pending)  # ... and this alarm was stored but never reached the broker
    config = BrokerConfig("127.0.0.1", broker.port, username="edge", password=broker.users["edge"])
    async with Recorder(broker, "ha", ("edgewatch/site/site1/alarm",)) as ha:
        publisher = MqttPublisher(config, EventBus(), db, edge_id="edge1", sites=["site1"])
        task = asyncio.create_task(publisher.run())
        try:
            await until(lambda: ha.on("edgewatch/site/site1/alarm"), timeout=30)
        finally:
            await publisher.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert [json.loads(m.payload)["event_id"] for m in ha.on("edgewatch/site/site1/alarm")] == [pending.event_id]
    store.close()


def test_alarm_messages_round_trip_and_garbage_is_one_line() -> None:
    event = _alarm()
    assert parse_alarm(dumps(alarm_payload(event, "edge1", 0.31))) == event.model_copy(update={"snapshot_jpeg": None})
    for bad, words in [(b"", "expected|not JSON"), (b"[1]", "expected a JSON object"), (b"{", "not JSON"),
                       (b'{"site_id": "s"}', "AlarmEvent"), (b"x" * 70_000, "more than")]:
        with pytest.raises(ProtocolError, match=words) as info:
            parse_alarm(bad)
        assert "\n" not in str(info.value)


def test_discovery_ids_are_safe_for_home_assistant_whatever_the_camera_id() -> None:
    discovery = Discovery(Topics("edgewatch"), "edge.home")
    topic, config = discovery.camera("site.1", "cam-2.north")[0]
    assert topic == "homeassistant/binary_sensor/edgewatch_edge_home/site_1_cam-2_north_person/config"
    assert config["state_topic"] == "edgewatch/site/site.1/camera/cam-2.north/person"


def test_broker_settings_errors_are_one_line(tmp_path: Path) -> None:
    class Settings:
        mqtt_url = "mqtt://user:pw@127.0.0.1:1883"
        mqtt_password = None
        mqtt_password_file = None
        mqtt_ca_file = None
        mqtt_username = None

    with pytest.raises(ValueError, match="must not carry credentials"):
        broker_config(Settings())
    Settings.mqtt_url = "mqtts://broker.lan"
    Settings.mqtt_username = "edge"  # type: ignore[assignment]
    Settings.mqtt_password_file = tmp_path / "pw"
    (tmp_path / "pw").write_text("s3cret\n", encoding="utf-8")
    config = broker_config(Settings())
    assert config is not None and config.port == 8883 and config.tls and config.password == "s3cret"
    assert "s3cret" not in repr(config)


def test_an_alarm_that_keeps_failing_goes_without_its_snapshot_and_garbage_is_set_aside(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "alarms.db"
    store = AlarmStore(db)
    outbox = MqttOutbox(db)
    heavy = _alarm().model_copy(update={"snapshot_jpeg": b"\xff\xd8\xff" + b"9" * 1000})
    store.add(heavy)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO alarms (event_id, site_id, raised_at, body) VALUES ('broken01', 'site1', 1, '{')")
    conn.commit()
    conn.close()
    assert [a.snapshot_jpeg for a in outbox.pending()] == [heavy.snapshot_jpeg]  # the broken row is set aside
    for _ in range(3):
        outbox.mark_failed(heavy.event_id, "connection lost")
    again = outbox.pending()
    assert [a.event_id for a in again] == [heavy.event_id] and again[0].snapshot_jpeg is None
    assert outbox.counts()["pending"] == 1
    outbox.close()
    store.close()


def test_a_password_without_a_user_name_is_refused() -> None:
    class Settings:
        mqtt_url = "mqtt://127.0.0.1:1883"
        mqtt_password = None
        mqtt_password_file = None
        mqtt_ca_file = None
        mqtt_username = None

    from pydantic import SecretStr

    Settings.mqtt_password = SecretStr("pw")  # type: ignore[assignment]
    with pytest.raises(ValueError, match="no mqtt_username"):
        broker_config(Settings())


def test_live_state_follows_tracks_and_cameras() -> None:
    from edgewatch.integrations.mqtt.state import LiveState

    state = LiveState()
    state.camera_online("s", "a", True)
    state.track_appeared("s", "a", 1)
    state.track_appeared("s", "a", 2)
    assert state.person("s", "a") and not state.intruder("s")
    state.track_decided("s", "a", 1, "intruder", 0.12)
    assert state.intruder("s") and state.similarity("s", "a", 1) == 0.12
    state.track_decided("s", "a", 1, "known", 0.9)  # re-verified as known: no longer an intruder
    assert not state.intruder("s")
    state.track_decided("s", "a", 2, "unverified", None)
    state.track_left("s", "a", 1)
    assert state.person("s", "a") and state.intruder("s") and state.similarity("s", "a", 1) is None
    state.camera_online("s", "a", False)  # its tracks end with it
    assert not state.person("s", "a") and not state.intruder("s")


def test_pictures_a_newer_protocol_adds_never_bloat_the_alarm_message() -> None:
    from edgewatch.integrations.mqtt.messages import picture

    class NewerAlarm(AlarmEvent):  # e.g. an annotated full frame and a zone name
        frame_jpeg: bytes | None = None
        zone: str | None = None

    frame = b"\xff\xd8\xff" + b"f" * 50_000
    event = NewerAlarm(site_id="site1", camera_id="cam1", trace_id=new_trace_id(), reason=AlarmReason.INTRUDER,
                       snapshot_jpeg=b"\xff\xd8\xff" + b"s" * 10, frame_jpeg=frame, zone="door")
    body = alarm_payload(event, "edge1")
    assert body["frame_bytes"] == len(frame) and body["snapshot_bytes"] == 13 and body["zone"] == "door"
    assert "frame_jpeg" not in body and "snapshot_jpeg" not in body and len(dumps(body)) < 2000
    assert picture(event) == frame  # Home Assistant's image shows the annotated frame
    assert parse_alarm(dumps(body)).event_id == event.event_id  # an older alarm node still reads it


def test_non_finite_numbers_never_reach_the_json() -> None:
    # protocol.Message refuses non-finite numbers (issue 9), so only an unvalidated object (an older edge's
    # outbox row, a bug) can carry one: the JSON must stay strict all the same.
    valid = AlarmEvent(site_id="site1", camera_id="cam1", trace_id=new_trace_id(), reason=AlarmReason.INTRUDER)
    event = AlarmEvent.model_construct(**{**dict(valid), "raised_at": float("inf")})
    body = json.loads(dumps(alarm_payload(event, "edge1", similarity=float("nan"))))  # strict JSON
    assert body["raised_at"] is None and body["similarity"] is None and body["raised_at_iso"] is None
    assert json.loads(dumps({"track": {"similarity": float("-inf")}, "scores": [1.0, float("nan")]})) == {
        "track": {"similarity": None}, "scores": [1.0, None]}
