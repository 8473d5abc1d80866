"""A live session is only ever replaced by a connection that proved it holds the credential:
a second registration of a registered terminal (same phone, another phone, another device for
the same vehicle) is answered 0x8100 result 3 or 1 and revokes nothing, until an explicit act
(the terminal's logout, an operator's reset, or the documented ``offline`` policy)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from gateway.auth.insecure import AcceptAllAuthBackend
from gateway.hub import EventKind, TerminalEvent
from gateway.protocol import V2013, ResultCode
from gateway.protocol.bodies.general import TerminalLogout
from gateway.protocol.bodies.registration import RegisterResult
from gateway.protocol.ids import MessageId
from gateway.registry import Device, DeviceRegistry
from gateway.server.gateway import Gateway
from gateway.server.logs import LOGGER_NAME
from gateway.server.takeover import online
from tests.timeouts import HANG_GUARD

from .harness import KNOWN_DEVICE, StartGateway, address_of, connection_of
from .terminal_client import TerminalClient

pytestmark = pytest.mark.anyio

PHONE_A = "013700000001"
PHONE_B = "013700000002"
#: A second unpinned device, for the vehicle rule.
SECOND_DEVICE = Device("ACME1", "TK-1", "T000002")


async def still_served(client: TerminalClient) -> None:
    await client.send(client.terminal.heartbeat())
    await client.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)


async def test_a_second_registration_of_an_online_terminal_is_refused_and_revokes_nothing(
    gateway: Gateway,
) -> None:
    address = address_of(gateway)
    async with TerminalClient.connect(address, V2013, phone=PHONE_A) as first:
        code = await first.log_in()
        async with TerminalClient.connect(address, V2013, phone=PHONE_A) as intruder:
            answer = await intruder.register()
            assert (answer.result, answer.auth_code) == (
                RegisterResult.TERMINAL_ALREADY_REGISTERED, "",
            )  # fmt: skip
            assert await intruder.authenticate("guessed") is ResultCode.FAILURE
        await still_served(first)
        assert connection_of(gateway, PHONE_A).remote_address.endswith(f":{first.local_port}")
        # The code still works: a reconnect that presents it is the newest connection.
        async with TerminalClient.connect(address, V2013, phone=PHONE_A) as again:
            assert await again.authenticate(code) is ResultCode.SUCCESS
            assert await first.closed() == []


async def test_an_unpinned_device_cannot_be_claimed_from_another_phone(gateway: Gateway) -> None:
    address = address_of(gateway)
    async with TerminalClient.connect(address, V2013, phone=PHONE_A) as first:
        code = await first.log_in()
        async with TerminalClient.connect(address, V2013, phone=PHONE_B) as other:
            answer = await other.register()
            assert answer.result == RegisterResult.TERMINAL_ALREADY_REGISTERED
        await still_served(first)
    # Offline now, and the code is still held: still refused (explicit is the default).
    async with TerminalClient.connect(address, V2013, phone=PHONE_B) as other:
        assert (await other.register()).result == RegisterResult.TERMINAL_ALREADY_REGISTERED
    async with TerminalClient.connect(address, V2013, phone=PHONE_A) as first:
        assert await first.authenticate(code) is ResultCode.SUCCESS


async def test_a_vehicle_held_by_another_device_gets_result_1(
    gateway: Gateway, data_dir: Path
) -> None:
    with DeviceRegistry(data_dir) as registry:
        registry.upsert([SECOND_DEVICE])
    address = address_of(gateway)
    async with TerminalClient.connect(address, V2013, phone=PHONE_A) as first:
        await first.log_in(plate="A12345")
        async with TerminalClient.connect(address, V2013, phone=PHONE_B) as second:
            answer = await second.register(terminal_id=SECOND_DEVICE.terminal_id, plate="A12345")
            assert answer.result == RegisterResult.VEHICLE_ALREADY_REGISTERED
            await second.log_in(terminal_id=SECOND_DEVICE.terminal_id, plate="B22222")
        await still_served(first)


async def test_after_a_logout_the_terminal_registers_again(gateway: Gateway) -> None:
    address = address_of(gateway)
    async with TerminalClient.connect(address, V2013, phone=PHONE_A) as first:
        old_code = await first.log_in()
        await first.send(first.terminal.frame(TerminalLogout()))
        await first.expect_general_response(MessageId.TERMINAL_LOGOUT, ResultCode.SUCCESS)
        new_code = await first.log_in()
    assert new_code != old_code


async def test_an_operator_reset_lets_a_factory_reset_terminal_register_again(
    gateway: Gateway, data_dir: Path
) -> None:
    address = address_of(gateway)
    async with TerminalClient.connect(address, V2013, phone=PHONE_A) as first:
        old_code = await first.log_in()
    async with TerminalClient.connect(address, V2013, phone=PHONE_A) as reset_terminal:
        assert (
            await reset_terminal.register()
        ).result == RegisterResult.TERMINAL_ALREADY_REGISTERED
        with DeviceRegistry(data_dir) as registry:
            assert registry.reset(KNOWN_DEVICE.name)
            assert not registry.reset("NO_SUCH_DEVICE")
        await reset_terminal.log_in()
    async with TerminalClient.connect(address, V2013, phone=PHONE_A) as stale:
        assert await stale.authenticate(old_code) is ResultCode.FAILURE


async def test_the_offline_policy_allows_a_new_registration_only_while_nobody_is_online(
    start_gateway: StartGateway, devices: tuple[Device, ...]
) -> None:
    async with start_gateway(reregistration="offline") as gateway:
        address = address_of(gateway)
        async with TerminalClient.connect(address, V2013, phone=PHONE_A) as first:
            old_code = await first.log_in()
            async with TerminalClient.connect(address, V2013, phone=PHONE_B) as other:
                assert (await other.register()).result == RegisterResult.TERMINAL_ALREADY_REGISTERED
            async with TerminalClient.connect(address, V2013, phone=PHONE_A) as same:
                assert (await same.register()).result == RegisterResult.TERMINAL_ALREADY_REGISTERED
            await still_served(first)
        with anyio.fail_after(HANG_GUARD):
            while gateway.sessions.get(PHONE_A) is not None:
                await anyio.sleep(0.01)
        async with TerminalClient.connect(address, V2013, phone=PHONE_A) as back:
            assert await back.log_in() != old_code


async def test_insecure_accept_all_replaces_sessions_and_says_so_loudly(
    start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    async with start_gateway(auth=AcceptAllAuthBackend()) as gateway:
        address = address_of(gateway)
        async with TerminalClient.connect(address, V2013, phone=PHONE_A) as first:
            await first.log_in()
            with gateway.hub.subscribe(locations=False) as events:
                async with TerminalClient.connect(address, V2013, phone=PHONE_A) as second:
                    await second.log_in()
                    assert await first.closed() == []
                    with anyio.fail_after(HANG_GUARD):
                        async for event in events:
                            if isinstance(event, TerminalEvent) and event.reason:
                                assert event.kind is EventKind.DISCONNECTED
                                break
    replaced = [r for r in caplog.records if r.getMessage() == "connection replaced by a newer one"]
    assert [r.levelno for r in replaced] == [logging.WARNING]


def test_the_backend_is_told_who_is_online_and_since_when() -> None:
    since = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)

    class Sessions:
        def online_since(self, phone: str) -> datetime | None:
            return since if phone == PHONE_A else None

        def device_online(self, device_name: str) -> tuple[datetime | None, str]:
            return (since, PHONE_A) if device_name == KNOWN_DEVICE.name else (None, "")

    told = online(Sessions(), PHONE_B, KNOWN_DEVICE.name)
    assert (told.phone_online_since, told.device_online_since, told.device_online_phone) == (
        None, since, PHONE_A,
    )  # fmt: skip
    assert online(Sessions(), PHONE_A, "") == (since, None, "")
