"""The event hub: filters, bounded queues with counted drops, and closing."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.hub import (
    EventHub,
    EventKind,
    Gap,
    HubEvent,
    LocationReported,
    Subscription,
    TerminalEvent,
)
from tests.protocol.null_modem import location
from tests.timeouts import HANG_GUARD

pytestmark = pytest.mark.anyio

AT = datetime(2024, 5, 6, 0, 0, tzinfo=UTC)
ALICE = "013900000001"
BOB = "013900000002"


def position(phone: str, serial: int = 0) -> LocationReported:
    return LocationReported(phone, f"dev-{phone}", location(), 0x0200, serial, None, AT)


def happened(phone: str, kind: EventKind = EventKind.AUTHENTICATED) -> TerminalEvent:
    return TerminalEvent(kind, phone, f"dev-{phone}", AT)


async def received(subscription: Subscription) -> list[HubEvent | Gap]:
    """Everything the subscription holds now."""
    events: list[HubEvent | Gap] = []
    with anyio.fail_after(HANG_GUARD):
        while subscription.pending:
            events.append(await subscription.receive())
    return events


def serials(events: list[HubEvent | Gap]) -> list[int]:
    return [e.serial for e in events if isinstance(e, LocationReported)]


def phones(events: list[HubEvent | Gap]) -> list[str]:
    return [e.phone for e in events if not isinstance(e, Gap)]


async def test_subscription_to_phones_gets_only_their_events() -> None:
    hub = EventHub()
    with hub.subscribe([ALICE]) as alice, hub.subscribe() as everyone:
        for event in (position(ALICE), position(BOB), happened(BOB), happened(ALICE)):
            hub.publish(event)
        assert phones(await received(alice)) == [ALICE, ALICE]
        assert phones(await received(everyone)) == [ALICE, BOB, BOB, ALICE]


async def test_locations_only_and_terminal_events_only() -> None:
    hub = EventHub()
    with (
        hub.subscribe(terminal_events=False) as locations,
        hub.subscribe(locations=False) as terminal_events,
    ):
        hub.publish(position(ALICE))
        hub.publish(happened(ALICE))
        assert [type(e) for e in await received(locations)] == [LocationReported]
        assert [type(e) for e in await received(terminal_events)] == [TerminalEvent]


async def test_events_get_increasing_sequence_numbers() -> None:
    hub = EventHub()
    with hub.subscribe() as everyone:
        published = [hub.publish(position(ALICE, serial)) for serial in range(3)]
        assert [e.sequence for e in published] == [1, 2, 3]
        assert await received(everyone) == published


async def test_slow_subscriber_gets_a_gap_with_the_dropped_count_and_the_newest_events() -> None:
    hub = EventHub()
    with hub.subscribe(max_queue=3) as slow, hub.subscribe() as fast:
        for serial in range(10):
            hub.publish(position(ALICE, serial))  # returns at once: nobody is reading
        events = await received(slow)
        assert events[0] == Gap(7)
        assert serials(events[1:]) == [7, 8, 9]
        assert slow.dropped == 7
        assert len(await received(fast)) == 10  # one slow subscriber costs the others nothing
        assert (hub.stats.published, hub.stats.dropped) == (10, 7)


async def test_each_gap_counts_the_drops_since_the_previous_one() -> None:
    hub = EventHub()
    with hub.subscribe(max_queue=1) as slow:
        for serial in (1, 2):
            hub.publish(position(ALICE, serial))
        first = await received(slow)
        assert first[0] == Gap(1) and serials(first[1:]) == [2]
        for serial in (3, 4, 5):
            hub.publish(position(ALICE, serial))
        second = await received(slow)
        assert second[0] == Gap(2) and serials(second[1:]) == [5]
        assert slow.dropped == 3


async def test_publish_never_waits_for_a_full_subscriber() -> None:
    hub = EventHub()
    with hub.subscribe(max_queue=1) as stuck:
        with anyio.fail_after(HANG_GUARD):
            for serial in range(10_000):
                hub.publish(position(ALICE, serial))
        assert stuck.pending == 1
        assert stuck.dropped == 9_999


async def test_receiver_waiting_on_an_empty_queue_is_woken_by_publish() -> None:
    hub = EventHub()
    got: list[HubEvent | Gap] = []
    with hub.subscribe() as waiting:
        async with anyio.create_task_group() as tasks:

            async def wait() -> None:
                got.append(await waiting.receive())

            tasks.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            hub.publish(happened(ALICE))
        assert phones(got) == [ALICE]


async def test_closing_the_hub_ends_iteration_after_what_is_held() -> None:
    hub = EventHub()
    subscription = hub.subscribe()
    hub.publish(position(ALICE))
    hub.publish(happened(ALICE))
    hub.close()
    with anyio.fail_after(HANG_GUARD):
        assert phones([e async for e in subscription]) == [ALICE, ALICE]
        with pytest.raises(anyio.EndOfStream):
            await subscription.receive()
    assert hub.stats.subscribers == 0


async def test_closing_the_hub_wakes_a_waiting_iterator() -> None:
    hub = EventHub()
    seen: list[HubEvent | Gap] = []
    with anyio.fail_after(HANG_GUARD):
        async with anyio.create_task_group() as tasks:

            async def iterate() -> None:
                seen.extend([e async for e in hub.subscribe([ALICE])])

            tasks.start_soon(iterate)
            await anyio.wait_all_tasks_blocked()
            hub.close()
    assert seen == []


async def test_closed_subscription_gets_nothing_more_and_leaves_the_hub() -> None:
    hub = EventHub()
    subscription = hub.subscribe([ALICE, BOB])
    assert hub.stats.subscribers == 1
    subscription.close()
    subscription.close()  # idempotent
    hub.publish(position(ALICE))
    assert subscription.pending == 0
    assert hub.stats.subscribers == 0


async def test_subscription_made_after_the_hub_closed_ends_at_once() -> None:
    hub = EventHub()
    hub.close()
    subscription = hub.subscribe()
    with anyio.fail_after(HANG_GUARD):
        assert [e async for e in subscription] == []


def test_max_queue_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_queue"):
        EventHub().subscribe(max_queue=0)


def test_drops_are_reported_to_the_on_drop_callback() -> None:
    reported: list[int] = []
    hub = EventHub(on_drop=reported.append)
    subscription = hub.subscribe(max_queue=1)
    for _ in range(3):
        hub.publish(
            LocationReported("013912345678", "", location(), 0x0200, 0, None, datetime.now(UTC))
        )
    assert reported == [1, 1]
    assert hub.stats.dropped == 2 == subscription.dropped


#: Steps against one subscription: publish n events, receive one, or take up to n.
STEPS = st.lists(
    st.tuples(st.sampled_from(["publish", "receive", "take"]), st.integers(1, 9)), max_size=40
)


@given(STEPS, st.integers(1, 5))
def test_the_queue_behaves_as_a_bounded_deque_that_drops_the_oldest(
    steps: list[tuple[str, int]], max_queue: int
) -> None:
    """The queue is a list read from a head index and cut in pieces: whatever the order of
    publishes, receives and takes, a subscriber gets what a bounded deque would give, and the
    list never holds more than twice the queue."""
    hub = EventHub()
    subscription = hub.subscribe(max_queue=max_queue)
    model: deque[HubEvent] = deque()
    gap = 0
    serial = 0

    def expected(limit: int) -> list[HubEvent | Gap]:
        nonlocal gap
        out: list[HubEvent | Gap] = [Gap(gap)] if gap else []
        gap = 0
        for _ in range(min(limit, len(model))):
            out.append(model.popleft())
        return out

    for action, count in steps:
        if action == "publish":
            for _ in range(count):
                serial += 1
                model.append(hub.publish(position(ALICE, serial)))
                if len(model) > max_queue:
                    model.popleft()
                    gap += 1
        elif action == "take":
            assert subscription.take(count) == expected(count)
        elif gap or model:  # a gap comes alone, before the events after it
            assert anyio.run(subscription.receive) == expected(0 if gap else 1)[0]
        assert subscription.pending == len(model)
        assert len(subscription._queue) <= 2 * max_queue + 1


async def test_events_stored_but_never_delivered_reach_every_subscriber_as_a_gap() -> None:
    hub = EventHub()
    with hub.subscribe() as everyone, hub.subscribe([ALICE], locations=False) as alice:
        waiting: list[HubEvent | Gap] = []

        async def wait_for_one() -> None:
            waiting.append(await everyone.receive())

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait_for_one)
            await anyio.sleep(0)
            hub.skipped(3)  # wakes the one waiting
        assert waiting == [Gap(3)]
        hub.publish(happened(ALICE))
        with anyio.fail_after(HANG_GUARD):
            assert await alice.receive() == Gap(3)  # first: the skipped came before
            assert phones([await alice.receive()]) == [ALICE]
        assert everyone.dropped == alice.dropped == 0  # not a slow subscriber's drops
