"""Every configured limit, hit on a real gateway: what the terminal sees, what is counted, and
that the gateway (and, where the limit is per message, the connection) carries on."""

from __future__ import annotations

import anyio
import pytest

from gateway.hub import EventKind, TerminalEvent
from gateway.protocol import V2013, V2019, ResultCode
from gateway.protocol.bodies.location import QueryLocation, QueryLocationResponse
from gateway.protocol.bodies.passthrough import DownlinkPassthrough, UplinkPassthrough
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.commands import (
    CommandAnswered,
    CommandEvent,
    CommandFailed,
    CommandFailure,
    TooManyPendingCommandsError,
)
from gateway.protocol.ids import MessageId
from gateway.protocol.session import CloseReason
from gateway.server.gateway import Gateway
from tests.protocol.null_modem import location
from tests.timeouts import HANG_GUARD

from .harness import OTHER_IDENTITY, address_of, connection_of, metric, wait_for_event
from .terminal_client import TerminalClient

pytestmark = pytest.mark.anyio


@pytest.mark.gateway(max_connections=2)
async def test_connection_past_max_connections_is_closed_and_counted(gateway: Gateway) -> None:
    address = address_of(gateway)
    with anyio.fail_after(HANG_GUARD):
        async with (
            TerminalClient.connect(address, V2013) as first,
            TerminalClient.connect(address, V2013, phone="013900000002") as second,
        ):
            await first.log_in()
            await second.send(second.terminal.heartbeat())
            await second.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)

            async with TerminalClient.connect(address, V2013, phone="013900000003") as extra:
                assert await extra.closed() == []
            limit_hits = metric(gateway, "jt808_limit_hits_total", limit="max_connections")
            assert limit_hits == 1
            assert metric(gateway, "jt808_connections") == 2

            await first.send(first.terminal.heartbeat())  # the others are untouched
            await first.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)

        while gateway.connections:  # once they are gone, there is room again
            await anyio.sleep(0.01)
        async with TerminalClient.connect(address, V2013) as later:
            await later.send(later.terminal.heartbeat())
            await later.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)


@pytest.mark.gateway(max_frame_length=200)
async def test_frame_past_max_frame_length_is_dropped_and_the_connection_survives(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.log_in()
            oversized = terminal.terminal.frame(UplinkPassthrough(type=0x41, data=bytes(300)))
            assert len(oversized) > 200
            await terminal.send(oversized, terminal.terminal.heartbeat())
            # Nothing answers the oversized frame (its header is never read); the next one is.
            await terminal.expect_general_response(
                MessageId.HEARTBEAT, ResultCode.SUCCESS, reply_serial=terminal.terminal.last_serial
            )
            assert metric(gateway, "jt808_errors_total", kind="FrameTooLargeError") == 1
            fits = terminal.terminal.frame(UplinkPassthrough(type=0x41, data=bytes(100)))
            await terminal.send(fits)
            await terminal.expect_general_response(MessageId.UPLINK_PASSTHROUGH, ResultCode.SUCCESS)


@pytest.mark.gateway(reassembly_max_bytes=1000)
async def test_packets_past_reassembly_max_bytes_are_refused_with_failure(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2019) as terminal:
            await terminal.log_in()
            big = UplinkPassthrough(type=0x41, data=bytes(range(256)) * 4)  # 1025 bytes of body
            split = terminal.terminal.split(big, max_size=400)
            assert split.total == 3
            await terminal.send(*split.frames[:2])
            await terminal.expect_general_response(
                MessageId.UPLINK_PASSTHROUGH, ResultCode.SUCCESS, reply_serial=split.serials[0]
            )
            # Packet 2 would hold 2 x (400 + 128 overhead) > 1000 bytes.
            await terminal.expect_general_response(
                MessageId.UPLINK_PASSTHROUGH, ResultCode.FAILURE, reply_serial=split.serials[1]
            )
            assert metric(gateway, "jt808_errors_total", kind="ReassemblyLimitError") == 1
            await terminal.send(terminal.terminal.heartbeat())
            await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)


@pytest.mark.gateway(max_authentication_attempts=2)
async def test_refused_registration_and_authentication_count_towards_the_attempt_limit(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe() as events:
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            refused = await terminal.register(terminal_id="UNKNOWN")
            assert refused.result == RegisterResult.TERMINAL_NOT_FOUND
            await terminal.send(terminal.terminal.authentication("guess"))
            last = await terminal.closed()
            assert [(m.msg_id, getattr(m.body, "result", None)) for m in last] == [
                (MessageId.PLATFORM_GENERAL_RESPONSE, ResultCode.FAILURE)
            ]
        closed = await wait_for_event(
            events, lambda e: getattr(e, "kind", None) is EventKind.DISCONNECTED
        )
        assert isinstance(closed, TerminalEvent)
        assert closed.reason == CloseReason.AUTHENTICATION_FAILED.value
        assert metric(gateway, "jt808_disconnects_total", reason="authentication_failed") == 1


@pytest.mark.gateway(max_pending_commands=2)
async def test_command_past_max_pending_commands_raises_too_many_pending(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.log_in()
            connection = connection_of(gateway, terminal.phone)
            outcomes: list[CommandEvent] = []

            async def query() -> None:
                outcomes.append(await connection.send_command(QueryLocation(), timeout=HANG_GUARD))

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(query)
                tasks.start_soon(query)
                asked = [(await terminal.expect(QueryLocation))[0] for _ in range(2)]
                with pytest.raises(TooManyPendingCommandsError):
                    await connection.send_command(QueryLocation(), timeout=HANG_GUARD)
                for message in asked:
                    reply = QueryLocationResponse(
                        reply_serial=message.header.serial, location=location()
                    )
                    await terminal.send(terminal.terminal.frame(reply))
            assert [type(o) for o in outcomes] == [CommandAnswered, CommandAnswered]
            assert connection.session.pending_commands == []


@pytest.mark.gateway(send_timeout=1.0)
async def test_a_terminal_that_stops_reading_costs_only_itself(gateway: Gateway) -> None:
    """Backpressure from the transport: the stalled terminal's writes pause, it is read no
    more and dropped after the send timeout; a terminal beside it is acknowledged throughout."""
    address = address_of(gateway)
    with anyio.fail_after(30):
        async with (
            TerminalClient.connect(address, V2019, receive_buffer=4096) as stalled,
            TerminalClient.connect(address, V2013, phone="013900000077") as healthy,
        ):
            await stalled.log_in()
            await healthy.log_in(**OTHER_IDENTITY)  # a device of its own
            stalled_connection = connection_of(gateway, stalled.phone)
            flood = DownlinkPassthrough(type=0x41, data=bytes(8 * 1024 * 1024))
            async with anyio.create_task_group() as tasks:
                outcomes: list[CommandEvent] = []

                async def send_flood() -> None:
                    outcomes.append(await stalled_connection.send_command(flood, timeout=60))

                tasks.start_soon(send_flood)
                acknowledged = 0
                # The healthy terminal keeps reporting until the stalled one has been dropped.
                while gateway.sessions.get(stalled.phone) is not None or acknowledged < 20:
                    await healthy.send(healthy.terminal.location())
                    await healthy.expect_general_response(
                        MessageId.LOCATION_REPORT, ResultCode.SUCCESS
                    )
                    acknowledged += 1
            assert isinstance(outcomes[0], CommandFailed)
            assert outcomes[0].reason is CommandFailure.SESSION_CLOSED
            assert metric(gateway, "jt808_limit_hits_total", limit="send_timeout") == 1
            assert gateway.sessions.get(healthy.phone) is not None


@pytest.mark.gateway(send_timeout=0.5)
async def test_terminal_that_stops_reading_is_disconnected_after_the_send_timeout(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe() as events:
        async with TerminalClient.connect(
            address_of(gateway), V2019, receive_buffer=4096
        ) as terminal:
            await terminal.log_in()
            connection = connection_of(gateway, terminal.phone)
            # 8 MiB of commands (8200 packets) is more than loopback buffers hold (4 MiB send
            # buffer at most, 4 KiB receive buffer), and the terminal reads none of it.
            flood = DownlinkPassthrough(type=0x41, data=bytes(8 * 1024 * 1024))
            outcome = await connection.send_command(flood, timeout=HANG_GUARD)
            assert isinstance(outcome, CommandFailed)
            assert outcome.reason is CommandFailure.SESSION_CLOSED
            closed = await wait_for_event(
                events, lambda e: getattr(e, "kind", None) is EventKind.DISCONNECTED
            )
            assert isinstance(closed, TerminalEvent)
            assert closed.reason == CloseReason.TRANSPORT_ERROR.value
            assert metric(gateway, "jt808_limit_hits_total", limit="send_timeout") == 1
            while gateway.connections:  # the gateway dropped its side of the connection
                await anyio.sleep(0.01)
            assert gateway.sessions.get(terminal.phone) is None
