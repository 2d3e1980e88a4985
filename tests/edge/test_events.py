"""The edge's in-process event bus: bounded per listener, never blocking the publisher."""

from __future__ import annotations

from edgewatch.edge.events import CameraOffline, CameraOnline, EventBus, TrackLeft


async def test_listener_gets_events_in_order_and_only_its_kinds() -> None:
    bus = EventBus()
    everything = bus.subscribe()
    cameras = bus.subscribe(kinds=(CameraOnline, CameraOffline))
    bus.publish(CameraOnline("site1", "cam1"))
    bus.publish(TrackLeft("site1", "cam1", 3))
    bus.publish(CameraOffline("site1", "cam1"))
    assert [type(await everything.get()) for _ in range(3)] == [CameraOnline, TrackLeft, CameraOffline]
    assert [type(await cameras.get()) for _ in range(2)] == [CameraOnline, CameraOffline]


async def test_slow_listener_loses_oldest_events_and_counts_them() -> None:
    bus = EventBus()
    sub = bus.subscribe(maxsize=2)
    for track_id in range(5):
        bus.publish(TrackLeft("site1", "cam1", track_id))
    assert sub.dropped == 3
    assert [(await sub.get()).track_id for _ in range(2)] == [3, 4]  # type: ignore[union-attr]
    sub.close()
    assert bus.listeners == 0
    bus.publish(TrackLeft("site1", "cam1", 9))  # nobody listens: nothing happens, nothing raises
