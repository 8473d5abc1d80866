"""The seam between the terminal edge and whatever keeps its data.

A connection appends the events a chunk produced (``append``) and asks to be told when they are
stored (``notify``); only then does it send the terminal its acknowledgements. The store calls
``BatchWaiter.batch_done(batch, stored)`` once per batch on the event loop, after the events of
that batch went to the hub's subscribers (when stored). Streams resume with ``read``: events
after a sequence, oldest first.

A store backed by something else (a JetStream stream, ...) implements the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the writer process loads this module without the protocol core
    from gateway.events import HubEvent


class Durability(StrEnum):
    """What an acknowledgement promises (``--durability``)."""

    #: On disk and synced: survives a power loss or kernel crash.
    FSYNC = "fsync"
    #: Written to the operating system: survives a crash of the gateway process.
    OS = "os"
    #: Nothing is kept: an acknowledgement only means the gateway received the report.
    MEMORY = "memory"


class BatchWaiter(Protocol):
    """Told, on the event loop, whether the batch it appended to is stored."""

    def batch_done(self, batch: int, stored: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class ReadResult:
    """A page of a replay.

    ``events`` match the filters, oldest first; ``last`` is the highest sequence the read looked
    at (matching or not: the next page starts after it); ``gone`` counts the sequences asked for
    that retention had already removed (they are before ``events``); ``more`` is False once
    the read reached the newest stored event.
    """

    events: list[HubEvent]
    last: int
    gone: int
    more: bool


@dataclass(frozen=True, slots=True)
class ReadFilter:
    """Which events a replay returns: only ``phone_keys`` (phones without leading zeros;
    empty: every terminal), locations and/or terminal events."""

    phone_keys: frozenset[str] = frozenset()
    locations: bool = True
    terminal_events: bool = True


@dataclass(slots=True)
class StoreStatus:
    """What the metrics show of a store."""

    healthy: bool = True
    #: Bytes the log holds (its pages in use) and its oldest and newest sequence (0: empty).
    size_bytes: int = 0
    oldest_sequence: int = 0
    last_sequence: int = 0
    #: Events waiting to be stored now (appended, not yet committed).
    pending: int = 0
    #: Events not stored since start (a failed write, or refused with a full backlog): their
    #: terminals were not acknowledged.
    unstored: int = 0


class EventStore(Protocol):
    """Append-then-acknowledge storage of hub events, readable from a sequence."""

    #: Whether ``read`` can give back what was appended (False: live only).
    replays: bool
    #: Whether acknowledgements wait for ``notify`` (False: an appended event is already
    #: settled and delivered, as with ``--durability memory``).
    defers_acks: bool

    def append(self, event: HubEvent) -> int:
        """Queue ``event`` for the next batch; returns that batch's id, 0 when the store
        refuses it (its backlog is full: the terminal's acknowledgement must be withheld)."""
        ...

    def notify(self, waiter: BatchWaiter, batch: int) -> None:
        """Call ``waiter.batch_done(batch, stored)`` once ``batch`` is settled."""
        ...

    async def read(self, after: int, limit: int, only: ReadFilter) -> ReadResult:
        """Up to ``limit`` stored events with a sequence above ``after`` that match ``only``."""
        ...

    async def sequence_at(self, moment: datetime) -> int:
        """The sequence to read after for the events stored from ``moment`` on."""
        ...

    def status(self) -> StoreStatus: ...

    async def start(self) -> None:
        """Open the store (repairing what a crash left). Raises ``StoreUnavailableError`` when
        it cannot work at all (the embedded log raises only ``DataDirIsAFileError``: a data
        dir it cannot open or write yet is a fault it starts in and recovers from)."""
        ...

    async def aclose(self) -> None:
        """Store what was appended, then stop."""
        ...


class StoreUnavailableError(OSError):
    """The store cannot be opened at all (the gateway cannot start with it)."""


class DataDirIsAFileError(StoreUnavailableError):
    """``--data-dir`` names a file: a mistake in the settings, not a fault that may pass."""

    def __init__(self) -> None:
        super().__init__("it is a file, not a directory")


def check_data_dir(data_dir: Path) -> None:
    """Raise ``DataDirIsAFileError`` when ``data_dir`` is a file."""
    if data_dir.exists() and not data_dir.is_dir():
        raise DataDirIsAFileError
