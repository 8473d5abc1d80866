"""The durable ``EventStore`` with its writer in a process of its own (``writer``).

The writer thread of ``log.LogStore`` shares the GIL with the event loop: every commit takes
it back several times (binding each row's parameters, after each SQLite step, to hand the
outcome back), and under a saturating load the loop holds it most of the time, so the commits
(and the acknowledgements waiting for them) are slowed by waits for the GIL, not by the disk.
Here the loop packs each sealed batch (``rows.pack``, as for the thread, then
``channel.frame``) and writes it to a socket pair; the writer process, with its own GIL, joins
the segments of a commit into one blob, commits and answers on the same socket, which the loop
reads like any connection. On the answer the loop numbers the batch's events as the writer did
(``LogStore._committed``), delivers them and releases the acknowledgements.

Reads (stream replays) and the WAL checkpoints stay in this process, on connections of their
own: SQLite's WAL lets readers and a checkpointer work beside a writer in another process.

A writer that dies is noticed at once (its socket closes): the batches it held are settled
not stored (their terminals are not acknowledged and resend), the loss is logged and counted,
and a new writer is started, which repairs the log as at any start. While none runs, batches
are settled not stored at once: nothing waits for it, nothing grows.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any, Final

import anyio.to_thread

from gateway.hub import EventHub
from gateway.server.logs import get_logger

from . import channel
from .base import StoreStatus, StoreUnavailableError, check_data_dir
from .batching import Batch
from .log import LogStore
from .rows import pack

#: Bytes of batches sent to the writer and not yet answered, at most: past it a batch is
#: refused (not acknowledged) rather than queued, so a writer stalled on its disk holds a
#: bounded amount of memory here (``max_pending`` bounds the events; this, their bytes).
MAX_IN_FLIGHT_BYTES: Final = 64 * 1024 * 1024
#: How long a new writer waits before it is started again, when the last one could not open
#: the log (seconds).
RESTART_DELAY: Final = 1.0
log = get_logger()


def log_store_type(writer: str) -> type[LogStore]:
    """The log store class for ``--log-writer``: ``process`` (the default) or ``thread``."""
    return ProcessLogStore if writer == "process" else LogStore


class ProcessLogStore(LogStore):
    """``EventStore`` on the SQLite log of ``data_dir``, written by a process of its own."""

    def __init__(
        self,
        data_dir: Path,
        hub: EventHub,
        *,
        max_in_flight_bytes: int = MAX_IN_FLIGHT_BYTES,
        **settings: Any,
    ) -> None:
        """``settings`` as ``LogStore``'s: the writer process gets them at its start."""
        super().__init__(data_dir, hub, **settings)
        self.max_in_flight_bytes = max_in_flight_bytes
        #: Sent to the writer, not yet answered: (batch, its bytes), oldest first.
        self._in_flight: deque[tuple[Batch, int]] = deque()
        self._in_flight_bytes = 0
        self._channel: _Channel | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ready: asyncio.Future[int] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._stopping = False
        #: A writer opened the log and has not died since.
        self._running = False
        self._restart: asyncio.Task[None] | None = None
        #: Writers that died (or broke the channel) and were replaced.
        self.writer_losses = 0
        #: A writer is being started in place of one that died (not one that never started).
        self._replacing = False

    # ----------------------------------------------------------------------------------------
    # Life cycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        check_data_dir(self._log.data_dir)
        self.checkpointer.start()
        try:
            last = await self._spawn()
        except StoreUnavailableError as error:
            # Not fatal: writers are started until one opens the log; meanwhile nothing is
            # acknowledged (``_hand_over`` settles every batch not stored at once).
            self._health(False, f"cannot open the event log: {error}")
            self._restart = asyncio.ensure_future(self._replace(str(error)))
            return
        self._last = max(self._last, last)
        log.info(
            "event log open",
            extra={"path": str(self._log.path), "durability": self.durability.value,
                   "last_sequence": last, "writer_pid": self.writer_pid},
        )  # fmt: skip

    @property
    def writer_pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def _spawn(self) -> int:
        """Start a writer and wait until it opened the log; returns the last sequence."""
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        try:
            # A fresh interpreter (not a fork of this one, which has threads), from the loop's
            # thread: the child inherits nothing but its end of the socket pair.
            self._process = subprocess.Popen(
                [sys.executable, "-m", "gateway.store.writer", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            theirs.close()
        self._ready = ready = loop.create_future()
        self._closed = loop.create_future()
        _, protocol = await loop.create_unix_connection(lambda: _Channel(self), sock=ours)
        self._channel = protocol
        protocol.send((channel.OPEN, str(self._log.data_dir), self.durability.value,
                       self._log.wal_limit, self.retention_age, self.retention_bytes,
                       self.retention_step, self.commit_window))  # fmt: skip
        try:
            return int(await ready)
        except BaseException:
            await self._reap()
            raise

    async def aclose(self) -> None:
        """Store what is appended, settle every waiter, stop the writer, close the file."""
        if self._loop is None or self._stopping:
            return
        self._stopping = True
        if self._restart is not None:
            self._restart.cancel()
        if self._open.events or self._open.waiters:
            self._seal()
        await anyio.to_thread.run_sync(self.checkpointer.stop)
        if self._channel is not None and self._closed is not None:
            self._channel.send((channel.STOP,))
            await asyncio.shield(self._closed)
        await self._reap()
        log.info("event log closed", extra={"last_sequence": self._last, "commits": self.commits})

    async def _reap(self) -> None:
        process, self._process = self._process, None
        if self._channel is not None:
            self._channel.close()
        if process is not None:
            await anyio.to_thread.run_sync(process.wait)

    # ----------------------------------------------------------------------------------------
    # The loop side

    def _hand_over(self, batch: Batch) -> None:
        writer = self._channel
        if writer is None or self._in_flight_bytes > self.max_in_flight_bytes:
            self._settled([batch], False)  # no writer now, or it is far behind: not stored
            return
        # Packed here, the writer joins the segments of a commit without unpacking them; the
        # events are numbered when the answer says after which sequence they were stored.
        try:
            segment = pack([batch.events])
        except Exception as error:  # a bug: these terminals resend, the rest goes on
            log.exception("event log: a batch could not be packed")
            self._committed([batch], None, f"cannot pack: {error!r}")
            return
        message = channel.frame((channel.BATCH, batch.id, segment))
        self._in_flight.append((batch, len(message)))
        self._in_flight_bytes += len(message)
        writer.write(message)

    def fail_writes(self, failing: bool) -> None:
        """Fault drills: SQLite refuses every write (as for a read-only data dir) until
        called with False. The writer applies it before the batches sealed after this call."""
        if self._open.events or self._open.waiters:
            self._seal()  # what was appended before the drill is written before it
        if self._channel is not None:
            self._channel.send((channel.DRILL, failing))

    def status(self) -> StoreStatus:
        status = self._status
        return StoreStatus(
            self._healthy, status.size_bytes, status.oldest_sequence,
            max(self._last, status.last_sequence), self._pending, self.unstored + self.refused,
        )  # fmt: skip

    def _received(self, message: channel.Message) -> None:
        kind = message[0]
        if kind == channel.COMMITTED:
            self._answered(_int(message[1]), _int(message[2]))
        elif kind == channel.FAILED:
            self._answered(_int(message[1]), None, str(message[2]))
        elif kind == channel.FIGURES:
            size, oldest, newest, _, trimmed, largest = map(_int, message[1:])
            self._retention.trimmed, self._retention.largest_step = trimmed, largest
            self._status = StoreStatus(self._healthy, size, oldest, newest)
        elif kind == channel.REPAIRED:
            self._log_repaired(str(message[1]))
        elif kind == channel.READY:
            if message[2] is not None:
                self._log_repaired(str(message[2]))
            self._running = True
            last = _int(message[1])
            if self._replacing and last > self._last:
                self._undelivered(last)
            if not self.writer_losses:  # opened at last, after a start that could not open it
                self._health(True, "")
            _resolve(self._ready, last)
        elif kind == channel.UNAVAILABLE:
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(StoreUnavailableError(str(message[1])))
        elif kind == channel.CLOSED:
            self._last = max(self._last, _int(message[1]))
            _resolve(self._closed, None)
        else:
            raise channel.ChannelError(f"unknown message {kind!r}")

    def _answered(self, last_batch: int, base: int | None, error: str = "") -> None:
        """Settle every batch up to ``last_batch``: stored and numbered after ``base``, or not
        stored (``base`` None) because of ``error``."""
        batches: list[Batch] = []
        in_flight = self._in_flight
        while in_flight and in_flight[0][0].id <= last_batch:
            batch, size = in_flight.popleft()
            self._in_flight_bytes -= size
            batches.append(batch)
        self._committed(batches, base, error)

    def _lost(self, why: str) -> None:
        """The writer's socket closed: at a stop, expected; else the writer died."""
        self._channel = None
        running, self._running = self._running, False
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(StoreUnavailableError(f"the log writer did not start: {why}"))
        _resolve(self._closed, None)
        unanswered = [batch for batch, _ in self._in_flight]
        self._in_flight.clear()
        self._in_flight_bytes = 0
        if unanswered:
            self._settled(unanswered, False)
        if self._stopping or not running:
            return
        self.writer_losses += 1
        log.error("event log writer process died; its batches are not acknowledged; restarting it",
                  extra={"path": str(self._log.path), "error": why,
                         "pid": self.writer_pid})  # fmt: skip
        self._health(False, f"the log writer died: {why}")
        self._restart = asyncio.ensure_future(self._replace())
        self._replacing = True

    def _undelivered(self, last: int) -> None:
        """A new writer found the log going up to ``last``, past what the loop was told: the
        dead writer stored batches and died before it answered. They stay unacknowledged (the
        terminals resend), but they are stored and numbered: subscribers get a ``Gap`` now,
        before anything the new writer stores, so that a stream resumed from a sequence reads
        them back from the log instead of stepping over them. (A short read on the loop, once
        per writer lost.)"""
        try:
            count = self._reader.count_between(self._last, last)
        except sqlite3.Error:
            count = 1  # how many is unknown; that some may be is enough for a follower
        if count:
            log.warning("events the dead log writer stored were not delivered live; streams "
                        "read them back from the log", extra={"events": count})  # fmt: skip
            self.hub.skipped(count)

    async def _replace(self, failed: str = "") -> None:
        """Start a writer in place of one that died, or of the first when it could not open
        the log (``failed``: why), until one opens the log. A reason is logged when it
        changes, not every round."""
        await self._reap()
        try:
            while not self._stopping:
                try:
                    # Not max(self._last, await ...): commits answered while it starts raise it.
                    opened = await self._spawn()
                    self._last = max(self._last, opened)
                except (StoreUnavailableError, OSError) as error:
                    if str(error) != failed:
                        failed = str(error)
                        log.error("event log writer could not be started",
                                  extra={"path": str(self._log.path), "error": failed})  # fmt: skip
                    await asyncio.sleep(RESTART_DELAY)
                    continue
                where = {"path": str(self._log.path), "pid": self.writer_pid,
                         "last_sequence": self._last}  # fmt: skip
                log.warning("event log writer started again", extra=where)
                return
        finally:
            self._replacing = False


class _Channel(asyncio.Protocol):
    """The loop's end of the socket pair to the writer."""

    def __init__(self, store: ProcessLogStore) -> None:
        self.store = store
        self.unframer = channel.Unframer()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def send(self, message: channel.Message) -> None:
        self.write(channel.frame(message))

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        try:
            for message in self.unframer.feed(data):
                self.store._received(message)
        except (channel.ChannelError, ValueError, TypeError) as error:
            log.error("event log writer sent garbage", extra={"error": str(error)})
            self.close()  # connection_lost follows: the writer is replaced

    def connection_lost(self, exc: Exception | None) -> None:
        if self.store._channel is self or self.store._channel is None:
            self.store._lost(str(exc) if exc else "its socket closed")


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise channel.ChannelError(f"an int expected, not {type(value).__name__}")
    return value


def _resolve(future: asyncio.Future[Any] | None, value: object) -> None:
    if future is not None and not future.done():
        future.set_result(value)
