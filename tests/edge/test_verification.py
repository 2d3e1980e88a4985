"""VerificationService with the real alarm outbox: a decided alarm is never lost, even when storing fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgewatch.config import EdgeSettings
from edgewatch.edge.alarm_dispatch import AlarmDispatcher
from edgewatch.edge.alarm_store import AlarmStore
from edgewatch.edge.detection import PersonBox
from edgewatch.edge.frame_processing import PersonCrop
from edgewatch.edge.verification import FrameContext, VerificationService
from edgewatch.protocol import AlarmReason
from edgewatch.telemetry.metrics import EdgeMetrics


async def no_alarm_nodes(*_args: Any) -> None:
    raise AssertionError("no alarm node is connected, nothing may be emitted")


async def test_alarm_that_cannot_be_stored_is_retried_with_the_same_id(tmp_path: Path) -> None:
    store = AlarmStore(tmp_path / "alarms.db")
    metrics = EdgeMetrics()
    dispatcher = AlarmDispatcher(store, no_alarm_nodes, metrics)
    now = [100.0]
    settings = EdgeSettings(verify_timeout=1.0, alarm_db=tmp_path / "alarms.db")
    service = VerificationService(settings, dispatcher, cloud=None, clock=lambda: now[0], metrics=metrics)
    person = PersonCrop(PersonBox(10, 10, 60, 160, 0.9), b"\xff\xd8\xff\xe0crop", 50.0)
    await service.on_persons(FrameContext("cam1", "site1", "trace-0001", now[0]), [person])

    store._db.execute("PRAGMA query_only = ON")  # the outbox cannot be written (think: disk full)
    now[0] += 2.0
    await service.check_timeouts()
    assert store.counts()["total"] == 0
    # Raised all the same (sent live to any alarm node), kept in memory, the outbox reported failing.
    assert [u.event.reason for u in dispatcher.unstored.values()] == [AlarmReason.UNVERIFIED]
    assert dispatcher.problem() is not None and "readonly" in dispatcher.problem()
    await dispatcher.round()  # still failing: kept
    assert len(dispatcher.unstored) == 1 and store.counts()["total"] == 0

    store._db.execute("PRAGMA query_only = OFF")  # the disk is back
    await dispatcher.round()
    pending = store.pending()
    assert [(e.reason, e.camera_id, e.track_id) for e in pending] == [(AlarmReason.UNVERIFIED, "cam1", 1)]
    assert dispatcher.unstored == {} and dispatcher.problem() is None
    await service.check_timeouts()
    await dispatcher.round()
    assert store.counts()["total"] == 1, "retried once, not duplicated"
    assert metrics.registry.get_sample_value("edgewatch_edge_alarms_total", {"reason": "unverified"}) == 1
    assert metrics.registry.get_sample_value("edgewatch_edge_alarm_store_failures_total") >= 2
    await service.aclose()
    store.close()


def test_an_alarm_node_acknowledges_only_its_own_sites_alarms(tmp_path: Path) -> None:
    from edgewatch.protocol import AlarmEvent

    store = AlarmStore(tmp_path / "alarms.db")
    event = AlarmEvent(site_id="site1", camera_id="cam1", trace_id="trace-0002", reason=AlarmReason.INTRUDER)
    store.add(event)
    assert store.acknowledge(event.event_id, "yard", site_id="site2") is None
    assert store.counts()["pending"] == 1
    assert store.acknowledge(event.event_id, "hall", site_id="site1") == event
    assert store.counts() == {"total": 1, "acked": 1, "pending": 0}
    store.close()
