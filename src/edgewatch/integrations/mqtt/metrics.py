"""Prometheus metrics of the MQTT publisher, registered on the edge's own registry (so they appear on the
edge's /metrics beside the rest; nothing process-global)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from edgewatch.telemetry.metrics import LATENCY_BUCKETS


@dataclass
class MqttMetrics:
    registry: CollectorRegistry

    def __post_init__(self) -> None:
        r = self.registry
        self.connected = Gauge("edgewatch_edge_mqtt_connected", "1 while connected to the MQTT broker",
                               registry=r)
        self.alarms_published = Counter("edgewatch_edge_mqtt_alarms_published",
                                        "Alarms the broker acknowledged (QoS 1 PUBACK)", registry=r)
        self.alarms_pending = Gauge("edgewatch_edge_mqtt_alarms_pending",
                                    "Stored alarms the broker has not acknowledged yet", registry=r)
        self.alarm_delay = Histogram("edgewatch_edge_mqtt_alarm_delay_seconds",
                                     "Alarm raised to broker acknowledgement", buckets=LATENCY_BUCKETS, registry=r)
        self.connect_failures = Counter("edgewatch_edge_mqtt_connect_failures",
                                        "Broker sessions that failed or ended", registry=r)
