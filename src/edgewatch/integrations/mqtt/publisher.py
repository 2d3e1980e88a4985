"""The edge's MQTT publisher: alarms from the durable outbox (QoS 1, until PUBACK), live tracks and camera
state from the event bus, the edge's availability (Last Will) and Home Assistant discovery.

One connection at a time, re-established with capped exponential backoff. On every connect the edge says
``online`` on its availability topic (the broker says ``offline`` for it, retained, when the connection dies
without a goodbye), publishes discovery configs and the present state (retained), then drains the alarm
outbox. An alarm counts as delivered only once the broker acknowledged its QoS 1 publish; until then it is
re-published after every reconnect, so consumers may see an alarm twice and drop the copy by ``event_id``.
Live events that happen while the broker is away are not queued: the retained state is re-published on
reconnect, and the tracks' history is in the edge's logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
from prometheus_client import CollectorRegistry

from edgewatch.edge.events import (
    AlarmRaised,
    CameraOffline,
    CameraOnline,
    EdgeEvent,
    EventBus,
    TrackAppeared,
    TrackDecided,
    TrackLeft,
)
from edgewatch.integrations.mqtt.broker import BrokerConfig, describe_error, is_auth_error
from edgewatch.integrations.mqtt.discovery import Discovery
from edgewatch.integrations.mqtt.messages import alarm_payload, dumps, iso, picture
from edgewatch.integrations.mqtt.metrics import MqttMetrics
from edgewatch.integrations.mqtt.outbox import MqttOutbox
from edgewatch.integrations.mqtt.state import LiveState
from edgewatch.integrations.mqtt.topics import OFF, OFFLINE, ON, ONLINE, Topics
from edgewatch.protocol import AlarmEvent
from edgewatch.telemetry import get_logger

log = get_logger(__name__)

#: Seconds to wait for the broker's PUBACK of one alarm before the connection is taken as broken.
PUBACK_TIMEOUT = 10.0
#: Alarms published at once (pipelined); bounds the memory of snapshots in flight (5 MB each at most).
ALARM_BATCH = 16
#: Seconds between two looks at the outbox when no alarm woke the publisher (catches anything missed).
OUTBOX_POLL = 2.0
#: Reconnect backoff (seconds): first delay, cap, and cap after the broker refused the credentials.
BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_AUTH = 0.5, 30.0, 60.0
KEEPALIVE = 30
#: Seconds between two full re-publications on Home Assistant's "online" (a flapping hub is not a flood).
HA_REPUBLISH_MIN_INTERVAL = 5.0


@dataclass
class MqttStatus:
    """Shown in the edge's /readyz: ``state`` is connecting, connected, disconnected or auth_failed."""

    broker: str
    state: str = "connecting"
    error: str | None = None
    alarms_published: int = 0
    since: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"broker": self.broker, "state": self.state, "error": self.error,
                "alarms_published": self.alarms_published}


class MqttPublisher:
    """``await run()`` as a task of the edge; ``await stop()`` says goodbye (``offline``) and ends it."""

    def __init__(
        self, broker: BrokerConfig, events: EventBus, alarm_db: Path | str, *, edge_id: str,
        topic_prefix: str = "edgewatch", discovery: bool = True, discovery_prefix: str = "homeassistant",
        sites: list[str] | None = None, metrics: MqttMetrics | None = None,
    ) -> None:
        self.broker = broker
        self.alarm_db = alarm_db
        self.edge_id = edge_id
        self.topics = Topics(topic_prefix)
        self.discovery = Discovery(self.topics, edge_id, discovery_prefix) if discovery else None
        self.discovery_prefix = discovery_prefix
        self.sites = list(sites or [])
        self.status = MqttStatus(broker.address)
        self.metrics = metrics or MqttMetrics(CollectorRegistry())
        self.state = LiveState()
        self._subscription = events.subscribe(
            maxsize=1024,
            kinds=(CameraOnline, CameraOffline, TrackAppeared, TrackDecided, TrackLeft, AlarmRaised),
        )
        self._client: aiomqtt.Client | None = None
        self._wake = asyncio.Event()
        self._outbox: MqttOutbox | None = None
        self._announced_cameras: set[tuple[str, str]] = set()

    @classmethod
    def from_settings(cls, settings: Any, broker: BrokerConfig, events: EventBus,
                      metrics: MqttMetrics | None = None) -> MqttPublisher:
        return cls(broker, events, settings.alarm_db, edge_id=settings.mqtt_node_id,
                   topic_prefix=settings.mqtt_topic_prefix, discovery=settings.mqtt_discovery,
                   discovery_prefix=settings.mqtt_discovery_prefix, sites=list(settings.sites), metrics=metrics)

    # ---- lifecycle ------------------------------------------------------------------------------------

    async def run(self) -> None:
        self._outbox = await asyncio.to_thread(MqttOutbox, self.alarm_db)
        events = asyncio.create_task(self._follow_events(), name="mqtt-events")
        try:
            await self._connect_forever()
        finally:
            events.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await events
            self._subscription.close()
            self._outbox.close()

    async def stop(self) -> None:
        """Say ``offline`` (retained, for the edge and its cameras) before a clean shutdown; a crash leaves
        that to the Last Will."""
        client = self._client
        if client is None:
            return
        with contextlib.suppress(aiomqtt.MqttError, asyncio.TimeoutError):
            for site, camera in [key for key, online in self.state.cameras.items() if online]:
                # their connections end with this edge: no stale "online" left in the broker's store
                await client.publish(self.topics.camera_state(site, camera), OFFLINE, qos=1, retain=True,
                                     timeout=2.0)
            await client.publish(self.topics.availability(self.edge_id), OFFLINE, qos=1, retain=True, timeout=2.0)

    async def _connect_forever(self) -> None:
        delay = BACKOFF_FIRST
        last_error: str | None = None
        while True:
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                self.metrics.connect_failures.inc()
                message = describe_error(exc)
                auth = is_auth_error(exc)
                self.status.state, self.status.error = ("auth_failed" if auth else "disconnected"), message
                if message != last_error:  # one line per distinct problem, not one per retry
                    log.error("mqtt_unavailable", broker=self.broker.address, error=message, retrying=True)
                    last_error = message
                delay = BACKOFF_AUTH if auth else min(delay * 2, BACKOFF_MAX)
            except Exception as exc:
                self.status.state, self.status.error = "disconnected", f"{type(exc).__name__}: {exc}"
                log.exception("mqtt_session_failed", broker=self.broker.address)
                delay = min(delay * 2, BACKOFF_MAX)
            else:
                delay = BACKOFF_FIRST
            finally:
                self._client = None
                self.metrics.connected.set(0)
            await self._count_pending()
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))

    async def _count_pending(self) -> None:
        """Keep the pending gauge true while the broker is away (alarms pile up in the outbox)."""
        assert self._outbox is not None
        try:
            counts = await asyncio.to_thread(self._outbox.counts)
        except Exception:  # noqa: BLE001 - a metric must never stop the reconnects
            return
        self.metrics.alarms_pending.set(counts["pending"])

    async def _session(self) -> None:
        availability = self.topics.availability(self.edge_id)
        async with aiomqtt.Client(
            **self.broker.client_options(), identifier=f"edgewatch-{self.edge_id}", clean_session=True,
            max_queued_incoming_messages=16,  # only Home Assistant's status comes in; a flood is dropped
            will=aiomqtt.Will(availability, OFFLINE, qos=1, retain=True), keepalive=KEEPALIVE, timeout=10.0,
        ) as client:
            await client.publish(availability, ONLINE, qos=1, retain=True)
            self._client = client
            self.status.state, self.status.error, self.status.since = "connected", None, time.time()
            self.metrics.connected.set(1)
            log.info("mqtt_connected", broker=self.broker.address, edge_id=self.edge_id)
            await self._publish_everything(client)
            if self.discovery is not None:
                await client.subscribe(f"{self.discovery_prefix}/status", qos=1)
            tasks = [asyncio.create_task(self._drain_outbox(client), name="mqtt-outbox"),
                     asyncio.create_task(self._follow_incoming(client), name="mqtt-incoming")]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    task.result()  # re-raise the MqttError that ended the session
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    # ---- retained state and discovery ------------------------------------------------------------------

    async def _publish_everything(self, client: aiomqtt.Client) -> None:
        self._announced_cameras.clear()  # before any await: a camera coming online meanwhile is announced once
        sites = sorted({*self.sites, *(site for site, _ in self.state.cameras)})
        for site in sites:
            if self.discovery is not None:
                for topic, config in self.discovery.site(site):
                    await client.publish(topic, dumps(config), qos=1, retain=True)
            await client.publish(self.topics.intruder(site), ON if self.state.intruder(site) else OFF,
                                 qos=1, retain=True)
        for (site, camera), online in list(self.state.cameras.items()):
            await self._publish_camera(client, site, camera, online)

    async def _publish_camera(self, client: aiomqtt.Client, site: str, camera: str, online: bool) -> None:
        if self.discovery is not None and (site, camera) not in self._announced_cameras:
            for topic, config in self.discovery.camera(site, camera):
                await client.publish(topic, dumps(config), qos=1, retain=True)
            self._announced_cameras.add((site, camera))
        await client.publish(self.topics.camera_state(site, camera), ONLINE if online else OFFLINE,
                             qos=1, retain=True)
        await client.publish(self.topics.person(site, camera), ON if self.state.person(site, camera) else OFF,
                             qos=1, retain=True)

    async def _follow_incoming(self, client: aiomqtt.Client) -> None:
        """Home Assistant announces ``online`` on ``<prefix>/status`` when it starts: send it all again.
        Also ends the session (MqttError) as soon as the connection is lost, even when no alarm is due."""
        last = 0.0
        async for message in client.messages:
            if self.discovery is None:
                continue
            if message.payload in (b"online", "online") and time.monotonic() - last > HA_REPUBLISH_MIN_INTERVAL:
                log.info("mqtt_home_assistant_online", topic=str(message.topic))
                await self._publish_everything(client)
                last = time.monotonic()

    # ---- live events ------------------------------------------------------------------------------------

    async def _follow_events(self) -> None:
        async for event in self._subscription:
            try:
                self._apply(event)
                client = self._client
                if client is None:
                    continue  # the retained state goes out on reconnect
                await self._publish_event(client, event)
            except aiomqtt.MqttError as exc:  # the session's own tasks notice and reconnect
                log.debug("mqtt_event_not_published", kind=type(event).__name__, error=describe_error(exc))
            except Exception:  # one bad event must not end the live feed
                log.exception("mqtt_event_failed", kind=type(event).__name__)

    def _apply(self, event: EdgeEvent) -> None:
        s = self.state
        if isinstance(event, CameraOnline | CameraOffline):
            s.camera_online(event.site_id, event.camera_id, isinstance(event, CameraOnline))
        elif isinstance(event, TrackAppeared):
            s.track_appeared(event.site_id, event.camera_id, event.track_id)
        elif isinstance(event, TrackDecided):
            s.track_decided(event.site_id, event.camera_id, event.track_id, event.state, event.similarity)
        elif isinstance(event, TrackLeft):
            s.track_left(event.site_id, event.camera_id, event.track_id)
        elif isinstance(event, AlarmRaised):
            self._wake.set()

    async def _publish_event(self, client: aiomqtt.Client, event: EdgeEvent) -> None:
        t, s = self.topics, self.state
        if isinstance(event, CameraOnline | CameraOffline):
            await self._publish_camera(client, event.site_id, event.camera_id, isinstance(event, CameraOnline))
            await client.publish(t.intruder(event.site_id), ON if s.intruder(event.site_id) else OFF,
                                 qos=1, retain=True)
            return
        if not isinstance(event, TrackAppeared | TrackDecided | TrackLeft):
            return
        site, camera = event.site_id, event.camera_id
        body: dict[str, Any] = {"site_id": site, "camera_id": camera, "track_id": event.track_id,
                                "edge_id": self.edge_id, "at": event.at, "at_iso": iso(event.at)}
        if isinstance(event, TrackAppeared):
            body["trace_id"] = event.trace_id
            await client.publish(t.track(site, camera, "appeared"), dumps(body), qos=0)
            await client.publish(t.person(site, camera), ON, qos=1, retain=True)
        elif isinstance(event, TrackDecided):
            body.update(state=event.state, name=event.name, similarity=event.similarity)
            await client.publish(t.track(site, camera, "verified"), dumps(body), qos=0)
            if s.intruder(site):
                await client.publish(t.intruder(site), ON, qos=1, retain=True)
        else:
            await client.publish(t.track(site, camera, "left"), dumps(body), qos=0)
            await client.publish(t.person(site, camera), ON if s.person(site, camera) else OFF, qos=1, retain=True)
            await client.publish(t.intruder(site), ON if s.intruder(site) else OFF, qos=1, retain=True)

    # ---- alarms -----------------------------------------------------------------------------------------

    async def _drain_outbox(self, client: aiomqtt.Client) -> None:
        assert self._outbox is not None
        while True:
            self._wake.clear()
            while batch := await self._outbox.pending_async(ALARM_BATCH):
                await self._publish_batch(client, batch)
                if len(batch) < ALARM_BATCH:
                    break
            await self._count_pending()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), OUTBOX_POLL)

    async def _publish_batch(self, client: aiomqtt.Client, batch: list[AlarmEvent]) -> None:
        """Publish a batch of alarms pipelined (their messages go out in order, the PUBACKs are awaited
        together), then record the acknowledged ones; the first failure ends the session."""
        assert self._outbox is not None
        results = await asyncio.gather(*(self._publish_alarm(client, alarm) for alarm in batch),
                                       return_exceptions=True)
        acknowledged = [alarm for alarm, result in zip(batch, results, strict=True) if result is None]
        if acknowledged:
            await self._outbox.mark_published_async([alarm.event_id for alarm in acknowledged])
        for alarm in acknowledged:
            self.status.alarms_published += 1
            self.metrics.alarms_published.inc()
            delay = max(0.0, time.time() - alarm.raised_at)
            self.metrics.alarm_delay.observe(delay)
            log.info("mqtt_alarm_published", trace_id=alarm.trace_id, event_id=alarm.event_id,
                     site_id=alarm.site_id, camera_id=alarm.camera_id, reason=alarm.reason.value,
                     delay_ms=round(delay * 1000, 1))
        failures = [(alarm, result) for alarm, result in zip(batch, results, strict=True)
                    if isinstance(result, aiomqtt.MqttError)]
        for alarm, error in failures:
            await self._outbox.mark_failed_async(alarm.event_id, describe_error(error))
            log.warning("mqtt_alarm_not_acknowledged", trace_id=alarm.trace_id, event_id=alarm.event_id,
                        error=describe_error(error))
        for alarm, result in zip(batch, results, strict=True):
            if isinstance(result, Exception) and not isinstance(result, aiomqtt.MqttError):
                # Not the broker's doing: retrying would block every alarm behind this one for ever. The
                # alarm still reaches alarm nodes over Socket.IO; here it is set aside, loudly.
                await self._outbox.mark_published_async(alarm.event_id, skipped=True)
                log.error("mqtt_alarm_unpublishable", trace_id=alarm.trace_id, event_id=alarm.event_id,
                          error=f"{type(result).__name__}: {result}"[:300])
        if failures:
            raise failures[0][1]

    async def _publish_alarm(self, client: aiomqtt.Client, alarm: AlarmEvent) -> None:
        """The retained views (snapshot, last alarm, intruder ON) and the alarm itself, in this order on the
        wire; done only when the broker acknowledged all four, so nothing of an alarm can be missing once
        it counts as delivered."""
        t, site = self.topics, alarm.site_id
        payload = dumps(alarm_payload(alarm, self.edge_id,
                                      self.state.similarity(site, alarm.camera_id, alarm.track_id)))
        messages: list[tuple[str, bytes | str, bool]] = []
        jpeg = picture(alarm)
        if jpeg:
            messages.append((t.snapshot(site), jpeg, True))
        messages += [(t.last_alarm(site), payload, True), (t.intruder(site), ON, True), (t.alarm(site), payload, False)]
        # Tasks start in creation order and each hands its packet to paho before its first await: the broker
        # receives them in this order, so the retained last alarm is the newest one of a batch.
        await asyncio.gather(*(client.publish(topic, body, qos=1, retain=retain, timeout=PUBACK_TIMEOUT)
                               for topic, body, retain in messages))
