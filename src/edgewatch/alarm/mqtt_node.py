"""An alarm node that listens for its site's alarms on an MQTT broker instead of the edge's Socket.IO.

For sites whose siren or light already hangs off a home-automation broker. It subscribes to
``<prefix>/site/<site>/alarm`` with QoS 1 in a persistent session (fixed client id, ``clean_session`` off),
so the broker keeps the alarms published while the node is away and hands them over when it is back. The
edge publishes an alarm until the broker acknowledges it, so a copy may arrive twice: the node acts on each
event id once (the same de-duplication and the same actions as the Socket.IO node: a console line and the
optional signed webhook). The node acknowledges an alarm to the broker only after acting on it (the console
line is written; a webhook continues in the background with its own retries). There is no acknowledgement
back to the edge on this path: the broker's PUBACK is the edge's receipt. MQTT alarms carry no snapshot
bytes (the edge publishes the snapshot on its own retained topic), so webhooks sent from here have
``snapshot_bytes`` null.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

import aiomqtt

from edgewatch.alarm.actions import ConsoleAction, WebhookAction
from edgewatch.config import AlarmSettings
from edgewatch.integrations.mqtt.broker import BrokerConfig, describe_error, is_auth_error
from edgewatch.integrations.mqtt.messages import parse_alarm
from edgewatch.integrations.mqtt.topics import Topics
from edgewatch.integrations.webhooks import read_secret
from edgewatch.protocol import AlarmEvent, ProtocolError
from edgewatch.telemetry.logs import get_logger
from edgewatch.telemetry.metrics import AlarmNodeMetrics, serve_metrics

AlarmCallback = Callable[[AlarmEvent], Awaitable[Any] | Any]

#: Reconnect backoff (seconds): first delay, cap, and the delay after the broker refused the credentials.
BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_AUTH = 0.5, 10.0, 30.0


class MqttAlarmNode:
    """``await run()`` until ``await stop()``; ``received`` lists unique alarms in order. ``fatal`` is set
    (one line) when the broker refuses the credentials, which no retry can fix."""

    def __init__(
        self, settings: AlarmSettings, broker: BrokerConfig, on_alarm: AlarmCallback | None = None, *,
        console: bool = True, console_stream: TextIO | None = None, webhook_attempts: int = 3,
        webhook_backoff: float = 0.5, metrics_host: str | None = None, remember: int = 10_000,
        stop_on_auth_error: bool = True,
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.topic = Topics(settings.mqtt_topic_prefix).alarm(settings.site_id)
        self.metrics = AlarmNodeMetrics()
        self.metrics_host = metrics_host if metrics_host is not None else settings.metrics_host
        self.log = get_logger(__name__, node_id=settings.node_id)
        self.received: list[AlarmEvent] = []
        self.duplicates = 0
        self.ignored = 0
        self.fatal: str | None = None
        self.connected = asyncio.Event()
        self._stop_on_auth_error = stop_on_auth_error
        self._remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._actions: list[AlarmCallback] = []
        if console:
            self._actions.append(ConsoleAction(console_stream))
        self.webhook: WebhookAction | None = None
        if settings.webhook_url:
            secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
            self.webhook = WebhookAction(
                settings.webhook_url, settings.node_id, settings.webhook_timeout, webhook_attempts,
                webhook_backoff, on_failure=self.metrics.webhook_failures.inc,
                secret=read_secret(secret, settings.webhook_secret_file, "webhook_secret"),
            )
            self._actions.append(self.webhook)
        if on_alarm is not None:
            self._actions.append(on_alarm)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()

    async def run(self) -> None:
        s = self.settings
        server = serve_metrics(self.metrics.registry, s.metrics_port, self.metrics_host) if s.metrics_port else None
        self.log.info("alarm_node_started", site_id=s.site_id, broker=self.broker.address, topic=self.topic,
                      webhook=self.webhook is not None)
        listener = asyncio.create_task(self._listen_forever(), name="mqtt-alarm-listener")
        stopper = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({listener, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (listener, stopper):
                task.cancel()
            await asyncio.gather(listener, stopper, return_exceptions=True)
            if self._tasks:
                _done, pending = await asyncio.wait(set(self._tasks), timeout=s.webhook_timeout)
                for task in pending:
                    task.cancel()
            if self.webhook is not None:
                await self.webhook.aclose()
            if server is not None:
                server.shutdown()
            self.log.info("alarm_node_stopped", received=len(self.received), duplicates=self.duplicates,
                          ignored=self.ignored)

    async def stop(self) -> None:
        self._stop.set()

    async def _listen_forever(self) -> None:
        delay = BACKOFF_FIRST
        last_error: str | None = None
        while True:
            try:
                client = aiomqtt.Client(
                    **self.broker.client_options(), identifier=f"edgewatch-alarm-{self.settings.site_id}-"
                    f"{self.settings.node_id}", clean_session=False, keepalive=30, timeout=10.0,
                    # Memory stays bounded whatever is published to the topic: QoS 1 alarms are held back by
                    # the broker's in-flight window until acknowledged (so never dropped here), and a QoS 0
                    # flood beyond this is discarded.
                    max_queued_incoming_messages=1000,
                )
                # Act first, acknowledge after (as the Socket.IO node does): paho's PUBACK waits until the
                # alarm has sounded here, so a node that dies in between gets it again from the broker.
                # aiomqtt does not expose paho's manual acknowledgement, hence its underlying `_client`.
                paho = client._client
                paho.manual_ack_set(True)
                async with client:
                    await client.subscribe(self.topic, qos=1)
                    self.connected.set()
                    self.metrics.connected.set(1)
                    self.log.info("mqtt_connected", broker=self.broker.address, topic=self.topic)
                    delay, last_error = BACKOFF_FIRST, None
                    async for message in client.messages:
                        self._on_message(message.payload)
                        if message.qos > 0:
                            paho.ack(message.mid, message.qos)
            except aiomqtt.MqttError as exc:
                error = describe_error(exc)
                if is_auth_error(exc) and self._stop_on_auth_error:
                    self.fatal = error
                    self.log.error("mqtt_refused", broker=self.broker.address, error=error)
                    self._stop.set()
                    return
                if error != last_error:
                    self.log.warning("mqtt_unavailable", broker=self.broker.address, error=error, retrying=True)
                    last_error = error
                delay = BACKOFF_AUTH if is_auth_error(exc) else min(delay * 2, BACKOFF_MAX)
            except Exception:  # a bug must not silence the siren for good: log it and listen again
                self.log.exception("mqtt_listener_failed", broker=self.broker.address)
                delay = min(delay * 2, BACKOFF_MAX)
            finally:
                self.connected.clear()
                self.metrics.connected.set(0)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))

    def _on_message(self, payload: Any) -> None:
        try:
            event = parse_alarm(payload)
        except ProtocolError as exc:
            self.ignored += 1
            self.log.warning("alarm_rejected", error=str(exc)[:300])
            return
        if event.site_id != self.settings.site_id:
            self.ignored += 1
            self.log.warning("alarm_other_site", trace_id=event.trace_id, event_id=event.event_id,
                             site_id=event.site_id, own_site_id=self.settings.site_id)
            return
        if event.event_id in self._seen:
            self.duplicates += 1
            self.metrics.duplicates.inc()
            self.log.info("alarm_duplicate", trace_id=event.trace_id, event_id=event.event_id)
            return
        self._seen[event.event_id] = None
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        self.received.append(event)
        if len(self.received) > self._remember:
            del self.received[: len(self.received) - self._remember]
        self.metrics.alarms.labels(str(event.reason)).inc()
        self.log.info("alarm_received", trace_id=event.trace_id, event_id=event.event_id, site_id=event.site_id,
                      camera_id=event.camera_id, reason=str(event.reason), track_id=event.track_id, via="mqtt")
        for action in self._actions:
            self._act(action, event)

    def _act(self, action: AlarmCallback, event: AlarmEvent) -> None:
        """Run one action; an awaitable result continues as a background task. A failing action is logged
        and never stops the node or the other actions."""
        def failed(exc: Exception) -> None:
            self.log.error("alarm_action_failed", trace_id=event.trace_id, event_id=event.event_id,
                           action=type(action).__name__, error=f"{type(exc).__name__}: {exc}")

        try:
            result = action(event)
        except Exception as exc:  # noqa: BLE001
            failed(exc)
            return
        if not inspect.isawaitable(result):
            return

        async def finish() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await result
                except Exception as exc:  # noqa: BLE001
                    failed(exc)

        task = asyncio.create_task(finish())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
