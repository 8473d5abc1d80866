"""The one deadline queue of every connection: pure ``DeadlineQueue`` without a clock, and
``LoopTimer`` on a real event loop with an injected clock (no sleeping on wall time)."""

from __future__ import annotations

import asyncio
import math

import pytest

from gateway.server.timers import DeadlineQueue, LoopTimer


class Owner:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


def test_due_owners_come_out_earliest_first_and_disarmed() -> None:
    queue: DeadlineQueue[Owner] = DeadlineQueue()
    a, b, c = Owner("a"), Owner("b"), Owner("c")
    queue.schedule(b, 20.0)
    queue.schedule(a, 10.0)
    queue.schedule(c, 30.0)

    assert queue.pop_due(5.0) == []
    assert queue.pop_due(20.0) == [a, b]
    assert queue.armed(a) is None and queue.armed(c) == 30.0
    assert len(queue) == 1
    assert queue.next_deadline() == 30.0


def test_a_later_deadline_is_ignored_an_earlier_one_replaces() -> None:
    queue: DeadlineQueue[Owner] = DeadlineQueue()
    owner = Owner("x")
    assert queue.schedule(owner, 50.0) is True
    assert queue.schedule(owner, 80.0) is False  # activity moved it later: nothing to do
    assert queue.armed(owner) == 50.0
    assert queue.schedule(owner, 20.0) is True  # a command made it earlier
    assert queue.next_deadline() == 20.0

    assert queue.pop_due(20.0) == [owner]
    assert queue.pop_due(50.0) == []  # the stale 50.0 entry is skipped, not delivered twice
    assert queue.next_deadline() is None


def test_cancelled_owners_never_come_due() -> None:
    queue: DeadlineQueue[Owner] = DeadlineQueue()
    gone, kept = Owner("gone"), Owner("kept")
    queue.schedule(gone, 1.0)
    queue.schedule(kept, 2.0)
    queue.cancel(gone)

    assert queue.next_deadline() == 2.0
    assert queue.pop_due(math.inf) == [kept]
    assert len(queue) == 0


def test_owners_with_equal_deadlines_keep_their_order_and_are_never_compared() -> None:
    queue: DeadlineQueue[Owner] = DeadlineQueue()  # Owner defines no ordering at all
    owners = [Owner(str(i)) for i in range(50)]
    for owner in owners:
        queue.schedule(owner, 7.0)
    assert queue.pop_due(7.0) == owners


def test_many_owners_rescheduled_many_times_hold_one_live_entry_each() -> None:
    queue: DeadlineQueue[Owner] = DeadlineQueue()
    owners = [Owner(str(i)) for i in range(100)]
    for round_ in range(10):
        for index, owner in enumerate(owners):
            queue.schedule(owner, 1000.0 - round_ * 10 - index)  # always earlier
    assert len(queue) == 100
    due = queue.pop_due(math.inf)
    assert sorted(map(id, due)) == sorted(map(id, owners))


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.anyio
async def test_loop_timer_runs_owners_when_their_deadline_passes() -> None:
    clock = FakeClock()
    fired: list[tuple[str, float]] = []
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def on_due(owner: Owner, now: float) -> None:
        fired.append((owner.name, now))
        if len(fired) == 2:
            done.set()

    timer: LoopTimer[Owner] = LoopTimer(loop, on_due, clock)
    first, second = Owner("first"), Owner("second")
    # Deadlines already passed by the injected clock: due at the next loop turn.
    clock.now = 200.0
    timer.schedule(second, 150.0)
    timer.schedule(first, 120.0)
    await asyncio.wait_for(done.wait(), 10)
    assert [name for name, _ in fired] == ["first", "second"]
    assert all(now == 200.0 for _, now in fired)
    timer.close()


@pytest.mark.anyio
async def test_loop_timer_owner_can_reschedule_itself_from_its_callback() -> None:
    clock = FakeClock()
    loop = asyncio.get_running_loop()
    counts = {"runs": 0}
    done = asyncio.Event()
    timer: LoopTimer[Owner] = LoopTimer(loop, lambda o, now: None, clock)

    def on_due(owner: Owner, now: float) -> None:
        counts["runs"] += 1
        if counts["runs"] < 3:
            timer.schedule(owner, now)  # due again at once
        else:
            done.set()

    timer._on_due = on_due
    owner = Owner("again")
    timer.schedule(owner, clock.now)
    await asyncio.wait_for(done.wait(), 10)
    assert counts["runs"] == 3
    timer.close()


@pytest.mark.anyio
async def test_loop_timer_cancelled_owner_is_not_run() -> None:
    clock = FakeClock()
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    timer: LoopTimer[Owner] = LoopTimer(loop, lambda o, now: fired.append(o.name), clock)
    dropped, kept = Owner("dropped"), Owner("kept")
    timer.schedule(dropped, clock.now)
    timer.schedule(kept, clock.now)
    timer.cancel(dropped)
    for _ in range(5):
        await asyncio.sleep(0)
    assert fired == ["kept"]
    timer.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
