"""What a data dir's log holds, read as the gateway reads it (old rows and packed commits)."""

from __future__ import annotations

from pathlib import Path

from gateway.store.base import ReadFilter
from gateway.store.log_reader import LogReader
from gateway.store.schema import Row
from gateway.store.sqlite_log import LOG_NAME


def stored_locations(data_dir: Path) -> list[Row]:
    """Every location stored in the log of ``data_dir``, oldest first."""
    rows, _, _, _ = LogReader(data_dir / LOG_NAME).read(
        0, 1 << 40, ReadFilter(terminal_events=False)
    )
    return rows
