"""StreamLocations and StreamEvents end to end: a running gateway, real ``grpc.aio`` channels,
simulated terminals (clients.simulator) for traffic and a scripted terminal
(tests.server.terminal_client) where the test must know exactly what was sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import grpc
import grpc.aio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.protocol.bodies.messaging import EventReport
from gateway.protocol.bodies.passthrough import UplinkPassthrough
from gateway.protocol.bodies.terminal import UpgradeResult, UpgradeResultCode, UpgradeType
from gateway.protocol.body import Body
from gateway.protocol.errors import ResultCode
from gateway.protocol.ids import MessageId
from gateway.protocol.versions import V2013, V2019, ProtocolVersion
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import gateway_service_pb2_grpc as api_grpc
from jt808.gateway.v1.location_pb2 import Location
from tests.protocol.null_modem import LOCATION_TIME
from tests.server.terminal_client import DEVICE_NAME, TerminalClient
from tests.timeouts import HANG_GUARD

from .harness import (
    RunningApp,
    api_channel,
    fleet,
    phones,
    read_items,
    running_app,
    wait_for_subscribers,
)

if TYPE_CHECKING:
    from jt808.gateway.v1.gateway_service_pb2_grpc import GatewayServiceAsyncStub

    LocationCall = grpc.aio.UnaryStreamCall[api.StreamLocationsRequest, api.StreamLocationsResponse]

#: Every test runs under this deadline: a stalled stream fails the test instead of hanging CI.
TEST_TIMEOUT: Final = HANG_GUARD
#: A channel whose client buffers almost nothing: no BDP probing growing the HTTP/2 window and
#: the smallest per-stream read-ahead, so a client that does not read pushes back on the server
#: after a few items (and the hub's queue for it overflows).
TIGHT_CHANNEL: Final = (("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024))
REPORT: Final = int(MessageId.LOCATION_REPORT)
BATCH: Final = int(MessageId.LOCATION_BATCH)


def stub_of(channel: grpc.aio.Channel) -> GatewayServiceAsyncStub:
    return api_grpc.GatewayServiceStub(channel)


def locations_only(items: Sequence[api.StreamLocationsResponse]) -> list[Location]:
    """The ``Location`` of each item; fails on a gap."""
    assert all(item.WhichOneof("item") == "location" for item in items), items
    return [item.location for item in items]


def events_only(items: Sequence[api.StreamEventsResponse]) -> list[api.Event]:
    assert all(item.WhichOneof("item") == "event" for item in items), items
    return [item.event for item in items]


def kinds_of(events: Sequence[api.Event]) -> list[str]:
    return [api.EventKind.Name(event.kind) for event in events]


def utc(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def sample(app: RunningApp, name: str, **labels: str) -> float:
    value = app.gateway.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def subscribers_gauge(app: RunningApp, stream: str) -> float:
    return sample(app, "jt808_stream_subscribers", stream=stream)


async def read_until(
    call: LocationCall, done: Callable[[list[Location]], bool], *, limit: int = 200
) -> list[Location]:
    """Locations of ``call`` until ``done(locations so far)``; at most ``limit`` of them."""
    seen: list[Location] = []
    while not done(seen):
        assert len(seen) < limit, f"gave up after {limit} items"
        seen += locations_only(await read_items(call, 1))
    return seen


async def send_acknowledged(terminal: TerminalClient, body: Body) -> int:
    """Send ``body`` and wait for the 0x8001 that accepts it; returns its serial."""
    await terminal.send(terminal.terminal.frame(body))
    serial = terminal.terminal.last_serial
    await terminal.expect_general_response(body.MSG_ID, ResultCode.SUCCESS, reply_serial=serial)
    return serial


async def report_positions(terminal: TerminalClient, speeds: Sequence[float]) -> list[int]:
    """0x0200 reports at ``speeds``, each acknowledged before the next; returns their serials."""
    serials: list[int] = []
    for speed in speeds:
        await terminal.send(terminal.terminal.location(speed=speed))
        serials.append(terminal.terminal.last_serial)
        await terminal.expect_general_response(REPORT, ResultCode.SUCCESS)
    return serials


# --------------------------------------------------------------------------------------------
# StreamLocations


@pytest.mark.anyio
async def test_live_positions_come_with_their_fields(tmp_path: Path) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            call = stub_of(channel).StreamLocations(api.StreamLocationsRequest())
            await wait_for_subscribers(app, 1)
            async with TerminalClient.connect(app.addresses.terminals, V2013) as terminal:
                await terminal.log_in()
                before = datetime.now(UTC)
                serials = await report_positions(terminal, [30.0, 40.5])
                await terminal.send(terminal.terminal.location(latitude=-33.86882, longitude=-70.6))
                serials.append(terminal.terminal.last_serial)
                await terminal.expect_general_response(REPORT, ResultCode.SUCCESS)
                after = datetime.now(UTC)
                received: list[api.StreamLocationsResponse] = await read_items(call, 3)
            call.cancel()
    locations = locations_only(received)
    for location, serial in zip(locations, serials, strict=True):
        assert location.phone == terminal.phone  # as on the wire: "013912345678"
        assert location.device_name == DEVICE_NAME
        assert utc(location.time) == LOCATION_TIME
        assert before <= utc(location.received_time) <= after
        assert (location.msg_id, location.serial) == (REPORT, serial)
        assert (location.altitude_m, location.direction, location.alarm_flags) == (12, 90, 0)
        assert not location.batch and not location.blind_area
    assert [loc.speed_kmh for loc in locations[:2]] == [30.0, 40.5]
    assert (locations[0].latitude, locations[0].longitude) == pytest.approx((22.543096, 114.057865))
    # South and west: negative degrees, status bits 2 and 3 as the terminal set them.
    assert (locations[2].latitude, locations[2].longitude) == pytest.approx((-33.86882, -70.6))
    assert locations[2].status_flags == 0x0002 | 0b1100
    sequences = [loc.sequence for loc in locations]
    assert sequences == sorted(sequences) and len(set(sequences)) == 3 and sequences[0] > 0


@pytest.mark.anyio
async def test_phone_filter_passes_only_those_terminals_leading_zeros_or_not(
    tmp_path: Path,
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with (
            running_app(tmp_path) as app,
            fleet(app, terminals=3, rate=50.0),
            api_channel(app) as channel,
        ):
            first, second, third = phones(app)
            assert third.startswith("0")  # 2013 phones are 12 digits, zero-padded
            request = api.StreamLocationsRequest(phones=[first, third.lstrip("0")])
            call = stub_of(channel).StreamLocations(request)
            # 3 terminals at the same rate: a leak of the second would show within 20 items.
            locations = await read_until(call, lambda seen: len(seen) >= 20)
            call.cancel()
    # The phone is always the one on the wire, however the filter spelled it.
    assert {location.phone for location in locations} == {first, third}
    assert second not in {location.phone for location in locations}


@pytest.mark.anyio
async def test_empty_phone_filter_passes_every_terminal(tmp_path: Path) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with (
            running_app(tmp_path) as app,
            fleet(app, terminals=3, rate=50.0),
            api_channel(app) as channel,
        ):
            everyone = set(phones(app))
            call = stub_of(channel).StreamLocations(api.StreamLocationsRequest())
            locations = await read_until(
                call, lambda seen: {location.phone for location in seen} == everyone
            )
            call.cancel()
    assert all(location.msg_id == REPORT for location in locations)


@pytest.mark.anyio
async def test_one_phone_spelled_twice_in_the_filter_gets_each_position_once(
    tmp_path: Path,
) -> None:
    phone = "00000000013900002019"
    spellings = [phone, phone.lstrip("0"), "0" + phone.lstrip("0")]
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            request = api.StreamLocationsRequest(phones=spellings)
            filtered = stub_of(channel).StreamLocations(request)
            await wait_for_subscribers(app, 1)
            async with TerminalClient.connect(
                app.addresses.terminals, V2019, phone=phone
            ) as terminal:
                await terminal.log_in()
                serials = await report_positions(terminal, [1.0, 2.0, 3.0])
            # A duplicate would come right after its original, before the third position.
            received: list[api.StreamLocationsResponse] = await read_items(filtered, 3)
            filtered.cancel()
    assert [location.serial for location in locations_only(received)] == serials


@pytest.mark.anyio
@pytest.mark.parametrize("blind_area", [False, True], ids=["normal", "blind-area"])
@pytest.mark.parametrize("version", [V2013, V2019], ids=str)
async def test_batch_uploads_come_out_item_by_item_marked_as_batch(
    tmp_path: Path, version: ProtocolVersion, blind_area: bool
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with (
            running_app(tmp_path) as app,
            api_channel(app) as channel,
        ):
            call = stub_of(channel).StreamLocations(api.StreamLocationsRequest())
            await wait_for_subscribers(app, 1)
            async with fleet(app, version=version, batch=4, blind_area=blind_area, rate=80.0):
                received: list[api.StreamLocationsResponse] = await read_items(call, 8)
            call.cancel()
    locations = locations_only(received)
    assert all(location.msg_id == BATCH for location in locations)
    assert all(location.batch for location in locations)
    assert all(location.blind_area is blind_area for location in locations)
    # Two 0x0704 messages of 4 items: the items of one message share its serial.
    serials = [location.serial for location in locations]
    assert serials[:4] == [serials[0]] * 4 and serials[4:] == [serials[4]] * 4
    assert serials[0] != serials[4]
    # The samples are spread over the time since the last report, in order.
    times = [utc(location.time) for location in locations]
    assert times == sorted(times)


@pytest.mark.anyio
async def test_concurrent_subscribers_all_see_the_same_positions(tmp_path: Path) -> None:
    subscribers = 10
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            stub = stub_of(channel)
            calls = [stub.StreamLocations(api.StreamLocationsRequest()) for _ in range(subscribers)]
            await wait_for_subscribers(app, subscribers)
            async with TerminalClient.connect(app.addresses.terminals, V2019) as terminal:
                await terminal.log_in()
                serials = await report_positions(terminal, [10.0, 20.0, 30.0, 40.0, 50.0])
            seen: list[list[tuple[int, int, float]]] = []
            for call in calls:
                received: list[api.StreamLocationsResponse] = await read_items(call, 5)
                seen.append([(x.sequence, x.serial, x.speed_kmh) for x in locations_only(received)])
                call.cancel()
    assert [serial for _, serial, _ in seen[0]] == serials
    assert all(view == seen[0] for view in seen)


@pytest.mark.anyio
async def test_slow_subscriber_gets_a_gap_then_the_newest_and_nobody_else_waits(
    tmp_path: Path,
) -> None:
    reports = 120
    with anyio.fail_after(TEST_TIMEOUT):
        async with (
            running_app(tmp_path, stream_queue=4) as app,
            api_channel(app) as fast_channel,
            grpc.aio.insecure_channel(app.grpc_target, options=TIGHT_CHANNEL) as slow_channel,
            TerminalClient.connect(app.addresses.terminals, V2019) as terminal,
        ):
            slow = stub_of(slow_channel).StreamLocations(api.StreamLocationsRequest())
            fast = stub_of(fast_channel).StreamLocations(api.StreamLocationsRequest())
            await wait_for_subscribers(app, 2)
            await terminal.log_in()
            fast_items: list[api.StreamLocationsResponse] = []
            for index in range(reports):
                await terminal.send(terminal.terminal.location(speed=float(index)))
                # Acknowledged although the slow subscriber reads nothing: the data plane
                # never waits for a stream.
                await terminal.expect_general_response(REPORT, ResultCode.SUCCESS)
                # In step with the reports, so the fast reader never has two items queued.
                fast_items += await read_items(fast, 1)
            dropped = sample(app, "jt808_hub_dropped_total")
            slow_items = await read_slow_until_accounted(slow, reports)
            slow.cancel()
            fast.cancel()
    newest = locations_only(fast_items)  # no gap for the reader that kept up
    assert [location.speed_kmh for location in newest] == [float(i) for i in range(reports)]
    gaps = [item.gap.dropped for item in slow_items if item.HasField("gap")]
    assert gaps and all(count > 0 for count in gaps)
    assert sum(gaps) == dropped  # every drop is the slow subscriber's, and counted
    kinds = [item.WhichOneof("item") for item in slow_items]
    last_gap = len(kinds) - 1 - kinds[::-1].index("gap")
    tail = locations_only(slow_items[last_gap + 1 :])
    # After the last gap: the freshest positions, ending with the very last one.
    assert tail, "a gap is always followed by the items kept"
    assert [x.sequence for x in tail] == [x.sequence for x in newest[-len(tail) :]]


async def read_slow_until_accounted(
    call: LocationCall, reports: int
) -> list[api.StreamLocationsResponse]:
    """Items of ``call`` until every report is either received or counted in a gap."""
    items: list[api.StreamLocationsResponse] = []
    accounted = 0
    while accounted < reports:
        item: api.StreamLocationsResponse = (await read_items(call, 1))[0]
        items.append(item)
        accounted += item.gap.dropped if item.HasField("gap") else 1
    assert accounted == reports, f"{accounted} items received or dropped for {reports} sent"
    return items


@pytest.mark.anyio
async def test_subscription_ends_when_the_client_cancels(tmp_path: Path) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            calls: list[grpc.aio.UnaryStreamCall[Any, Any]] = [
                stub_of(channel).StreamLocations(api.StreamLocationsRequest()),
                stub_of(channel).StreamEvents(api.StreamEventsRequest()),
            ]
            await wait_for_subscribers(app, 2)
            assert subscribers_gauge(app, "locations") == subscribers_gauge(app, "events") == 1
            for call in calls:
                call.cancel()
            while app.gateway.hub.stats.subscribers:
                await anyio.sleep(0.005)
            assert subscribers_gauge(app, "locations") == subscribers_gauge(app, "events") == 0


@pytest.mark.anyio
async def test_gateway_shutdown_ends_streams_with_unavailable(tmp_path: Path) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with AsyncExitStack() as outlives_the_gateway:
            async with running_app(tmp_path) as app:
                channel = grpc.aio.insecure_channel(app.grpc_target)
                outlives_the_gateway.push_async_callback(channel.close)
                stub = stub_of(channel)
                locations = stub.StreamLocations(api.StreamLocationsRequest())
                request = api.StreamEventsRequest(kinds=[api.EVENT_KIND_DISCONNECTED])
                events = stub.StreamEvents(request)
                await wait_for_subscribers(app, 2)
                terminal = await outlives_the_gateway.enter_async_context(
                    TerminalClient.connect(app.addresses.terminals, V2013)
                )
                await terminal.log_in()
            # The gateway has stopped. What happened before goes out first, then each stream
            # ends with a status that says to come back later.
            assert await terminal.closed() == []
            received: list[api.StreamEventsResponse] = await read_items(events, 1)
            assert (received[0].event.phone, received[0].event.reason) == (
                terminal.phone,
                "server_shutdown",
            )
            for call in (locations, events):
                with pytest.raises(grpc.aio.AioRpcError) as ended:
                    await read_items(call, 1)
                assert ended.value.code() is grpc.StatusCode.UNAVAILABLE
                assert "shutting down" in (ended.value.details() or "")


# --------------------------------------------------------------------------------------------
# StreamEvents


def expected_address(terminal: TerminalClient) -> str:
    return f"127.0.0.1:{terminal.local_port}"


@pytest.mark.anyio
async def test_a_terminal_life_cycle_is_connected_registered_authenticated_disconnected(
    tmp_path: Path,
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            call = stub_of(channel).StreamEvents(api.StreamEventsRequest())
            await wait_for_subscribers(app, 1)
            before = datetime.now(UTC)
            async with TerminalClient.connect(app.addresses.terminals, V2019) as terminal:
                await terminal.log_in()
                await send_acknowledged(terminal, UpgradeResult(upgrade_type=0, result=0))
                address = expected_address(terminal)
            received: list[api.StreamEventsResponse] = await read_items(call, 5)
            after = datetime.now(UTC)
            call.cancel()
    events = events_only(received)
    assert kinds_of(events) == [
        "EVENT_KIND_CONNECTED",
        "EVENT_KIND_REGISTERED",
        "EVENT_KIND_AUTHENTICATED",
        "EVENT_KIND_MESSAGE",
        "EVENT_KIND_DISCONNECTED",
    ]
    for event in events:
        assert event.phone == terminal.phone
        assert event.remote_address == address
        assert before <= utc(event.time) <= after
    # The first frame tells the phone, not yet the device; registration names it.
    assert [event.device_name for event in events] == ["", *[DEVICE_NAME] * 4]
    assert [event.reason for event in events] == ["", "", "", "", "peer_closed"]
    sequences = [event.sequence for event in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert [event.msg_id for event in events] == [0, 0, 0, MessageId.UPGRADE_RESULT, 0]


@pytest.mark.anyio
async def test_kinds_filter_passes_only_those_kinds(tmp_path: Path) -> None:
    wanted = [api.EVENT_KIND_AUTHENTICATED, api.EVENT_KIND_DISCONNECTED]
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            call = stub_of(channel).StreamEvents(api.StreamEventsRequest(kinds=wanted))
            await wait_for_subscribers(app, 1)
            async with TerminalClient.connect(app.addresses.terminals, V2013) as terminal:
                await terminal.log_in()
                await send_acknowledged(terminal, EventReport(event_id=3))
            # DISCONNECTED is the last event of the terminal: anything the filter let through
            # by mistake would come before it.
            received: list[api.StreamEventsResponse] = await read_items(call, 2)
            call.cancel()
    events = events_only(received)
    assert kinds_of(events) == ["EVENT_KIND_AUTHENTICATED", "EVENT_KIND_DISCONNECTED"]


@pytest.mark.anyio
async def test_phones_filter_passes_only_those_terminals(tmp_path: Path) -> None:
    watched, other = "013900000001", "013900000002"
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            request = api.StreamEventsRequest(phones=[watched.lstrip("0")])
            call = stub_of(channel).StreamEvents(request)
            await wait_for_subscribers(app, 1)
            for phone in (other, watched):  # the other first: its events would come first
                async with TerminalClient.connect(
                    app.addresses.terminals, V2013, phone=phone
                ) as terminal:
                    await terminal.log_in()
            received: list[api.StreamEventsResponse] = await read_items(call, 4)
            call.cancel()
    events = events_only(received)
    assert {event.phone for event in events} == {watched}
    assert kinds_of(events) == [
        "EVENT_KIND_CONNECTED",
        "EVENT_KIND_REGISTERED",
        "EVENT_KIND_AUTHENTICATED",
        "EVENT_KIND_DISCONNECTED",
    ]


@pytest.mark.anyio
async def test_other_messages_come_as_message_events_with_their_body(tmp_path: Path) -> None:
    upgrade = UpgradeResult(upgrade_type=UpgradeType.GNSS_MODULE, result=UpgradeResultCode.FAILURE)
    report = EventReport(event_id=7)
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            request = api.StreamEventsRequest(kinds=[api.EVENT_KIND_MESSAGE])
            call = stub_of(channel).StreamEvents(request)
            await wait_for_subscribers(app, 1)
            async with TerminalClient.connect(app.addresses.terminals, V2013) as terminal:
                await terminal.log_in()
                # Positions and heartbeats are not events: only the two messages come out.
                await report_positions(terminal, [12.0])
                await terminal.send(terminal.terminal.heartbeat())
                await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
                serials = [
                    await send_acknowledged(terminal, upgrade),
                    await send_acknowledged(terminal, report),
                ]
                received: list[api.StreamEventsResponse] = await read_items(call, 2)
            call.cancel()
    events = events_only(received)
    assert [event.kind for event in events] == [api.EVENT_KIND_MESSAGE] * 2
    assert [(event.msg_id, event.serial) for event in events] == [
        (MessageId.UPGRADE_RESULT, serials[0]),
        (MessageId.EVENT_REPORT, serials[1]),
    ]
    assert [event.body for event in events] == [b"\x34\x01", b"\x07"]  # as sent
    assert [json.loads(event.body_json) for event in events] == [
        {"upgrade_type": 0x34, "result": 1},
        {"event_id": 7},
    ]
    assert all(event.phone == terminal.phone for event in events)
    assert all(event.device_name == DEVICE_NAME for event in events)
    assert all(event.reason == "" for event in events)


@pytest.mark.anyio
async def test_a_message_id_without_a_layout_comes_raw(tmp_path: Path) -> None:
    vendor_id, data = 0x0F01, b"\x01\x02vendor\x7e"
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            request = api.StreamEventsRequest(kinds=[api.EVENT_KIND_MESSAGE])
            call = stub_of(channel).StreamEvents(request)
            await wait_for_subscribers(app, 1)
            async with TerminalClient.connect(app.addresses.terminals, V2013) as terminal:
                await terminal.log_in()
                await terminal.send(terminal.terminal.raw_frame(vendor_id, data))
                serial = terminal.terminal.last_serial
                await terminal.expect_general_response(
                    vendor_id, ResultCode.UNSUPPORTED, reply_serial=serial
                )
                received: list[api.StreamEventsResponse] = await read_items(call, 1)
            call.cancel()
    (event,) = events_only(received)
    assert (event.msg_id, event.serial, event.body) == (vendor_id, serial, data)
    assert json.loads(event.body_json) == {"raw": data.hex()}  # as `jt808 decode` shows it


@pytest.mark.anyio
async def test_uplink_passthrough_is_transparent_data(tmp_path: Path) -> None:
    passthrough = UplinkPassthrough(type=0x41, data=b"\x00\x7e\x7dpayload")
    wanted = [api.EVENT_KIND_TRANSPARENT_DATA, api.EVENT_KIND_MESSAGE]
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            call = stub_of(channel).StreamEvents(api.StreamEventsRequest(kinds=wanted))
            await wait_for_subscribers(app, 1)
            async with TerminalClient.connect(app.addresses.terminals, V2019) as terminal:
                await terminal.log_in()
                serial = await send_acknowledged(terminal, passthrough)
                await send_acknowledged(terminal, EventReport(event_id=1))  # a marker after it
                received: list[api.StreamEventsResponse] = await read_items(call, 2)
            call.cancel()
    passed, marker = events_only(received)
    assert passed.kind == api.EVENT_KIND_TRANSPARENT_DATA
    assert (passed.msg_id, passed.serial) == (MessageId.UPLINK_PASSTHROUGH, serial)
    assert passed.body == b"\x41\x00\x7e\x7dpayload"  # unescaped, byte for byte
    assert json.loads(passed.body_json) == {"type": 0x41, "data": "007e7d7061796c6f6164"}
    assert (marker.kind, marker.msg_id) == (api.EVENT_KIND_MESSAGE, MessageId.EVENT_REPORT)


# --------------------------------------------------------------------------------------------
# Refused requests


INVALID_STREAM_REQUESTS: Final = [
    pytest.param("locations", {"phones": ["013912345678", "13x"]}, "phones[1]", id="letters"),
    pytest.param("locations", {"phones": [""]}, "phones[0]", id="empty-phone"),
    pytest.param("locations", {"phones": ["1" * 21]}, "phones[0]", id="21-digits"),
    pytest.param("events", {"phones": ["+8613912345678"]}, "phones[0]", id="plus-sign"),
    pytest.param("events", {"phones": ["139 1234"]}, "phones[0]", id="space"),
    pytest.param("events", {"kinds": [api.EVENT_KIND_CONNECTED, 99]}, "kinds[1]", id="kind-99"),
    pytest.param("events", {"kinds": [api.EVENT_KIND_UNSPECIFIED]}, "kinds[0]", id="unspecified"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("stream", "fields", "named"), INVALID_STREAM_REQUESTS)
async def test_invalid_filters_are_refused_naming_the_field(
    tmp_path: Path, stream: str, fields: dict[str, Any], named: str
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            stub = stub_of(channel)
            call: grpc.aio.UnaryStreamCall[Any, Any] = (
                stub.StreamLocations(api.StreamLocationsRequest(**fields))
                if stream == "locations"
                else stub.StreamEvents(api.StreamEventsRequest(**fields))
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await read_items(call, 1)
            assert_no_subscription_left(app)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.value.details() or "").startswith(f"{named}: ")


def assert_no_subscription_left(app: RunningApp) -> None:
    assert app.gateway.hub.stats.subscribers == 0
