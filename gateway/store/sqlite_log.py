"""The event log file: SQLite in WAL mode, one row per commit keyed by its first sequence.

A commit's records are packed in one blob (``blob``: a documented, versioned layout; read back
by ``log_reader``) in the table ``commits`` (first and last sequence, earliest and latest
receive time, the records): SQLite then binds and steps one row a commit instead of one a
record. The table ``events``,
one row a record, is the format before it: a data dir written by an older gateway keeps its
rows readable (they are older than any commit) until retention deletes them; nothing new is
written there.

Written by one thread only (the writer thread or process): each commit is one transaction, so
one fsync (``--durability fsync``: ``synchronous=FULL``) or none (``os``:
``synchronous=NORMAL``, which in WAL mode loses nothing when the process dies, only when the
machine does). Readers open their own connections and see committed batches only.

Crash repair: a torn WAL tail is dropped by SQLite itself when the file is next opened (frames
are checksummed). After an unclean stop the file is also checked (``quick_check``); a file that
is not a sound database is moved aside (``events.sqlite3.damaged-<time>``) and a new log begins,
its sequences starting above anything the old one can have held (``FLOOR_MARGIN`` above the
high-water mark written beside it), so that a sequence never repeats. After an unclean stop of
a run with ``--durability os`` (the open mark says which durability the run had) the same jump
follows, whatever this run's: a power loss may have taken batches already numbered.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from .base import Durability, StoreUnavailableError, check_data_dir

LOG_NAME: Final = "events.sqlite3"
#: Holds the highest sequence written, refreshed now and then (see the module docstring).
FLOOR_NAME: Final = "events.floor"
#: Present while the log is open: found at start, the last run did not close it cleanly.
OPEN_MARK: Final = "events.open"
FLOOR_MARGIN: Final = 1 << 24
#: The WAL is started over once it grows past this (``checkpoint.Checkpointer``), and its file
#: truncated back to it.
WAL_LIMIT: Final = 16 * 1024 * 1024
#: Records one retention step deletes, about (whole commits: at least the oldest one): a short
#: transaction on the writer thread, so the commit (and the acknowledgements) waiting behind it
#: are held up for little (a step of 1,000 rows took about a millisecond; one of 20,000 held
#: every ack for tens of them; a commit's records are one row, so a step is cheaper now).
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
);
CREATE TABLE IF NOT EXISTS commits (
    first INTEGER PRIMARY KEY,
    last INTEGER NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    records BLOB NOT NULL
)
"""
#: The oldest and newest sequence: lookups at the ends of the keys. (``min(seq), max(seq)`` in
#: one SELECT is not optimized: SQLite reads the whole table.) Rows of ``events`` (the format
#: before ``commits``) are all older than any commit: new commits go to ``commits`` only.
OLDEST: Final = (
    "SELECT coalesce((SELECT min(seq) FROM events), (SELECT min(first) FROM commits), 0)"
)
NEWEST: Final = (
    "SELECT coalesce((SELECT last FROM commits WHERE first = (SELECT max(first) FROM commits)),"
    " (SELECT max(seq) FROM events), 0)"
)
_INSERT: Final = "INSERT INTO commits (first, last, first_at, last_at, records) VALUES (?,?,?,?,?)"


def _connect(path: Path, durability: Durability, wal_limit: int) -> sqlite3.Connection:
    """The writer's connection. Its commits never checkpoint: ``checkpoint.Checkpointer``
    does, beside it."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={_synchronous(durability)}")
    connection.execute(f"PRAGMA journal_size_limit={wal_limit}")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    return connection


def _read_mark(mark: Path) -> str:
    try:
        return mark.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return ""


def _write_mark(mark: Path, durability: str) -> None:
    """The open mark, holding this run's durability, on disk before the first commit (a power
    loss must not leave an ``os`` run looking clean). On a full disk, an empty mark (which
    reads as "maybe without fsync": the safe side)."""
    try:
        with mark.open("w", encoding="ascii") as file:
            file.write(durability + "\n")
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        mark.touch()
    directory = os.open(mark.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


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
        check_data_dir(self.data_dir)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailableError(f"cannot create it: {error.strerror or error}") from None
        mark = self.data_dir / OPEN_MARK
        unclean = mark.exists()
        # The run that did not close cleanly: its --durability, in the mark it left (empty: a
        # gateway from before the mark said so, or one whose write of it was lost).
        crashed_syncing = unclean and _read_mark(mark) == Durability.FSYNC.value
        try:
            last = self._open_checked(check=unclean)
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError) and not _is_damage(error):
                self.close()
                raise StoreUnavailableError(f"cannot open {self.path.name}: {error}") from None
            last = self.replace_damaged(str(error))
        try:
            _write_mark(mark, self.durability.value)
        except OSError as error:
            self.close()
            raise StoreUnavailableError(f"cannot write in it: {error.strerror or error}") from None
        last = max(last, self.read_floor())
        if unclean and not crashed_syncing:
            # That run did not sync each commit: a power loss can have taken its newest
            # batches, whose numbers someone may have seen. Continue well above them (also when
            # this run syncs: what matters is how the numbers were handed out).
            last += FLOOR_MARGIN
        return last

    def _open_checked(self, *, check: bool) -> int:
        db = self._db = _connect(self.path, self.durability, self.wal_limit)
        if db.execute("PRAGMA page_count").fetchone()[0] == 0:
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # freed pages go back to the disk
        db.executescript(_SCHEMA)
        if check:
            verdict = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {verdict}")
        return int(db.execute(NEWEST).fetchone()[0])

    def replace_damaged(self, why: str) -> int:
        """Move the damaged file aside and start an empty log; returns the sequence floor."""
        floor = self.read_floor()
        with contextlib.suppress(sqlite3.Error):  # what can still be read of the old one
            if self._db is not None:
                floor = max(floor, int(self._db.execute(NEWEST).fetchone()[0]))
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

    def append(self, first: int, last: int, first_at: int, last_at: int, records: bytes) -> None:
        """One commit: the records ``first``-``last`` packed in one blob (``blob``), received
        between ``first_at`` and ``last_at`` (µs). One statement, so one transaction: on
        failure nothing of it is stored."""
        self.db.execute(_INSERT, (first, last, first_at, last_at, records))

    def refuse_writes(self, refuse: bool) -> None:
        """Fault drills: SQLite itself refuses every write (SQLITE_READONLY) while set."""
        self.db.execute(f"PRAGMA query_only={int(refuse)}")

    def trim(
        self, *, before_at: int | None, max_bytes: int | None, step: int = RETENTION_STEP
    ) -> int:
        """One step of retention: delete the oldest records older than ``before_at`` (µs) or
        past ``max_bytes``, about ``step`` records at most; returns how many were deleted (0:
        nothing is due). Commits go whole: a step deletes those that begin below
        ``oldest + step``, so at least the oldest one, however many records it holds. Rows of
        the format before (``events``) are the oldest and go first, row by row. The newest
        record always stays: it tells a reader how far the numbering went (and so how much is
        gone)."""
        oldest, newest = self.bounds()
        if not oldest:
            return 0
        if self.db.execute("SELECT min(seq) FROM events").fetchone()[0] is not None:
            deleted = self._trim_rows(oldest, newest, before_at, max_bytes, step)
        else:
            deleted = self._trim_commits(oldest, newest, before_at, max_bytes, step)
        if deleted:
            self.db.execute("PRAGMA incremental_vacuum").fetchall()  # each row is a step
        return deleted

    def _trim_rows(
        self, oldest: int, newest: int, before_at: int | None, max_bytes: int | None, step: int
    ) -> int:
        db = self.db
        deleted = 0
        if before_at is not None and self._at(oldest) < before_at:
            deleted = db.execute(
                "DELETE FROM events WHERE seq < ? AND at < ?",
                (min(oldest + step, newest), before_at),
            ).rowcount
        excess = self._excess(oldest, newest, max_bytes) if not deleted else 0
        if excess:
            deleted = db.execute(
                "DELETE FROM events WHERE seq < ?", (min(oldest + excess, oldest + step, newest),)
            ).rowcount
        return int(deleted)

    def _trim_commits(
        self, oldest: int, newest: int, before_at: int | None, max_bytes: int | None, step: int
    ) -> int:
        db = self.db
        deleted = 0
        if before_at is not None:
            row = db.execute("SELECT last, last_at FROM commits WHERE first = ?", (oldest,))
            last, last_at = row.fetchone() or (newest, before_at)
            if last < newest and last_at < before_at:
                deleted = _deleted(db.execute(
                    "DELETE FROM commits WHERE first < ? AND last_at < ? AND last < ? "
                    "RETURNING last - first + 1", (oldest + step, before_at, newest),
                ))  # fmt: skip
        excess = self._excess(oldest, newest, max_bytes) if not deleted else 0
        if excess:
            deleted = _deleted(db.execute(
                "DELETE FROM commits WHERE first < ? AND last < ? RETURNING last - first + 1",
                (oldest + min(excess, step), newest),
            ))  # fmt: skip
        return deleted

    def _at(self, sequence: int) -> int:
        row = self.db.execute("SELECT at FROM events WHERE seq = ?", (sequence,)).fetchone()
        return int(row[0]) if row else 0

    def _excess(self, oldest: int, newest: int, max_bytes: int | None) -> int:
        """How many of the oldest records are past ``max_bytes``, at the average record size
        (sequences are dense); 0 when the log is within it."""
        if max_bytes is None:
            return 0
        size = self.size_bytes()
        if size <= max_bytes:
            return 0
        return (size - max_bytes) * (newest - oldest + 1) // size + 1

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
        db = self.db
        return int(db.execute(OLDEST).fetchone()[0]), int(db.execute(NEWEST).fetchone()[0])


def _deleted(cursor: sqlite3.Cursor) -> int:
    """The records of the commits a ``DELETE ... RETURNING last - first + 1`` deleted."""
    return sum(count for (count,) in cursor.fetchall())


def _is_damage(error: sqlite3.Error) -> bool:
    """Errors that say the file is not a sound database (as opposed to: cannot open it)."""
    text = str(error).lower()
    return "malformed" in text or "not a database" in text or "quick_check" in text
