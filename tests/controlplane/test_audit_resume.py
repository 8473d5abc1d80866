"""Issue 10's acceptance audit, end to end over gRPC: the seam between replay and live crossed by
one stream under load (the subscriber's queue roomy enough not to overflow, so the seam itself
is exercised, not the read-back after an overflow), an event stream dropped and resumed, the
retention gap counted exactly, and the statuses of requests a stream cannot serve."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import grpc
import grpc.aio
import pytest

from controlplane.gateway_service import MAX_AFTER_SEQUENCE
from gateway.events import HubEvent
from gateway.store.base import ReadFilter, ReadResult
from gateway.store.log import LogStore
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import gateway_service_pb2_grpc as api_grpc
from tests.store.test_log_store import append, position
from tests.timeouts import HANG_GUARD

from .harness import (
    RunningApp,
    api_channel,
    fleet,
    read_items,
    running_app,
    wait_for_subscribers,
)

if TYPE_CHECKING:
    from jt808.gateway.v1.gateway_service_pb2_grpc import GatewayServiceAsyncStub

pytestmark = pytest.mark.anyio

#: Reports a second of each simulated terminal while a stream crosses the seam.
RATE: Final = 150.0


def stub_of(channel: grpc.aio.Channel) -> GatewayServiceAsyncStub:
    return api_grpc.GatewayServiceStub(channel)


def sequences_in(response: Any) -> list[int]:
    """The sequences a stream response carries; fails on a gap."""
    kind = response.WhichOneof("item")
    assert kind != "gap", response
    if kind == "locations":
        return [item.sequence for item in response.locations.items]
    return [getattr(response, kind).sequence]


async def read_until(responses: Any, up_to: int) -> list[int]:
    """Sequences from the response iterator ``responses`` until one reaches ``up_to``."""
    seen: list[int] = []
    with anyio.fail_after(HANG_GUARD):
        while not seen or seen[-1] < up_to:
            seen += sequences_in(await anext(responses))
    return seen


async def settled(app: RunningApp) -> None:
    """Until every terminal is gone and what they sent is stored: nothing more will come."""
    with anyio.fail_after(HANG_GUARD):
        while len(app.gateway.sessions) or app.gateway.store.status().pending:
            await anyio.sleep(0.01)


async def stored(app: RunningApp, only: ReadFilter) -> list[int]:
    """Every sequence in the log matching ``only``, once the terminals are gone."""
    store = app.gateway.store
    await settled(app)
    return [event.sequence for event in (await store.read(0, 1_000_000, only)).events]


async def wait_for_last_sequence(app: RunningApp, at_least: int) -> int:
    with anyio.fail_after(HANG_GUARD):
        while (last := app.gateway.store.status().last_sequence) < at_least:
            await anyio.sleep(0.01)
    return last


def log_store_of(app: RunningApp) -> LogStore:
    store = app.gateway.store
    assert isinstance(store, LogStore)
    return store


async def status_of(call: Any) -> tuple[grpc.StatusCode, str]:
    """The status a stream call ended with (it must end before sending an item)."""
    with anyio.fail_after(HANG_GUARD):
        try:
            async for response in call:
                raise AssertionError(f"an item instead of an error: {response}")
        except grpc.aio.AioRpcError as error:
            return error.code(), error.details() or ""
    raise AssertionError("the stream ended without an error")


# --------------------------------------------------------------------------------------------
# Replay, then live: one stream across the seam; a dropped stream resumed


async def test_one_stream_crosses_from_replay_to_live_under_load_without_a_loss_or_a_repeat(
    tmp_path: Path,
) -> None:
    async with running_app(tmp_path / "data") as app, api_channel(app) as channel:
        stub = stub_of(channel)
        async with fleet(app, terminals=4, rate=RATE):
            backlog = await wait_for_last_sequence(app, 200)  # some history to replay first
            call = stub.StreamLocations(api.StreamLocationsRequest(after_sequence=0, max_batch=50))
            responses = aiter(call)
            # Well past what was stored when it subscribed, while terminals go on reporting:
            # the stream has switched from the log to the live queue in the middle of the load.
            seen = await read_until(responses, backlog + 300)
        expected = await stored(app, ReadFilter(terminal_events=False))
        if seen[-1] < expected[-1]:  # the same stream, after the load ended
            seen += await read_until(responses, expected[-1])
        call.cancel()
    assert seen == expected


async def test_an_event_stream_dropped_and_resumed_misses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    async with running_app(tmp_path / "data") as app, api_channel(app) as channel:
        stub = stub_of(channel)
        async with fleet(app, terminals=2):
            pass  # connected, registered, authenticated, disconnected: events to read
        call = stub.StreamEvents(api.StreamEventsRequest(after_sequence=0))
        seen = [item.event.sequence for item in await read_items(call, 3)]
        call.cancel()
        async with fleet(app, terminals=3):
            pass  # more events while nobody is subscribed
        expected = await stored(app, ReadFilter(locations=False))
        resumed = stub.StreamEvents(api.StreamEventsRequest(after_sequence=seen[-1]))
        seen += await read_until(aiter(resumed), expected[-1])
        resumed.cancel()
    assert seen == expected


async def test_without_after_sequence_a_stream_is_live_only(tmp_path: Path) -> None:
    async with running_app(tmp_path / "data") as app, api_channel(app) as channel:
        store = log_store_of(app)
        assert await append(store, position(serial=1), position(serial=2))
        call = stub_of(channel).StreamLocations(api.StreamLocationsRequest())
        await wait_for_subscribers(app, 1)
        assert await append(store, position(serial=3))
        (first,) = await read_items(call, 1)
        call.cancel()
    assert (first.location.sequence, first.location.serial) == (3, 3)  # nothing stored before


# --------------------------------------------------------------------------------------------
# Retention: the oldest go, and a resume from before them says exactly how many


async def test_a_resume_from_before_retention_gets_the_exact_gap_then_the_oldest_retained(
    tmp_path: Path,
) -> None:
    async with (
        running_app(tmp_path / "data", retention_age=3600.0) as app,
        api_channel(app) as channel,
    ):
        store = log_store_of(app)
        old = datetime.now(UTC) - timedelta(hours=2)
        assert await append(store, *(position(serial=s, at=old) for s in (1, 2, 3)))
        assert await append(store, position(serial=4), position(serial=5))
        with anyio.fail_after(HANG_GUARD):
            while store.status().oldest_sequence != 4:  # the first commit aged out
                await anyio.sleep(0.05)
        registry = app.gateway.metrics.registry
        assert registry.get_sample_value("jt808_log_oldest_sequence") == 4
        assert registry.get_sample_value("jt808_log_last_sequence") == 5
        stub = stub_of(channel)
        for after, gone in ((0, 3), (2, 1), (3, 0)):
            call = stub.StreamLocations(api.StreamLocationsRequest(after_sequence=after))
            items = await read_items(call, 3 if gone else 2)
            call.cancel()
            if gone:
                assert items[0].WhichOneof("item") == "gap"
                assert items[0].gap.dropped == gone, after
                items = items[1:]
            assert [item.location.sequence for item in items] == [4, 5]
            assert [item.location.serial for item in items] == [4, 5]
        # The gap counts every kind: an event stream resumed from 0 is told of the same three.
        events = stub.StreamEvents(api.StreamEventsRequest(after_sequence=0))
        (first,) = await read_items(events, 1)
        events.cancel()
        assert (first.WhichOneof("item"), first.gap.dropped) == ("gap", 3)


async def test_a_start_time_replays_what_is_stored_from_then_and_after_sequence_wins(
    tmp_path: Path,
) -> None:
    async with running_app(tmp_path / "data") as app, api_channel(app) as channel:
        store = log_store_of(app)
        now = datetime.now(UTC)
        naive = now.replace(tzinfo=None)  # what Timestamp.FromDatetime takes as UTC
        events: list[HubEvent] = [position(serial=1, at=now - timedelta(hours=2)),
                                  position(serial=2, at=now - timedelta(hours=1)),
                                  position(serial=3, at=now)]  # fmt: skip
        for event in events:
            assert await append(store, event)
        stub = stub_of(channel)

        async def replayed(request: api.StreamLocationsRequest, count: int) -> list[int]:
            call = stub.StreamLocations(request)
            items = await read_items(call, count)
            call.cancel()
            return [sequence for item in items for sequence in sequences_in(item)]

        since = api.StreamLocationsRequest()
        since.start_time.FromDatetime(naive - timedelta(minutes=90))
        assert await replayed(since, 2) == [2, 3]
        # Before everything stored: all of it, and no gap (a time says nothing of what went
        # before it).
        since.start_time.FromDatetime(naive - timedelta(days=1))
        assert await replayed(since, 3) == [1, 2, 3]
        # Both set: after_sequence counts, start_time is ignored (as the proto says).
        both = api.StreamLocationsRequest(after_sequence=2)
        both.start_time.FromDatetime(naive - timedelta(days=1))
        assert await replayed(both, 1) == [3]


# --------------------------------------------------------------------------------------------
# Requests a stream cannot serve end with a status that says why


@pytest.mark.parametrize("after", [MAX_AFTER_SEQUENCE + 1, 2**64 - 1])
async def test_an_after_sequence_beyond_any_sequence_is_an_invalid_argument(
    tmp_path: Path, after: int
) -> None:
    async with running_app(tmp_path / "data") as app, api_channel(app) as channel:
        stub = stub_of(channel)
        for call in (
            stub.StreamLocations(api.StreamLocationsRequest(after_sequence=after)),
            stub.StreamEvents(api.StreamEventsRequest(after_sequence=after)),
        ):
            code, details = await status_of(call)
            assert code == grpc.StatusCode.INVALID_ARGUMENT
            assert details.startswith(f"after_sequence: {after} is beyond any sequence")


async def test_the_largest_after_sequence_accepted_reads_nothing_and_fails_nothing(
    tmp_path: Path,
) -> None:
    async with running_app(tmp_path / "data") as app:
        store = log_store_of(app)
        assert await append(store, position(serial=1))
        page = await store.read(MAX_AFTER_SEQUENCE, 10, ReadFilter())
        assert (page.events, page.gone, page.more) == ([], 0, False)


async def test_a_start_time_that_is_no_time_is_an_invalid_argument(tmp_path: Path) -> None:
    async with running_app(tmp_path / "data") as app, api_channel(app) as channel:
        request = api.StreamEventsRequest()
        request.start_time.seconds = 253402300800  # year 10000
        code, details = await status_of(stub_of(channel).StreamEvents(request))
        assert (code, details) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "start_time: is not a valid time",
        )


async def test_a_replay_that_cannot_read_the_log_ends_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_read(after: int, limit: int, only: ReadFilter) -> ReadResult:
        raise sqlite3.OperationalError("disk I/O error")

    async with running_app(tmp_path / "data") as app, api_channel(app) as channel:
        monkeypatch.setattr(app.gateway.store, "read", failing_read)
        call = stub_of(channel).StreamLocations(api.StreamLocationsRequest(after_sequence=0))
        code, details = await status_of(call)
    # A passing condition (the SDK's streams retry UNAVAILABLE), said in words, not UNKNOWN.
    assert code == grpc.StatusCode.UNAVAILABLE
    assert details == "the event log cannot be read now: disk I/O error"


# --------------------------------------------------------------------------------------------
# --durability memory: nothing to replay, and the stream says so


async def test_without_a_log_a_resume_says_how_much_is_gone_then_goes_live(tmp_path: Path) -> None:
    async with (
        running_app(tmp_path / "data", durability="memory") as app,
        api_channel(app) as channel,
    ):
        stub = stub_of(channel)
        async with fleet(app, terminals=1):
            pass
        await settled(app)
        numbered = app.gateway.hub.last_sequence
        assert numbered >= 3  # connected, registered, authenticated, ...
        call = stub.StreamEvents(api.StreamEventsRequest(after_sequence=0))
        responses = aiter(call)
        with anyio.fail_after(HANG_GUARD):
            first = await anext(responses)
            assert (first.WhichOneof("item"), first.gap.dropped) == ("gap", numbered)
            async with fleet(app, terminals=1):
                pass
            live = await anext(responses)
        call.cancel()
        assert live.event.sequence == numbered + 1  # then live, from the next one on
