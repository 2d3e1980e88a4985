"""The SQLite alarm outbox: stored before sending, pending until acknowledged, surviving restarts."""

from __future__ import annotations

import time
from pathlib import Path

from edgewatch.edge.alarm_store import AlarmStore
from edgewatch.protocol import AlarmEvent, AlarmReason, new_trace_id


def alarm(site: str = "site1", reason: AlarmReason = AlarmReason.INTRUDER) -> AlarmEvent:
    return AlarmEvent(site_id=site, camera_id="cam1", trace_id=new_trace_id(), reason=reason, track_id=7)


def test_pending_until_acknowledged_and_survives_restart(tmp_path: Path) -> None:
    db = tmp_path / "edge" / "alarms.db"
    store = AlarmStore(db)
    first, other_site = alarm(), alarm("site2")
    assert store.add(first) and store.add(other_site)
    assert not store.add(first)  # same id stored once
    store.close()

    reopened = AlarmStore(db)  # an edge restart
    assert [e.event_id for e in reopened.pending("site1")] == [first.event_id]
    assert reopened.pending("site1")[0] == first  # the full event, reason and track included
    acked = reopened.acknowledge(first.event_id, "alarm1")
    assert acked == first
    assert reopened.acknowledge(first.event_id, "alarm2") is None  # a repeat ack changes nothing
    assert reopened.pending("site1") == []
    assert [e.event_id for e in reopened.pending()] == [other_site.event_id]
    assert reopened.counts() == {"total": 2, "acked": 1, "pending": 1}
    reopened.close()


def test_resend_selection_by_last_sent(tmp_path: Path) -> None:
    store = AlarmStore(tmp_path / "a.db")
    sent, unsent = alarm(), alarm()
    store.add(sent)
    store.add(unsent)
    store.mark_sent(sent.event_id, when=time.time())
    due = store.pending("site1", not_sent_since=time.time() - 5)
    assert [e.event_id for e in due] == [unsent.event_id]
    store.close()


async def test_async_facade(tmp_path: Path) -> None:
    store = AlarmStore(tmp_path / "a.db")
    event = alarm(reason=AlarmReason.UNVERIFIED)
    assert await store.add_async(event)
    assert [e.reason for e in await store.pending_async("site1")] == [AlarmReason.UNVERIFIED]
    await store.mark_sent_async(event.event_id)
    assert await store.acknowledge_async(event.event_id, "alarm1") == event
    assert await store.pending_async("site1") == []
    store.close()
