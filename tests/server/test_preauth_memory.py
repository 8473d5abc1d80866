"""Before authentication a connection holds almost nothing: no sub-package reassembly, frames
no longer than a registration needs; and sub-packages of all terminals together stay within
the gateway-wide reassembly budget."""

from __future__ import annotations

import anyio
import pytest

from gateway.protocol import V2019, ResultCode
from gateway.protocol.bodies.passthrough import UplinkPassthrough
from gateway.protocol.bodies.registration import TerminalRegister
from gateway.protocol.ids import MessageId
from gateway.server.gateway import Gateway
from tests.timeouts import HANG_GUARD

from .harness import OTHER_IDENTITY, address_of, metric
from .terminal_client import TerminalClient

pytestmark = pytest.mark.anyio


def big_registration(plate: str = "A" * 3000) -> TerminalRegister:
    """A 0x0100 with a long plate (as an attacker would send it): sub-packaged by default."""
    return TerminalRegister(
        province_id=44, city_id=300, manufacturer_id="ACME1", terminal_model="TK-1",
        terminal_id="T000001", plate_color=1, plate=plate,
    )  # fmt: skip


async def test_sub_packages_before_authentication_are_refused_and_never_held(
    gateway: Gateway,
) -> None:
    address = address_of(gateway)
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address, V2019) as attacker:
            split = attacker.terminal.split(big_registration(), max_size=400)
            await attacker.send(*split.frames[:4])
            for serial in split.serials[:4]:
                await attacker.expect_general_response(
                    MessageId.TERMINAL_REGISTER, ResultCode.FAILURE, reply_serial=serial
                )
            assert gateway.reassembly_budget.held == 0
            (connection,) = gateway.connections
            assert connection.session.awaiting_decision is None
            # Refusals count: a peer that keeps at it is closed (after 10 by default).
            await attacker.send(*split.frames[4:], *split.frames)
            assert len(await attacker.closed()) == 10 - 4  # refused up to the tenth, closed
        assert metric(gateway, "jt808_limit_hits_total", limit="max_refused_messages") == 1


async def test_frames_before_authentication_are_bounded_by_what_a_registration_needs(
    gateway: Gateway,
) -> None:
    address = address_of(gateway)
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address, V2019) as terminal:
            # A whole frame of 1,200 escaped bytes: too big before authentication.
            big = terminal.terminal.frame(big_registration("~" * 600))
            assert len(big) > 1024
            await terminal.send(big)
            await terminal.send(terminal.terminal.heartbeat())
            await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
            assert metric(gateway, "jt808_limit_hits_total", limit="max_frame_length") == 1
            await terminal.log_in()
            passthrough = terminal.terminal.frame(UplinkPassthrough(type=0x41, data=b"~" * 900))
            assert len(passthrough) > 1024  # fine once authenticated
            await terminal.send(passthrough)
            await terminal.expect_general_response(MessageId.UPLINK_PASSTHROUGH, ResultCode.SUCCESS)


@pytest.mark.gateway(reassembly_total_bytes=1500)
async def test_the_gateway_wide_reassembly_budget_bounds_all_terminals_together(
    gateway: Gateway,
) -> None:
    address = address_of(gateway)
    body = UplinkPassthrough(type=0x41, data=bytes(range(256)) * 4)  # 1025 bytes
    with anyio.fail_after(HANG_GUARD):
        async with (
            TerminalClient.connect(address, V2019) as first,
            TerminalClient.connect(address, V2019, phone="13900000000000000077") as second,
        ):
            await first.log_in()
            await second.log_in(**OTHER_IDENTITY)
            one = first.terminal.split(body, max_size=400)
            two = second.terminal.split(body, max_size=400)
            await first.send(*one.frames[:2])  # 2 x (400 + overhead) held
            for serial in one.serials[:2]:
                await first.expect_general_response(
                    MessageId.UPLINK_PASSTHROUGH, ResultCode.SUCCESS, reply_serial=serial
                )
            # Within its own 4 MiB, but past what the gateway holds for everyone.
            await second.send(two.frames[0])
            await second.expect_general_response(
                MessageId.UPLINK_PASSTHROUGH, ResultCode.FAILURE, reply_serial=two.serials[0]
            )
            assert metric(gateway, "jt808_limit_hits_total", limit="reassembly_total_bytes") == 1
            await first.send(one.frames[2])  # the first completes and gives its bytes back
            await first.expect_general_response(
                MessageId.UPLINK_PASSTHROUGH, ResultCode.SUCCESS, reply_serial=one.serials[2]
            )
            assert gateway.reassembly_budget.held == 0
            await second.send(*two.frames)
            for serial in two.serials:
                await second.expect_general_response(
                    MessageId.UPLINK_PASSTHROUGH, ResultCode.SUCCESS, reply_serial=serial
                )
