"""``follow`` without a log (``--durability memory``): resuming is live only, a gap says what
the hub numbered since, and a cursor from before a restart (higher than today's numbers) does
not hide the new events."""

from __future__ import annotations

import anyio
import pytest

from gateway.events import Gap, HubEvent
from gateway.hub import EventHub
from gateway.store.base import ReadFilter
from gateway.store.follow import follow
from gateway.store.memory import MemoryStore
from tests.timeouts import HANG_GUARD

from .test_log_store import position

pytestmark = pytest.mark.anyio


async def test_a_cursor_from_before_a_restart_does_not_hide_new_events() -> None:
    hub = EventHub()
    store = MemoryStore(hub)
    store.append(position(serial=1))  # today's numbering is at 1
    received: list[HubEvent | Gap] = []
    with anyio.fail_after(HANG_GUARD):
        stream = follow(hub, store, (), ReadFilter(), after=5000, max_batch=100)

        async def read() -> None:
            async for batch in stream:
                received.extend(batch)
                return

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(read)
            await anyio.sleep(0.01)  # the subscription is made
            store.append(position(serial=2))
        await stream.aclose()
    assert [getattr(item, "serial", None) for item in received] == [2]


async def test_resuming_without_a_log_says_how_much_is_gone() -> None:
    hub = EventHub()
    store = MemoryStore(hub)
    for serial in range(3):
        store.append(position(serial=serial))
    page = await store.read(1, 100, ReadFilter())
    assert (page.events, page.gone, page.last) == ([], 2, 3)
