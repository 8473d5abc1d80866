"""The event log's writer, a process of its own: ``python -m gateway.store.writer FD``.

The loop sends it sealed batches over the socket pair ``FD`` (``channel``), each packed in a
segment of the log's blob format; it writes every batch waiting as one commit, one row
(``commit.Committer``, as the writer thread does; group commit: while it commits, the next
batches gather in the socket), numbered after the last sequence, and answers "stored up to
batch N, numbered after S" or "not stored, because ...". Its own interpreter, so its own GIL:
writing a commit and stepping SQLite never waits for the event loop, nor the loop for it, and the
answer is an ordinary readable socket on the loop (no thread hand-off). It loads SQLite and
``sqlite_log`` only, not the protocol core.

Commit timing, retention, faults and the high-water mark are those of the writer thread it
replaced (``log``): ``commit.CommitSchedule`` decides when a commit begins (at least the commit
window after the last one began, unless ``FULL_COMMIT`` events wait); a failed write stores
nothing of its batches and the next one tries again; retention runs a short step at a time
between commits. When the loop's end of the socket closes
(the gateway died), the writer stops at once without marking the log cleanly closed.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path
from typing import Final

from . import channel
from .base import Durability, StoreUnavailableError
from .commit import CommitSchedule, Committer
from .retention import Retention
from .segments import Segment
from .sqlite_log import SqliteLog

#: How often the writer looks at retention and sends its figures when idle (seconds).
MAINTENANCE_INTERVAL: Final = 1.0
#: Retention steps one idle maintenance tick takes at most (it stops early when appends wait).
IDLE_RETENTION_STEPS: Final = 64
_RECEIVE: Final = 1 << 20

#: A sealed batch as received: its id and its events packed (None: it has none).
Batch = tuple[int, Segment | None]


class Writer:
    def __init__(self, sock: socket.socket, settings: channel.Message) -> None:
        _, data_dir, durability, wal_limit, age, size, step, window = settings
        self.retention = Retention(None if age is None else _number(age),
                                   None if size is None else int(_number(size)),
                                   int(_number(step)))  # fmt: skip
        self.commit_window = _number(window)
        self.sock = sock
        self.log = SqliteLog(Path(str(data_dir)), Durability(str(durability)),
                             wal_limit=int(_number(wal_limit)))  # fmt: skip
        self.committer = Committer(self.log, self.retention, self._repaired)
        self._unframer = channel.Unframer()
        self._stopping = False
        self._lost = False  # the loop's end closed: stop without a clean close
        #: Messages received and not handled yet.
        self._inbox: list[channel.Message] = []

    # ----------------------------------------------------------------------------------------

    def open(self) -> bool:
        try:
            self.committer.last = self.log.open()
        except StoreUnavailableError as error:
            self._send((channel.UNAVAILABLE, str(error)))
            return False
        except (sqlite3.Error, OSError) as error:  # as the thread writer's start raised them
            self._send((channel.UNAVAILABLE, f"cannot open {self.log.path.name}: {error}"))
            return False
        self._send((channel.READY, self.committer.last, self.log.repaired))
        self._send_figures()
        return True

    def run(self) -> None:
        next_maintenance = time.monotonic() + MAINTENANCE_INTERVAL
        schedule = CommitSchedule(self.commit_window)
        while not self._stopping:
            batches = self._take(max(0.0, next_maintenance - time.monotonic()))
            if batches and not self._stopping:
                wait = schedule.delay(time.monotonic(), _events(batches))
                if wait > 0:
                    time.sleep(wait)
                    batches += self._take(0.0)
            if batches:
                schedule.begin(time.monotonic())
                stored = self._write(batches)
                if self.retention.trimming and stored:
                    # Under load: a step a commit, while some is due.
                    self.committer.retain(steps=1, appends_wait=self._waiting)
            if self._stopping or time.monotonic() >= next_maintenance:
                if self._lost:
                    break
                self._maintain()
                next_maintenance = time.monotonic() + MAINTENANCE_INTERVAL
        self._close()

    def _take(self, timeout: float) -> list[Batch]:
        """Every batch received by now, waiting up to ``timeout`` for the first message;
        a ``DRILL`` or ``STOP`` among them ends the list (what came before is written first)."""
        if not self._inbox:
            self._receive(timeout)
        batches: list[Batch] = []
        inbox = self._inbox
        while inbox:
            message = inbox[0]
            kind = message[0]
            if kind == channel.BATCH:
                del inbox[0]
                batches.append((int(_number(message[1])), _segment(message[2])))
                continue
            if batches:
                break  # the drill applies to the batches after it
            del inbox[0]
            if kind == channel.DRILL:
                self.committer.drill(bool(message[1]))
            elif kind == channel.STOP:
                self._stopping = True
            break
        return batches

    def _receive(self, timeout: float) -> None:
        """Read what has arrived (waiting up to ``timeout`` for something)."""
        sock = self.sock
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            return
        while True:
            try:
                data = sock.recv(_RECEIVE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:  # reset: the gateway is gone as surely as with an end of file
                data = b""
            if not data:
                self._lost = self._stopping = True
                return
            self._inbox += self._unframer.feed(data)

    # ----------------------------------------------------------------------------------------

    def _write(self, batches: list[Batch]) -> bool:
        last_batch = batches[-1][0]
        try:
            base = self.committer.write([segment for _, segment in batches if segment])
        except Exception as error:  # a bug must not stop the writer either
            self._send((channel.FAILED, last_batch, f"{error}"))
            return False
        self._send((channel.COMMITTED, last_batch, base))
        return True

    def _repaired(self, detail: str) -> None:
        self._send((channel.REPAIRED, detail))

    def _maintain(self) -> None:
        """Retention, the high-water mark and the figures (between batches)."""
        self.committer.maintain(steps=IDLE_RETENTION_STEPS, appends_wait=self._waiting)
        self._send_figures()

    def _waiting(self) -> bool:
        if self._inbox:
            return True
        ready, _, _ = select.select([self.sock], [], [], 0)
        return bool(ready)

    def _send_figures(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            oldest, newest = self.log.bounds()
            retention = self.retention
            committer = self.committer
            self._send((channel.FIGURES, self.log.size_bytes(), oldest,
                        max(newest, committer.last), committer.commits, retention.trimmed,
                        retention.largest_step))  # fmt: skip

    def _close(self) -> None:
        last = self.committer.last
        self.log.write_floor(last)
        if self._lost:  # the gateway is gone: the next start checks the log
            self.log.close()
            return
        with contextlib.suppress(sqlite3.Error):
            self.log.checkpoint()
        self.log.close(clean=True)
        self._send((channel.CLOSED, last, self.committer.commits))

    def _send(self, message: channel.Message) -> None:
        if self._lost:
            return
        try:
            self.sock.sendall(channel.frame(message))
        except OSError:
            self._lost = self._stopping = True


def _events(batches: list[Batch]) -> int:
    return sum(segment[1] for _, segment in batches if segment)


def _segment(value: object) -> Segment | None:
    """A packed batch as the loop sends it (``rows.pack``)."""
    if value is None:
        return None
    if (
        isinstance(value, tuple)
        and len(value) == 4
        and isinstance(value[0], bytes)
        and all(isinstance(v, int) for v in value[1:])
    ):
        return value[0], value[1], value[2], value[3]
    raise channel.ChannelError(f"a packed batch expected, not {type(value).__name__}")


def _number(value: object) -> float:
    if not isinstance(value, int | float):
        raise channel.ChannelError(f"a number expected, not {type(value).__name__}")
    return float(value)


def _die_with_the_gateway() -> None:
    """Linux: be killed the moment the gateway dies, even in the middle of a commit. (Else a
    writer stalled on its disk could still commit after a new gateway opened the log; that
    commit would take numbers the new one is about to use.) Elsewhere, or if the gateway died
    before this call, the socket's end of file stops the writer after its commit."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # noqa: PLC0415  (Linux only)

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL))


def main(argv: list[str]) -> int:
    # The gateway alone stops its writer (STOP, or its end of the socket closing). A Ctrl-C at
    # a terminal, or a service manager's SIGTERM to every process of the service, reaches this
    # process too: obeyed, it would die before the gateway's last batches are written.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_the_gateway()
    sock = socket.socket(fileno=int(argv[1]))
    # Blocking sends (answers are small; the loop reads them at once); reads wait in select.
    sock.setblocking(True)
    reading = channel.Unframer()
    first: list[channel.Message] = []
    while not first:
        data = sock.recv(_RECEIVE)
        if not data:
            return 0
        first = reading.feed(data)
    settings, rest = first[0], first[1:]
    if settings[0] != channel.OPEN:
        return 2
    writer = Writer(sock, settings)
    writer._unframer = reading
    writer._inbox += rest
    if not writer.open():
        return 1
    writer.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
