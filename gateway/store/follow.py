"""A subscriber's view of the events: stored ones after a sequence, then live, seamlessly.

``follow`` subscribes to the hub *before* it reads the store, so every event stored after the
read's snapshot is already queued for it; events in both are told apart by sequence (the hub
delivers in sequence order, the store reads in sequence order) and the queued copy of anything
already replayed is skipped. A live subscriber that falls behind (its queue overflowed) reads the
missed events back from the store instead of losing them, when the store keeps them; without a
store (``--durability memory``) it gets a ``Gap``, as before.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from typing import Final

import anyio

from gateway.events import Gap, HubEvent
from gateway.hub import EventHub

from .base import EventStore, ReadFilter

#: Events one read of the store returns at most.
REPLAY_PAGE: Final = 1000


async def follow(
    hub: EventHub,
    store: EventStore,
    phones: Iterable[str],
    only: ReadFilter,
    *,
    after: int | None,
    max_batch: int = 1,
    max_queue: int | None = None,
) -> AsyncGenerator[list[HubEvent | Gap]]:
    """Lists of events (and gaps), oldest first: those after ``after`` from the store (when
    given), then live ones as they are stored. Ends when the hub closes."""
    with hub.subscribe(
        phones,
        locations=only.locations,
        terminal_events=only.terminal_events,
        max_queue=max_queue,
    ) as subscription:
        resuming = after is not None
        last = after or 0
        replaying = resuming
        while True:
            if replaying:
                page = await store.read(last, max(REPLAY_PAGE, max_batch), only)
                items: list[HubEvent | Gap] = [Gap(page.gone)] if page.gone else []
                items += page.events
                last = page.last
                replaying = page.more
                if items:
                    yield items
                continue
            try:
                first = await subscription.receive()
            except anyio.EndOfStream:
                return
            queued = [first, *subscription.take(max_batch - 1)] if max_batch > 1 else [first]
            if not resuming:  # live only: the hub's order is the stream's, nothing to skip
                yield queued
                continue
            out: list[HubEvent | Gap] = []
            for item in queued:
                if isinstance(item, Gap):
                    if resuming and store.replays:
                        replaying = True  # what was dropped is read back from the store
                        break
                    out.append(item)
                elif item.sequence > last:
                    out.append(item)
                    last = item.sequence
            if out:
                yield out
