"""ListSessions, GetSession and DisconnectSession end to end: a running gateway, a real
``grpc.aio`` channel and scripted terminals (tests.server.terminal_client) of each revision.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import grpc
import grpc.aio
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.protocol.bodies.general import TerminalGeneralResponse
from gateway.protocol.bodies.messaging import TextMessage
from gateway.protocol.errors import ResultCode
from gateway.protocol.ids import MessageId
from gateway.protocol.versions import V2011, V2013, V2019, ProtocolVersion
from jt808.gateway.v1 import commands_pb2 as pb
from jt808.gateway.v1 import gateway_service_pb2 as api
from jt808.gateway.v1 import gateway_service_pb2_grpc as api_grpc
from tests.protocol.null_modem import location as location_body
from tests.protocol.null_modem import with_bad_checksum
from tests.server.terminal_client import DEVICE_NAME, TerminalClient
from tests.timeouts import HANG_GUARD

from .harness import api_channel, read_items, running_app, wait_for_subscribers

if TYPE_CHECKING:
    from jt808.gateway.v1.gateway_service_pb2_grpc import GatewayServiceAsyncStub

TEST_TIMEOUT: Final = HANG_GUARD
#: Session times are rebuilt from the monotonic clock; allow for the two clocks drifting apart.
CLOCK_SLACK: Final = timedelta(milliseconds=500)
#: One phone per revision (12 digits up to 2013, 20 in 2019).
PHONES: Final[dict[ProtocolVersion, str]] = {
    V2011: "013900002011",
    V2013: "013900002013",
    V2019: "00000000013900002019",
}
INVALID_PHONES: Final = [
    pytest.param("", id="empty"),
    pytest.param("13x00000000", id="letter"),
    pytest.param("1" * 21, id="21-digits"),
    pytest.param("+8613900002013", id="plus"),
    pytest.param(" 13900002013", id="space"),
]


def stub_of(channel: grpc.aio.Channel) -> GatewayServiceAsyncStub:
    return api_grpc.GatewayServiceStub(channel)


def utc(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


async def refused(call: Any) -> grpc.aio.AioRpcError:
    """The error ``call`` (an awaitable unary call) ends with."""
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    return error.value


async def report_position(terminal: TerminalClient) -> None:
    await terminal.send(terminal.terminal.location())
    await terminal.expect_general_response(MessageId.LOCATION_REPORT, ResultCode.SUCCESS)


# --------------------------------------------------------------------------------------------
# ListSessions / GetSession


@pytest.mark.anyio
async def test_list_sessions_describes_every_authenticated_terminal(tmp_path: Path) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with (
            running_app(tmp_path) as app,
            api_channel(app) as channel,
            TerminalClient.connect(app.addresses.terminals, V2011, phone=PHONES[V2011]) as t2011,
            TerminalClient.connect(app.addresses.terminals, V2013, phone=PHONES[V2013]) as t2013,
            TerminalClient.connect(app.addresses.terminals, V2019, phone=PHONES[V2019]) as t2019,
            TerminalClient.connect(app.addresses.terminals, V2013, phone="013900009999") as idle,
        ):
            before = datetime.now(UTC)
            terminals = {V2011: t2011, V2013: t2013, V2019: t2019}
            ports = {version: terminal.local_port for version, terminal in terminals.items()}
            for terminal in terminals.values():
                await terminal.log_in()
                await report_position(terminal)
            # Connected but never authenticated: not a session.
            await idle.send(idle.terminal.heartbeat())
            await idle.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
            listed = await stub_of(channel).ListSessions(api.ListSessionsRequest())
            after = datetime.now(UTC)
    sessions = list(listed.sessions)
    # Sorted by phone: "00000000013900002019" < "013900002011" < "013900002013".
    assert [s.phone for s in sessions] == [PHONES[V2019], PHONES[V2011], PHONES[V2013]]
    for session in sessions:
        version = next(v for v, phone in PHONES.items() if phone == session.phone)
        assert session.protocol_version == int(version)
        assert session.device_name == DEVICE_NAME
        assert session.remote_address == f"127.0.0.1:{ports[version]}"
        assert session.node == "local"
        connected, authenticated, active = (
            utc(session.connected_time),
            utc(session.authenticated_time),
            utc(session.last_activity_time),
        )
        assert before - CLOCK_SLACK <= connected <= authenticated <= active <= after + CLOCK_SLACK
        # Register, authenticate, one position; each answered once.
        assert (session.frames_received, session.frames_sent) == (3, 3)
        # At least the smallest frame (15 bytes) each way for each of them.
        assert session.bytes_received >= 3 * 15 and session.bytes_sent >= 3 * 15
        assert (session.frames_rejected, session.messages_refused) == (0, 0)
        assert session.pending_commands == 0


@pytest.mark.anyio
async def test_list_sessions_is_empty_without_terminals(tmp_path: Path) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            listed = await stub_of(channel).ListSessions(api.ListSessionsRequest())
    assert list(listed.sessions) == []


@pytest.mark.anyio
async def test_get_session_counts_rejected_frames_refused_messages_and_pending_commands(
    tmp_path: Path,
) -> None:
    phone = PHONES[V2013]
    with anyio.fail_after(TEST_TIMEOUT):
        async with (
            running_app(tmp_path) as app,
            api_channel(app) as channel,
            TerminalClient.connect(app.addresses.terminals, V2013, phone=phone) as terminal,
        ):
            stub = stub_of(channel)
            await terminal.log_in()
            damaged = with_bad_checksum(terminal.terminal.location())
            await terminal.send(damaged)
            await terminal.expect_general_response(
                MessageId.LOCATION_REPORT, ResultCode.MESSAGE_ERROR
            )
            # A frame for another phone on this link is refused, and not answered.
            stray = terminal.terminal.frame(location_body(), phone="013900000000")
            await terminal.send(stray, terminal.terminal.heartbeat())
            await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
            counted = (await stub.GetSession(api.GetSessionRequest(phone=phone))).session
            assert (counted.frames_rejected, counted.messages_refused) == (1, 1)
            assert counted.pending_commands == 0

            async with anyio.create_task_group() as tasks:
                replies: list[api.SendCommandResponse] = []

                async def send_text() -> None:
                    request = api.SendCommandRequest(
                        phone=phone, text_message=pb.TextMessage(text="hello")
                    )
                    replies.append(await stub.SendCommand(request, timeout=TEST_TIMEOUT))

                tasks.start_soon(send_text)
                command, _ = await terminal.expect(TextMessage)
                waiting = (await stub.GetSession(api.GetSessionRequest(phone=phone))).session
                await terminal.send(
                    terminal.terminal.frame(
                        TerminalGeneralResponse(
                            reply_serial=command.header.serial, reply_id=command.msg_id, result=0
                        )
                    )
                )
            answered = (await stub.GetSession(api.GetSessionRequest(phone=phone))).session
    assert waiting.pending_commands == 1
    assert replies[0].result == 0
    assert answered.pending_commands == 0
    assert waiting.frames_sent == counted.frames_sent + 1  # the command
    assert answered.frames_received == waiting.frames_received + 1  # its reply


@pytest.mark.anyio
@pytest.mark.parametrize("version", [V2011, V2013, V2019], ids=str)
async def test_get_session_finds_the_phone_with_or_without_leading_zeros(
    tmp_path: Path, version: ProtocolVersion
) -> None:
    phone = PHONES[version]
    with anyio.fail_after(TEST_TIMEOUT):
        async with (
            running_app(tmp_path) as app,
            api_channel(app) as channel,
            TerminalClient.connect(app.addresses.terminals, version, phone=phone) as terminal,
        ):
            await terminal.log_in()
            stub = stub_of(channel)
            listed = (await stub.ListSessions(api.ListSessionsRequest())).sessions[0]
            exact = await stub.GetSession(api.GetSessionRequest(phone=phone))
            short = await stub.GetSession(api.GetSessionRequest(phone=phone.lstrip("0")))
    assert exact.session.phone == short.session.phone == phone  # always as on the wire
    assert exact.session.protocol_version == int(version)
    # The same session as in the list, up to what moved on since.
    for field in ("phone", "device_name", "protocol_version", "remote_address", "node"):
        assert getattr(exact.session, field) == getattr(listed, field)
    # Rebuilt from the monotonic clock at each call: equal up to rounding.
    drift = utc(exact.session.connected_time) - utc(listed.connected_time)
    assert abs(drift) < timedelta(milliseconds=1)


@pytest.mark.anyio
async def test_get_session_of_a_terminal_that_is_not_in_is_not_found(tmp_path: Path) -> None:
    unauthenticated = "013900009999"
    with anyio.fail_after(TEST_TIMEOUT):
        async with (
            running_app(tmp_path) as app,
            api_channel(app) as channel,
            TerminalClient.connect(
                app.addresses.terminals, V2013, phone=unauthenticated
            ) as terminal,
        ):
            await terminal.send(terminal.terminal.heartbeat())  # known phone, not logged in
            await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
            stub = stub_of(channel)
            errors = [
                await refused(stub.GetSession(api.GetSessionRequest(phone=phone)))
                for phone in ("013900000404", unauthenticated)
            ]
    assert [error.code() for error in errors] == [grpc.StatusCode.NOT_FOUND] * 2
    assert "013900000404" in (errors[0].details() or "")
    assert unauthenticated in (errors[1].details() or "")


@pytest.mark.anyio
@pytest.mark.parametrize("phone", INVALID_PHONES)
async def test_session_calls_refuse_a_malformed_phone(tmp_path: Path, phone: str) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            stub = stub_of(channel)
            errors = [
                await refused(stub.GetSession(api.GetSessionRequest(phone=phone))),
                await refused(stub.DisconnectSession(api.DisconnectSessionRequest(phone=phone))),
            ]
    for error in errors:
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert (error.details() or "").startswith("phone: ")


# --------------------------------------------------------------------------------------------
# DisconnectSession


@pytest.mark.anyio
async def test_disconnect_session_closes_the_connection(tmp_path: Path) -> None:
    phone = PHONES[V2019]
    with anyio.fail_after(TEST_TIMEOUT):
        async with (
            running_app(tmp_path) as app,
            api_channel(app) as channel,
            TerminalClient.connect(app.addresses.terminals, V2019, phone=phone) as terminal,
        ):
            stub = stub_of(channel)
            request = api.StreamEventsRequest(phones=[phone], kinds=[api.EVENT_KIND_DISCONNECTED])
            events = stub.StreamEvents(request)
            await wait_for_subscribers(app, 1)
            await terminal.log_in()
            # Given without its leading zeros, as GetSession accepts it.
            await stub.DisconnectSession(api.DisconnectSessionRequest(phone=phone.lstrip("0")))
            gone = await refused(stub.GetSession(api.GetSessionRequest(phone=phone)))
            assert await terminal.closed() == []  # EOF, nothing sent on the way
            received: list[api.StreamEventsResponse] = await read_items(events, 1)
            listed = await stub.ListSessions(api.ListSessionsRequest())
            again = await refused(stub.DisconnectSession(api.DisconnectSessionRequest(phone=phone)))
            events.cancel()
    event = received[0].event
    assert (event.kind, event.phone, event.reason) == (
        api.EVENT_KIND_DISCONNECTED,
        phone,
        "disconnect_requested",
    )
    assert gone.code() is grpc.StatusCode.NOT_FOUND
    assert list(listed.sessions) == []
    assert again.code() is grpc.StatusCode.NOT_FOUND


@pytest.mark.anyio
async def test_a_disconnected_terminal_may_come_back(tmp_path: Path) -> None:
    phone = PHONES[V2013]
    with anyio.fail_after(TEST_TIMEOUT):
        async with running_app(tmp_path) as app, api_channel(app) as channel:
            stub = stub_of(channel)
            async with TerminalClient.connect(app.addresses.terminals, V2013, phone=phone) as first:
                code = await first.log_in()
                before = (await stub.GetSession(api.GetSessionRequest(phone=phone))).session
                await stub.DisconnectSession(api.DisconnectSessionRequest(phone=phone))
                await first.closed()
            async with TerminalClient.connect(
                app.addresses.terminals, V2013, phone=phone
            ) as second:
                assert await second.authenticate(code) is ResultCode.SUCCESS
                address = f"127.0.0.1:{second.local_port}"
                after = (await stub.GetSession(api.GetSessionRequest(phone=phone))).session
    assert after.remote_address == address != before.remote_address
    assert (after.frames_received, after.frames_sent) == (1, 1)  # a new connection's counts
