"""The loop side of a store that acknowledges only what it stored (the embedded log, the
cluster's JetStream store): events gather in batches, and each batch's waiters learn once
whether it was stored.

``append`` adds an event to the open batch; the first one schedules the batch to be sealed at
the end of this loop iteration, so every terminal whose data arrived in the same iteration
shares it. A sealed batch goes to the store's writer (``_hand_over``), which takes every
batch waiting at once (group commit) and settles them, in order, with ``_settled``. What waits
is bounded (``max_pending`` events): past it ``append`` refuses, and the terminals are not
acknowledged, as when a write fails.

A base class, not a helper object: ``append`` runs once per report, and inherited it costs the
stores no extra call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.events import HubEvent
from gateway.server.logs import get_logger

from .base import BatchWaiter

log = get_logger()


@dataclass(slots=True)
class Batch:
    id: int
    events: list[HubEvent] = field(default_factory=list)
    waiters: list[BatchWaiter] = field(default_factory=list)


class BatchingStore:
    """``append``/``notify`` of an ``EventStore``; a subclass hands sealed batches to its
    writer and calls ``_settled`` on the loop when they are stored or not."""

    #: Where ``_settled`` delivers stored events on the loop (None: they reach the hub another
    #: way, as the cluster's events do through the stream).
    _deliver: Callable[[HubEvent], object] | None = None

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        #: Counted on the loop: events refused (backlog full) and not stored (failed writes).
        self.refused = 0
        self.unstored = 0
        self._open = Batch(1)
        self._pending = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def append(self, event: HubEvent) -> int:
        if self._pending >= self.max_pending:
            self.refused += 1
            return 0
        batch = self._open
        events = batch.events
        if not events:
            assert self._loop is not None, "append before start"
            self._loop.call_soon(self._seal)
        events.append(event)
        self._pending += 1
        return batch.id

    def notify(self, waiter: BatchWaiter, batch: int) -> None:
        if batch != self._open.id:
            raise ValueError(f"batch {batch} is sealed: notify in the same step as append")
        self._open.waiters.append(waiter)

    def _seal(self) -> None:
        batch = self._open
        if batch.events or batch.waiters:
            self._open = Batch(batch.id + 1)
            self._hand_over(batch)

    def _hand_over(self, batch: Batch) -> None:
        """Give a sealed batch to the writer (called on the loop)."""
        raise NotImplementedError

    def _settled(self, batches: list[Batch], stored: bool) -> None:
        """Back on the loop: deliver what was stored, then release (or withhold) the acks."""
        count = 0
        deliver = self._deliver
        if stored and deliver is not None:
            for batch in batches:
                for event in batch.events:
                    deliver(event)
                count += len(batch.events)
        else:
            for batch in batches:
                count += len(batch.events)
        if not stored:
            self.unstored += count
        self._pending -= count
        for batch in batches:
            for waiter in batch.waiters:
                try:
                    waiter.batch_done(batch.id, stored)
                except Exception:
                    log.exception("releasing acknowledgements failed")
