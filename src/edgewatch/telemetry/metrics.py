"""Prometheus metrics per node, each node with its own registry (no process-global collectors, so tests
and in-process nodes never collide). Servers mount :func:`metrics_app` at ``/metrics``; the camera and
alarm nodes, which have no web server, serve it with a meaningful /healthz from
:class:`edgewatch.telemetry.health.NodeHTTP` on their optional metrics port."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app, start_http_server
from prometheus_client.metrics import MetricWrapperBase

#: Buckets (seconds) from 1 ms to 30 s: covers detection, cloud round trips and alarm delivery.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def metrics_app(registry: CollectorRegistry) -> Any:
    """An ASGI app serving ``registry`` in the Prometheus text format."""
    return make_asgi_app(registry=registry)


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "0.0.0.0") -> Any:
    """Serve ``registry`` on ``host:port`` from a background thread; returns the server (``shutdown()``)."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server


@dataclass
class EdgeMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.frames_received = Counter("edgewatch_edge_frames_received", "Frames received", ["camera"], registry=r)
        self.frames_processed = Counter("edgewatch_edge_frames_processed", "Frames detected on", ["camera"], registry=r)
        self.frames_dropped = Counter(
            "edgewatch_edge_frames_dropped", "Frames replaced in the buffer before detection", ["camera"], registry=r
        )
        self.frames_failed = Counter("edgewatch_edge_frames_failed", "Frames that could not be processed",
                                     ["camera"], registry=r)
        self.queue_depth = Gauge("edgewatch_edge_queue_depth", "Frames waiting per camera", ["camera"], registry=r)
        self.queue_wait = Histogram("edgewatch_edge_queue_wait_seconds", "Receive to detection start",
                                    buckets=LATENCY_BUCKETS, registry=r)
        self.inference = Histogram("edgewatch_edge_inference_seconds", "Person detection time",
                                   buckets=LATENCY_BUCKETS, registry=r)
        self.persons = Counter("edgewatch_edge_persons_detected", "Persons detected", ["camera"], registry=r)
        self.tracks = Counter("edgewatch_edge_tracks", "Person tracks started", ["camera"], registry=r)
        self.cloud_latency = Histogram("edgewatch_edge_cloud_request_seconds", "Cloud identify round trip",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.cloud_requests = Counter("edgewatch_edge_cloud_requests", "Cloud identify requests by outcome",
                                      ["outcome"], registry=r)
        self.requests_per_track = Histogram(
            "edgewatch_edge_cloud_requests_per_track", "Cloud requests a track needed until it was decided",
            buckets=(0, 1, 2, 3, 4, 5, 10, 20), registry=r,
        )
        self.alarms = Counter("edgewatch_edge_alarms", "Alarms raised", ["reason"], registry=r)
        self.alarm_delivery = Histogram("edgewatch_edge_alarm_delivery_seconds", "Alarm raised to first ack",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.alarms_pending = Gauge("edgewatch_edge_alarms_pending", "Alarms not yet acknowledged", registry=r)
        # node credentials (issue 9): refused connections by refusal code (a bounded label set)
        self.clients_refused = Counter("edgewatch_edge_clients_refused", "Socket.IO connections refused",
                                       ["code"], registry=r)
        # motion gating, masks and zones (issue 12)
        self.frames_gated = Counter("edgewatch_edge_frames_gated", "Frames the motion gate kept from the detector",
                                    ["camera"], registry=r)
        self.detections_ignored = Counter("edgewatch_edge_detections_ignored",
                                          "Detections dropped by masks, min_box or require_zone",
                                          ["camera", "reason"], registry=r)
        # -- bounds whatever clients send (issue 9, sec-bounds) --
        self.images_refused = Counter("edgewatch_edge_images_refused", "Frames refused before decoding",
                                      ["reason"], registry=r)
        self.cameras_connected = Gauge("edgewatch_edge_cameras_connected", "Camera connections open", registry=r)
        self.cameras_released = Counter("edgewatch_edge_cameras_released",
                                        "Cameras whose state was freed after they had gone", registry=r)
        self.http_timeouts = Counter("edgewatch_edge_http_timeouts", "Connections closed by a server timeout",
                                     ["kind"], registry=r)
        self.events_rejected = Counter("edgewatch_edge_events_rejected", "Client events rejected",
                                       ["reason"], registry=r)
        self.alarm_store_failures = Counter("edgewatch_edge_alarm_store_failures",
                                            "Outbox writes that failed (the alarm was still sent live)", registry=r)
        self.alarm_resend_restarts = Counter("edgewatch_edge_alarm_resend_restarts",
                                             "Restarts of the alarm re-send loop after it died", registry=r)
        self.alarms_pruned = Counter("edgewatch_edge_alarms_pruned",
                                     "Acknowledged alarms deleted after the retention period", registry=r)

    def forget_camera(self, camera_id: str) -> None:
        """Drop every label series of one camera (it has been gone a while), so /metrics stays bounded."""
        for collector in list(vars(self).values()):
            if isinstance(collector, MetricWrapperBase) and "camera" in collector._labelnames:
                collector.remove_by_labels({"camera": camera_id})


@dataclass
class CloudMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.identify = Histogram("edgewatch_cloud_identify_seconds", "Identify latency",
                                  ["backend", "verdict"], buckets=LATENCY_BUCKETS, registry=r)
        self.errors = Counter("edgewatch_cloud_errors", "Error answers by code", ["code"], registry=r)
        # -- bounds whatever clients send (issue 9, sec-bounds) --
        self.images_refused = Counter("edgewatch_cloud_images_refused", "Uploads refused before decoding",
                                      ["reason"], registry=r)
        self.http_timeouts = Counter("edgewatch_cloud_http_timeouts", "Connections closed by a server timeout",
                                     ["kind"], registry=r)


@dataclass
class CameraMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.frames_sent = Counter("edgewatch_camera_frames_sent", "Frames sent", ["camera"], registry=r)
        self.frames_acked = Counter("edgewatch_camera_frames_acked", "Frames acknowledged", ["camera"], registry=r)
        self.frames_dropped = Counter("edgewatch_camera_frames_dropped", "Frames dropped before sending",
                                      ["camera"], registry=r)
        self.rtt = Histogram("edgewatch_camera_rtt_seconds", "Send to ack round trip", ["camera"],
                             buckets=LATENCY_BUCKETS, registry=r)
        self.connected = Gauge("edgewatch_camera_connected", "1 while connected to the edge", ["camera"], registry=r)


@dataclass
class AlarmNodeMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.alarms = Counter("edgewatch_alarm_received", "Alarms received (unique)", ["reason"], registry=r)
        self.duplicates = Counter("edgewatch_alarm_duplicates", "Re-sent alarms already handled", registry=r)
        self.webhook_failures = Counter("edgewatch_alarm_webhook_failures", "Webhook POSTs that failed", registry=r)
        self.connected = Gauge("edgewatch_alarm_connected", "1 while connected to the edge", registry=r)
