"""The log handler ``logs.configure`` installs: a ``StreamHandler`` that also takes the lines
``logs.info`` makes from fields, and writes those together once per event-loop iteration.

Why: a handshake logs two lines (``registration``, ``authenticated``). Made and written one by
one in the middle of each connection's step, they cost a handshake ≈ 8 µs more than the same
lines made in one pass when the loop has worked through its ready connections (one write; the
formatter's code and data stay warm). The order of lines is the order of calls: a record that
goes through ``emit`` (a warning, anything logged the usual way) first writes what is pending,
and so does ``flush`` (``logging.shutdown`` at exit). Off the loop a line is written at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Protocol, TextIO, cast


class LineFormatter(Protocol):
    def lines(
        self, level: str, pending: list[tuple[float, str, dict[str, object]]], terminator: str
    ) -> str: ...


class BatchedStreamHandler(logging.StreamHandler[TextIO]):
    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        #: Info lines not yet written: when each was logged, its event, its fields.
        self._pending: list[tuple[float, str, dict[str, object]]] = []
        #: The loop that last took a write, and the thread it ran in (``_running_loop``).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0

    def add(self, created: float, event: str, fields: dict[str, object]) -> None:
        """An info line of ``event`` with ``fields``: written at the end of this loop
        iteration (at once when no loop runs in this thread)."""
        pending = self._pending
        if not pending:
            loop = self._running_loop()
            if loop is None:
                pending.append((created, event, fields))
                self.write_pending()
                return
            loop.call_soon(self.write_pending)
        pending.append((created, event, fields))

    def _running_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop running in this thread (None: none). The last one is remembered with its
        thread: ``asyncio.get_running_loop`` makes a system call (``getpid``, a fork check)
        each time, and this is asked once per loop iteration that logs."""
        loop = self._loop
        thread = threading.get_ident()
        if loop is not None and thread == self._loop_thread and loop.is_running():
            return loop
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        self._loop, self._loop_thread = loop, thread
        return loop

    def write_pending(self) -> None:
        """Write the pending lines in one write (and flush)."""
        if not self._pending:
            return
        self.acquire()
        try:
            pending, self._pending = self._pending, []
            formatter = cast(LineFormatter, self.formatter)
            text = formatter.lines("info", pending, self.terminator)
            stream = self.stream
            stream.write(text)
            stream.flush()
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": "pending lines", "args": None}))
        finally:
            self.release()

    def emit(self, record: logging.LogRecord) -> None:
        if self._pending:
            self.write_pending()
        super().emit(record)

    def flush(self) -> None:
        if self._pending:
            self.write_pending()
        super().flush()
