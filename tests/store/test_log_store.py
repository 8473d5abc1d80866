"""The event log on a real SQLite file: what goes in comes back equal and numbered, sequences
survive a restart, a crash's torn tail and a damaged file are repaired at start, retention
removes the oldest and says how many, and a failing write withholds and then recovers."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from gateway.events import EventKind, Gap, HubEvent, LocationReported, TerminalEvent
from gateway.hub import EventHub
from gateway.protocol.bodies.location import AdditionalInfo, LazyLocationReport
from gateway.protocol.bodies.passthrough import UplinkPassthrough
from gateway.protocol.body import RawBody, decode_body
from gateway.protocol.header import Header
from gateway.protocol.message import Message, encode_body
from gateway.protocol.versions import V2013, V2019
from gateway.store.base import Durability, ReadFilter
from gateway.store.follow import follow
from gateway.store.log import LogStore
from gateway.store.log_process import ProcessLogStore
from gateway.store.sqlite_log import FLOOR_MARGIN, LOG_NAME, OPEN_MARK, SqliteLog
from tests.protocol.null_modem import location
from tests.timeouts import HANG_GUARD

pytestmark = pytest.mark.anyio

NOW = datetime.now(UTC).replace(microsecond=123456)
ALICE = "013900000001"
BOB = "013900000002"


class Waiter:
    """Records what the store says of each batch."""

    def __init__(self) -> None:
        self.done: list[tuple[int, bool]] = []
        self.changed = anyio.Event()

    def batch_done(self, batch: int, stored: bool) -> None:
        self.done.append((batch, stored))
        self.changed.set()
        self.changed = anyio.Event()

    async def settled(self, batch: int) -> bool:
        with anyio.fail_after(HANG_GUARD):
            while True:
                for done, stored in self.done:
                    if done == batch:
                        return stored
                await self.changed.wait()


def position(phone: str = ALICE, serial: int = 1, *, at: datetime = NOW) -> LocationReported:
    report, _ = decode_body(0x0200, encode_body(location(speed=serial % 100), V2013), V2013)
    assert isinstance(report, LazyLocationReport)
    return LocationReported(phone, f"dev-{phone}", report, 0x0200, serial, None, at)


def happened(phone: str = ALICE, kind: EventKind = EventKind.AUTHENTICATED) -> TerminalEvent:
    return TerminalEvent(kind, phone, f"dev-{phone}", NOW, "10.0.0.1:4000")


async def append(store: LogStore, *events: HubEvent) -> bool:
    """Append ``events`` in one step and wait until their batch is settled."""
    waiter = Waiter()
    batch = 0
    for event in events:
        batch = store.append(event)
    store.notify(waiter, batch)
    return await waiter.settled(batch)


async def read_all(
    store: LogStore, after: int = 0, only: ReadFilter | None = None
) -> list[HubEvent]:
    page = await store.read(after, 100_000, only or ReadFilter())
    return page.events


def open_store(data_dir: Path, hub: EventHub | None = None, **settings: object) -> LogStore:
    """The default store: its writer in a process of its own."""
    return ProcessLogStore(data_dir, hub or EventHub(), durability=Durability.OS, **settings)  # type: ignore[arg-type]


async def test_appended_events_come_back_equal_numbered_and_delivered(tmp_path: Path) -> None:
    hub = EventHub()
    store = open_store(tmp_path, hub)
    await store.start()
    eager = location(extras=[AdditionalInfo(0x01, b"\x00\x00\x01\x00"), AdditionalInfo(0xE1, b"v")],
                     malformed_extras=b"\x30\x05")  # fmt: skip
    events: list[HubEvent] = [
        position(ALICE, 1),
        LocationReported(BOB, "b", eager, 0x0704, 9, 1, NOW),
        happened(ALICE),
        TerminalEvent(EventKind.TRANSPARENT_DATA, BOB, "b", NOW, "", "",
                      Message(Header(0x0900, BOB, 7, V2019, 1),
                              UplinkPassthrough(type=0x41, data=b"\x01\x02"))),
        TerminalEvent(EventKind.MESSAGE, BOB, "b", NOW, "", "",
                      Message(Header(0x0F0F, BOB, 8, V2013, 0, 1), RawBody(raw=b"\xff\x00"))),
        TerminalEvent(EventKind.DISCONNECTED, ALICE, "a", NOW, "", "idle_timeout"),
    ]  # fmt: skip
    with hub.subscribe() as live:
        assert await append(store, *events)
        delivered = live.take(100)
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5, 6]
    assert delivered == events
    replayed = await read_all(store)
    assert replayed == events
    assert isinstance(replayed[0], LocationReported)
    assert isinstance(replayed[0].location, LazyLocationReport)  # not decoded on the way back
    await store.aclose()


async def test_reads_filter_by_kind_and_phone_and_start_after_a_sequence(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    await store.start()
    assert await append(
        store, position(ALICE, 1), happened(BOB), position(BOB, 2), position(ALICE, 3)
    )
    only_alice = ReadFilter(frozenset({ALICE.lstrip("0")}), terminal_events=False)
    assert [e.sequence for e in await read_all(store, 0, only_alice)] == [1, 4]
    assert [e.sequence for e in await read_all(store, 1, only_alice)] == [4]
    events_only = ReadFilter(locations=False)
    assert [e.sequence for e in await read_all(store, 0, events_only)] == [2]
    page = await store.read(0, 2, ReadFilter())
    assert ([e.sequence for e in page.events], page.last, page.more) == ([1, 2], 2, True)
    nothing = await store.read(0, 10, ReadFilter(frozenset({"999"})))
    assert (nothing.events, nothing.last, nothing.more) == ([], 4, False)
    await store.aclose()


async def test_sequences_continue_after_a_restart(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    await store.start()
    assert await append(store, position(serial=1), position(serial=2))
    await store.aclose()
    again = open_store(tmp_path)
    await again.start()
    event = position(serial=3)
    assert await append(again, event)
    assert event.sequence == 3
    assert [e.sequence for e in await read_all(again)] == [1, 2, 3]
    await again.aclose()


async def test_a_torn_tail_left_by_a_crash_is_dropped_at_start(tmp_path: Path) -> None:
    live_dir, crashed = tmp_path / "live", tmp_path / "crashed"
    store = open_store(live_dir)
    await store.start()
    for serial in range(1, 6):
        assert await append(store, position(serial=serial))
    # What a crash leaves: the files as they are now, with the last WAL write cut short.
    shutil.copytree(live_dir, crashed)
    wal = crashed / f"{LOG_NAME}-wal"
    size = wal.stat().st_size
    assert size > 100
    with wal.open("r+b") as file:
        file.truncate(size - 100)
    await store.aclose()
    assert (crashed / OPEN_MARK).exists()  # the copy was never closed cleanly
    reopened = open_store(crashed)
    await reopened.start()
    kept = [e.sequence for e in await read_all(reopened)]
    assert kept == list(range(1, len(kept) + 1))  # a prefix: whole batches only
    assert 4 <= len(kept) <= 5
    event = position(serial=6)
    assert await append(reopened, event)
    assert event.sequence > FLOOR_MARGIN  # without fsync: well above any number handed out
    await reopened.aclose()


async def test_a_damaged_log_is_moved_aside_and_sequences_never_repeat(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    await store.start()
    assert await append(store, position(serial=1), position(serial=2))
    await store.aclose()
    (tmp_path / LOG_NAME).write_bytes(b"this is not a database" * 1000)
    again = open_store(tmp_path)
    await again.start()  # never fatal
    assert [p.name for p in tmp_path.iterdir() if ".damaged-" in p.name]
    event = position(serial=3)
    assert await append(again, event)
    assert event.sequence > 2 + FLOOR_MARGIN - 1
    await again.aclose()


async def test_retention_removes_the_oldest_and_a_resume_gets_a_gap(tmp_path: Path) -> None:
    store = open_store(tmp_path, retention_age=3600.0)
    await store.start()
    old = NOW - timedelta(hours=2)
    assert await append(store, *(position(serial=s, at=old) for s in range(1, 4)))
    assert await append(store, position(serial=4), position(serial=5))
    with anyio.fail_after(HANG_GUARD):
        while store.status().oldest_sequence != 4:
            await anyio.sleep(0.05)
    page = await store.read(0, 100, ReadFilter())
    assert page.gone == 3
    assert [e.sequence for e in page.events] == [4, 5]
    assert (await store.read(3, 100, ReadFilter())).gone == 0
    await store.aclose()


async def test_retention_by_size_keeps_the_log_under_its_limit(tmp_path: Path) -> None:
    store = open_store(tmp_path, retention_bytes=256 * 1024)
    await store.start()
    for first in range(0, 6000, 500):
        assert await append(store, *(position(serial=s) for s in range(first, first + 500)))
    with anyio.fail_after(HANG_GUARD):
        while store.status().size_bytes > 256 * 1024 or store.status().oldest_sequence <= 1:
            await anyio.sleep(0.05)
    status = store.status()
    assert status.last_sequence == 6000
    page = await store.read(0, 10, ReadFilter())
    assert page.gone == status.oldest_sequence - 1 > 0
    await store.aclose()


def log_of_100_events(tmp_path: Path) -> SqliteLog:
    """An open log holding sequences 1-100, each written at the second of its number."""
    log = SqliteLog(tmp_path, Durability.OS)
    log.open()
    log.db.executemany(
        "INSERT INTO events (seq, at, kind, phone, device) VALUES (?, ?, 0, '', '')",
        [(seq, seq) for seq in range(1, 101)],
    )
    return log


def test_the_writers_upkeep_never_reads_the_whole_log(tmp_path: Path) -> None:
    # Retention and the figures run on the writer thread between commits: a statement that
    # scans the table would hold every acknowledgement for a time that grows with the log.
    log = log_of_100_events(tmp_path)
    statements: list[str] = []
    log.db.set_trace_callback(statements.append)
    assert log.trim(before_at=1, max_bytes=1 << 30) == 0  # nothing is due
    assert log.bounds() == (1, 100)
    log.size_bytes()
    log.db.set_trace_callback(None)
    assert statements
    for statement in statements:
        plan = log.db.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
        assert not [step for step in plan if step[3].startswith("SCAN events")], statement
    log.close()


def test_a_retention_step_deletes_at_most_its_step_of_rows(tmp_path: Path) -> None:
    # A step is one transaction on the writer thread, which every acknowledgement waits
    # behind: however much is due, by age or by size, one step deletes a bounded number.
    log = log_of_100_events(tmp_path)
    assert log.trim(before_at=1_000, max_bytes=None, step=10) == 10  # all 100 are too old
    assert log.bounds() == (11, 100)
    assert log.trim(before_at=None, max_bytes=1, step=10) == 10  # all of them is too large
    assert log.bounds() == (21, 100)
    log.close()


async def test_retention_catching_up_goes_a_bounded_step_at_a_time(tmp_path: Path) -> None:
    store = open_store(tmp_path, retention_age=3600.0, retention_step=25)
    await store.start()
    old = NOW - timedelta(hours=2)
    for first in range(1, 301, 25):  # twelve commits of 25 (a step deletes whole commits)
        assert await append(store, *(position(serial=s, at=old) for s in range(first, first + 25)))
    assert await append(store, position(serial=301))
    with anyio.fail_after(HANG_GUARD):
        while store.status().oldest_sequence != 301:
            await anyio.sleep(0.05)
    assert store.trimmed == 300
    assert store.largest_step == 25  # twelve steps of 25, never one of 300
    await store.aclose()


async def test_a_failing_write_settles_unstored_and_the_store_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    health: list[bool] = []
    store = open_store(tmp_path, on_health=lambda healthy, _: health.append(healthy))
    await store.start()
    assert await append(store, position(serial=1))
    store.fail_writes(True)
    lost = position(serial=2)
    assert not await append(store, lost)
    assert not await append(store, position(serial=3))
    assert health == [False]  # said once, not per batch
    assert not store.status().healthy
    store.fail_writes(False)
    kept = position(serial=4)
    assert await append(store, kept)
    assert health == [False, True]
    assert kept.sequence == 2  # nothing was numbered for what was not stored
    assert [e.serial for e in await read_all(store)] == [1, 4]  # type: ignore[union-attr]
    await store.aclose()


async def test_a_full_backlog_refuses_appends(tmp_path: Path) -> None:
    store = open_store(tmp_path, max_pending=2)
    await store.start()
    assert store.append(position(serial=1)) > 0
    assert store.append(position(serial=2)) > 0
    assert store.append(position(serial=3)) == 0  # the caller withholds its acknowledgement
    assert store.refused == 1
    await store.aclose()
    assert [e.serial for e in await read_all(store)] == [1, 2]  # type: ignore[union-attr]


def test_the_log_is_sqlite_in_wal_mode(tmp_path: Path) -> None:
    from gateway.store.sqlite_log import SqliteLog

    log = SqliteLog(tmp_path, Durability.FSYNC)
    log.open()
    assert log.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert log.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    # Its commits never checkpoint (checkpoint.Checkpointer does, beside the writer).
    assert log.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    log.close(clean=True)
    with sqlite3.connect(tmp_path / LOG_NAME) as db:
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0


async def test_after_a_crash_of_a_run_without_fsync_numbers_jump_even_when_the_next_syncs(
    tmp_path: Path,
) -> None:
    # What a power loss leaves of a --durability os run: its open mark. A restart with fsync
    # must still continue above whatever that run may have handed out and lost.
    unsynced = SqliteLog(tmp_path, Durability.OS)
    assert unsynced.open() == 0
    assert (tmp_path / OPEN_MARK).read_text().strip() == "os"
    unsynced.close()  # not clean: the mark stays
    syncing = SqliteLog(tmp_path, Durability.FSYNC)
    assert syncing.open() >= FLOOR_MARGIN
    syncing.close(clean=True)


async def test_a_crash_of_a_run_with_fsync_costs_no_jump(tmp_path: Path) -> None:
    first = SqliteLog(tmp_path, Durability.FSYNC)
    assert first.open() == 0
    first.close()  # not clean
    again = SqliteLog(tmp_path, Durability.FSYNC)
    assert again.open() == 0  # every number it handed out is on disk: none to skip
    again.close(clean=True)


async def test_a_cursor_beyond_the_newest_continues_live_from_the_newest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A cursor kept across a data dir that was replaced: it is no position in this log. The
    # stream goes on from the newest item instead of waiting for the numbers to pass it.
    store = LogStore(tmp_path, EventHub(), durability=Durability.OS)
    await store.start()
    assert await append(store, position(serial=1), position(serial=2))
    page = await store.read(1_000, 10, ReadFilter())
    assert (page.events, page.last, page.gone) == ([], 2, 0)
    assert "never reached" in caplog.text
    seen: list[int] = []

    async def consume() -> None:
        stream = follow(store.hub, store, (), ReadFilter(), after=1_000, max_batch=10)
        async for items in stream:
            seen.extend(i.sequence for i in items if not isinstance(i, Gap))
            return

    with anyio.fail_after(HANG_GUARD):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(consume)
            while not store.hub.stats.subscribers:  # subscribed: what follows is live
                await anyio.sleep(0.01)
            assert await append(store, position(serial=3))
    assert seen == [3]
    await store.aclose()
