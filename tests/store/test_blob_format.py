"""The packed commit format (``gateway.store.blob``): every field comes back as it went in, a
data dir of the row-per-record format keeps working beside it, retention deletes whole commits
and still counts exactly what is gone, the time index finds a time across commits, and a
damaged blob is a clear error, never a traceback from deep inside."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import grpc
import pytest

from controlplane.status import api_error_of
from gateway import native
from gateway.events import EventKind, HubEvent, LocationReported, TerminalEvent
from gateway.hub import EventHub
from gateway.protocol.bodies.passthrough import UplinkPassthrough
from gateway.protocol.body import RawBody
from gateway.protocol.header import Header
from gateway.protocol.message import Message
from gateway.protocol.versions import V2013, V2019
from gateway.store import blob, segments
from gateway.store.base import Durability, ReadFilter
from gateway.store.commit import Committer
from gateway.store.log import LogStore
from gateway.store.log_reader import LogReader
from gateway.store.records import event_of, event_row, location_row, microseconds
from gateway.store.retention import Retention
from gateway.store.rows import pack
from gateway.store.sqlite_log import LOG_NAME, SqliteLog
from tests.store.test_log_store import NOW, append, position, read_all
from tests.timeouts import HANG_GUARD

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent.parent


def every_kind_of_event(now: datetime = NOW) -> list[HubEvent]:
    """Locations with and without a batch type, non-ASCII phones and devices, terminal events
    with and without a message, a raw body and an empty reason."""
    normal, resent = position("013900000002", 2, at=now), position("013900000002", 3, at=now)
    normal.batch_type, resent.batch_type = 0, 1
    return [
        position(serial=1, at=now),
        normal,
        resent,
        LocationReported(
            "终端-1",
            "设备 ü",
            position(serial=4).location,
            0x0201,
            65535,
            None,
            now + timedelta(microseconds=7),
        ),
        TerminalEvent(EventKind.AUTHENTICATED, "013900000001", "dev", now, "10.0.0.1:4000"),
        TerminalEvent(
            EventKind.TRANSPARENT_DATA,
            "终端-1",
            "设备 ü",
            now,
            "",
            "",
            Message(
                Header(0x0900, "终端-1", 7, V2019, 1),
                UplinkPassthrough(type=0x41, data=b"\x01\x02"),
            ),
        ),
        TerminalEvent(
            EventKind.MESSAGE,
            "013900000002",
            "b",
            now,
            "",
            "",
            Message(Header(0x0F0F, "013900000002", 8, V2013, 0, 1), RawBody(raw=b"\xff\x00")),
        ),
        TerminalEvent(EventKind.DISCONNECTED, "013900000001", "a", now, "", "idle_timeout"),
        position("013900000001", 9, at=now - timedelta(seconds=3)),
    ]


def numbered(events: list[HubEvent], first: int = 1) -> list[HubEvent]:
    for sequence, event in enumerate(events, start=first):
        event.sequence = sequence
    return events


def packed(events: list[HubEvent]) -> segments.Segment:
    segment = pack([events])
    assert segment is not None
    return segment


def test_every_field_comes_back_from_a_blob() -> None:
    events = every_kind_of_event()
    segment = packed(events)
    data, count, earliest, latest = segment
    assert count == len(events)
    times = [microseconds(e.received_at if isinstance(e, LocationReported) else e.at)
             for e in events]  # fmt: skip
    assert (earliest, latest) == (min(times), max(times))
    records = blob.records(segments.join([data]), 10, 0)
    assert [event_of(r) for r in records] == numbered(events, 10)
    assert blob.times(segments.join([data])) == times
    # The same records as the row-per-record format held them.
    rows = [location_row(e, microseconds(e.received_at)) if isinstance(e, LocationReported)
            else event_row(e) for e in events]  # fmt: skip
    for row, record in zip(rows, records, strict=True):
        if record[2] == 0:
            assert record == (*row, None, None, None, None, None)
        else:
            assert record == (*row[:7], None, *row[7:])


def test_segments_join_into_one_blob_numbered_across_them() -> None:
    first, second = every_kind_of_event(), every_kind_of_event()[:3]
    data = segments.join([packed(first)[0], packed(second)[0]])
    assert blob.count(data) == len(first) + len(second)
    records = blob.records(data, 1, 0)
    assert [r[0] for r in records] == list(range(1, len(first) + len(second) + 1))
    # Kinds and a sequence to start after, as a replay asks.
    only_locations = blob.records(data, 1, 5, events=False)
    assert [r[0] for r in only_locations] == [9, 10, 11, 12]
    only_events = blob.records(data, 1, 0, locations=False)
    assert [r[0] for r in only_events] == [5, 6, 7, 8]


@pytest.mark.skipif(
    not native.compiled_available(), reason="no compiled core here: run `make native`"
)
def test_the_compiled_packer_writes_what_pure_python_writes() -> None:
    def transcript(pure: str) -> dict[str, object]:
        result = subprocess.run(
            [sys.executable, "-m", "tests.store.blob_transcript"], cwd=ROOT,
            env={**os.environ, "JT808_PURE_PYTHON": pure}, capture_output=True, text=True,
            timeout=HANG_GUARD, check=True,
        )  # fmt: skip
        summary: dict[str, object] = json.loads(result.stdout)
        return summary

    compiled, pure = transcript("0"), transcript("1")
    assert (compiled["compiled"], pure["compiled"]) == (True, False)
    del compiled["compiled"], pure["compiled"]
    assert compiled == pure


# --------------------------------------------------------------------------------------------
# Damage


def test_a_damaged_blob_is_a_clear_error() -> None:
    good = segments.join([packed(every_kind_of_event())[0]])
    cases = {
        b"XX" + good[2:]: "no J8 header",
        good[:2] + b"\x09" + good[3:]: "format version 9",
        good[:-1]: "needs",
        good[:40]: "needs",
        good[:6]: "cut short",
        good + b"\x00": "cut short",
        segments.HEADER: "without records",
    }
    for data, reason in cases.items():
        with pytest.raises(blob.DamagedBlobError, match=reason):
            blob.records(data, 1, 0)


def test_no_garbled_blob_gets_past_the_reader_as_anything_but_a_damaged_blob() -> None:
    good = segments.join([packed(every_kind_of_event())[0]])
    rng = random.Random(808)
    for _ in range(3000):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            blob.records(bytes(data), 1, 0)
            blob.times(bytes(data))
        except blob.DamagedBlobError:
            pass


async def test_a_replay_over_a_damaged_commit_says_which(tmp_path: Path) -> None:
    store = LogStore(tmp_path, EventHub(), durability=Durability.OS)
    await store.start()
    assert await append(store, position(serial=1), position(serial=2))
    with sqlite3.connect(tmp_path / LOG_NAME) as db:
        db.execute("UPDATE commits SET records = substr(records, 1, 30)")
    with pytest.raises(
        blob.DamagedBlobError, match="the commit from sequence 1 is damaged"
    ) as caught:
        await read_all(store)
    await store.aclose()
    # A stream that meets it ends with DATA_LOSS and the reason, not UNKNOWN.
    status = api_error_of(caught.value)
    assert status is not None
    assert status.code == grpc.StatusCode.DATA_LOSS
    assert "sequence 1" in status.details


# --------------------------------------------------------------------------------------------
# A data dir of the format before: rows of ``events``


def write_old_rows(data_dir: Path, events: list[HubEvent]) -> None:
    """What a gateway of the row-per-record format left in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(data_dir / LOG_NAME) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, kind INTEGER "
            "NOT NULL, phone TEXT NOT NULL, device TEXT NOT NULL, msg_id INTEGER, serial "
            "INTEGER, batch INTEGER, body BLOB, remote TEXT, reason TEXT, version INTEGER, "
            "protocol_version INTEGER, encryption INTEGER)"
        )
        for event in numbered(events):
            if isinstance(event, LocationReported):
                db.execute("INSERT INTO events (seq, at, kind, phone, device, msg_id, serial, "
                           "batch, body) VALUES (?,?,?,?,?,?,?,?,?)",
                           location_row(event, microseconds(event.received_at)))  # fmt: skip
            else:
                db.execute("INSERT INTO events (seq, at, kind, phone, device, msg_id, serial, "
                           "body, remote, reason, version, protocol_version, encryption) "
                           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", event_row(event))  # fmt: skip


async def test_rows_of_the_format_before_are_read_first_then_commits(tmp_path: Path) -> None:
    old = every_kind_of_event()[:5]
    write_old_rows(tmp_path, old)
    store = LogStore(tmp_path, EventHub(), durability=Durability.OS)
    await store.start()
    new = every_kind_of_event()
    assert await append(store, *new[:4])
    assert await append(store, *new[4:])
    assert [e.sequence for e in new] == list(range(6, 6 + len(new)))  # numbering continues
    assert await read_all(store) == old + new
    # Pages cross from the rows into the commits with no gap and no repeat.
    seen: list[int] = []
    after = 0
    while True:
        page = await store.read(after, 3, ReadFilter())
        seen += [e.sequence for e in page.events]
        after = page.last
        if not page.more:
            break
    assert seen == list(range(1, 6 + len(new)))
    locations = await read_all(store, 2, ReadFilter(terminal_events=False))
    assert [e.sequence for e in locations] == [3, 4, 6, 7, 8, 9, 14]
    assert store.status().oldest_sequence == 1
    await store.aclose()
    with sqlite3.connect(tmp_path / LOG_NAME) as db:  # nothing new went to the old table
        assert db.execute("SELECT max(seq) FROM events").fetchone()[0] == 5


def test_the_time_index_finds_a_time_in_rows_and_across_commits(tmp_path: Path) -> None:
    # Rows 1-3 at 10, 20, 30 µs; commits 4-6 at 40, 50, 60 and 7-9 at 70, 70, 90.
    write_old_rows(tmp_path, [])
    with sqlite3.connect(tmp_path / LOG_NAME) as db:
        db.executemany("INSERT INTO events (seq, at, kind, phone, device) VALUES (?,?,0,'','')",
                       [(1, 10), (2, 20), (3, 30)])  # fmt: skip
    log = SqliteLog(tmp_path, Durability.OS)
    committer = Committer(log, Retention(None, None, 100), lambda _: None)
    committer.last = log.open()
    for times in ((40, 50, 60), (70, 70, 90)):
        events: list[HubEvent] = [position(serial=t, at=NOW) for t in times]
        segment = packed(events)
        # The same events at the given times: repack with them.
        data = _with_times(segment[0], list(times))
        committer.write([(data, 3, min(times), max(times))])
    reader = LogReader(log.path)
    expected = {0: 0, 10: 0, 11: 1, 30: 2, 31: 3, 40: 3, 45: 4, 60: 5, 61: 6, 70: 6, 71: 8, 90: 8}
    for at, before in expected.items():
        assert reader.first_at_or_after(at) == before, at
    assert reader.first_at_or_after(91) == 9  # every event is older: read after the newest
    log.close()


def test_sequences_taken_by_another_writer_are_stepped_over_not_reused(tmp_path: Path) -> None:
    # A writer process that outlived its gateway (stalled on its disk) may commit after the new
    # gateway's writer opened the log: that writer's next numbers are taken. Its commit fails
    # (not stored: the terminals resend) and the following ones continue above the file's.
    log = SqliteLog(tmp_path, Durability.OS)
    committer = Committer(log, Retention(None, None, 100), lambda _: None)
    committer.last = log.open()
    assert committer.write([packed([position(serial=1)])]) == 0
    late = SqliteLog(tmp_path, Durability.OS)  # the old writer's connection
    late.append(2, 3, 1, 1, segments.join([packed([position(serial=2), position(serial=3)])[0]]))
    late.close()
    with pytest.raises(sqlite3.IntegrityError):
        committer.write([packed([position(serial=4)])])
    assert committer.write([packed([position(serial=5)])]) == 3
    rows, _, _, _ = LogReader(log.path).read(0, 100, ReadFilter())
    assert [row[0] for row in rows] == [1, 2, 3, 4]
    assert [row[6] for row in rows] == [1, 2, 3, 5]  # the refused commit is not in the log
    log.close()


def _with_times(data: bytes, times: list[int]) -> bytes:
    """``data`` (one segment, one receive time) with its records at ``times``."""
    [segment] = blob._segments(segments.join([data]))
    records = segment.records(1, 0, locations=True, events=True)
    texts = sorted({r[3] for r in records} | {r[4] for r in records})
    index = {t: i for i, t in enumerate(texts)}
    n = len(records)
    bodies = [r[8] or b"" for r in records]
    columns = [list(range(n)), [0] * n, [blob.NULL_BATCH] * n, [index[r[3]] for r in records],
               [index[r[4]] for r in records], [r[5] or 0 for r in records],
               [r[6] or 0 for r in records], [0] * n, [len(b) for b in bodies]]  # fmt: skip
    return blob.pack_segment(times, columns, [[], [], [], [], []], texts, bodies)


# --------------------------------------------------------------------------------------------
# Retention


def log_of_commits(tmp_path: Path, sizes: list[int], at: int = 0) -> tuple[SqliteLog, int]:
    """An open log of one commit of ``sizes[i]`` locations each, all received at ``at`` µs
    (0: now); returns it and the last sequence."""
    log = SqliteLog(tmp_path, Durability.OS)
    committer = Committer(log, Retention(None, None, 100), lambda _: None)
    committer.last = log.open()
    serial = 0
    for size in sizes:
        events: list[HubEvent] = [position(serial=serial + i) for i in range(size)]
        data, count, earliest, latest = packed(events)
        if at:
            earliest = latest = at
        committer.write([(data, count, earliest, latest)])
        serial += size
    return log, committer.last


def test_retention_deletes_whole_commits_keeps_the_newest_and_counts_exactly(
    tmp_path: Path,
) -> None:
    log, last = log_of_commits(tmp_path, [5, 7, 3, 10, 2], at=1_000)
    assert (last, log.bounds()) == (27, (1, 27))
    # All too old: a step of 6 deletes the commits that begin below 1 + 6 (1-5 and 6-12).
    assert log.trim(before_at=2_000, max_bytes=None, step=6) == 12
    assert log.bounds() == (13, 27)
    rows, last_seen, oldest, _ = LogReader(log.path).read(0, 100, ReadFilter())
    assert (oldest, rows[0][0], last_seen) == (13, 13, 27)  # 12 gone, exactly
    # A commit larger than the step goes whole, and the newest commit always stays.
    assert log.trim(before_at=2_000, max_bytes=None, step=1) == 3
    assert log.trim(before_at=2_000, max_bytes=None, step=1_000) == 10
    assert log.trim(before_at=2_000, max_bytes=None, step=1_000) == 0
    assert log.bounds() == (26, 27)
    # Nothing is older than the given time: nothing goes.
    assert log.trim(before_at=500, max_bytes=None) == 0
    log.close()


def test_retention_by_size_deletes_the_oldest_commits_a_step_at_a_time(tmp_path: Path) -> None:
    log, last = log_of_commits(tmp_path, [200] * 20)
    size = log.size_bytes()
    deleted = log.trim(before_at=None, max_bytes=size // 2, step=300)
    assert deleted == 400  # commits beginning below 1 + 300: two of 200
    assert log.bounds() == (401, last)
    while log.trim(before_at=None, max_bytes=size // 2, step=300):
        pass
    assert log.size_bytes() <= size // 2
    assert log.bounds()[1] == last
    log.close()


def test_rows_of_the_format_before_age_out_before_any_commit(tmp_path: Path) -> None:
    old = [position(serial=s, at=NOW - timedelta(hours=2)) for s in range(1, 6)]
    write_old_rows(tmp_path, list(old))
    log = SqliteLog(tmp_path, Durability.OS)
    committer = Committer(log, Retention(None, None, 100), lambda _: None)
    committer.last = log.open()
    committer.write([packed([position(serial=6, at=NOW - timedelta(hours=2))])])
    committer.write([packed([position(serial=7)])])
    before = microseconds(NOW - timedelta(hours=1))
    assert log.trim(before_at=before, max_bytes=None, step=3) == 3  # rows, a step at a time
    assert log.trim(before_at=before, max_bytes=None, step=3) == 2
    assert log.bounds() == (6, 7)
    assert log.trim(before_at=before, max_bytes=None, step=3) == 1  # then commits
    assert log.trim(before_at=before, max_bytes=None, step=3) == 0  # the newest stays
    assert log.bounds() == (7, 7)
    log.close()


def test_upkeep_and_reads_never_scan_a_table(tmp_path: Path) -> None:
    log, _ = log_of_commits(tmp_path, [10] * 30)
    statements: list[str] = []
    log.db.set_trace_callback(statements.append)
    assert log.trim(before_at=1, max_bytes=1 << 30) == 0
    log.bounds()
    log.db.set_trace_callback(None)
    for statement in statements:
        plan = log.db.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
        assert not [s for s in plan if s[3].startswith(("SCAN events", "SCAN commits"))], statement
    log.close()
