"""Platform commands through ``TerminalConnection.send_command`` on a real connection."""

from __future__ import annotations

import anyio
import pytest

from gateway.protocol import V2011, V2019
from gateway.protocol.bodies.location import QueryLocation, QueryLocationResponse
from gateway.protocol.commands import (
    CommandAnswered,
    CommandEvent,
    CommandFailed,
    CommandFailure,
)
from gateway.protocol.ids import MessageId
from gateway.protocol.session import SessionNotReadyError
from gateway.server.gateway import Gateway
from tests.protocol.null_modem import location
from tests.timeouts import HANG_GUARD

from .harness import address_of, connection_of
from .terminal_client import TerminalClient

pytestmark = pytest.mark.anyio


async def test_query_location_answered_with_0x0201_returns_command_answered(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2019) as terminal:
            await terminal.log_in()
            connection = connection_of(gateway, terminal.phone)
            outcome: list[CommandEvent] = []
            here = location(latitude=39.908722, longitude=116.397499, speed=0.0)

            async def query() -> None:
                outcome.append(await connection.send_command(QueryLocation(), timeout=HANG_GUARD))

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(query)
                asked, _ = await terminal.expect(QueryLocation)
                answer = QueryLocationResponse(reply_serial=asked.header.serial, location=here)
                await terminal.send(terminal.terminal.frame(answer))

            answered = outcome[0]
            assert isinstance(answered, CommandAnswered)
            assert answered.msg_id == MessageId.QUERY_LOCATION
            assert answered.reply.msg_id == MessageId.QUERY_LOCATION_RESPONSE
            assert isinstance(answered.reply.body, QueryLocationResponse)
            assert answered.reply.body.location == here
            assert connection.session.pending_commands == []


async def test_unanswered_command_fails_with_no_reply_after_its_timeout(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2011) as terminal:
            await terminal.log_in()
            connection = connection_of(gateway, terminal.phone)
            started = anyio.current_time()
            outcome = await connection.send_command(QueryLocation(), timeout=0.3)
            assert anyio.current_time() - started >= 0.3
            assert isinstance(outcome, CommandFailed)
            assert (outcome.msg_id, outcome.reason) == (
                MessageId.QUERY_LOCATION,
                CommandFailure.NO_REPLY,
            )
            await terminal.expect(QueryLocation)  # it was sent, once (no retry before 10 s)
            await terminal.quiet(0.05)


@pytest.mark.gateway(limits={"command_retry_timeout": 0.25})
async def test_unanswered_command_is_retransmitted_identically_before_it_fails(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2019) as terminal:
            await terminal.log_in()
            connection = connection_of(gateway, terminal.phone)
            outcome = await connection.send_command(QueryLocation(), timeout=1.5)
            assert isinstance(outcome, CommandFailed)
            assert outcome.reason is CommandFailure.NO_REPLY
            # Sent at 0, resent at 0.25 and 0.75 (T, then 2T later); the next would be at 2.25.
            assert outcome.retries == 2
            copies = [(await terminal.expect(QueryLocation))[0] for _ in range(3)]
            assert len({m.header.serial for m in copies}) == 1


async def test_command_to_a_terminal_that_is_not_authenticated_is_refused(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2019) as terminal:
            await terminal.register()
            while not gateway.connections:
                await anyio.sleep(0.01)
            (connection,) = gateway.connections
            with pytest.raises(SessionNotReadyError):
                await connection.send_command(QueryLocation(), timeout=1)


async def test_command_pending_when_the_terminal_disconnects_fails_with_session_closed(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2019) as terminal:
            await terminal.log_in()
            connection = connection_of(gateway, terminal.phone)
            outcome: list[CommandEvent] = []

            async def query() -> None:
                outcome.append(await connection.send_command(QueryLocation(), timeout=30))

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(query)
                await terminal.expect(QueryLocation)
                await terminal.stream.aclose()  # the terminal goes away without answering
        failed = outcome[0]
        assert isinstance(failed, CommandFailed)
        assert failed.reason is CommandFailure.SESSION_CLOSED
