"""The byte stream on a real socket: damaged frames, arbitrary splitting, garbage between
frames, and sub-packaged messages (reassembly and requests for missing packets)."""

from __future__ import annotations

from collections.abc import Iterable

import anyio
import pytest

from gateway.hub import EventKind, LocationReported, TerminalEvent
from gateway.protocol import V2013, V2019, ResultCode
from gateway.protocol.bodies.general import PlatformRetransmitRequest
from gateway.protocol.bodies.multimedia import MultimediaData, MultimediaDataResponse
from gateway.protocol.bodies.registration import TerminalRegisterResponse
from gateway.protocol.ids import MessageId
from gateway.server.gateway import Gateway
from tests.protocol.null_modem import location, with_bad_checksum
from tests.timeouts import HANG_GUARD

from .harness import address_of, drain, metric
from .terminal_client import TerminalClient

pytestmark = pytest.mark.anyio


def photo(size: int = 100) -> MultimediaData:
    """A 0x0801 upload of ``size`` bytes of "JPEG" (36 + ``size`` bytes of body)."""
    return MultimediaData(
        media_id=7,
        media_type=0,
        media_format=0,
        event=1,
        channel_id=1,
        location=location(),
        data=b"\xff\xd8" + bytes(i % 251 for i in range(size - 4)) + b"\xff\xd9",
    )


def locations_in(events: Iterable[object]) -> list[LocationReported]:
    return [e for e in events if isinstance(e, LocationReported)]


# --------------------------------------------------------------------------------------------
# Damage and splitting


async def test_corrupt_frame_is_answered_message_error_and_the_next_frames_are_served(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe(locations=True) as events:
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.log_in()
            damaged = with_bad_checksum(terminal.terminal.location(speed=1.0))
            damaged_serial = terminal.terminal.last_serial
            good = terminal.terminal.location(speed=2.0)
            await terminal.send(damaged, good)
            await terminal.expect_general_response(
                MessageId.LOCATION_REPORT, ResultCode.MESSAGE_ERROR, reply_serial=damaged_serial
            )
            await terminal.expect_general_response(
                MessageId.LOCATION_REPORT, ResultCode.SUCCESS, reply_serial=damaged_serial + 1
            )
            assert [e.location.speed for e in locations_in(await drain(events))] == [2.0]
            assert metric(gateway, "jt808_errors_total", kind="ChecksumError") == 1


async def test_conversation_written_one_byte_at_a_time_is_decoded(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe() as events:
        async with TerminalClient.connect(address_of(gateway), V2019) as terminal:
            await terminal.send_bytewise(terminal.terminal.registration())
            _, registered = await terminal.expect(TerminalRegisterResponse)
            await terminal.send_bytewise(terminal.terminal.authentication(registered.auth_code))
            await terminal.expect_general_response(
                MessageId.TERMINAL_AUTHENTICATE, ResultCode.SUCCESS
            )
            await terminal.send_bytewise(
                terminal.terminal.location(speed=3.0) + terminal.terminal.location(speed=4.0)
            )
            for _ in range(2):
                await terminal.expect_general_response(
                    MessageId.LOCATION_REPORT, ResultCode.SUCCESS
                )
            assert [e.location.speed for e in locations_in(await drain(events))] == [3.0, 4.0]


async def test_garbage_before_and_between_frames_is_skipped(gateway: Gateway) -> None:
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe() as events:
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.send(b"GET / HTTP/1.1\r\n\r\n")  # before the first delimiter
            code = await terminal.log_in()
            assert code
            first = terminal.terminal.location(speed=5.0)
            second = terminal.terminal.location(speed=6.0)
            await terminal.send(
                b"\x00\xffnoise", first, b"between two frames", second, b"\x7e\x7e\x7e"
            )
            for _ in range(2):
                await terminal.expect_general_response(
                    MessageId.LOCATION_REPORT, ResultCode.SUCCESS
                )
            await terminal.send(terminal.terminal.heartbeat())
            await terminal.expect_general_response(MessageId.HEARTBEAT, ResultCode.SUCCESS)
            assert [e.location.speed for e in locations_in(await drain(events))] == [5.0, 6.0]
            assert metric(gateway, "jt808_errors_total", kind="GarbageError") == 1


# --------------------------------------------------------------------------------------------
# Sub-packaged messages


async def test_sub_packaged_upload_is_reassembled_and_answered_with_0x8800(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.log_in()
            split = terminal.terminal.split(photo(), max_size=50)
            assert split.total == 3
            await terminal.send(*split.frames)
            for serial in split.serials:  # each packet is acknowledged
                await terminal.expect_general_response(
                    MessageId.MULTIMEDIA_DATA, ResultCode.SUCCESS, reply_serial=serial
                )
            _, done = await terminal.expect(MultimediaDataResponse)
            assert (done.media_id, done.retransmit_ids) == (7, None)
            assert metric(gateway, "jt808_messages_in_total", msg_id="0x0801") == 3


async def test_reassembled_upload_reaches_the_hub_as_one_message_with_the_whole_body(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD), gateway.hub.subscribe() as events:
        async with TerminalClient.connect(address_of(gateway), V2013) as terminal:
            await terminal.log_in()
            upload = photo()
            split = terminal.terminal.split(upload, max_size=50)
            await terminal.send(*split.frames)
            for _ in split.frames:
                await terminal.expect_general_response(
                    MessageId.MULTIMEDIA_DATA, ResultCode.SUCCESS
                )
            await terminal.expect(MultimediaDataResponse)  # everything is published by now
            published = [
                e
                for e in await drain(events)
                if isinstance(e, TerminalEvent) and e.kind is EventKind.MESSAGE
            ]
            assert len(published) == 1
            message = published[0].message
            assert message is not None and message.msg_id == MessageId.MULTIMEDIA_DATA
            assert message.body == upload


@pytest.mark.gateway(limits={"reassembly_retransmit_after": 0.3})
async def test_missing_packet_is_requested_with_0x8003_after_the_reassembly_timeout(
    gateway: Gateway,
) -> None:
    with anyio.fail_after(HANG_GUARD):
        async with TerminalClient.connect(address_of(gateway), V2019) as terminal:
            await terminal.log_in()
            split = terminal.terminal.split(photo(), max_size=50)
            first, second, third = split.frames
            started = anyio.current_time()
            await terminal.send(first, third)
            for serial in (split.serials[0], split.serials[2]):
                await terminal.expect_general_response(
                    MessageId.MULTIMEDIA_DATA, ResultCode.SUCCESS, reply_serial=serial
                )
            _, request = await terminal.expect(PlatformRetransmitRequest)
            assert anyio.current_time() - started >= 0.3
            assert (request.original_serial, request.packet_ids) == (split.serials[0], [2])

            await terminal.send(second)
            await terminal.expect_general_response(
                MessageId.MULTIMEDIA_DATA, ResultCode.SUCCESS, reply_serial=split.serials[1]
            )
            _, done = await terminal.expect(MultimediaDataResponse)
            assert done.complete
