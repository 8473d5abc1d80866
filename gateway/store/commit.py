"""What both log writers do with the log (the thread of ``log``, the process of ``writer``):
decide when the next commit begins (``CommitSchedule``), write a commit of packed segments
after the last sequence, apply fault drills, replace a damaged file, and keep retention and the
high-water mark between commits.

Loaded by the writer process: imports nothing of the protocol core.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from typing import Final

from .retention import Retention
from .segments import Segment, join
from .sqlite_log import SqliteLog, _is_damage

#: Commits begin at least this far apart by default (seconds): see ``CommitSchedule``.
COMMIT_WINDOW: Final = 0.002
#: A write that already holds this many events begins at once, window or not: sharing its
#: commit with more saves little per event, and the wait would be all latency.
FULL_COMMIT: Final = 64


class CommitSchedule:
    """When a writer holding sealed batches begins its next commit.

    Group commit: a writer takes every batch sealed while its last commit ran, so under a
    saturating load the commit's own duration is the window and commits follow each other
    without a pause. Below saturation one commit a loop iteration would cost a commit (a sync,
    the hand-offs, ~0.2-0.3 ms of CPU) for a few reports each, so commits also begin at least
    ``window`` apart: what arrives within it joins the next one. A write holding ``FULL_COMMIT``
    events, or the first after a quiet spell, begins at once. ``window`` 0 is plain group
    commit. The clock is the caller's (``time.monotonic`` in both writers): this decides, it
    never sleeps.
    """

    def __init__(self, window: float = COMMIT_WINDOW, full: int = FULL_COMMIT) -> None:
        self.window = window
        self.full = full
        #: When the last commit began (the caller's clock); none yet.
        self.began: float | None = None

    def delay(self, now: float, events: int) -> float:
        """Seconds to wait for more before a commit of ``events`` begins (0: at once)."""
        began = self.began
        if began is None or events >= self.full:
            return 0.0
        return max(0.0, began + self.window - now)

    def begin(self, now: float) -> None:
        """A commit begins at ``now``."""
        self.began = now


class Committer:
    """The writing side of one open ``SqliteLog`` (one thread uses it)."""

    def __init__(
        self, log: SqliteLog, retention: Retention, on_repaired: Callable[[str], None]
    ) -> None:
        self.log = log
        self.retention = retention
        #: Told (on the writer's side) when a damaged log was moved aside and replaced.
        self.on_repaired = on_repaired
        #: The last sequence stored, and commits since start.
        self.last = 0
        self.commits = 0
        self._drill: bool | None = None

    def drill(self, failing: bool) -> None:
        """Fault drills: SQLite refuses every write until called with False (applied before
        the next commit)."""
        self._drill = failing

    def write(self, segments: list[Segment]) -> int:
        """Store ``segments`` as one commit numbered after the last sequence; returns the
        sequence before them. Raises what the write raised, nothing of it stored (after
        replacing a damaged file, which a later commit then writes to)."""
        drill, self._drill = self._drill, None
        if drill is not None:
            with contextlib.suppress(sqlite3.Error):
                self.log.refuse_writes(drill)
        base = self.last
        if not segments:
            return base
        count = 0
        first_at = segments[0][2]
        last_at = segments[0][3]
        for _, records, earliest, latest in segments:
            count += records
            first_at = min(first_at, earliest)
            last_at = max(last_at, latest)
        data = join([segment[0] for segment in segments])
        try:
            self.log.append(base + 1, base + count, first_at, last_at, data)
        except sqlite3.IntegrityError:
            # Those sequences are taken: another writer committed after this one opened (a
            # writer process outliving its gateway while a new one started). This commit is not
            # stored (its terminals resend); the next one continues after what the file holds.
            with contextlib.suppress(sqlite3.Error):
                self.last = max(self.last, self.log.bounds()[1])
            raise
        except sqlite3.DatabaseError as error:
            if _is_damage(error):
                self._replace(str(error))
            raise
        self.last = base + count
        self.commits += 1
        return base

    def _replace(self, why: str) -> None:
        # Not a passing fault: this file will not take writes again. A new log continues.
        with contextlib.suppress(sqlite3.Error, OSError):
            self.last = max(self.last, self.log.replace_damaged(why))
            self.on_repaired(self.log.repaired or why)

    def maintain(self, *, steps: int, appends_wait: Callable[[], bool]) -> None:
        """Retention (up to ``steps`` steps) and the high-water mark, between commits."""
        try:
            self.retain(steps=steps, appends_wait=appends_wait)
            self.log.write_floor(self.last)
        except (sqlite3.Error, OSError):
            pass  # a failing disk is reported by the appends

    def retain(self, *, steps: int, appends_wait: Callable[[], bool]) -> None:
        self.retention.run(self.log, steps=steps, appends_wait=appends_wait)
