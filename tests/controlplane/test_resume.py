"""Streams that resume: ``after_sequence`` (and ``start_time``) replay the event log, then
continue live. Under load, across disconnections, with a subscriber queue small enough to
overflow: every stored item arrives once, in order, and nothing is skipped at the seam."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import grpc.aio
import pytest

from gateway.store.base import ReadFilter
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import gateway_service_pb2_grpc as api_grpc
from tests.timeouts import HANG_GUARD

from .harness import RunningApp, api_channel, fleet, read_items, running_app

if TYPE_CHECKING:
    LocationCall = grpc.aio.UnaryStreamCall[api.StreamLocationsRequest, api.StreamLocationsResponse]

pytestmark = pytest.mark.anyio

#: Small enough that a live subscriber overflows while the test reads (then it catches up from
#: the log instead of losing items).
SMALL_QUEUE: Final = 8


async def sequences_from(call: LocationCall, *, at_least: int = 0, up_to: int = 0) -> list[int]:
    """Location sequences of ``call``'s responses until ``at_least`` were read or one reached
    ``up_to``; fails on a gap."""
    seen: list[int] = []
    with anyio.fail_after(HANG_GUARD):
        async for response in call:
            kind = response.WhichOneof("item")
            assert kind != "gap", response
            items = response.locations.items if kind == "locations" else [response.location]
            seen += [item.sequence for item in items]
            if (at_least and len(seen) >= at_least) or (up_to and seen[-1] >= up_to):
                break
    call.cancel()
    return seen


async def stored(app: RunningApp, only: ReadFilter) -> list[int]:
    """Every sequence in the log matching ``only``, once nothing is waiting to be written."""
    store = app.gateway.store
    with anyio.fail_after(HANG_GUARD):
        while store.status().pending:
            await anyio.sleep(0.01)
    return [event.sequence for event in (await store.read(0, 1_000_000, only)).events]


async def test_a_location_stream_resumed_under_load_misses_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    async with (
        running_app(tmp_path / "data", stream_queue=SMALL_QUEUE) as app,
        api_channel(app) as channel,
    ):
        stub = api_grpc.GatewayServiceStub(channel)
        seen: list[int] = []
        async with fleet(app, terminals=4, rate=100.0):
            for _ in range(3):  # subscribe, read a while, drop the stream, let data pile up
                request = api.StreamLocationsRequest(after_sequence=seen[-1] if seen else 0,
                                                     max_batch=25)  # fmt: skip
                seen += await sequences_from(stub.StreamLocations(request), at_least=150)
                await anyio.sleep(0.2)
        expected = await stored(app, ReadFilter(terminal_events=False))
        request = api.StreamLocationsRequest(after_sequence=seen[-1], max_batch=25)
        if seen[-1] < expected[-1]:
            seen += await sequences_from(stub.StreamLocations(request), up_to=expected[-1])
        assert seen == expected


async def test_one_location_a_response_resumes_too(tmp_path: Path) -> None:
    async with running_app(tmp_path / "data") as app, api_channel(app) as channel:
        stub = api_grpc.GatewayServiceStub(channel)
        async with fleet(app, terminals=2, rate=50.0):
            first = await sequences_from(
                stub.StreamLocations(api.StreamLocationsRequest(after_sequence=0)), at_least=20
            )
            more = await sequences_from(
                stub.StreamLocations(api.StreamLocationsRequest(after_sequence=first[9])),
                at_least=20,
            )
        assert more[:10] == first[10:]  # continued right after the sequence given
        assert more == sorted(set(more))


async def test_events_that_happened_before_subscribing_are_replayed_by_kind_and_time(
    tmp_path: Path,
) -> None:
    async with running_app(tmp_path / "data") as app, api_channel(app) as channel:
        stub = api_grpc.GatewayServiceStub(channel)
        async with fleet(app, terminals=3):
            pass  # three terminals connected, authenticated and left
        expected = await stored(app, ReadFilter(locations=False))
        authenticated = api.StreamEventsRequest(
            after_sequence=0, kinds=[api.EVENT_KIND_AUTHENTICATED]
        )
        events = [r.event for r in await read_items(stub.StreamEvents(authenticated), 3)]
        assert len({event.phone for event in events}) == 3
        assert [event.sequence for event in events] == sorted(e.sequence for e in events) and set(
            e.sequence for e in events
        ) <= set(expected)
        everything: Any = stub.StreamEvents(api.StreamEventsRequest(after_sequence=0))
        replayed = [r.event.sequence for r in await read_items(everything, len(expected))]
        everything.cancel()
        assert replayed == expected
        # From a time: the events at or after the second authentication, not before.
        since = events[1].time.ToDatetime() - timedelta(microseconds=0)
        request = api.StreamEventsRequest(kinds=[api.EVENT_KIND_AUTHENTICATED])
        request.start_time.FromDatetime(since)
        later = [r.event for r in await read_items(stub.StreamEvents(request), 2)]
        assert [e.sequence for e in later] == [e.sequence for e in events[1:]]


async def test_a_resume_older_than_retention_starts_with_a_gap(tmp_path: Path) -> None:
    async with (
        running_app(tmp_path / "data", retention_age=0.2) as app,
        api_channel(app) as channel,
    ):
        stub = api_grpc.GatewayServiceStub(channel)
        async with fleet(app, terminals=2, rate=50.0):
            await anyio.sleep(0.5)
        with anyio.fail_after(HANG_GUARD):
            while app.gateway.store.status().oldest_sequence <= 1:
                await anyio.sleep(0.05)
        call: Any = stub.StreamEvents(api.StreamEventsRequest(after_sequence=0))
        (first,) = await read_items(call, 1)
        call.cancel()
        assert first.WhichOneof("item") == "gap"
        assert first.gap.dropped >= 1
