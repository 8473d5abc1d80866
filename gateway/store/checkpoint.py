"""Checkpoints of the event log's WAL, beside the writer instead of inside its commits.

Left to itself, SQLite checkpoints in the commit that makes the WAL pass 1,000 pages: that
commit (and every acknowledgement waiting for it) then also copies the WAL's pages into the
database and syncs it. The writer's connection turns that off (``wal_autocheckpoint=0``) and
this thread does the work with a connection of its own:

- every ``interval`` a PASSIVE checkpoint copies what the WAL holds while the writer goes on
  committing (it takes no lock the writer needs);
- SQLite starts the WAL over from its beginning only once every frame is copied, which a
  writer committing all the time never lets a PASSIVE checkpoint finish; so when the WAL has
  grown past ``limit`` bytes, a RESTART checkpoint holds the writer off for the little left to
  copy (its last frames), after which the next commit writes from the WAL's start again and
  SQLite truncates the file to ``limit`` (``journal_size_limit``). The wait is bounded by a
  short busy timeout: a reader still in the WAL makes it give up until the next round.

The checkpoint syncs as the writer's ``synchronous`` says (the WAL before copying, the database
after), so nothing acknowledged depends on it. A failing disk makes checkpoints fail too; they
are skipped quietly (the writer's appends report the fault) and tried again the next round.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from typing import Final

#: How long a RESTART checkpoint waits for a reader or the writer's transaction (seconds).
RESTART_TIMEOUT: Final = 0.05


class Checkpointer:
    """A thread that keeps the WAL of the log at ``connect()``'s file short."""

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], *, interval: float, limit: int
    ) -> None:
        self._connect = connect
        self.interval = interval
        self.limit = limit
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        #: Figures (written by the thread): checkpoints run, WAL restarts made, and the WAL's
        #: length in pages after the last checkpoint.
        self.checkpoints = 0
        self.restarts = 0
        self.wal_pages = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="jt808-log-checkpoint",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (the writer makes the last, full checkpoint itself)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            with contextlib.suppress(sqlite3.Error):  # a failing disk: the appends say so
                self.checkpoint()

    def checkpoint(self) -> None:
        """One round: copy the WAL; start it over when it has grown past the limit."""
        # A connection a round: it never holds a log that was replaced (a damaged one).
        db = self._connect()
        try:
            _, pages, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1
            page_size = db.execute("PRAGMA page_size").fetchone()[0]
            if pages * page_size > self.limit:
                db.execute(f"PRAGMA busy_timeout={int(RESTART_TIMEOUT * 1000)}")
                busy, pages, _ = db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                if not busy:
                    self.restarts += 1
            self.wal_pages = pages
        finally:
            db.close()
