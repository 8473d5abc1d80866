"""Retention a short step at a time, between commits (both writers: ``log``, ``writer``)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from .sqlite_log import SqliteLog


@dataclass(slots=True)
class Retention:
    """Deletes what ``age`` (seconds) and ``max_bytes`` no longer keep, about ``step`` records
    (whole commits) at a time, and counts it."""

    age: float | None
    max_bytes: int | None
    step: int
    #: Rows deleted since start, and the most in one step.
    trimmed: int = 0
    largest_step: int = 0
    #: The last step deleted rows: more may be due.
    trimming: bool = False

    def run(self, log: SqliteLog, *, steps: int, appends_wait: Callable[[], bool]) -> None:
        """Up to ``steps`` steps, fewer when nothing more is due or appends wait."""
        before = None
        if self.age is not None:
            before = int(time.time() * 1_000_000) - int(self.age * 1e6)
        try:
            for _ in range(steps):
                deleted = log.trim(before_at=before, max_bytes=self.max_bytes, step=self.step)
                self.trimmed += deleted
                self.largest_step = max(self.largest_step, deleted)
                self.trimming = deleted > 0
                if not deleted or appends_wait():
                    break  # nothing more is due, or appends first
        except (sqlite3.Error, OSError):
            self.trimming = False  # a failing disk is reported by the appends
