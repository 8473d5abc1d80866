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
from typing import Protocol, TextIO, cast


class LineFormatter(Protocol):
    def line(self, created: float, level: str, event: str, fields: dict[str, object]) -> str: ...


class BatchedStreamHandler(logging.StreamHandler[TextIO]):
    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        #: Info lines not yet written: when each was logged, its event, its fields.
        self._pending: list[tuple[float, str, dict[str, object]]] = []

    def add(self, created: float, event: str, fields: dict[str, object]) -> None:
        """An info line of ``event`` with ``fields``: written at the end of this loop
        iteration (at once when no loop runs in this thread)."""
        pending = self._pending
        if not pending:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                pending.append((created, event, fields))
                self.write_pending()
                return
            loop.call_soon(self.write_pending)
        pending.append((created, event, fields))

    def write_pending(self) -> None:
        """Write the pending lines in one write (and flush)."""
        if not self._pending:
            return
        self.acquire()
        try:
            pending, self._pending = self._pending, []
            formatter = cast(LineFormatter, self.formatter)
            text = "".join(
                formatter.line(created, "info", event, fields) + self.terminator
                for created, event, fields in pending
            )
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
