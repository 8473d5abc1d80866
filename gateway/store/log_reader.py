"""Reading the event log (``sqlite_log``'s file): stream replays and the search by time, on
connections of their own in worker threads, beside the writer. Commits are unpacked here
(``blob``, compiled with the protocol core: the writer process does not load this module).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from . import blob
from .base import ReadFilter
from .schema import LOCATION_KIND, SELECT_COLUMNS, Row
from .sqlite_log import NEWEST, OLDEST


class LogReader:
    """A read connection of its own (replays run in worker threads, beside the writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, after: int, limit: int, only: ReadFilter) -> tuple[list[Row], int, int, bool]:
        """Rows after ``after`` matching the kinds of ``only`` (phones are the caller's), the
        last sequence looked at, the oldest stored sequence, and whether more rows follow.
        Raises ``blob.DamagedBlobError`` for a commit that cannot be unpacked."""
        with self._connection() as db:
            db.execute("BEGIN")  # one snapshot for every statement below
            where = "seq > ?"
            if not only.terminal_events:
                where += f" AND kind = {LOCATION_KIND}"
            elif not only.locations:
                where += f" AND kind != {LOCATION_KIND}"
            oldest = db.execute(OLDEST).fetchone()[0]
            # The rows of the format before come first: every commit is newer than them.
            rows: list[Row] = db.execute(
                f"SELECT {SELECT_COLUMNS} FROM events WHERE {where} ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
            if len(rows) < limit:
                rows += _unpacked(db, after, limit - len(rows), only)
            last = rows[-1][0] if rows else after
            more = len(rows) == limit
            if not rows:  # nothing matched: look no further than the newest record
                # (``after`` beyond it is no position in this log: a cursor kept across a
                # replaced data dir; the caller continues from the newest)
                last = int(db.execute(NEWEST).fetchone()[0])
        return rows, last, int(oldest), more

    def count_between(self, after: int, upto: int) -> int:
        """How many records are stored after ``after`` up to ``upto`` (whole commits)."""
        with self._connection() as db:
            rows = db.execute(
                "SELECT coalesce(sum(last - first + 1), 0) FROM commits WHERE first > ? AND "
                "last <= ?",
                (after, upto),
            )
            return int(rows.fetchone()[0])

    def first_at_or_after(self, at: int) -> int:
        """The sequence before the first event at or after ``at`` (µs), by bisection of the
        sequence (times grow with it); the newest sequence when every event is older."""
        with self._connection() as db:
            db.execute("BEGIN")
            newest_row = db.execute(
                "SELECT seq, at FROM events WHERE seq = (SELECT max(seq) FROM events)"
            ).fetchone()
            if newest_row is not None and newest_row[1] >= at:
                return _bisect_rows(db, at)
            found = _bisect_commits(db, at)
            if found is None:
                return int(db.execute(NEWEST).fetchone()[0])
            first, data = found
            for index, moment in enumerate(blob.times(data)):
                if moment >= at:
                    return first + index - 1
            return int(db.execute(NEWEST).fetchone()[0])

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        # Read-write mode (a WAL reader may need to create the shared-memory file), never
        # creating the log: only the writer does that.
        db = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, isolation_level=None)
        try:
            yield db
        finally:
            db.close()


def _unpacked(db: sqlite3.Connection, after: int, limit: int, only: ReadFilter) -> list[Row]:
    """Up to ``limit`` records of ``commits`` after ``after`` of the kinds of ``only``."""
    start = db.execute("SELECT max(first) FROM commits WHERE first <= ?", (after + 1,))
    rows: list[Row] = []
    cursor = db.execute(
        "SELECT first, records FROM commits WHERE first >= ? ORDER BY first",
        (start.fetchone()[0] or 0,),
    )
    for first, data in cursor:
        try:
            rows += blob.records(data, first, after, locations=only.locations,
                                 events=only.terminal_events)  # fmt: skip
        except blob.DamagedBlobError as error:
            why = f"the commit from sequence {first} is damaged: {error}"
            raise blob.DamagedBlobError(why) from None
        if len(rows) >= limit:
            del rows[limit:]
            break
    return rows


def _bisect_rows(db: sqlite3.Connection, at: int) -> int:
    """The sequence before the first row of ``events`` at or after ``at`` (there is one)."""
    low = db.execute("SELECT min(seq) FROM events").fetchone()[0]
    high = db.execute("SELECT max(seq) FROM events").fetchone()[0]
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


def _bisect_commits(db: sqlite3.Connection, at: int) -> tuple[int, bytes] | None:
    """The first commit holding an event at or after ``at`` (its first sequence and records),
    None when there is none."""
    low = db.execute("SELECT min(first) FROM commits").fetchone()[0]
    high = db.execute("SELECT max(first) FROM commits").fetchone()[0]
    if low is None:
        return None
    while low < high:
        middle = (low + high) // 2
        first, last_at = db.execute(
            "SELECT first, last_at FROM commits WHERE first >= ? ORDER BY first LIMIT 1",
            (middle,),
        ).fetchone()
        if last_at < at:
            low = first + 1
        else:
            high = middle
    row = db.execute(
        "SELECT first, last_at, records FROM commits WHERE first >= ? ORDER BY first LIMIT 1",
        (low,),
    ).fetchone()
    if row is None or row[1] < at:
        return None
    return int(row[0]), bytes(row[2])
