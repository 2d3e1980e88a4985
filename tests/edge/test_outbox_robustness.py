"""The alarm outbox never delays an alarm and never destroys evidence: files created 0600, a corrupt,
truncated, random or unreadable database refused in one line and left untouched, a database with a few
corrupted pages caught at start, acknowledged alarms pruned after the retention period."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgewatch.edge.alarm_store import AlarmStore, AlarmStoreError
from edgewatch.protocol import AlarmEvent, AlarmReason, new_trace_id

SNAPSHOT = b"\xff\xd8\xff\xe0" + os.urandom(60_000)  # about the size of a real snapshot


def alarm(snapshot: bytes | None = None) -> AlarmEvent:
    return AlarmEvent(site_id="site1", camera_id="cam1", trace_id=new_trace_id(), reason=AlarmReason.INTRUDER,
                      snapshot_jpeg=snapshot)


def test_database_files_are_created_0600(tmp_path: Path) -> None:
    old = os.umask(0)  # even with a permissive umask
    try:
        store = AlarmStore(tmp_path / "outbox" / "alarms.db")
        store.add(alarm())
        files = sorted((tmp_path / "outbox").iterdir())
        assert {p.name for p in files} >= {"alarms.db", "alarms.db-wal", "alarms.db-shm"}
        assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: 0o600 for p in files}
        store.close()
    finally:
        os.umask(old)


def test_an_existing_world_readable_outbox_is_made_private(tmp_path: Path) -> None:
    db = tmp_path / "alarms.db"
    AlarmStore(db).close()
    db.chmod(0o644)
    AlarmStore(db).close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def healthy_db(path: Path, alarms: int = 40) -> Path:
    store = AlarmStore(path)
    for _ in range(alarms):
        store.add(alarm(SNAPSHOT))
    store.close()  # checkpoints the WAL into the main file
    return path


def corrupt_pages(path: Path) -> None:
    """Overwrite three pages in the middle of the file, as a failing disk would."""
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    size = path.stat().st_size
    with path.open("r+b") as handle:
        for index in (size // page // 2, size // page // 2 + 1, size // page - 2):
            handle.seek(index * page)
            handle.write(os.urandom(page))


@pytest.mark.parametrize("kind", ["random", "truncated", "text", "corrupt_pages", "directory"])
def test_unusable_outbox_is_refused_and_left_untouched(tmp_path: Path, kind: str) -> None:
    db = tmp_path / "alarms.db"
    if kind == "random":
        db.write_bytes(os.urandom(8192))
    elif kind == "truncated":
        healthy_db(db)
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])
    elif kind == "text":
        db.write_text("these are my notes, not a database\n")
    elif kind == "corrupt_pages":
        corrupt_pages(healthy_db(db))
    else:
        db.mkdir()
    before = None if db.is_dir() else db.read_bytes()
    with pytest.raises(AlarmStoreError) as refused:
        AlarmStore(db)
    message = str(refused.value)
    assert str(db) in message and "\n" not in message and "Traceback" not in message
    if before is not None:
        assert db.read_bytes() == before  # never overwritten
        assert sorted(p.name for p in tmp_path.iterdir()) == ["alarms.db"]  # no WAL created beside it


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_edge_command_refuses_a_corrupt_outbox_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "alarms.db"
    db.write_bytes(os.urandom(4096))
    before = db.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "edgewatch", "edge", "--port", str(free_port()), "--alarm-db", str(db),
         "--allow-unauthenticated-nodes"],
        capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL, check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("edgewatch edge:")]
    assert len(lines) == 1 and "--alarm-db" in lines[0] and str(db) in lines[0]
    assert db.read_bytes() == before


def test_prune_deletes_only_old_acknowledged_alarms_and_frees_space(tmp_path: Path) -> None:
    store = AlarmStore(tmp_path / "alarms.db")
    now = time.time()
    old = [alarm(SNAPSHOT) for _ in range(30)]
    recent, pending = alarm(SNAPSHOT), alarm(SNAPSHOT)
    for event in [*old, recent, pending]:
        store.add(event)
    for event in old:
        store.acknowledge(event.event_id, "hall", when=now - 3600)
    store.acknowledge(recent.event_id, "hall", when=now)
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    assert store.prune(now - 600) == 30
    assert store.counts() == {"total": 2, "acked": 1, "pending": 1}
    assert [e.event_id for e in store.pending()] == [pending.event_id]
    assert store._db.execute("PRAGMA page_count").fetchone()[0] < pages / 4  # snapshots' pages given back
    assert store.prune(now - 600) == 0
    store.close()


async def test_resend_loop_that_dies_is_restarted_and_reported(tmp_path: Path, until) -> None:
    import asyncio

    from edgewatch.edge.alarm_dispatch import AlarmDispatcher
    from edgewatch.telemetry.metrics import EdgeMetrics

    store = AlarmStore(tmp_path / "alarms.db")
    store.add(alarm())
    metrics = EdgeMetrics()
    sent: list[str] = []

    async def emit(_event: str, payload: dict, _to: str) -> None:
        sent.append(payload["event_id"])

    dispatcher = AlarmDispatcher(store, emit, metrics, resend_interval=0.1)
    store._db.close()  # the outbox's connection is gone: every read fails, the loop dies at its start
    runner = asyncio.create_task(dispatcher.run())
    try:
        await until(lambda: metrics.alarm_resend_restarts._value.get() >= 2, 10)
        problem = dispatcher.problem()
        assert problem is not None and "re-send loop died" in problem and "closed database" in problem
        assert not runner.done()  # supervised: still trying
        store._db = sqlite3.connect(str(tmp_path / "alarms.db"), check_same_thread=False, isolation_level=None)
        await until(lambda: dispatcher.problem() is None, 30)
        dispatcher._listeners["site1"] = {"hall-sid"}
        await until(lambda: len(sent) >= 1, 10)  # and it re-sends again
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        store.close()


async def test_edge_prunes_acknowledged_alarms_after_the_retention(tmp_path: Path, until) -> None:
    import asyncio

    from edgewatch.edge.alarm_dispatch import AlarmDispatcher
    from edgewatch.protocol import AlarmAck
    from edgewatch.telemetry.metrics import EdgeMetrics

    store = AlarmStore(tmp_path / "alarms.db")
    metrics = EdgeMetrics()

    async def emit(*_args: object) -> None:
        return None

    dispatcher = AlarmDispatcher(store, emit, metrics, resend_interval=0.1, retention=1.0)
    runner = asyncio.create_task(dispatcher.run())
    try:
        kept, acked = alarm(SNAPSHOT), alarm(SNAPSHOT)
        await dispatcher.raise_alarm(kept)
        await dispatcher.raise_alarm(acked)
        await dispatcher.acknowledged(AlarmAck(event_id=acked.event_id, node_id="hall"), "site1")
        assert store.counts() == {"total": 2, "acked": 1, "pending": 1}
        await until(lambda: store.counts() == {"total": 1, "acked": 0, "pending": 1}, 15)
        assert [e.event_id for e in store.pending()] == [kept.event_id]  # unacknowledged: never pruned
        assert metrics.alarms_pruned._value.get() == 1
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        store.close()
