"""Issue 10's acceptance audit: a writer process that dies after its commit but before its answer
leaves that commit in the log, numbered, yet never delivered to the hub. A stream resumed with
``after_sequence`` promises every stored item once, so it must not step over that hole."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import pytest

from gateway.events import Gap, HubEvent
from gateway.store import channel
from gateway.store.base import ReadFilter
from gateway.store.follow import follow
from gateway.store.log_process import ProcessLogStore
from tests.store.test_log_store import Waiter, append, open_store, position, read_all
from tests.timeouts import HANG_GUARD

pytestmark = pytest.mark.anyio


async def test_a_commit_whose_answer_died_with_its_writer_still_reaches_a_resumed_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    assert isinstance(store, ProcessLogStore)
    await store.start()
    seen: list[int] = []
    changed = anyio.Event()

    async def resumed_from_zero() -> None:
        nonlocal changed
        stream = follow(store.hub, store, (), ReadFilter(), after=0, max_batch=100)
        async for items in stream:
            seen.extend(item.sequence for item in items if not isinstance(item, Gap))
            changed.set()
            changed = anyio.Event()

    async def until_seen(sequence: int) -> None:
        with anyio.fail_after(HANG_GUARD):
            while sequence not in seen and not (seen and seen[-1] > sequence):
                await changed.wait()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(resumed_from_zero)
        first = position(serial=1)
        assert await append(store, first)
        await until_seen(first.sequence)

        # The writer commits the next batch, but its answer never reaches the loop.
        receive = store._received
        dropped: list[channel.Message] = []

        def losing_the_answer(message: channel.Message) -> None:
            if message[0] == channel.COMMITTED and not dropped:
                dropped.append(message)
                return
            receive(message)

        monkeypatch.setattr(store, "_received", losing_the_answer)
        waiter = Waiter()
        unanswered: HubEvent = position(serial=2)
        batch = store.append(unanswered)
        store.notify(waiter, batch)
        with anyio.fail_after(HANG_GUARD):
            while not dropped:
                await anyio.sleep(0.01)
        pid = store.writer_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert not await waiter.settled(batch)  # not acknowledged: the terminal resends
        with anyio.fail_after(HANG_GUARD):
            while store.writer_pid in (None, pid):
                await anyio.sleep(0.01)

        later = position(serial=3)
        assert await append(store, later)
        await until_seen(later.sequence)
        tasks.cancel_scope.cancel()
    in_log = [e.sequence for e in await read_all(store)]
    await store.aclose()
    assert len(in_log) == 3  # the dead writer's commit is in the log, numbered
    assert seen == in_log  # and the resumed stream gave it, in its place
