"""How the writer commits: a batch of any size and mix is one transaction, one row of packed
records, batches that arrive within the commit window share one commit, and no
acknowledgement is released before its batch can be read back from the file."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import anyio
import pytest

from gateway.events import EventKind, HubEvent
from gateway.hub import EventHub
from gateway.store import blob
from gateway.store.base import DataDirIsAFileError, Durability
from gateway.store.commit import FULL_COMMIT
from gateway.store.log import LogStore
from gateway.store.log_process import ProcessLogStore
from gateway.store.sqlite_log import LOG_NAME
from tests.store.test_log_store import ALICE, BOB, Waiter, append, happened, position, read_all
from tests.timeouts import HANG_GUARD

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[ProcessLogStore, LogStore], ids=["process", "thread"])
def store_type(request: pytest.FixtureRequest) -> type[LogStore]:
    """Both writers commit alike: on a thread (the default) or in a process of its own."""
    kind: type[LogStore] = request.param
    return kind


class ReadingWaiter(Waiter):
    """Looks at the file itself the moment a batch is settled: what it holds then."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.stored_then: dict[int, int] = {}

    def batch_done(self, batch: int, stored: bool) -> None:
        with sqlite3.connect(self.path) as db:
            records = db.execute("SELECT coalesce(sum(last - first + 1), 0) FROM commits")
            self.stored_then[batch] = records.fetchone()[0]
        super().batch_done(batch, stored)


async def test_a_large_mixed_batch_comes_back_whole(
    tmp_path: Path, store_type: type[LogStore]
) -> None:
    store = store_type(tmp_path, EventHub(), durability=Durability.OS)
    await store.start()
    events: list[HubEvent] = []
    for serial in range(2051):
        events.append(position(ALICE if serial % 2 else BOB, serial & 0xFFFF))
        if serial % 700 == 0:
            events.append(happened(BOB, EventKind.MESSAGE))
    commits = store.commits
    assert await append(store, *events)
    assert store.commits == commits + 1
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert await read_all(store) == events
    for size in (1, 2, 3, 5, 17, 1023, 1024):
        assert await append(store, *(position(serial=i) for i in range(size)))
    assert len(await read_all(store)) == len(events) + sum((1, 2, 3, 5, 17, 1023, 1024))
    await store.aclose()


async def test_a_commit_is_one_row_whose_records_keep_their_nulls(
    tmp_path: Path, store_type: type[LogStore]
) -> None:
    # One row a commit, keyed by its first sequence, with its receive times; unpacked, the
    # records hold NULL where the schema says (a location without a 0x0704 batch type, a
    # terminal event's batch and its missing body).
    store = store_type(tmp_path, EventHub(), durability=Durability.OS)
    await store.start()
    normal, resent = position(serial=2), position(serial=3)
    normal.batch_type = 0  # a 0x0704 normal batch
    resent.batch_type = 1  # a 0x0704 blind-area re-send
    events: list[HubEvent] = [position(serial=1), normal, resent]
    events.append(happened(BOB, EventKind.MESSAGE))
    assert await append(store, *events)
    assert await read_all(store) == events
    with sqlite3.connect(tmp_path / LOG_NAME) as db:
        rows = db.execute("SELECT first, last, first_at, last_at, records FROM commits").fetchall()
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    [(first, last, first_at, last_at, data)] = rows
    assert (first, last) == (1, 4)
    assert first_at <= last_at
    records = blob.records(data, first, 0)
    assert [(r[0], r[7], r[8] is None) for r in records] == [
        (1, None, False), (2, 0, False), (3, 1, False), (4, None, True)
    ]  # fmt: skip
    await store.aclose()


async def test_batches_within_the_commit_window_share_a_commit_acked_after_it(
    tmp_path: Path, store_type: type[LogStore]
) -> None:
    # A long window, so that the two batches below surely arrive within it.
    store = store_type(tmp_path, EventHub(), durability=Durability.OS, commit_window=2.0)
    await store.start()
    first = ReadingWaiter(tmp_path / LOG_NAME)
    store.notify(first, store.append(position(serial=1)))
    assert await first.settled(1)
    assert first.stored_then == {1: 1}
    commits = store.commits
    # The window that the first write opened is still open: these two wait for its end.
    second = ReadingWaiter(tmp_path / LOG_NAME)
    batch_a = store.append(position(ALICE, 2))
    store.notify(second, batch_a)
    await anyio.sleep(0)
    await anyio.sleep(0)
    batch_b = store.append(position(BOB, 3))
    store.notify(second, batch_b)
    assert batch_b != batch_a
    with anyio.fail_after(HANG_GUARD):
        assert await second.settled(batch_a)
        assert await second.settled(batch_b)
    assert store.commits == commits + 1
    # Neither was acknowledged before both were in the file.
    assert second.stored_then == {batch_a: 3, batch_b: 3}
    await store.aclose()


async def test_a_full_commit_does_not_wait_for_the_window(
    tmp_path: Path, store_type: type[LogStore]
) -> None:
    # A window of an hour: a write of FULL_COMMIT events begins at once all the same (this
    # test would hang on the window otherwise). That smaller writes share a window is shown
    # above.
    store = store_type(tmp_path, EventHub(), durability=Durability.OS, commit_window=3600.0)
    await store.start()
    assert await append(store, position(serial=0))
    full = [position(serial=i) for i in range(1, FULL_COMMIT + 1)]
    with anyio.fail_after(HANG_GUARD):
        assert await append(store, *full)
    assert [e.sequence for e in full] == list(range(2, FULL_COMMIT + 2))
    await store.aclose()


async def test_the_first_write_begins_at_once_however_long_the_window(
    tmp_path: Path, store_type: type[LogStore]
) -> None:
    # A window longer than the machine has been up (the monotonic clock counts from boot): no
    # write has begun yet, so none is waited for.
    window = time.monotonic() + 3600.0
    store = store_type(tmp_path, EventHub(), durability=Durability.OS, commit_window=window)
    await store.start()
    with anyio.fail_after(HANG_GUARD):
        assert await append(store, position(serial=1))
    await store.aclose()


async def test_commits_never_checkpoint_and_the_checkpointer_keeps_the_wal_bounded(
    tmp_path: Path, store_type: type[LogStore]
) -> None:
    limit = 64 * 1024  # a few commits of 300 packed records

    async def write(store: LogStore) -> None:
        for round_ in range(30):
            events = [position(serial=round_ * 300 + i) for i in range(300)]
            assert await append(store, *events)

    # Its checkpointer idle (a round an hour), the writer's commits let the WAL grow.
    idle = store_type(tmp_path / "idle", EventHub(), durability=Durability.OS,
                    checkpoint_interval=3600, wal_limit=limit)  # fmt: skip
    idle_wal = Path(f"{tmp_path / 'idle' / LOG_NAME}-wal")
    await idle.start()
    await write(idle)
    assert idle_wal.stat().st_size > 4 * limit
    # A round finds it past the limit: it is copied and started over, the file cut back.
    await anyio.to_thread.run_sync(idle.checkpointer.checkpoint)
    assert (idle.checkpointer.checkpoints, idle.checkpointer.restarts) == (1, 1)
    assert await append(idle, position(serial=1))
    assert idle_wal.stat().st_size <= limit
    assert len(await read_all(idle)) == 30 * 300 + 1
    await idle.aclose()

    # Running every 10 ms, it keeps the WAL within the limit by itself.
    store = store_type(tmp_path, EventHub(), durability=Durability.OS, checkpoint_interval=0.01,
                     wal_limit=limit)  # fmt: skip
    await store.start()
    await write(store)
    checkpointer = store.checkpointer
    rounds = checkpointer.checkpoints
    with anyio.fail_after(HANG_GUARD):  # a whole round after the last write
        while checkpointer.checkpoints < rounds + 2:
            await anyio.sleep(0.01)
    assert await append(store, position(serial=1))
    assert Path(f"{tmp_path / LOG_NAME}-wal").stat().st_size <= limit
    assert len(await read_all(store)) == 30 * 300 + 1
    await store.aclose()


async def test_a_log_that_cannot_be_opened_at_start_is_a_fault_the_store_recovers_from(
    tmp_path: Path, store_type: type[LogStore]
) -> None:
    # What stands in the log's place (a directory: SQLite cannot open it) goes away later, as
    # a read-only or full data dir may be mended: the gateway starts all the same, withholds
    # every acknowledgement meanwhile, and opens the log by itself when it can.
    (tmp_path / LOG_NAME).mkdir()
    health: list[bool] = []
    store = store_type(tmp_path, EventHub(), durability=Durability.OS,
                       on_health=lambda healthy, _: health.append(healthy))  # fmt: skip
    await store.start()
    assert health == [False]
    assert not store.status().healthy
    with anyio.fail_after(HANG_GUARD):
        assert not await append(store, position(serial=1))
        assert not await append(store, position(serial=2))
    assert health == [False]  # said once
    (tmp_path / LOG_NAME).rmdir()
    kept = position(serial=3)
    with anyio.fail_after(HANG_GUARD):
        while not await append(store, kept):
            await anyio.sleep(0.1)
    assert health == [False, True]
    assert store.status().healthy
    assert [e.serial for e in await read_all(store)] == [3]  # type: ignore[union-attr]
    await store.aclose()


async def test_a_data_dir_that_is_a_file_stops_the_start(
    tmp_path: Path, store_type: type[LogStore]
) -> None:
    data_dir = tmp_path / "data"
    data_dir.write_text("not a directory")
    store = store_type(data_dir, EventHub(), durability=Durability.OS)
    with pytest.raises(DataDirIsAFileError):
        await store.start()
