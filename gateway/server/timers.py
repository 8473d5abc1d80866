"""One deadline queue for every connection's timers, instead of a task (and a timer) each.

``DeadlineQueue`` is pure data (no clock, no loop): owners are scheduled at a time, and
``pop_due(now)`` hands back those whose time has come. It is lazy in the way connection
deadlines need: a connection's deadline mostly moves *later* (every report pushes its idle
timeout back), and moving an entry later would cost a heap operation per report. Instead the
queue keeps the earliest time each owner asked for; a later request is ignored, and when that
entry comes due the owner checks what is really due and schedules its next deadline again.
Only an *earlier* deadline (a command sent, a sub-package started) adds an entry.

``LoopTimer`` drives one queue from an asyncio loop with a single ``call_at`` handle.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Callable
from typing import Generic, TypeVar

Owner = TypeVar("Owner")


class DeadlineQueue(Generic[Owner]):
    """Owners keyed by identity, each with at most one live entry: its earliest deadline."""

    __slots__ = ("_armed", "_heap", "_order")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Owner]] = []
        self._armed: dict[int, float] = {}  # id(owner) -> the deadline its live entry has
        self._order = itertools.count()  # ties broken by insertion, never by comparing owners

    def schedule(self, owner: Owner, deadline: float) -> bool:
        """Ask for ``owner`` to come due at ``deadline``; True when this made a new entry
        (nothing was armed for it, or the new deadline is earlier than the armed one)."""
        key = id(owner)
        armed = self._armed.get(key, math.inf)
        if deadline >= armed:
            return False
        self._armed[key] = deadline
        heapq.heappush(self._heap, (deadline, next(self._order), owner))
        return True

    def cancel(self, owner: Owner) -> None:
        """Forget ``owner`` (its entries are skipped when they surface)."""
        self._armed.pop(id(owner), None)

    def armed(self, owner: Owner) -> float | None:
        return self._armed.get(id(owner))

    def next_deadline(self) -> float | None:
        """The earliest live deadline (stale entries on top are discarded on the way)."""
        heap = self._heap
        while heap:
            deadline, _, owner = heap[0]
            if self._armed.get(id(owner)) == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float) -> list[Owner]:
        """Owners whose deadline is ``<= now``, earliest first; they are disarmed (an owner
        schedules its next deadline itself)."""
        heap = self._heap
        armed = self._armed
        due: list[Owner] = []
        while heap and heap[0][0] <= now:
            deadline, _, owner = heapq.heappop(heap)
            key = id(owner)
            if armed.get(key) == deadline:
                del armed[key]
                due.append(owner)
        return due

    def __len__(self) -> int:
        """Owners with a live entry."""
        return len(self._armed)


class LoopTimer(Generic[Owner]):
    """Runs ``on_due(owner, now)`` for each owner of ``queue`` when its deadline passes, with
    one loop timer for the whole queue, re-armed only when the earliest deadline changes."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_due: Callable[[Owner, float], None],
        clock: Callable[[], float],
    ) -> None:
        self.queue: DeadlineQueue[Owner] = DeadlineQueue()
        self._loop = loop
        self._on_due = on_due
        self._clock = clock
        self._handle: asyncio.TimerHandle | None = None
        self._handle_at = math.inf

    def schedule(self, owner: Owner, deadline: float) -> None:
        if self.queue.schedule(owner, deadline) and deadline < self._handle_at:
            self._arm(deadline)

    def cancel(self, owner: Owner) -> None:
        self.queue.cancel(owner)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._handle_at = math.inf

    def _arm(self, deadline: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        # The session's clock and the loop's may differ in origin: convert the delay.
        delay = max(0.0, deadline - self._clock())
        self._handle = self._loop.call_at(self._loop.time() + delay, self._fire)
        self._handle_at = deadline

    def _fire(self) -> None:
        self._handle = None
        self._handle_at = math.inf
        now = self._clock()
        for owner in self.queue.pop_due(now):
            self._on_due(owner, now)  # the owner's own errors are its own: see on_due
        following = self.queue.next_deadline()
        if following is not None and following < self._handle_at:
            self._arm(following)
