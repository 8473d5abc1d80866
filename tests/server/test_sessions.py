"""A terminal's life on a real gateway: registration, authentication, data, logout, timeouts
and reconnection, over loopback TCP with the local device registry."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Final

import anyio
import pytest

from gateway.auth.insecure import AcceptAllAuthBackend
from gateway.hub import EventKind, HubEvent, LocationReported, TerminalEvent
from gateway.protocol import V2011, V2013, V2019, ProtocolVersion, ResultCode
from gateway.protocol.bodies.general import TerminalLogout
from gateway.protocol.bodies.location import QueryLocation, QueryLocationResponse
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.commands import CommandAnswered
from gateway.protocol.ids import MessageId
from gateway.protocol.session import CloseReason
from gateway.registry import Device
from gateway.server.gateway import Gateway
from tests.protocol.null_modem import location
from tests.timeouts import HANG_GUARD

from .harness import StartGateway, address_of, drain, kinds, metric, wait_for_event
from .terminal_client import DEVICE_NAME, TerminalClient

pytestmark = pytest.mark.anyio

VERSIONS = pytest.mark.parametrize("version", [V2011, V2013, V2019], ids=lambda v: str(int(v)))


def disconnected(reason: CloseReason) -> Callable[[HubEvent], bool]:
    """A predicate for ``wait_for_event``: the DISCONNECTED event with ``reason``."""

    def matches(event: HubEvent) -> bool:
        return (
            isinstance(event, TerminalEvent)
            and event.kind is EventKind.DISCONNECTED
            and event.reason == reason.value
        )

    return matches


# --------------------------------------------------------------------------------------------
# Happy path


@VERSIONS
async def test_known_device_registers_authenticates_and_its_locations_reach_the_hub(
    gateway: Gateway, version: ProtocolVersion
) -> None:
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe() as events:
        async with TerminalClient.connect(address_of(gateway), version) as terminal:
            registered = await terminal.register()
            assert registered.result == RegisterResult.SUCCESS
            assert len(registered.auth_code) >= 16  # a random code, not the phone number
            assert await terminal.authenticate(registered.auth_code) is ResultCode.SUCCESS

            report = location(speed=72.5, altitude=-3, direction=271, alarm=0x1, status=0x3)
            await terminal.send(terminal.terminal.frame(report))
            serial = terminal.terminal.last_serial
            await terminal.expect_general_response(
                MessageId.LOCATION_REPORT, ResultCode.SUCCESS, reply_serial=serial
            )
            await terminal.send(terminal.terminal.heartbeat())
            await terminal.expect_general_response(
                MessageId.HEARTBEAT, ResultCode.SUCCESS, reply_serial=terminal.terminal.last_serial
            )

            seen = await drain(events)
            published = [e for e in seen if isinstance(e, LocationReported)]
            assert len(published) == 1
            event = published[0]
            assert (event.phone, event.device_name) == (terminal.phone, DEVICE_NAME)
            assert (event.msg_id, event.serial, event.batch_type) == (0x0200, serial, None)
            assert event.location == report
            authenticated = [
                e
                for e in seen
                if isinstance(e, TerminalEvent) and e.kind is EventKind.AUTHENTICATED
            ]
            assert [(e.phone, e.device_name) for e in authenticated] == [
                (terminal.phone, DEVICE_NAME)
            ]
            assert set(kinds(seen)) == {"connected", "registered", "authenticated", "location"}
            assert gateway.sessions.get(terminal.phone) is not None


async def test_hub_sees_connected_before_registered_and_authenticated(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe() as events:
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.log_in()
            assert kinds(await drain(events)) == ["connected", "registered", "authenticated"]


async def test_connection_that_never_identified_itself_publishes_nothing(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe() as events:
        async with TerminalClient.connect(address_of(gateway), V2013) as scanner:
            await scanner.send(b"GET / HTTP/1.0\r\n\r\n")
        while gateway.connections:
            await anyio.sleep(0.01)
        assert await drain(events) == []


# --------------------------------------------------------------------------------------------
# Refusals


async def test_data_before_authentication_is_refused_and_never_published(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe() as events:
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.send(terminal.terminal.location())
            await terminal.expect_general_response(
                MessageId.LOCATION_REPORT, ResultCode.FAILURE, reply_serial=0
            )
            registered = await terminal.register()
            await terminal.send(terminal.terminal.location())  # registered is not enough
            await terminal.expect_general_response(MessageId.LOCATION_REPORT, ResultCode.FAILURE)
            assert await terminal.authenticate(registered.auth_code) is ResultCode.SUCCESS
            assert not any(isinstance(e, LocationReported) for e in await drain(events))
            assert metric(gateway, "jt808_errors_total", kind="refused") == 2


async def test_wrong_auth_code_is_answered_with_failure_and_the_right_one_still_works(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2019) as terminal:
            registered = await terminal.register()
            assert await terminal.authenticate("not-the-code") is ResultCode.FAILURE
            assert gateway.sessions.get(terminal.phone) is None
            assert await terminal.authenticate(registered.auth_code) is ResultCode.SUCCESS
            assert gateway.sessions.get(terminal.phone) is not None


async def test_repeated_authentication_failures_close_the_connection(gateway: Gateway) -> None:
    attempts = gateway.config.max_authentication_attempts
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe() as events:
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.register()
            for _ in range(attempts - 1):
                assert await terminal.authenticate("guess") is ResultCode.FAILURE
            await terminal.send(terminal.terminal.authentication("guess"))
            last = await terminal.closed()
            assert [(m.msg_id, getattr(m.body, "result", None)) for m in last] == [
                (MessageId.PLATFORM_GENERAL_RESPONSE, ResultCode.FAILURE)
            ]
        await wait_for_event(events, disconnected(CloseReason.AUTHENTICATION_FAILED))


async def test_unknown_device_is_answered_terminal_not_found(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            answer = await terminal.register(terminal_id="UNKNOWN")
            assert answer.result == RegisterResult.TERMINAL_NOT_FOUND
            assert answer.auth_code == ""


async def test_device_pinned_to_another_phone_is_answered_terminal_already_registered(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as impostor:
            answer = await impostor.register(terminal_id="PINNED1")
            assert answer.result == RegisterResult.TERMINAL_ALREADY_REGISTERED
            assert answer.auth_code == ""
        # The pinned phone 13800000000 is the same number as the 12-digit BCD 013800000000.
        async with TerminalClient.connect(
            address_of(gateway), V2013, phone="013800000000"
        ) as owner:
            await owner.log_in(terminal_id="PINNED1")


async def test_logout_revokes_the_auth_code(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe() as events:
        address = address_of(gateway)
        async with TerminalClient.connect(address, V2019) as terminal:
            code = await terminal.log_in()
            await terminal.send(terminal.terminal.frame(TerminalLogout()))
            await terminal.expect_general_response(MessageId.TERMINAL_LOGOUT, ResultCode.SUCCESS)
            logged_out = await wait_for_event(
                events, lambda e: getattr(e, "kind", None) is EventKind.LOGGED_OUT
            )
            assert (logged_out.phone, logged_out.device_name) == (terminal.phone, DEVICE_NAME)
            assert gateway.sessions.get(terminal.phone) is None
            assert await terminal.authenticate(code) is ResultCode.FAILURE
        async with TerminalClient.connect(address, V2019) as again:
            assert await again.authenticate(code) is ResultCode.FAILURE


# --------------------------------------------------------------------------------------------
# Timeouts


# Timeouts long enough that logging in fits inside them on a busy machine.
IDLE_TIMEOUT: Final = 1.0


@pytest.mark.gateway(idle_timeout=IDLE_TIMEOUT)
async def test_silent_connection_is_closed_after_the_idle_timeout(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe() as events:
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            started = anyio.current_time()  # before the last frame the gateway hears
            await terminal.log_in()
            assert await terminal.closed() == []
            assert anyio.current_time() - started >= IDLE_TIMEOUT
        closed = await wait_for_event(events, disconnected(CloseReason.IDLE_TIMEOUT))
        assert closed.phone == terminal.phone
        assert len(gateway.sessions) == 0
        assert not gateway.connections


@pytest.mark.gateway(idle_timeout=IDLE_TIMEOUT)
async def test_heartbeats_keep_a_connection_past_the_idle_timeout(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2011) as terminal:
            await terminal.log_in()
            for _ in range(4):  # 1.2 s in all, each heartbeat 0.3 s after the last reply
                await anyio.sleep(0.3)
                await terminal.send(terminal.terminal.heartbeat())
                await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)


@pytest.mark.gateway(authentication_timeout=IDLE_TIMEOUT)
async def test_connection_that_does_not_authenticate_in_time_is_closed(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe() as events:
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.register()
            await terminal.send(terminal.terminal.heartbeat())  # activity does not help
            await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
            assert await terminal.closed() == []
        closed = await wait_for_event(events, disconnected(CloseReason.AUTHENTICATION_TIMEOUT))
        assert closed.phone == terminal.phone


# --------------------------------------------------------------------------------------------
# Reconnection


async def test_new_connection_of_the_same_terminal_replaces_the_old_one(gateway: Gateway) -> None:
    address = address_of(gateway)
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe() as events:
        async with (
            TerminalClient.connect(address, V2013) as old,
            TerminalClient.connect(address, V2013) as new,
        ):
            code = await old.log_in()
            first = gateway.sessions.get(old.phone)
            assert first is not None

            assert await new.authenticate(code) is ResultCode.SUCCESS
            assert await old.closed() == []  # EOF on the old socket
            replaced = await wait_for_event(events, disconnected(CloseReason.REPLACED))
            assert replaced.phone == old.phone
            assert isinstance(replaced, TerminalEvent)
            assert replaced.remote_address.endswith(f":{old.local_port}")

            current = gateway.sessions.get(new.phone)
            assert current is not None and current is not first
            assert current.remote_address.endswith(f":{new.local_port}")
            assert len(gateway.sessions) == 1

            # Commands for this phone now go to the new connection.
            async with anyio.create_task_group() as tasks:
                outcome: list[object] = []

                async def query() -> None:
                    outcome.append(await current.send_command(QueryLocation(), timeout=HANG_GUARD))

                tasks.start_soon(query)
                asked, _ = await new.expect(QueryLocation)
                answer = QueryLocationResponse(
                    reply_serial=asked.header.serial, location=location()
                )
                await new.send(new.terminal.frame(answer))
            assert isinstance(outcome[0], CommandAnswered)

            await new.send(new.terminal.heartbeat())  # and the new link is alive
            await new.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)


# --------------------------------------------------------------------------------------------
# Shutdown


async def test_stopping_the_gateway_closes_connections_and_ends_hub_subscriptions(
    start_gateway: StartGateway, devices: tuple[Device, ...]
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with AsyncExitStack() as running:
            gateway = await running.enter_async_context(start_gateway())
            events = gateway.hub.subscribe()
            async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
                await terminal.log_in()
                await running.aclose()  # stop the gateway while the terminal is connected
                assert await terminal.closed() == []
        seen = [event async for event in events]  # drains, then ends: the hub is closed
        assert kinds(seen)[-1] == EventKind.DISCONNECTED
        assert not gateway.connections
        assert len(gateway.sessions) == 0


async def test_stopping_the_gateway_reports_server_shutdown_as_the_reason(
    start_gateway: StartGateway, devices: tuple[Device, ...]
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with AsyncExitStack() as running:
            gateway = await running.enter_async_context(start_gateway())
            events = gateway.hub.subscribe()
            async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
                await terminal.log_in()
                await running.aclose()
                await terminal.closed()
        closed = [e async for e in events if isinstance(e, TerminalEvent)][-1]
        assert (closed.kind, closed.reason) == (EventKind.DISCONNECTED, "server_shutdown")
        assert metric(gateway, "jt808_disconnects_total", reason="server_shutdown") == 1


@pytest.mark.gateway(auth=AcceptAllAuthBackend())  # answers at once: each step is one chunk
async def test_event_times_are_read_once_per_step_and_anew_after_it(gateway: Gateway) -> None:
    """The events of one chunk share one wall-clock reading; a later event (the terminal
    leaving) reads the clock again rather than reusing the last chunk's time."""
    readings = iter(datetime(2026, 12, 5, 22, 0, second, tzinfo=UTC) for second in range(60))
    gateway.wall_clock = lambda: next(readings)
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe() as events:
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.log_in()  # the last chunk published an event
        seen: dict[EventKind, datetime] = {}
        async for event in events:
            if isinstance(event, TerminalEvent):
                seen[event.kind] = event.at
                if event.kind is EventKind.DISCONNECTED:
                    break
    assert list(seen) == [
        EventKind.CONNECTED, EventKind.REGISTERED, EventKind.AUTHENTICATED, EventKind.DISCONNECTED,
    ]  # fmt: skip
    # The 0x0100's chunk, then the 0x0102's, then the close: three readings.
    assert seen[EventKind.CONNECTED] == seen[EventKind.REGISTERED]
    assert seen[EventKind.REGISTERED] < seen[EventKind.AUTHENTICATED] < seen[EventKind.DISCONNECTED]
