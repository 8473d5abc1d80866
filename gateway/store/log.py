"""The durable ``EventStore``: the event loop hands batches to one writer thread.

On the loop, ``append`` only adds the event to the open batch (``gateway.store.batching``:
one batch per loop iteration, bounded by ``max_pending``). The writer thread takes every sealed
batch that is waiting (group commit: while it commits, the next batches gather), packs their
events in the log's blob format (``rows.pack``, compiled) and writes them as one row, one
transaction (``commit.Committer``, shared with the writer process), and hands the outcome back
with one ``call_soon_threadsafe``. Back on the loop, the
events are numbered as the commit numbered them, the stored ones go to the hub's subscribers
and then every waiting connection releases its acknowledgements (or withholds them, when the
write failed).

Faults: a failed write stores nothing of its batches; the next batch tries again, so the store
recovers by itself when the disk does. The change between working and failing is logged once
each way. A log that cannot be opened at start (a read-only or full data dir) is the same
fault: the gateway starts without it, settles every batch not stored, and the writer tries to
open it again every ``OPEN_RETRY`` seconds. Only a data dir that is a file stops the start.

When a commit begins is ``commit.CommitSchedule``'s rule, shared with the writer process: at
once when the last one began at least ``commit_window`` (2 ms) ago, when it already holds
``FULL_COMMIT`` events, or after a quiet spell; else what arrives until the window ends joins
it, so many terminals share one commit (one fsync). Under a saturating load the commits' own
duration is longer than the window, so they follow each other without a pause. Checkpoints of
the WAL run beside the writer (``checkpoint.Checkpointer``), never inside its commits.

Retention runs on the writer thread between batches, a short transaction at a time (about
``RETENTION_STEP`` records, in whole commits): when idle, steps follow each other until nothing
is due or appends wait; under load, while more is due, one step follows each commit, after its
acknowledgements are on their way. So a step holds the next commit up for about a millisecond
at most, and retention still outpaces any rate of appends.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Final

import anyio.to_thread

from gateway.hub import EventHub
from gateway.protocol.header import phone_key
from gateway.server.logs import get_logger

from .base import (
    DataDirIsAFileError,
    Durability,
    ReadFilter,
    ReadResult,
    StoreStatus,
)
from .batching import Batch, BatchingStore
from .blob import DamagedBlobError
from .checkpoint import Checkpointer
from .commit import COMMIT_WINDOW, CommitSchedule, Committer
from .log_reader import LogReader
from .records import event_of, microseconds
from .retention import Retention
from .rows import pack, renumber
from .sqlite_log import RETENTION_STEP, WAL_LIMIT, SqliteLog
from .writer import IDLE_RETENTION_STEPS, MAINTENANCE_INTERVAL

#: Events appended but not yet stored, at most (their terminals wait for acknowledgements).
MAX_PENDING: Final = 65_536
#: How often the WAL is checkpointed (seconds; ``checkpoint.Checkpointer``).
CHECKPOINT_INTERVAL: Final = 0.5
DEFAULT_RETENTION_AGE: Final = 7 * 24 * 3600.0
DEFAULT_RETENTION_BYTES: Final = 10 * 1024**3
#: How often a log that could not be opened at start is tried again (seconds).
OPEN_RETRY: Final = 1.0
log = get_logger()


#: Told (on the loop) when the store starts or stops working: healthy, and why not.
HealthListener = Callable[[bool, str], None]


class LogStore(BatchingStore):
    """``EventStore`` on the SQLite log of ``data_dir``."""

    replays = True
    defers_acks = True

    def __init__(
        self,
        data_dir: Path,
        hub: EventHub,
        *,
        durability: Durability = Durability.FSYNC,
        retention_age: float | None = DEFAULT_RETENTION_AGE,
        retention_bytes: int | None = DEFAULT_RETENTION_BYTES,
        max_pending: int = MAX_PENDING,
        commit_window: float = COMMIT_WINDOW,
        checkpoint_interval: float = CHECKPOINT_INTERVAL,
        wal_limit: int = WAL_LIMIT,
        retention_step: int = RETENTION_STEP,
        on_health: HealthListener | None = None,
    ) -> None:
        super().__init__(max_pending)
        self.hub = hub
        self._deliver = hub.deliver
        self.durability = durability
        self.retention_age = retention_age
        self.retention_bytes = retention_bytes
        self.commit_window = commit_window
        self.retention_step = retention_step
        self.on_health = on_health
        self._log = SqliteLog(data_dir, durability, wal_limit=wal_limit)
        self.checkpointer = Checkpointer(
            self._log.checkpoint_connection, interval=checkpoint_interval, limit=wal_limit
        )
        self._reader = LogReader(self._log.path)
        self._queue: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        #: The writer thread's (``_run``); retention there says whether more may be due.
        self._retention = Retention(retention_age, retention_bytes, retention_step)
        self._committer = Committer(self._log, self._retention, self._repaired_on_writer)
        #: The last sequence stored and the commits made, as the loop knows them.
        self._last = 0
        self.commits = 0
        self._healthy = True
        self._status = StoreStatus()
        #: Why the log could not be opened yet (None: it is open). Written by the writer.
        self._unopened: str | None = None

    # ----------------------------------------------------------------------------------------
    # Life cycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            last = await anyio.to_thread.run_sync(self._log.open)
        except DataDirIsAFileError:
            raise
        except (OSError, sqlite3.Error) as error:
            # Not fatal: the writer tries again; meanwhile nothing is acknowledged.
            self._unopened = str(error)
            self._health(False, f"cannot open the event log: {error}")
        else:
            self._committer.last = last  # the writer thread does not run yet
            self._refresh_status()
            self._opened(last, self._log.repaired)
        self._thread = threading.Thread(target=self._run, name="jt808-event-log", daemon=True)
        self._thread.start()
        self.checkpointer.start()

    def _opened(self, last: int, repaired: str | None) -> None:
        """On the loop: the log is open, its newest sequence ``last`` (the writer's committer
        knows it already: opened late, it may have committed since)."""
        if repaired is not None:
            self._log_repaired(repaired)
        self._last = max(self._last, last)
        log.info(
            "event log open",
            extra={"path": str(self._log.path), "durability": self.durability.value,
                   "last_sequence": last},
        )  # fmt: skip
        self._health(True, "")

    async def aclose(self) -> None:
        """Store what is appended, settle every waiter, stop the writer, close the file."""
        if self._thread is None:
            return
        if self._open.events or self._open.waiters:
            self._seal()
        self._queue.put(None)
        thread, self._thread = self._thread, None
        await anyio.to_thread.run_sync(thread.join)
        await anyio.sleep(0)  # run the last call_soon_threadsafe of the writer

    # ----------------------------------------------------------------------------------------
    # The loop side

    def _hand_over(self, batch: Batch) -> None:
        self._queue.put(batch)

    def _committed(self, batches: list[Batch], base: int | None, error: str) -> None:
        """Back on the loop: ``batches`` are stored, numbered after ``base``, or not stored
        (``base`` None) because of ``error``."""
        if base is None:
            self._health(False, error)
            self._settled(batches, False)
            return
        last = base
        for batch in batches:
            last = renumber(batch.events, last)
        if last > self._last:
            self._last = last
            self.commits += 1
        if last > base:  # a write that stored something
            self._health(True, "")
        self._settled(batches, True)

    def _health(self, healthy: bool, reason: str) -> None:
        """Whether writes work now: logged and told (``on_health``) once per change."""
        if healthy == self._healthy:
            return
        self._healthy = healthy
        if healthy:
            log.warning("event log writes again; terminals are acknowledged again",
                        extra={"path": str(self._log.path)})  # fmt: skip
        else:
            log.error(
                "event log write failed; terminals are not acknowledged until it works again",
                extra={"path": str(self._log.path), "error": reason},
            )
        if self.on_health is not None:
            self.on_health(healthy, reason)

    # ----------------------------------------------------------------------------------------
    # Reading (worker threads)

    async def read(self, after: int, limit: int, only: ReadFilter) -> ReadResult:
        rows, last, oldest, more = await anyio.to_thread.run_sync(
            self._reader.read, after, limit, only
        )
        try:
            events = [event_of(row) for row in rows]
        except (KeyError, ValueError) as error:  # a row no gateway wrote: a damaged file
            raise DamagedBlobError(f"a record of the log is damaged: {error!r}") from None
        if only.phone_keys:
            keys = only.phone_keys
            events = [e for e in events if phone_key(e.phone) in keys]
        gone = max(0, oldest - 1 - after) if oldest else 0
        if last < after:
            log.warning("a stream resumed after a sequence this log never reached (a cursor "
                        "from another data dir?): it continues from the newest",
                        extra={"after_sequence": after, "newest": last})  # fmt: skip
        return ReadResult(events, last, gone, more)

    async def sequence_at(self, moment: datetime) -> int:
        """The sequence to read after for the events from ``moment`` on."""
        return await anyio.to_thread.run_sync(self._reader.first_at_or_after, microseconds(moment))

    @property
    def trimmed(self) -> int:
        """Records retention deleted since start."""
        return self._retention.trimmed

    @property
    def largest_step(self) -> int:
        """The most records one retention step deleted."""
        return self._retention.largest_step

    def status(self) -> StoreStatus:
        status = self._status
        return StoreStatus(
            self._healthy, status.size_bytes, status.oldest_sequence, self._last, self._pending,
            self.unstored + self.refused,
        )  # fmt: skip

    def fail_writes(self, failing: bool) -> None:
        """Fault drills: SQLite refuses every write (as for a read-only data dir) until
        called with False. Applied by the writer before its next batch."""
        self._committer.drill(failing)

    # ----------------------------------------------------------------------------------------
    # The writer thread

    def _run(self) -> None:
        if self._unopened is not None and not self._open_late():
            self.checkpointer.stop()  # stopped before the log could be opened: nothing to close
            return
        next_maintenance = time.monotonic() + MAINTENANCE_INTERVAL
        schedule = CommitSchedule(self.commit_window)
        stopping = False
        while not stopping:
            timeout = max(0.0, next_maintenance - time.monotonic())
            try:
                first = self._queue.get(timeout=timeout)
            except queue.Empty:
                first = _IDLE
            taken: list[Batch] = []
            if first is None:
                stopping = True
            elif first is not _IDLE:
                taken.append(first)
                stopping = self._take(taken)
                wait = schedule.delay(time.monotonic(), _events(taken))
                if wait > 0 and not stopping:
                    time.sleep(wait)
                    stopping = self._take(taken)
            if taken:
                schedule.begin(time.monotonic())
                stored = self._write(taken)
                if self._retention.trimming and stored:
                    self._committer.retain(steps=1, appends_wait=self._appends_wait)
            if stopping or time.monotonic() >= next_maintenance:
                self._committer.maintain(steps=IDLE_RETENTION_STEPS,
                                         appends_wait=self._appends_wait)  # fmt: skip
                self._refresh_status()
                next_maintenance = time.monotonic() + MAINTENANCE_INTERVAL
        last = self._committer.last
        self.checkpointer.stop()
        self._log.write_floor(last)
        with contextlib.suppress(sqlite3.Error):
            self._log.checkpoint()
        self._log.close(clean=True)
        log.info("event log closed",
                 extra={"last_sequence": last, "commits": self._committer.commits})  # fmt: skip

    def _open_late(self) -> bool:
        """The log could not be opened at start: try again every ``OPEN_RETRY`` seconds,
        settling every batch not stored at once meanwhile (nothing waits, nothing grows). True
        once the log is open, False when told to stop first."""
        while True:
            try:
                last = self._log.open()
            except (OSError, sqlite3.Error) as error:  # StoreUnavailableError among them
                self._unopened = str(error)
            else:
                self._unopened = None
                self._committer.last = last
                self._refresh_status()
                self._call(self._opened, last, self._log.repaired)
                return True
            deadline = time.monotonic() + OPEN_RETRY
            while (left := deadline - time.monotonic()) > 0:
                try:
                    first = self._queue.get(timeout=left)
                except queue.Empty:
                    break
                if first is None:
                    return False
                taken = [first]
                stopping = self._take(taken)
                self._call(self._committed, taken, None, f"cannot open the event log: "
                           f"{self._unopened}")  # fmt: skip
                if stopping:
                    return False

    def _take(self, taken: list[Batch]) -> bool:
        """Group commit: add every batch sealed meanwhile; True when told to stop."""
        get = self._queue.get_nowait
        while True:
            try:
                more = get()
            except queue.Empty:
                return False
            if more is None:
                return True
            taken.append(more)

    def _write(self, batches: list[Batch]) -> bool:
        """One commit of ``batches``, packed here (one segment for all: the packing's cost a
        segment is paid once a commit, and it runs while the loop waits in its selector as
        often as not); the outcome goes to the loop (``_committed``)."""
        try:
            segment = pack([batch.events for batch in batches])
            base = self._committer.write([segment] if segment else [])
        except Exception as error:  # a bug must not stop the writer: the batch is not stored
            if not isinstance(error, sqlite3.Error | OSError):
                log.exception("event log writer failed")
            self._call(self._committed, batches, None, str(error))
            return False
        self._call(self._committed, batches, base, "")
        return True

    def _repaired_on_writer(self, detail: str) -> None:
        self._call(self._log_repaired, detail)

    def _log_repaired(self, detail: str) -> None:
        log.error("event log was damaged and has been replaced",
                  extra={"path": str(self._log.path), "detail": detail})  # fmt: skip

    def _appends_wait(self) -> bool:
        return not self._queue.empty()

    def _refresh_status(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            oldest, newest = self._log.bounds()
            self._status = StoreStatus(
                self._healthy, self._log.size_bytes(), oldest, max(newest, self._committer.last)
            )

    def _call(self, callback: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(callback, *args)


def _events(batches: list[Batch]) -> int:
    return sum([len(batch.events) for batch in batches])


_IDLE: Final = Batch(0)
