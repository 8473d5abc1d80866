"""The event log file: SQLite in WAL mode, one table keyed by sequence.

Written by one thread only (``log.LogWriter``): each batch is one transaction, so one fsync
(``--durability fsync``: ``synchronous=FULL``) or none (``os``: ``synchronous=NORMAL``, which in
WAL mode loses nothing when the process dies, only when the machine does). Readers open their
own connections and see committed batches only.

Crash repair: a torn WAL tail is dropped by SQLite itself when the file is next opened (frames
are checksummed). After an unclean stop the file is also checked (``quick_check``); a file that
is not a sound database is moved aside (``events.sqlite3.damaged-<time>``) and a new log begins,
its sequences starting above anything the old one can have held (``FLOOR_MARGIN`` above the
high-water mark written beside it), so that a sequence never repeats. With ``--durability os``
the same jump follows every unclean stop: a power loss may have taken batches already numbered.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Final

from .base import Durability, ReadFilter, StoreUnavailableError
from .schema import (
    EVENT_COLUMNS,
    EVENT_WIDTH,
    LOCATION_COLUMNS,
    LOCATION_KIND,
    LOCATION_WIDTH,
    NO_BATCH,
    SELECT_COLUMNS,
    EventRow,
    Row,
)

LOG_NAME: Final = "events.sqlite3"
#: Holds the highest sequence written, refreshed now and then (see the module docstring).
FLOOR_NAME: Final = "events.floor"
#: Present while the log is open: found at start, the last run did not close it cleanly.
OPEN_MARK: Final = "events.open"
FLOOR_MARGIN: Final = 1 << 24
#: The WAL is started over once it grows past this (``checkpoint.Checkpointer``), and its file
#: truncated back to it.
WAL_LIMIT: Final = 16 * 1024 * 1024
#: Rows one retention step deletes at most: a short transaction on the writer thread, so the
#: commit (and the acknowledgements) waiting behind it are held up for little (a step of
#: 1,000 rows takes about a millisecond; one of 20,000 held every ack for tens of them).
RETENTION_STEP: Final = 1_000
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    phone TEXT NOT NULL,
    device TEXT NOT NULL,
    msg_id INTEGER,
    serial INTEGER,
    batch INTEGER,
    body BLOB,
    remote TEXT,
    reason TEXT,
    version INTEGER,
    protocol_version INTEGER,
    encryption INTEGER
)
"""
#: Rows one INSERT writes at most. A batch is written by as few statements as it can be:
#: ``executemany`` steps into SQLite once a row, letting go of the GIL and waiting to take it back
#: from the busy event loop each time; one statement does it once for the whole batch.
MAX_ROWS: Final = 1024
#: What an INSERT selects from its VALUES: a location's ``batch`` comes as ``NO_BATCH`` for NULL
#: (``rows.number_events``); an event row binds its NULLs as they are (events are few).
_LOCATION_SELECT: Final = (
    f"column1, column2, column3, column4, column5, column6, column7, "
    f"nullif(column8, {NO_BATCH}), column9"
)
_EVENT_SELECT: Final = "*"
#: The oldest and newest sequence: two lookups at the ends of the key. (``min(seq), max(seq)``
#: in one SELECT is not optimized: SQLite reads the whole table.)
_BOUNDS: Final = "SELECT (SELECT min(seq) FROM events), (SELECT max(seq) FROM events)"


def _connect(path: Path, durability: Durability, wal_limit: int) -> sqlite3.Connection:
    """The writer's connection. Its commits never checkpoint: ``checkpoint.Checkpointer``
    does, beside it."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={_synchronous(durability)}")
    connection.execute(f"PRAGMA journal_size_limit={wal_limit}")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    return connection


def _synchronous(durability: Durability) -> str:
    return "FULL" if durability is Durability.FSYNC else "NORMAL"


class SqliteLog:
    """The log file of one data directory. Not thread-safe: one writer thread owns it."""

    def __init__(
        self, data_dir: Path, durability: Durability, *, wal_limit: int = WAL_LIMIT
    ) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOG_NAME
        self.durability = durability
        self.wal_limit = wal_limit
        self._db: sqlite3.Connection | None = None
        #: Set once the log was moved aside and replaced (logged by the caller).
        self.repaired: str | None = None

    # ----------------------------------------------------------------------------------------
    # Opening

    def open(self) -> int:
        """Open (create, repair) the log; returns the sequence to continue after."""
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise StoreUnavailableError("it is a file, not a directory")
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailableError(f"cannot create it: {error.strerror or error}") from None
        unclean = (self.data_dir / OPEN_MARK).exists()
        try:
            last = self._open_checked(check=unclean)
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError) and not _is_damage(error):
                raise StoreUnavailableError(f"cannot open {self.path.name}: {error}") from None
            last = self.replace_damaged(str(error))
        try:
            (self.data_dir / OPEN_MARK).touch()
        except OSError as error:
            raise StoreUnavailableError(f"cannot write in it: {error.strerror or error}") from None
        last = max(last, self.read_floor())
        if unclean and self.durability is Durability.OS:
            # Without fsync, a power loss can take the newest batches, whose numbers someone
            # may have seen: continue well above them.
            last += FLOOR_MARGIN
        return last

    def _open_checked(self, *, check: bool) -> int:
        db = self._db = _connect(self.path, self.durability, self.wal_limit)
        if db.execute("PRAGMA page_count").fetchone()[0] == 0:
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # freed pages go back to the disk
        db.execute(_SCHEMA)
        if check:
            verdict = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {verdict}")
        row = db.execute("SELECT max(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def replace_damaged(self, why: str) -> int:
        """Move the damaged file aside and start an empty log; returns the sequence floor."""
        floor = self.read_floor()
        with contextlib.suppress(sqlite3.Error):  # what can still be read of the old one
            if self._db is not None:
                row = self._db.execute("SELECT max(seq) FROM events").fetchone()
                floor = max(floor, int(row[0] or 0))
        self.close()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        for suffix in ("", "-wal", "-shm"):
            source = self.path.with_name(self.path.name + suffix)
            if source.exists():
                source.rename(self.path.with_name(f"{self.path.name}.damaged-{stamp}{suffix}"))
        self.repaired = f"{why}; moved aside as {self.path.name}.damaged-{stamp}"
        floor += FLOOR_MARGIN
        self._open_checked(check=False)
        self.write_floor(floor)
        return floor

    def read_floor(self) -> int:
        try:
            return int((self.data_dir / FLOOR_NAME).read_text(encoding="ascii").strip() or 0)
        except (OSError, ValueError):
            return 0

    def write_floor(self, sequence: int) -> None:
        """Record the high-water mark (best effort: a failing disk is reported by appends)."""
        target = self.data_dir / FLOOR_NAME
        temporary = target.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            temporary.write_text(f"{sequence}\n", encoding="ascii")
            os.replace(temporary, target)

    def close(self, *, clean: bool = False) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        if clean:
            with contextlib.suppress(OSError):
                (self.data_dir / OPEN_MARK).unlink()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = _connect(self.path, self.durability, self.wal_limit)
        return self._db

    # ----------------------------------------------------------------------------------------
    # Writing (the writer thread)

    def append(self, locations: list[object], events: list[EventRow]) -> None:
        """One transaction for the whole batch; on failure nothing of it is stored.
        ``locations`` are the locations' parameters, flat (``rows.number_events``); the list
        is padded in place."""
        statements = [
            *_inserts(LOCATION_COLUMNS, _LOCATION_SELECT, LOCATION_WIDTH, locations),
            *_inserts(EVENT_COLUMNS, _EVENT_SELECT, EVENT_WIDTH, list(chain.from_iterable(events))),
        ]
        db = self.db
        if len(statements) == 1:  # one statement is a transaction of its own
            db.execute(*statements[0])
            return
        db.execute("BEGIN")
        try:
            for statement in statements:
                db.execute(*statement)
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def refuse_writes(self, refuse: bool) -> None:
        """Fault drills: SQLite itself refuses every write (SQLITE_READONLY) while set."""
        self.db.execute(f"PRAGMA query_only={int(refuse)}")

    def trim(
        self, *, before_at: int | None, max_bytes: int | None, step: int = RETENTION_STEP
    ) -> int:
        """One step of retention: delete the oldest rows older than ``before_at`` (µs) or past
        ``max_bytes``, ``step`` rows at most (their sequences lie below ``oldest + step``);
        returns how many were deleted (0: nothing is due). The newest row always stays: it
        tells a reader how far the numbering went (and so how much is gone)."""
        db = self.db
        oldest, newest = self.bounds()
        if not oldest:
            return 0
        deleted = 0
        if before_at is not None and self._at(oldest) < before_at:
            deleted = db.execute(
                "DELETE FROM events WHERE seq < ? AND at < ?",
                (min(oldest + step, newest), before_at),
            ).rowcount
        size = self.size_bytes() if max_bytes is not None and not deleted else 0
        if max_bytes is not None and size > max_bytes:
            # As many of the oldest as the excess holds at the average row size (sequences
            # are dense), a step at a time.
            rows = (size - max_bytes) * (newest - oldest + 1) // size + 1
            deleted = db.execute(
                "DELETE FROM events WHERE seq < ?",
                (min(oldest + rows, oldest + step, newest),),
            ).rowcount
        if deleted:
            db.execute("PRAGMA incremental_vacuum").fetchall()  # each row is a step
        return int(deleted)

    def _at(self, sequence: int) -> int:
        row = self.db.execute("SELECT at FROM events WHERE seq = ?", (sequence,)).fetchone()
        return int(row[0]) if row else 0

    def checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it (at a clean stop)."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def checkpoint_connection(self) -> sqlite3.Connection:
        """A connection for ``checkpoint.Checkpointer``: it syncs as the writer's does."""
        db = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, isolation_level=None,
                             check_same_thread=False)  # fmt: skip
        db.execute(f"PRAGMA synchronous={_synchronous(self.durability)}")
        return db

    # ----------------------------------------------------------------------------------------
    # Figures

    def size_bytes(self) -> int:
        db = self.db
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * page_size)

    def bounds(self) -> tuple[int, int]:
        """The oldest and newest stored sequence (0, 0 when empty)."""
        row = self.db.execute(_BOUNDS).fetchone()
        return int(row[0] or 0), int(row[1] or 0)


class LogReader:
    """A read connection of its own (replays run in worker threads, beside the writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, after: int, limit: int, only: ReadFilter) -> tuple[list[Row], int, int, bool]:
        """Rows after ``after`` matching the kinds of ``only`` (phones are the caller's), the
        last sequence looked at, the oldest stored sequence, and whether more rows follow."""
        with self._connection() as db:
            db.execute("BEGIN")  # one snapshot for every statement below
            where = "seq > ?"
            if not only.terminal_events:
                where += f" AND kind = {LOCATION_KIND}"
            elif not only.locations:
                where += f" AND kind != {LOCATION_KIND}"
            oldest = db.execute("SELECT min(seq) FROM events").fetchone()[0] or 0
            rows: list[Row] = db.execute(
                f"SELECT {SELECT_COLUMNS} FROM events WHERE {where} ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
            last = rows[-1][0] if rows else after
            more = len(rows) == limit
            if not rows:  # nothing matched: look no further than the newest row
                newest = db.execute("SELECT max(seq) FROM events").fetchone()[0] or 0
                last = max(after, newest)
        return rows, last, int(oldest), more

    def first_at_or_after(self, at: int) -> int:
        """The sequence before the first event at or after ``at`` (µs), by bisection of the
        sequence (times grow with it)."""
        with self._connection() as db:
            low, high = db.execute(_BOUNDS).fetchone()
            if low is None:
                return 0
            while low < high:
                middle = (low + high) // 2
                row = db.execute(
                    "SELECT seq, at FROM events WHERE seq >= ? ORDER BY seq LIMIT 1", (middle,)
                ).fetchone()
                if row[1] < at:
                    low = row[0] + 1
                else:
                    high = middle
            return int(low) - 1

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        # Read-write mode (a WAL reader may need to create the shared-memory file), never
        # creating the log: only the writer does that.
        db = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, isolation_level=None)
        try:
            yield db
        finally:
            db.close()


def _inserts(
    columns: str, select: str, width: int, parameters: list[object]
) -> Iterator[tuple[str, list[object]]]:
    """INSERT statements (SQL, parameters) for the rows laid out flat in ``parameters``
    (``width`` each), ``MAX_ROWS`` at most each. A statement takes a round number of rows
    (``_rows_of``), the missing ones zeros and skipped, so that a few dozen prepared statements
    (SQLite's statement cache keeps them) serve every batch size. Zeros, not NULLs: Python's
    sqlite3 binds an int ten times faster than a None. ``parameters`` itself is padded and
    bound when it fits one statement (a commit's usual case): no copy."""
    rows = len(parameters) // width
    for start in range(0, rows, MAX_ROWS):
        count = min(MAX_ROWS, rows - start)
        whole = count == rows
        chunk = parameters if whole else parameters[start * width : (start + count) * width]
        size = _rows_of(count)
        chunk.extend(_ZEROS[: width * (size - count)])
        yield _insert_sql(columns, select, width, size), chunk


def _rows_of(count: int) -> int:
    """The rows of the statement that writes ``count``: the next power of two up to 16, then
    the next multiple of an eighth of ``count``'s power of two (200 → 208, 1000 → 1024), so
    that at most an eighth of the rows bound and stepped are padding, and 8 sizes an octave
    (about 50 in all) serve every count."""
    if count <= 16:
        return 1 << (count - 1).bit_length()
    step = 1 << (count.bit_length() - 4)
    return -(-count // step) * step


@functools.cache
def _insert_sql(columns: str, select: str, width: int, size: int) -> str:
    row = "(" + ",".join("?" * width) + ")"
    values = ",".join([row] * size)
    # The padding rows have seq (column1) 0, and every sequence is at least 1: the WHERE
    # leaves them out.
    return (
        f"INSERT INTO events ({columns}) SELECT {select} FROM (VALUES {values}) WHERE column1 > 0"
    )


_ZEROS: Final = (0,) * (MAX_ROWS * 16)


def _is_damage(error: sqlite3.Error) -> bool:
    """Errors that say the file is not a sound database (as opposed to: cannot open it)."""
    text = str(error).lower()
    return "malformed" in text or "not a database" in text or "quick_check" in text
