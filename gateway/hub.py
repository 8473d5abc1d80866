"""The in-process event hub: locations and terminal events, fanned out to subscribers.

Publishing never blocks and never fails: the data plane calls ``publish`` and moves on. Each
subscriber has its own bounded queue; when a subscriber falls behind, its oldest events are
dropped (a live view wants the freshest positions) and the next thing it receives is a ``Gap``
saying how many it lost. Drops are counted per subscriber and in total, never silent.

Every event has a sequence number: given by the event log (``gateway.store``), which hands
events over with ``deliver`` once they are stored, or by the hub itself (``publish``) when
nothing is kept. The events themselves are declared in ``gateway.events``.

Every report passes through ``publish``/``deliver``, so the module is compiled with the protocol
core (``gateway.native``): a publish costs ≈0.06 µs instead of ≈0.3, a delivery to one
subscriber ≈0.2 µs instead of ≈0.5. That rules out async generators (mypyc has none): a
subscription is its own async iterator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

import anyio

from .events import EventKind, Gap, HubEvent, LocationReported, TerminalEvent
from .protocol.header import phone_key

DEFAULT_QUEUE: Final = 4096


@dataclass(slots=True)
class HubStats:
    published: int = 0
    delivered: int = 0
    dropped: int = 0
    subscribers: int = 0


class Subscription:
    """One subscriber's bounded queue. Iterate it (``async for``) or call ``receive``."""

    def __init__(
        self,
        hub: EventHub,
        *,
        phones: frozenset[str],
        locations: bool,
        terminal_events: bool,
        max_queue: int,
    ) -> None:
        self.phones = phones
        self.locations = locations
        self.terminal_events = terminal_events
        self.max_queue = max_queue
        self.dropped = 0
        self._hub = hub
        # A list read from ``_head`` on (a deque's methods are Python calls from compiled code,
        # a list's append and length are not): what is before ``_head`` was taken or dropped
        # and is cut off in one piece once it is as long as the queue may be.
        self._queue: list[HubEvent | Gap] = []  # only events: typed as take returns it
        self._head = 0
        self._gap = 0
        self._wakeup = anyio.Event()
        self._closed = False

    def _offer(self, event: HubEvent) -> bool:
        """Queue ``event``; True when the oldest event had to be dropped for it."""
        queue = self._queue
        queue.append(event)
        size = len(queue) - self._head
        if size == 1:
            self._wakeup.set()  # the receiver may be waiting; with items queued it is not
        elif size > self.max_queue:
            self._advance(1)  # drop the oldest: a live view wants the freshest events
            self._gap += 1
            self.dropped += 1
            return True
        return False

    def _advance(self, count: int) -> None:
        """Move the head past ``count`` events (taken or dropped)."""
        head = self._head + count
        queue = self._queue
        if head == len(queue):
            queue.clear()
            head = 0
        elif head >= self.max_queue:
            del queue[:head]  # amortized: once per max_queue events passed
            head = 0
        self._head = head

    async def receive(self) -> HubEvent | Gap:
        """The next event, or a ``Gap`` first when events were dropped before it.

        Raises ``anyio.EndOfStream`` once the subscription (or the hub) is closed and drained.
        """
        while True:
            if self._gap:
                gap, self._gap = Gap(self._gap), 0
                return gap
            queue = self._queue
            if len(queue) > self._head:
                event = queue[self._head]
                self._advance(1)
                return event
            if self._closed:
                raise anyio.EndOfStream
            self._wakeup = anyio.Event()
            await self._wakeup.wait()

    def take(self, limit: int) -> list[HubEvent | Gap]:
        """What is queued now, without waiting: a ``Gap`` first when events were dropped, then
        up to ``limit`` events."""
        queue = self._queue
        head = self._head
        if not self._gap and not head and limit >= len(queue):
            self._queue = []  # the usual case: the queue itself is the answer, not a copy
            return queue
        taken: list[HubEvent | Gap] = []
        if self._gap:
            taken.append(Gap(self._gap))
            self._gap = 0
        count = min(limit, len(queue) - head)
        taken += queue[head : head + count]
        self._advance(count)
        return taken

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> HubEvent | Gap:
        # An async iterator rather than an async generator: the module compiles (mypyc).
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    @property
    def pending(self) -> int:
        return len(self._queue) - self._head

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._wakeup.set()
            self._hub._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class EventHub:
    """Fan-out of events to subscribers filtered by phone and by kind."""

    def __init__(
        self,
        *,
        default_queue: int = DEFAULT_QUEUE,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.default_queue = default_queue
        self.on_drop = on_drop  # told how many events a publish dropped (metrics)
        self.stats = HubStats()
        self._sequence = 0
        # A list: compiled, iterating it per event is indexing, where a set's is a Python call.
        self._everyone: list[Subscription] = []
        self._by_phone: dict[str, set[Subscription]] = {}
        self._closed = False

    def subscribe(
        self,
        phones: Iterable[str] = (),
        *,
        locations: bool = True,
        terminal_events: bool = True,
        max_queue: int | None = None,
    ) -> Subscription:
        """A new subscription; ``phones`` empty means every terminal."""
        queue = self.default_queue if max_queue is None else max_queue
        if queue < 1:
            raise ValueError("max_queue must be at least 1")
        subscription = Subscription(
            self,
            phones=frozenset(phones),
            locations=locations,
            terminal_events=terminal_events,
            max_queue=queue,
        )
        self.stats.subscribers += 1
        if self._closed:  # a subscriber arriving after close gets an already-ended stream
            subscription.close()
            return subscription
        if subscription.phones:
            for phone in subscription.phones:
                self._by_phone.setdefault(phone_key(phone), set()).add(subscription)
        else:
            self._everyone.append(subscription)
        return subscription

    @property
    def last_sequence(self) -> int:
        """The sequence of the newest event published."""
        return self._sequence

    def publish(self, event: HubEvent) -> HubEvent:
        """Number ``event`` (the next sequence) and ``deliver`` it; returns it."""
        self._sequence += 1
        event.sequence = self._sequence
        return self.deliver(event)

    def deliver(self, event: HubEvent) -> HubEvent:
        """Deliver an event already numbered (by the event log: its sequences only grow) to
        every matching subscriber without waiting; returns it.

        The event object itself is what subscribers receive (no copy per subscriber)."""
        self._sequence = max(self._sequence, event.sequence)
        stats = self.stats
        stats.published += 1
        everyone = self._everyone
        targets = self._by_phone.get(phone_key(event.phone)) if self._by_phone else None
        if not everyone and not targets:
            return event
        is_location = isinstance(event, LocationReported)
        for subscription in everyone:
            if subscription.locations if is_location else subscription.terminal_events:
                self._hand(subscription, event)
        if targets:
            for subscription in targets:
                if subscription.locations if is_location else subscription.terminal_events:
                    self._hand(subscription, event)
        return event

    def skipped(self, count: int) -> None:
        """``count`` stored events will never be delivered (the event log's writer process
        died after storing them, before it said so): every subscriber gets a ``Gap`` before
        what follows, and one that resumes from the log reads them back from there."""
        subscriptions = [*self._everyone, *(s for g in self._by_phone.values() for s in g)]
        for subscription in subscriptions:
            subscription._gap += count
            subscription._wakeup.set()

    def _hand(self, subscription: Subscription, event: HubEvent) -> None:
        stats = self.stats
        stats.delivered += 1
        if subscription._offer(event):
            stats.dropped += 1
            if self.on_drop is not None:
                self.on_drop(1)

    def close(self) -> None:
        """End every subscription (they drain what they hold, then stop)."""
        self._closed = True
        for subscription in [*self._everyone, *(s for g in self._by_phone.values() for s in g)]:
            subscription.close()

    def _remove(self, subscription: Subscription) -> None:
        if subscription in self._everyone:
            self._everyone.remove(subscription)
        for phone in subscription.phones:
            key = phone_key(phone)
            group = self._by_phone.get(key)
            if group is not None:
                group.discard(subscription)
                if not group:
                    del self._by_phone[key]
        self.stats.subscribers -= 1


__all__ = [
    "DEFAULT_QUEUE",
    "EventHub",
    "EventKind",
    "Gap",
    "HubEvent",
    "HubStats",
    "LocationReported",
    "Subscription",
    "TerminalEvent",
]
