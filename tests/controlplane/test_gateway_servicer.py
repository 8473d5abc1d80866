"""GatewayServicer through grpcio-testing: no sockets, a real ``Gateway`` that is not serving.

The servicer runs on the test's own event loop (``sync_adapter(loop=...)``) so that it shares
the gateway's hub and sessions with the test; blocking harness calls go through a worker thread.

Most tests bind ``FakeConnection``s: a real ``TerminalSession`` logged in over the null modem
(so the session views are the real ones) whose ``run_command`` plays a scripted result or
error. The last section runs real ``TerminalConnection``s over a connected socket pair, with
the test playing the terminal, to check the same paths end to end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

import anyio
import anyio.abc
import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message as ProtoMessage

from controlplane.gateway_service import GatewayServicer
from controlplane.locations import location_from_event
from controlplane.status import COMMAND_OUTCOME_KEY
from controlplane.views import event_message
from gateway.hub import EventKind, LocationReported, TerminalEvent
from gateway.protocol.bodies.general import TerminalGeneralResponse
from gateway.protocol.bodies.location import QueryLocation, QueryLocationResponse
from gateway.protocol.body import Body
from gateway.protocol.commands import (
    CommandAnswered,
    CommandFailed,
    CommandFailure,
    TooManyPendingCommandsError,
)
from gateway.protocol.errors import EncodeError
from gateway.protocol.header import Header
from gateway.protocol.ids import MessageId
from gateway.protocol.message import Message, decode_frame, encode
from gateway.protocol.session import CloseReason, SessionNotReadyError, TerminalSession
from gateway.protocol.versions import V2013, V2019, ProtocolVersion
from gateway.server.config import GatewayConfig
from gateway.server.connection import CommandResult, TerminalConnection
from gateway.server.gateway import Gateway
from jt808.gateway.v1 import commands_pb2
from jt808.gateway.v1 import gateway_service_pb2 as api
from tests.protocol.null_modem import NullModem, Terminal, location
from tests.timeouts import HANG_GUARD

from .grpc_testing_support import (
    AdaptedServicer,
    ServicerHarness,
    StreamCall,
    StreamOutcome,
    UnaryOutcome,
    sync_adapter,
)

SERVICE: Final = api.DESCRIPTOR.services_by_name["GatewayService"]
PHONE: Final = "013912345678"  # a 2013 terminal (12 digits, leading zero kept)
OTHER_PHONE: Final = "12345678901234567890"  # a 2019 terminal
DEVICE: Final = "ACME1_TK-1_T000001"
REMOTE: Final = "10.0.0.7:40001"
WALL: Final = datetime(2024, 5, 1, 8, 30, 0, tzinfo=UTC)
NOW: Final = 1000.0  # the gateway's monotonic clock in the fake-connection tests
COMMAND_TIMEOUT: Final = 12.5
#: Every harness call ends by then at the latest (a servicer that hangs fails, never hangs).
CALL_TIMEOUT: Final = HANG_GUARD
#: Upper bound of one test's waiting on the event loop.
TEST_DEADLINE: Final = HANG_GUARD

QUERY_LOCATION: Final = api.SendCommandRequest(
    phone=PHONE, query_location=commands_pb2.QueryLocation()
)


# --------------------------------------------------------------------------------------------
# The servicer on the test's loop


@dataclasses.dataclass
class Api:
    """The servicer behind grpc_testing; each blocking harness call runs in a worker thread."""

    harness: ServicerHarness
    adapted: AdaptedServicer

    async def unary(self, method: str, request: ProtoMessage) -> UnaryOutcome:
        return await anyio.to_thread.run_sync(self.harness.unary, method, request)

    async def stream(self, method: str, request: ProtoMessage) -> StreamOutcome:
        """Every item of a stream that ends on its own."""
        return await anyio.to_thread.run_sync(self.harness.stream, method, request)

    @asynccontextmanager
    async def open_stream(self, method: str, request: ProtoMessage) -> AsyncIterator[StreamCall]:
        """A stream in progress; leaving the block cancels it and waits for the servicer."""
        call = self.harness.open_stream(method, request)
        try:
            yield call
        finally:
            await anyio.to_thread.run_sync(call.cancel)
            assert await anyio.to_thread.run_sync(self.adapted.wait_idle)

    async def take(self, call: StreamCall, count: int = 1) -> list[Any]:
        return await anyio.to_thread.run_sync(call.take_many, count)


def api_of(gateway: Gateway, *, stream_queue: int | None = None) -> Api:
    """A harness around ``GatewayServicer(gateway)``; call from the test's running loop."""
    servicer = GatewayServicer(gateway, stream_queue=stream_queue)
    adapted = sync_adapter(servicer, SERVICE, loop=asyncio.get_running_loop())
    return Api(ServicerHarness(SERVICE, adapted, timeout=CALL_TIMEOUT), adapted)


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds (the test's deadline bounds it)."""
    with anyio.fail_after(TEST_DEADLINE):
        while not condition():
            await anyio.sleep(0.001)


class FrozenClock:
    """The gateway's monotonic clock, moved only by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def gateway() -> Gateway:
    config = GatewayConfig(auth="insecure-accept-all", command_timeout=COMMAND_TIMEOUT)
    return Gateway(config, clock=FrozenClock(NOW), wall_clock=lambda: WALL)


# --------------------------------------------------------------------------------------------
# Fake connections


@dataclasses.dataclass(frozen=True)
class CommandCall:
    body: Body
    timeout: float
    msg_id: int | None


class FakeConnection:
    """What the servicer uses of ``TerminalConnection``, with a scripted ``run_command``.

    The session is real: registered at ``NOW - 100``, authenticated at ``NOW - 60``, last heard
    from at ``NOW - 10`` (a heartbeat).
    """

    def __init__(
        self, version: ProtocolVersion = V2013, *, phone: str = PHONE, device_name: str = DEVICE
    ) -> None:
        modem = NullModem(Terminal(version, phone=phone), now=NOW - 100)
        modem.send(modem.terminal.registration())
        modem.answer_registration()
        modem.now = NOW - 60
        modem.send(modem.terminal.authentication())
        modem.answer_authentication(device_name=device_name)
        modem.now = NOW - 10
        modem.send(modem.terminal.heartbeat())
        modem.replies()
        self.session: TerminalSession = modem.session
        self.remote_address = REMOTE
        # The wall-clock times a TerminalConnection records at connect and at authentication.
        self.connected_wall = wall_before(100)
        self.authenticated_wall: datetime | None = wall_before(60)
        self.tls_peer = None  # a TCP terminal
        self.calls: list[CommandCall] = []
        self.closed: list[CloseReason] = []
        #: What the next ``run_command`` returns or raises.
        self.script: CommandResult | Exception = RuntimeError("no command was scripted")

    @property
    def phone(self) -> str:
        return self.session.phone or ""

    @property
    def device_name(self) -> str:
        return self.session.device_name

    async def run_command(
        self, body: Body, *, timeout: float, msg_id: int | None = None
    ) -> CommandResult:
        self.calls.append(CommandCall(body, timeout, msg_id))
        await anyio.sleep(0)  # a real connection awaits its terminal
        if isinstance(self.script, Exception):
            raise self.script
        return self.script

    async def close(self, reason: CloseReason) -> None:
        self.closed.append(reason)


def connect(gateway: Gateway, connection: FakeConnection) -> FakeConnection:
    gateway.sessions.bind(cast(TerminalConnection, connection))
    return connection


def reply_to(body: Body, version: ProtocolVersion = V2013, serial: int = 77) -> Message:
    """``body`` as the gateway receives it from the terminal (encoded, then decoded)."""
    header = Header(msg_id=body.MSG_ID, phone=PHONE, serial=serial, version=version)
    return decode_frame(encode(header, body), version_hint=version)


def answered(reply: Message, *, msg_id: int, serial: int = 4242, retries: int = 0) -> CommandResult:
    return CommandResult(CommandAnswered(1, msg_id, reply), serial, retries)


def failed(reason: CommandFailure, *, msg_id: int = 0x8201, retries: int = 2) -> CommandResult:
    return CommandResult(CommandFailed(1, msg_id, reason, retries), 4242, retries)


# --------------------------------------------------------------------------------------------
# SendCommand: replies


@pytest.mark.anyio
async def test_general_reply_with_failure_is_a_successful_call(gateway: Gateway) -> None:
    terminal = connect(gateway, FakeConnection())
    reply = reply_to(TerminalGeneralResponse(reply_serial=4242, reply_id=0x8300, result=1))
    terminal.script = answered(reply, msg_id=0x8300, serial=4242, retries=1)
    request = api.SendCommandRequest(
        phone=PHONE, text_message=commands_pb2.TextMessage(flags=8, text="hello")
    )

    outcome = await api_of(gateway).unary("SendCommand", request)

    assert outcome.code is grpc.StatusCode.OK, outcome.details
    response = outcome.response
    assert response.reply_msg_id == MessageId.TERMINAL_GENERAL_RESPONSE
    assert response.result == 1
    assert response.WhichOneof("reply") is None
    assert (response.command_serial, response.retransmissions) == (4242, 1)
    [call] = terminal.calls
    assert call.msg_id == MessageId.TEXT_MESSAGE
    assert getattr(call.body, "text", None) == "hello"


@pytest.mark.anyio
async def test_location_reply_is_typed(gateway: Gateway) -> None:
    terminal = connect(gateway, FakeConnection())
    report = location()
    reply = reply_to(QueryLocationResponse(reply_serial=9, location=report), serial=78)
    terminal.script = answered(reply, msg_id=0x8201, serial=9, retries=2)

    outcome = await api_of(gateway).unary("SendCommand", QUERY_LOCATION)

    assert outcome.code is grpc.StatusCode.OK, outcome.details
    response = outcome.response
    assert response.reply_msg_id == MessageId.QUERY_LOCATION_RESPONSE
    assert response.result == 0
    assert response.WhichOneof("reply") == "location"
    assert (response.command_serial, response.retransmissions) == (9, 2)
    typed = response.location
    assert (typed.phone, typed.device_name) == (PHONE, DEVICE)
    assert (typed.msg_id, typed.serial) == (MessageId.QUERY_LOCATION_RESPONSE, 78)
    assert typed.latitude == pytest.approx(report.latitude)
    assert typed.longitude == pytest.approx(report.longitude)
    assert typed.received_time.ToDatetime(tzinfo=UTC) == WALL


@pytest.mark.anyio
async def test_default_timeout_is_the_configured_one(gateway: Gateway) -> None:
    terminal = connect(gateway, FakeConnection())
    terminal.script = failed(CommandFailure.NO_REPLY)

    await api_of(gateway).unary("SendCommand", QUERY_LOCATION)

    [call] = terminal.calls
    assert call.timeout == COMMAND_TIMEOUT
    assert call.msg_id == MessageId.QUERY_LOCATION


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("duration", "seconds"),
    [(Duration(seconds=2, nanos=500_000_000), 2.5), (Duration(seconds=600), 600.0)],
)
async def test_explicit_timeout_is_honoured(
    gateway: Gateway, duration: Duration, seconds: float
) -> None:
    terminal = connect(gateway, FakeConnection())
    terminal.script = failed(CommandFailure.NO_REPLY)
    request = api.SendCommandRequest()
    request.CopyFrom(QUERY_LOCATION)
    request.timeout.CopyFrom(duration)

    await api_of(gateway).unary("SendCommand", request)

    assert [call.timeout for call in terminal.calls] == [seconds]


@pytest.mark.anyio
async def test_phone_is_matched_without_leading_zeros(gateway: Gateway) -> None:
    terminal = connect(gateway, FakeConnection())
    terminal.script = failed(CommandFailure.NO_REPLY)
    request = api.SendCommandRequest(
        phone="13912345678", query_location=commands_pb2.QueryLocation()
    )

    outcome = await api_of(gateway).unary("SendCommand", request)

    assert outcome.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert len(terminal.calls) == 1


# --------------------------------------------------------------------------------------------
# SendCommand: commands without their reply


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reason", "code", "words", "outcome_value"),
    [
        (CommandFailure.NO_REPLY, "DEADLINE_EXCEEDED", "sent, no reply", "no-reply"),
        (CommandFailure.NOT_DELIVERED, "DEADLINE_EXCEEDED", "not delivered", "not-delivered"),
        (CommandFailure.SESSION_CLOSED, "UNAVAILABLE", "disconnected", "session-closed"),
    ],
)
async def test_command_failures(
    gateway: Gateway, reason: CommandFailure, code: str, words: str, outcome_value: str
) -> None:
    terminal = connect(gateway, FakeConnection())
    terminal.script = failed(reason, msg_id=0x8201)

    outcome = await api_of(gateway).unary("SendCommand", QUERY_LOCATION)

    assert outcome.code is grpc.StatusCode[code]
    assert outcome.response is None
    assert words in outcome.details
    assert PHONE in outcome.details
    assert "0x8201" in outcome.details
    assert (COMMAND_OUTCOME_KEY, outcome_value) in outcome.trailing_metadata


@pytest.mark.anyio
async def test_no_reply_tells_the_retransmissions(gateway: Gateway) -> None:
    terminal = connect(gateway, FakeConnection())
    terminal.script = failed(CommandFailure.NO_REPLY, retries=2)

    outcome = await api_of(gateway).unary("SendCommand", QUERY_LOCATION)

    assert outcome.details.startswith("sent, no reply")
    assert "2 time(s)" in outcome.details


# --------------------------------------------------------------------------------------------
# SendCommand: refusals by the core


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("error", "code"),
    [
        (TooManyPendingCommandsError("32 commands are already waiting"), "RESOURCE_EXHAUSTED"),
        (SessionNotReadyError("terminal session is closed"), "UNAVAILABLE"),
    ],
)
async def test_session_refusals(gateway: Gateway, error: Exception, code: str) -> None:
    terminal = connect(gateway, FakeConnection())
    terminal.script = error

    outcome = await api_of(gateway).unary("SendCommand", QUERY_LOCATION)

    assert outcome.code is grpc.StatusCode[code]
    assert PHONE in outcome.details
    assert str(error) in outcome.details
    assert COMMAND_OUTCOME_KEY not in dict(outcome.trailing_metadata)


@pytest.mark.anyio
async def test_encode_error_is_invalid_argument_naming_the_command(gateway: Gateway) -> None:
    terminal = connect(gateway, FakeConnection())
    terminal.script = EncodeError("text: 300 bytes do not fit")
    request = api.SendCommandRequest(phone=PHONE, text_message=commands_pb2.TextMessage(text="x"))

    outcome = await api_of(gateway).unary("SendCommand", request)

    assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "0x8300" in outcome.details
    assert "text: 300 bytes do not fit" in outcome.details


@pytest.mark.anyio
async def test_raw_command_encode_error_names_the_raw_id(gateway: Gateway) -> None:
    terminal = connect(gateway, FakeConnection())
    terminal.script = EncodeError("body too long")
    request = api.SendCommandRequest(
        phone=PHONE, raw=commands_pb2.RawCommand(msg_id=0x8F01, body=b"\x01")
    )

    outcome = await api_of(gateway).unary("SendCommand", request)

    assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "0x8F01" in outcome.details
    assert terminal.calls[0].msg_id == 0x8F01


@pytest.mark.anyio
async def test_unexpected_error_fails_the_call(gateway: Gateway) -> None:
    terminal = connect(gateway, FakeConnection())
    terminal.script = RuntimeError("boom")

    with anyio.fail_after(TEST_DEADLINE):
        outcome = await api_of(gateway).unary("SendCommand", QUERY_LOCATION)

    assert outcome.code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
    assert outcome.response is None


# --------------------------------------------------------------------------------------------
# SendCommand: malformed requests and unknown terminals


@pytest.mark.anyio
async def test_unknown_terminal_is_not_found(gateway: Gateway) -> None:
    connect(gateway, FakeConnection())
    request = api.SendCommandRequest(
        phone="13800000000", query_location=commands_pb2.QueryLocation()
    )

    outcome = await api_of(gateway).unary("SendCommand", request)

    assert outcome.code is grpc.StatusCode.NOT_FOUND
    assert "13800000000" in outcome.details


@pytest.mark.anyio
@pytest.mark.parametrize("phone", ["", "13a", "123456789012345678901", " 139"])
async def test_invalid_phone(gateway: Gateway, phone: str) -> None:
    terminal = connect(gateway, FakeConnection())
    request = api.SendCommandRequest(phone=phone, query_location=commands_pb2.QueryLocation())

    outcome = await api_of(gateway).unary("SendCommand", request)

    assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT
    assert outcome.details.startswith("phone:")
    assert terminal.calls == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "duration",
    [Duration(), Duration(seconds=-1), Duration(seconds=600, nanos=1000), Duration(seconds=3600)],
)
async def test_invalid_timeout(gateway: Gateway, duration: Duration) -> None:
    terminal = connect(gateway, FakeConnection())
    request = api.SendCommandRequest(
        phone=PHONE, timeout=duration, query_location=commands_pb2.QueryLocation()
    )

    outcome = await api_of(gateway).unary("SendCommand", request)

    assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT
    assert outcome.details.startswith("timeout:")
    assert terminal.calls == []


@pytest.mark.anyio
async def test_huge_timeout_is_invalid_argument(gateway: Gateway) -> None:
    """Beyond what ``timedelta`` holds (ToTimedelta would overflow): still the field's fault."""
    terminal = connect(gateway, FakeConnection())
    request = api.SendCommandRequest(
        phone=PHONE, timeout=Duration(seconds=10**15), query_location=commands_pb2.QueryLocation()
    )

    outcome = await api_of(gateway).unary("SendCommand", request)

    assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT
    assert outcome.details.startswith("timeout:")
    assert terminal.calls == []


@pytest.mark.anyio
async def test_missing_command(gateway: Gateway) -> None:
    terminal = connect(gateway, FakeConnection())

    outcome = await api_of(gateway).unary("SendCommand", api.SendCommandRequest(phone=PHONE))

    assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT
    assert outcome.details.startswith("command:")
    assert terminal.calls == []


@pytest.mark.anyio
async def test_unconvertible_command_names_its_field(gateway: Gateway) -> None:
    terminal = connect(gateway, FakeConnection())
    request = api.SendCommandRequest(
        phone=PHONE, raw=commands_pb2.RawCommand(msg_id=0x0200, body=b"")
    )

    outcome = await api_of(gateway).unary("SendCommand", request)

    assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT
    assert outcome.details.startswith("raw.msg_id:")
    assert terminal.calls == []


# --------------------------------------------------------------------------------------------
# Streams


def position_event(phone: str = PHONE, serial: int = 1) -> LocationReported:
    return LocationReported(phone, DEVICE, location(), 0x0200, serial, None, WALL)


def terminal_event(
    kind: EventKind, phone: str = PHONE, *, reason: str = "", message: Message | None = None
) -> TerminalEvent:
    return TerminalEvent(kind, phone, DEVICE, WALL, REMOTE, reason, message)


async def subscribed(gateway: Gateway, count: int = 1) -> None:
    await until(lambda: gateway.hub.stats.subscribers == count)


@pytest.mark.anyio
async def test_locations_come_out_converted(gateway: Gateway) -> None:
    service = api_of(gateway)
    with anyio.fail_after(TEST_DEADLINE):
        async with service.open_stream("StreamLocations", api.StreamLocationsRequest()) as call:
            await subscribed(gateway)
            gateway.hub.publish(terminal_event(EventKind.AUTHENTICATED))  # not a location
            first = gateway.hub.publish(position_event(PHONE, serial=5))
            second = gateway.hub.publish(position_event(OTHER_PHONE, serial=6))
            assert isinstance(first, LocationReported) and isinstance(second, LocationReported)

            items = await service.take(call, 2)

    assert [item.WhichOneof("item") for item in items] == ["location", "location"]
    assert [item.location for item in items] == [
        location_from_event(first),
        location_from_event(second),
    ]
    assert (items[0].location.phone, items[0].location.serial) == (PHONE, 5)
    assert items[0].location.sequence == first.sequence
    assert items[1].location.phone == OTHER_PHONE


@pytest.mark.anyio
async def test_location_stream_phone_filter(gateway: Gateway) -> None:
    service = api_of(gateway)
    request = api.StreamLocationsRequest(phones=[PHONE])
    with anyio.fail_after(TEST_DEADLINE):
        async with service.open_stream("StreamLocations", request) as call:
            await subscribed(gateway)
            gateway.hub.publish(position_event(OTHER_PHONE, serial=1))
            gateway.hub.publish(position_event(PHONE, serial=2))
            gateway.hub.publish(position_event(OTHER_PHONE, serial=3))
            gateway.hub.publish(position_event("13912345678", serial=4))  # same terminal

            items = await service.take(call, 2)

    assert [(i.location.phone, i.location.serial) for i in items] == [
        (PHONE, 2),
        ("13912345678", 4),
    ]


@pytest.mark.anyio
async def test_events_come_out_converted(gateway: Gateway) -> None:
    service = api_of(gateway)
    uplink = reply_to(TerminalGeneralResponse(reply_serial=1, reply_id=0x8001, result=0))
    with anyio.fail_after(TEST_DEADLINE):
        async with service.open_stream("StreamEvents", api.StreamEventsRequest()) as call:
            await subscribed(gateway)
            gateway.hub.publish(position_event())  # not an event
            published = [
                gateway.hub.publish(terminal_event(EventKind.CONNECTED)),
                gateway.hub.publish(terminal_event(EventKind.MESSAGE, message=uplink)),
                gateway.hub.publish(
                    terminal_event(EventKind.DISCONNECTED, OTHER_PHONE, reason="idle_timeout")
                ),
            ]

            items = await service.take(call, 3)

    expected = [event_message(event) for event in published if isinstance(event, TerminalEvent)]
    assert [item.event for item in items] == expected
    kinds = [item.event.kind for item in items]
    assert kinds == [api.EVENT_KIND_CONNECTED, api.EVENT_KIND_MESSAGE, api.EVENT_KIND_DISCONNECTED]
    assert items[1].event.msg_id == MessageId.TERMINAL_GENERAL_RESPONSE
    assert items[1].event.body_json  # the decoded body came along
    assert (items[2].event.phone, items[2].event.reason) == (OTHER_PHONE, "idle_timeout")


@pytest.mark.anyio
async def test_event_stream_filters(gateway: Gateway) -> None:
    service = api_of(gateway)
    request = api.StreamEventsRequest(
        phones=[PHONE], kinds=[api.EVENT_KIND_DISCONNECTED, api.EVENT_KIND_LOGGED_OUT]
    )
    with anyio.fail_after(TEST_DEADLINE):
        async with service.open_stream("StreamEvents", request) as call:
            await subscribed(gateway)
            hub = gateway.hub
            hub.publish(terminal_event(EventKind.AUTHENTICATED))  # kind filtered out
            hub.publish(terminal_event(EventKind.DISCONNECTED, OTHER_PHONE))  # phone filtered
            hub.publish(terminal_event(EventKind.LOGGED_OUT))
            hub.publish(terminal_event(EventKind.CONNECTED))  # kind filtered out
            hub.publish(terminal_event(EventKind.DISCONNECTED, reason="peer_closed"))

            items = await service.take(call, 2)

    assert [(i.event.kind, i.event.phone) for i in items] == [
        (api.EVENT_KIND_LOGGED_OUT, PHONE),
        (api.EVENT_KIND_DISCONNECTED, PHONE),
    ]
    assert items[1].event.reason == "peer_closed"


@pytest.mark.anyio
async def test_slow_location_subscriber_gets_a_gap(gateway: Gateway) -> None:
    service = api_of(gateway, stream_queue=2)
    with anyio.fail_after(TEST_DEADLINE):
        async with service.open_stream("StreamLocations", api.StreamLocationsRequest()) as call:
            await subscribed(gateway)
            for serial in range(1, 6):
                gateway.hub.publish(position_event(serial=serial))

            gap, *rest = await service.take(call, 3)

    assert gap == api.StreamLocationsResponse(gap=api.Gap(dropped=3))
    assert [item.location.serial for item in rest] == [4, 5]


@pytest.mark.anyio
async def test_slow_event_subscriber_gets_a_gap(gateway: Gateway) -> None:
    service = api_of(gateway, stream_queue=2)
    with anyio.fail_after(TEST_DEADLINE):
        async with service.open_stream("StreamEvents", api.StreamEventsRequest()) as call:
            await subscribed(gateway)
            for _ in range(5):
                gateway.hub.publish(terminal_event(EventKind.MESSAGE))

            gap, *rest = await service.take(call, 3)

    assert gap == api.StreamEventsResponse(gap=api.Gap(dropped=3))
    assert [item.event.sequence for item in rest] == [4, 5]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "request_"),
    [
        ("StreamLocations", api.StreamLocationsRequest()),
        ("StreamEvents", api.StreamEventsRequest()),
    ],
)
async def test_hub_close_ends_streams_unavailable(
    gateway: Gateway, method: str, request_: ProtoMessage
) -> None:
    service = api_of(gateway)
    with anyio.fail_after(TEST_DEADLINE):
        async with service.open_stream(method, request_) as call:
            await subscribed(gateway)
            gateway.hub.publish(position_event())
            gateway.hub.publish(terminal_event(EventKind.MESSAGE))
            gateway.hub.close()

            [drained] = await service.take(call, 1)  # what was queued still comes out
            code, details, _ = await anyio.to_thread.run_sync(call.termination)

    assert drained.WhichOneof("item") in ("location", "event")
    assert code is grpc.StatusCode.UNAVAILABLE
    assert "shutting down" in details


@pytest.mark.anyio
async def test_stream_after_hub_close_ends_at_once(gateway: Gateway) -> None:
    gateway.hub.close()

    with anyio.fail_after(TEST_DEADLINE):
        outcome = await api_of(gateway).stream("StreamEvents", api.StreamEventsRequest())

    assert (outcome.responses, outcome.code) == ([], grpc.StatusCode.UNAVAILABLE)


@pytest.mark.anyio
async def test_cancelled_stream_unsubscribes(gateway: Gateway) -> None:
    service = api_of(gateway)
    with anyio.fail_after(TEST_DEADLINE):
        async with service.open_stream("StreamLocations", api.StreamLocationsRequest()) as call:
            await subscribed(gateway)
            gateway.hub.publish(position_event())
            await service.take(call)

        await subscribed(gateway, 0)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "request_", "field"),
    [
        ("StreamLocations", api.StreamLocationsRequest(phones=[PHONE, "x1"]), "phones[1]:"),
        ("StreamEvents", api.StreamEventsRequest(phones=[""]), "phones[0]:"),
        (
            "StreamEvents",
            api.StreamEventsRequest(kinds=[api.EVENT_KIND_CONNECTED, api.EVENT_KIND_UNSPECIFIED]),
            "kinds[1]:",
        ),
        ("StreamEvents", api.StreamEventsRequest(kinds=[api.EventKind.ValueType(99)]), "kinds[0]:"),
    ],
)
async def test_invalid_stream_requests(
    gateway: Gateway, method: str, request_: ProtoMessage, field: str
) -> None:
    with anyio.fail_after(TEST_DEADLINE):
        outcome = await api_of(gateway).stream(method, request_)

    assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT
    assert outcome.details.startswith(field)
    assert outcome.responses == []
    assert gateway.hub.stats.subscribers == 0


# --------------------------------------------------------------------------------------------
# Sessions


def wall_before(seconds: float) -> datetime:
    return WALL - timedelta(seconds=seconds)


@pytest.mark.anyio
async def test_get_session(gateway: Gateway) -> None:
    terminal = connect(gateway, FakeConnection())
    terminal.session.send_command(QueryLocation(), NOW - 5, timeout=30.0)
    stats = terminal.session.stats

    outcome = await api_of(gateway).unary("GetSession", api.GetSessionRequest(phone=PHONE))

    assert outcome.code is grpc.StatusCode.OK, outcome.details
    session = outcome.response.session
    assert (session.phone, session.device_name, session.remote_address) == (PHONE, DEVICE, REMOTE)
    assert session.protocol_version == 2013
    assert session.connected_time.ToDatetime(tzinfo=UTC) == wall_before(100)
    assert session.authenticated_time.ToDatetime(tzinfo=UTC) == wall_before(60)
    assert session.last_activity_time.ToDatetime(tzinfo=UTC) == wall_before(10)
    assert (session.bytes_received, session.bytes_sent) == (stats.bytes_in, stats.bytes_out)
    assert (session.frames_received, session.frames_sent) == (stats.frames_in, stats.frames_out)
    assert session.frames_received == 3  # registration, authentication, heartbeat
    assert (session.frames_rejected, session.messages_refused) == (0, 0)
    assert session.pending_commands == 1
    assert session.node == gateway.sessions.node_id


@pytest.mark.anyio
async def test_list_sessions_sorted_by_phone(gateway: Gateway) -> None:
    connect(gateway, FakeConnection(V2019, phone=OTHER_PHONE, device_name="B"))
    connect(gateway, FakeConnection(V2013, phone=PHONE, device_name="A"))

    outcome = await api_of(gateway).unary("ListSessions", api.ListSessionsRequest())

    assert outcome.code is grpc.StatusCode.OK, outcome.details
    sessions = outcome.response.sessions
    assert [(s.phone, s.device_name, s.protocol_version) for s in sessions] == [
        (PHONE, "A", 2013),
        (OTHER_PHONE, "B", 2019),
    ]


@pytest.mark.anyio
async def test_list_sessions_when_none(gateway: Gateway) -> None:
    outcome = await api_of(gateway).unary("ListSessions", api.ListSessionsRequest())

    assert outcome.code is grpc.StatusCode.OK
    assert list(outcome.response.sessions) == []


@pytest.mark.anyio
async def test_disconnect_session(gateway: Gateway) -> None:
    terminal = connect(gateway, FakeConnection())
    other = connect(gateway, FakeConnection(V2019, phone=OTHER_PHONE))

    outcome = await api_of(gateway).unary(
        "DisconnectSession", api.DisconnectSessionRequest(phone=PHONE)
    )

    assert outcome.code is grpc.StatusCode.OK, outcome.details
    assert outcome.response == api.DisconnectSessionResponse()
    assert terminal.closed == [CloseReason.DISCONNECT_REQUESTED]
    assert other.closed == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "request_"),
    [
        ("GetSession", api.GetSessionRequest(phone="13800000000")),
        ("DisconnectSession", api.DisconnectSessionRequest(phone="13800000000")),
    ],
)
async def test_unknown_session_is_not_found(
    gateway: Gateway, method: str, request_: ProtoMessage
) -> None:
    terminal = connect(gateway, FakeConnection())

    outcome = await api_of(gateway).unary(method, request_)

    assert outcome.code is grpc.StatusCode.NOT_FOUND
    assert "13800000000" in outcome.details
    assert terminal.closed == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "request_"),
    [
        ("GetSession", api.GetSessionRequest(phone="")),
        ("DisconnectSession", api.DisconnectSessionRequest(phone="+8613912345678")),
    ],
)
async def test_session_calls_check_the_phone(
    gateway: Gateway, method: str, request_: ProtoMessage
) -> None:
    outcome = await api_of(gateway).unary(method, request_)

    assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT
    assert outcome.details.startswith("phone:")


# --------------------------------------------------------------------------------------------
# Real connections over a connected socket pair


async def socket_link(gateway: Gateway) -> anyio.abc.SocketStream:
    """A connected socket pair: the gateway serves one end, the test gets the other."""
    gateway_end, terminal_end = socket.socketpair()
    await gateway.attach(gateway_end)
    return await anyio.abc.SocketStream.from_socket(terminal_end)


class TerminalEnd:
    """The test's side of the link: a scripted ``Terminal`` writing frames, reading commands."""

    def __init__(self, stream: anyio.abc.SocketStream, terminal: Terminal) -> None:
        self.stream = stream
        self.terminal = terminal
        self._inbox: deque[Message] = deque()

    async def write(self, *frames: bytes) -> None:
        await self.stream.send(b"".join(frames))

    async def read(self, msg_id: int) -> Message:
        """The next platform message with ``msg_id`` (others are skipped)."""
        with anyio.fail_after(TEST_DEADLINE):
            while True:
                while self._inbox:
                    message = self._inbox.popleft()
                    if message.msg_id == msg_id:
                        return message
                self._inbox.extend(self.terminal.receive(await self.stream.receive()))

    async def at_eof(self) -> bool:
        """True when the gateway closed the link (after whatever it still had to say)."""
        with anyio.fail_after(TEST_DEADLINE):
            try:
                while True:
                    await self.stream.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return True


@pytest.fixture
def live_gateway() -> Gateway:
    """Real clocks: the connection's timers run (nothing here waits for them)."""
    return Gateway(GatewayConfig(auth="insecure-accept-all", command_timeout=COMMAND_TIMEOUT))


@asynccontextmanager
async def logged_in(gateway: Gateway) -> AsyncIterator[TerminalEnd]:
    """A ``TerminalConnection`` served on the test's loop, its terminal registered and in."""
    async with await socket_link(gateway) as stream:
        end = TerminalEnd(stream, Terminal(V2013, phone=PHONE))
        await end.write(end.terminal.registration(), end.terminal.authentication())
        await end.read(MessageId.TERMINAL_REGISTER_RESPONSE)
        await end.read(MessageId.PLATFORM_GENERAL_RESPONSE)
        await until(lambda: gateway.sessions.get(PHONE) is not None)
        yield end


async def in_background(
    tasks: anyio.abc.TaskGroup, call: Callable[[], Awaitable[UnaryOutcome]]
) -> list[UnaryOutcome]:
    """Start ``call``; its outcome lands in the returned list when it is done."""
    outcomes: list[UnaryOutcome] = []

    async def run() -> None:
        outcomes.append(await call())

    tasks.start_soon(run)
    return outcomes


@pytest.mark.anyio
async def test_live_command_round_trip(live_gateway: Gateway) -> None:
    service = api_of(live_gateway)
    with anyio.fail_after(TEST_DEADLINE):
        async with logged_in(live_gateway) as end, anyio.create_task_group() as tasks:
            outcomes = await in_background(
                tasks, lambda: service.unary("SendCommand", QUERY_LOCATION)
            )
            command = await end.read(MessageId.QUERY_LOCATION)
            reply = QueryLocationResponse(reply_serial=command.header.serial, location=location())
            await end.write(end.terminal.frame(reply))

    [outcome] = outcomes
    assert outcome.code is grpc.StatusCode.OK, outcome.details
    response = outcome.response
    assert response.command_serial == command.header.serial
    assert response.retransmissions == 0
    assert response.reply_msg_id == MessageId.QUERY_LOCATION_RESPONSE
    assert (response.location.phone, response.location.device_name) == (PHONE, DEVICE)
    assert response.location.serial == end.terminal.last_serial


@pytest.mark.anyio
async def test_live_terminal_hanging_up_is_session_closed(live_gateway: Gateway) -> None:
    service = api_of(live_gateway)
    with anyio.fail_after(TEST_DEADLINE):
        async with logged_in(live_gateway) as end, anyio.create_task_group() as tasks:
            outcomes = await in_background(
                tasks, lambda: service.unary("SendCommand", QUERY_LOCATION)
            )
            await end.read(MessageId.QUERY_LOCATION)
            await end.stream.send_eof()

    [outcome] = outcomes
    assert outcome.code is grpc.StatusCode.UNAVAILABLE
    assert (COMMAND_OUTCOME_KEY, "session-closed") in outcome.trailing_metadata


@pytest.mark.anyio
async def test_live_unwritable_command_is_invalid_argument(live_gateway: Gateway) -> None:
    service = api_of(live_gateway)
    request = api.SendCommandRequest(
        phone=PHONE, text_message=commands_pb2.TextMessage(flags=0x1FF, text="hi")
    )
    with anyio.fail_after(TEST_DEADLINE):
        async with logged_in(live_gateway):
            outcome = await service.unary("SendCommand", request)

    assert outcome.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "0x8300" in outcome.details
    assert PHONE in outcome.details


@pytest.mark.anyio
async def test_live_disconnect_session(live_gateway: Gateway) -> None:
    service = api_of(live_gateway)
    request = api.DisconnectSessionRequest(phone=PHONE)
    with anyio.fail_after(TEST_DEADLINE):
        async with logged_in(live_gateway) as end:
            with live_gateway.hub.subscribe(locations=False) as events:
                outcome = await service.unary("DisconnectSession", request)
                assert await end.at_eof()
                await until(lambda: live_gateway.sessions.get(PHONE) is None)
                disconnected = await events.receive()
            after = await service.unary("GetSession", api.GetSessionRequest(phone=PHONE))

    assert outcome.code is grpc.StatusCode.OK, outcome.details
    assert isinstance(disconnected, TerminalEvent)
    assert (disconnected.kind, disconnected.reason) == (
        EventKind.DISCONNECTED,
        CloseReason.DISCONNECT_REQUESTED.value,
    )
    assert after.code is grpc.StatusCode.NOT_FOUND
