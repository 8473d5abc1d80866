"""``--durability memory``: nothing is kept. An appended event goes to the hub at once (numbered
there, from 1 at every start) and the terminal is acknowledged at once, as before the log."""

from __future__ import annotations

from datetime import datetime

from gateway.events import HubEvent
from gateway.hub import EventHub

from .base import BatchWaiter, ReadFilter, ReadResult, StoreStatus


class MemoryStore:
    replays = False
    defers_acks = False

    def __init__(self, hub: EventHub) -> None:
        self.hub = hub

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def append(self, event: HubEvent) -> int:
        self.hub.publish(event)
        return 1

    def notify(self, waiter: BatchWaiter, batch: int) -> None:
        waiter.batch_done(batch, True)

    async def read(self, after: int, limit: int, only: ReadFilter) -> ReadResult:
        """Nothing to replay: whatever was published after ``after`` is gone. An ``after`` above
        the hub's numbering (it restarts from 1 with the process) continues from there."""
        last = self.hub.last_sequence
        return ReadResult([], last, max(0, last - after), more=False)

    async def sequence_at(self, moment: datetime) -> int:
        return self.hub.last_sequence  # nothing is kept: live from now

    def status(self) -> StoreStatus:
        return StoreStatus(last_sequence=self.hub.last_sequence)
