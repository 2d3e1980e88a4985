"""The edge's handle on MQTT, so the edge server needs three calls and no MQTT knowledge: ``start``,
``stop`` and ``readiness``. Does nothing when ``mqtt_url`` is unset (aiomqtt is then never imported)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgewatch.edge.events import EventBus
from edgewatch.integrations.mqtt.broker import broker_config
from edgewatch.telemetry import get_logger

log = get_logger(__name__)


class MqttHook:
    def __init__(self, settings: Any, events: EventBus, registry: Any = None) -> None:
        self.settings = settings
        self.events = events
        self.registry = registry  # the edge's Prometheus registry, for the publisher's metrics
        self.publisher: Any = None
        self.error: str | None = None

    def start(self, spawn: Callable[[Any, str], None]) -> None:
        """Create the publisher (subscribing to the bus now, before any event) and ``spawn`` its task."""
        try:
            broker = broker_config(self.settings)
        except ValueError as exc:  # the edge command checks this before serving; here for embedded use
            self.error = str(exc)
            log.error("mqtt_disabled", error=self.error)
            return
        if broker is None:
            return
        from prometheus_client import CollectorRegistry

        from edgewatch.integrations.mqtt.metrics import MqttMetrics
        from edgewatch.integrations.mqtt.publisher import MqttPublisher

        metrics = MqttMetrics(self.registry or CollectorRegistry())
        self.publisher = MqttPublisher.from_settings(self.settings, broker, self.events, metrics)
        spawn(self.publisher.run(), "mqtt-publisher")

    async def stop(self) -> None:
        if self.publisher is not None:
            await self.publisher.stop()

    def readiness(self) -> dict[str, Any]:
        """``{"mqtt": {...}}`` for /readyz when MQTT is configured, else nothing. MQTT trouble never makes the
        edge unready: cameras and alarm nodes still work without the broker."""
        if self.publisher is not None:
            return {"mqtt": self.publisher.status.as_dict()}
        if self.error is not None:
            return {"mqtt": {"state": "misconfigured", "error": self.error}}
        return {}
