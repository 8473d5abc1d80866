"""Per-frame log lines under a flood: the first bad frame, refused message and dropped
sub-packaged message of a connection are logged at their level (what an operator needs to
diagnose one broken device), later ones of the same connection at debug; every one is counted
in ``jt808_errors_total`` and the connection's ``disconnected`` line carries the totals."""

from __future__ import annotations

import logging

import anyio
import pytest

from gateway.protocol import V2013, V2019, ResultCode
from gateway.protocol.bodies.passthrough import UplinkPassthrough
from gateway.protocol.ids import MessageId
from gateway.server.gateway import Gateway
from gateway.server.logs import LOGGER_NAME
from tests.protocol.null_modem import with_bad_checksum
from tests.timeouts import HANG_GUARD

from .harness import address_of, metric
from .terminal_client import TerminalClient

pytestmark = pytest.mark.anyio

BAD_FRAMES = 60
REFUSED = 6
PARTIAL = 3


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    return caplog


def levels_of(caplog: pytest.LogCaptureFixture, event: str) -> list[int]:
    return [r.levelno for r in caplog.records if r.getMessage() == event]


async def disconnected(caplog: pytest.LogCaptureFixture, count: int) -> list[logging.LogRecord]:
    """The ``disconnected`` records, once there are ``count`` of them."""
    with anyio.fail_after(HANG_GUARD):
        while True:
            found = [r for r in caplog.records if r.getMessage() == "disconnected"]
            if len(found) >= count:
                return found
            await anyio.sleep(0.01)


async def bad_frames(terminal: TerminalClient, count: int) -> None:
    """``count`` frames with a bad check code, each followed by a good one (only consecutive
    bad frames close a connection)."""
    for _ in range(count):
        await terminal.send(with_bad_checksum(terminal.terminal.heartbeat()))
        await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.MESSAGE_ERROR)
        await terminal.send(terminal.terminal.heartbeat())
        await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)


async def test_bad_frames_are_logged_at_info_once_per_connection_and_all_counted(
    gateway: Gateway, records: pytest.LogCaptureFixture
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.log_in()
            await bad_frames(terminal, BAD_FRAMES)
        [closed] = await disconnected(records, 1)

    assert levels_of(records, "frame rejected") == [logging.INFO] + [logging.DEBUG] * (
        BAD_FRAMES - 1
    )
    assert metric(gateway, "jt808_errors_total", kind="ChecksumError") == BAD_FRAMES
    assert closed.__dict__["frames_rejected"] == BAD_FRAMES
    assert "messages_refused" not in closed.__dict__  # only what happened


async def test_refused_messages_are_logged_at_info_once_per_connection(
    gateway: Gateway, records: pytest.LogCaptureFixture
) -> None:
    address = address_of(gateway)
    with anyio.fail_after(HANG_GUARD):
        for _ in range(2):  # each connection's first one is at info again
            async with TerminalClient.connect(address, V2013) as terminal:
                for _ in range(REFUSED):  # a location before authentication
                    await terminal.send(terminal.terminal.location())
                    await terminal.expect_general_response(
                        MessageId.LOCATION_REPORT, ResultCode.FAILURE
                    )
        closed = await disconnected(records, 2)

    one_connection = [logging.INFO] + [logging.DEBUG] * (REFUSED - 1)
    assert levels_of(records, "message refused") == one_connection * 2
    assert metric(gateway, "jt808_errors_total", kind="refused") == 2 * REFUSED
    assert [r.__dict__["messages_refused"] for r in closed] == [REFUSED, REFUSED]


async def test_dropped_sub_packaged_messages_are_logged_at_warning_once_per_connection(
    gateway: Gateway, records: pytest.LogCaptureFixture
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2019) as terminal:
            await terminal.log_in()
            for _ in range(PARTIAL):  # the first packet of each, then the connection ends
                split = terminal.terminal.split(
                    UplinkPassthrough(type=0x41, data=bytes(900)), max_size=400
                )
                await terminal.send(split.frames[0])
                await terminal.expect_general_response(
                    MessageId.UPLINK_PASSTHROUGH, ResultCode.SUCCESS, reply_serial=split.serials[0]
                )
        [closed] = await disconnected(records, 1)

    assert levels_of(records, "sub-packaged message dropped") == [logging.WARNING] + [
        logging.DEBUG
    ] * (PARTIAL - 1)
    assert metric(gateway, "jt808_reassembly_dropped_total", reason="closed") == PARTIAL
    assert closed.__dict__["partial_messages_dropped"] == PARTIAL
