"""Sub-packaged messages: reassembly, retransmission requests, splitting and the sent cache."""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Callable
from functools import reduce
from operator import xor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol import (
    V2011,
    V2013,
    V2019,
    BodyError,
    EncodeError,
    Fragment,
    Header,
    PacketInfo,
    ProtocolVersion,
    RawBody,
    ResultCode,
    TruncatedBodyError,
)
from gateway.protocol.bodies.general import PlatformRetransmitRequest, TerminalRetransmitRequest
from gateway.protocol.bodies.registration import TerminalAuthenticate
from gateway.protocol.message import Message, decode_frame, encode, encode_body
from gateway.protocol.subpackage import (
    PACKET_OVERHEAD,
    DropReason,
    InconsistentPacketError,
    MessageReassembled,
    PartialMessageDropped,
    Reassembler,
    ReassemblyLimitError,
    RetransmissionRequested,
    SentCache,
    SplitMessage,
    encode_split,
    first_serial_of,
    split_body,
)

from .real_frames import real_frame_bytes

PHONE = "013912345678"
QUERY_PARAMETERS_RESPONSE = 0x0104
VENDOR_ID = 0x0F01  # an id no body layout will ever claim: its body stays raw


def packet(
    serial: int,
    total: int,
    index: int,
    *,
    msg_id: int = QUERY_PARAMETERS_RESPONSE,
    version: ProtocolVersion = V2013,
    encryption: int = 0,
) -> Header:
    protocol_version = 1 if version is V2019 else 0
    return Header(
        msg_id, PHONE, serial, version, protocol_version, encryption, PacketInfo(total, index)
    )


def serials_from(start: int) -> Callable[[], int]:
    """A session's serial counter: start, start + 1, ... wrapping at 65536."""
    counter = itertools.count(start)
    return lambda: next(counter) % 0x10000


def completed(result: MessageReassembled | None) -> MessageReassembled:
    assert result is not None, "the message should be complete"
    return result


def real_packet(vector_id: str, *, verify_checksum: bool = True) -> Message:
    return decode_frame(real_frame_bytes(vector_id), verify_checksum=verify_checksum)


# --------------------------------------------------------------------------------------------
# Reassembly


def test_packets_in_index_order_give_the_decoded_message_with_the_first_header() -> None:
    auth = TerminalAuthenticate(auth_code="A" * 2500)
    split = encode_split(
        Header(0x0102, PHONE, 0), encode_body(auth, V2013), serials_from(100), max_size=1023
    )
    reassembler = Reassembler()

    results = [reassembler.receive_fragment(decode_frame(frame), now=0.0) for frame in split.frames]

    assert results[:-1] == [None, None]
    done = completed(results[-1])
    assert done.error is None
    assert done.message is not None
    assert done.message.body == auth
    assert done.header == Header(0x0102, PHONE, 100, V2013, packet=None)
    assert done.message.header == done.header
    assert (done.serials, done.first_serial, done.last_serial) == ((100, 101, 102), 100, 102)
    assert (reassembler.pending, reassembler.held_bytes, reassembler.stats.completed) == (0, 0, 1)
    assert reassembler.next_deadline() is None


def test_packets_arriving_in_any_order_are_joined_in_index_order() -> None:
    slices = [b"one-", b"two-", b"three-", b"four"]
    reassembler = Reassembler()

    results = [
        reassembler.receive(packet(50 + index - 1, 4, index), slices[index - 1], now=float(index))
        for index in (3, 1, 4, 2)
    ]

    assert results[:3] == [None, None, None]
    done = completed(results[3])
    assert done.data == b"one-two-three-four"
    assert done.serials == (50, 51, 52, 53)
    assert done.header.serial == 50


def test_a_single_packet_message_completes_at_once_without_being_held() -> None:
    reassembler = Reassembler(max_partials=1)
    reassembler.receive(packet(1, 2, 1), b"x", now=0.0)  # the only slot is taken

    done = completed(reassembler.receive(packet(9, 1, 1), b"whole", now=0.0))

    assert (done.data, done.serials, done.header.packet) == (b"whole", (9,), None)
    assert reassembler.pending == 1


def test_an_identical_resend_is_ignored_and_counted() -> None:
    reassembler = Reassembler()
    reassembler.receive(packet(10, 2, 1), b"first", now=0.0)
    held = reassembler.held_bytes

    assert reassembler.receive(packet(10, 2, 1), b"first", now=1.0) is None

    assert (reassembler.stats.duplicates, reassembler.held_bytes) == (1, held)
    assert completed(reassembler.receive(packet(11, 2, 2), b"+second", now=2.0)).data == (
        b"first+second"
    )


def test_a_resend_with_another_payload_keeps_the_first_payload_and_is_counted() -> None:
    reassembler = Reassembler()
    reassembler.receive(packet(10, 2, 1), b"first", now=0.0)

    assert reassembler.receive(packet(10, 2, 1), b"OTHER", now=1.0) is None

    assert reassembler.stats.conflicting_duplicates == 1
    done = completed(reassembler.receive(packet(11, 2, 2), b"+second", now=2.0))
    assert done.data == b"first+second"


def test_a_resend_of_a_completed_message_does_not_start_a_new_one() -> None:
    reassembler = Reassembler(give_up_after=60.0)
    reassembler.receive(packet(10, 2, 1), b"a", now=0.0)
    completed(reassembler.receive(packet(11, 2, 2), b"b", now=1.0))

    assert reassembler.receive(packet(11, 2, 2), b"b", now=2.0) is None

    assert (reassembler.pending, reassembler.stats.late_duplicates) == (0, 1)
    # Once the memory of it has expired the same serials may start a new message.
    assert reassembler.receive(packet(11, 2, 2), b"b", now=61.0) is None
    assert reassembler.pending == 1


def test_serials_wrapping_past_65535_belong_to_one_message() -> None:
    serials = {1: 65534, 2: 65535, 3: 0, 4: 1}
    reassembler = Reassembler()

    results = [
        reassembler.receive(packet(serials[index], 4, index), bytes([index]), now=0.0)
        for index in (3, 1, 4, 2)
    ]

    done = completed(results[-1])
    assert done.data == b"\x01\x02\x03\x04"
    assert (done.first_serial, done.last_serial, done.header.serial) == (65534, 1, 65534)
    assert first_serial_of(1, 4) == 65534


def test_a_request_for_a_wrapped_message_names_the_first_serial_before_the_wrap() -> None:
    reassembler = Reassembler(retransmit_after=10.0)
    reassembler.receive(packet(0, 4, 3), b"c", now=0.0)
    reassembler.receive(packet(1, 4, 4), b"d", now=0.0)

    [request] = reassembler.handle_timer(10.0)

    assert isinstance(request, RetransmissionRequested)
    assert (request.original_serial, request.packet_ids) == (65534, (1, 2))


@pytest.mark.parametrize(
    ("total", "index"),
    [(0, 0), (0, 1), (3, 0), (3, 4), (1, 2)],
    ids=["total-0-index-0", "total-0", "index-0", "index-past-total", "index-past-total-1"],
)
def test_an_impossible_packet_item_is_a_message_error_and_holds_nothing(
    total: int, index: int
) -> None:
    reassembler = Reassembler()
    header = packet(7, total, index)

    with pytest.raises(InconsistentPacketError) as raised:
        reassembler.receive(header, b"data", now=0.0)

    assert raised.value.result_code is ResultCode.MESSAGE_ERROR
    assert raised.value.header is header
    assert (reassembler.pending, reassembler.held_bytes, reassembler.stats.rejected) == (0, 0, 1)


def test_a_total_that_changes_within_one_message_is_refused_and_the_message_kept() -> None:
    reassembler = Reassembler()
    reassembler.receive(packet(10, 3, 1), b"a", now=0.0)
    held = reassembler.held_bytes

    with pytest.raises(InconsistentPacketError, match="says 4 packets") as raised:
        reassembler.receive(packet(11, 4, 2), b"b", now=1.0)

    assert raised.value.result_code is ResultCode.MESSAGE_ERROR
    assert (reassembler.pending, reassembler.held_bytes) == (1, held)
    reassembler.receive(packet(11, 3, 2), b"b", now=2.0)
    assert completed(reassembler.receive(packet(12, 3, 3), b"c", now=3.0)).data == b"abc"


def test_a_header_without_packet_item_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="no packet item"):
        Reassembler().receive(Header(0x0200, PHONE, 1), b"", now=0.0)


def test_receive_fragment_takes_only_fragment_bodies() -> None:
    message = Message(packet(1, 2, 1), RawBody(raw=b"x"))
    with pytest.raises(ValueError, match="Fragment"):
        Reassembler().receive_fragment(message, now=0.0)


def test_a_body_that_does_not_decode_is_reported_with_its_header_not_raised() -> None:
    # 0x0001 needs 5 bytes; the two packets carry 3.
    reassembler = Reassembler()
    reassembler.receive(packet(30, 2, 1, msg_id=0x0001), b"\x00\x01", now=0.0)

    done = completed(reassembler.receive(packet(31, 2, 2, msg_id=0x0001), b"\x81", now=0.0))

    assert done.message is None
    assert isinstance(done.error, TruncatedBodyError)
    assert isinstance(done.error, BodyError)
    assert done.error.result_code is ResultCode.MESSAGE_ERROR
    assert done.error.header == Header(0x0001, PHONE, 30, V2013)
    assert "reassembled body" in str(done.error)
    assert (done.data, done.serials) == (b"\x00\x01\x81", (30, 31))


def test_an_rsa_encrypted_message_stays_raw_after_reassembly() -> None:
    reassembler = Reassembler()
    reassembler.receive(packet(1, 2, 1, msg_id=0x0102, encryption=1), b"\xaa" * 3, now=0.0)

    done = completed(reassembler.receive(packet(2, 2, 2, msg_id=0x0102, encryption=1), b"\xbb", 0))

    assert done.message is not None
    assert done.message.body == RawBody(raw=b"\xaa\xaa\xaa\xbb")


def test_exactly_one_of_message_and_error_is_set() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        MessageReassembled(Header(1, PHONE, 0), b"", (0,), None, None)


# ---- bounds ----------------------------------------------------------------------------------


def test_a_total_above_max_total_is_refused_naming_the_limit() -> None:
    reassembler = Reassembler()  # max_total 4096

    with pytest.raises(ReassemblyLimitError, match="max_total=4096") as raised:
        reassembler.receive(packet(5, 65535, 3), b"x", now=0.0)

    assert raised.value.limit == "max_total"
    assert raised.value.result_code is ResultCode.FAILURE
    assert (reassembler.pending, reassembler.held_bytes) == (0, 0)


def test_a_packet_claiming_65535_packets_holds_only_its_own_bytes() -> None:
    reassembler = Reassembler(max_total=65535)

    reassembler.receive(packet(5, 65535, 3), b"0123456789", now=0.0)

    assert reassembler.held_bytes == 10 + PACKET_OVERHEAD


def test_a_packet_that_would_pass_max_bytes_is_refused_and_nothing_grows() -> None:
    reassembler = Reassembler(max_bytes=3000)
    reassembler.receive(packet(100, 3, 1), bytes(1023), now=0.0)
    reassembler.receive(packet(101, 3, 2), bytes(1023), now=0.0)
    held = reassembler.held_bytes
    assert held == 2 * (1023 + PACKET_OVERHEAD)

    with pytest.raises(ReassemblyLimitError, match="max_bytes=3000") as raised:
        reassembler.receive(packet(102, 3, 3), bytes(1023), now=0.0)

    assert raised.value.limit == "max_bytes"
    assert raised.value.header is not None and raised.value.header.serial == 102
    assert (reassembler.held_bytes, reassembler.pending, reassembler.stats.rejected) == (held, 1, 1)
    # A resend of a packet already held is still recognised (it costs nothing).
    assert reassembler.receive(packet(101, 3, 2), bytes(1023), now=0.0) is None
    assert reassembler.stats.duplicates == 1


def test_the_default_byte_bound_holds_a_two_megabyte_photo() -> None:
    photo = random.Random(808).randbytes(2_000_000)
    split = encode_split(Header(0x0801, PHONE, 0), photo, serials_from(0))
    reassembler = Reassembler()

    results = [reassembler.receive_fragment(decode_frame(f), now=0.0) for f in split.frames]

    assert completed(results[-1]).data == photo


def test_more_messages_at_once_than_max_partials_are_refused() -> None:
    reassembler = Reassembler(max_partials=2)
    reassembler.receive(packet(100, 2, 1), b"a", now=0.0)
    reassembler.receive(packet(200, 2, 1), b"b", now=0.0)

    with pytest.raises(ReassemblyLimitError, match="max_partials=2") as raised:
        reassembler.receive(packet(300, 2, 1), b"c", now=0.0)

    assert raised.value.limit == "max_partials"
    assert reassembler.pending == 2
    # Packets of messages already held are still taken.
    assert completed(reassembler.receive(packet(101, 2, 2), b"A", now=0.0)).data == b"aA"


# ---- deadlines -------------------------------------------------------------------------------


def test_missing_packets_are_requested_then_the_message_dropped_when_retries_run_out() -> None:
    reassembler = Reassembler(retransmit_after=10.0, max_retries=2, give_up_after=1000.0)
    reassembler.receive(packet(200, 5, 1), b"a", now=0.0)
    reassembler.receive(packet(202, 5, 3), b"c", now=1.0)

    assert reassembler.next_deadline() == 11.0
    assert reassembler.handle_timer(10.9) == []
    assert reassembler.handle_timer(11.0) == [
        RetransmissionRequested(
            msg_id=QUERY_PARAMETERS_RESPONSE,
            version=V2013,
            original_serial=200,
            packet_ids=(2, 4, 5),
            attempt=1,
        )
    ]
    assert reassembler.next_deadline() == 21.0
    [second] = reassembler.handle_timer(21.0)
    assert isinstance(second, RetransmissionRequested)
    assert (second.packet_ids, second.attempt) == ((2, 4, 5), 2)

    # A resent packet is progress: the request count starts again.
    reassembler.receive(packet(201, 5, 2), b"b", now=25.0)
    assert reassembler.next_deadline() == 35.0
    [third] = reassembler.handle_timer(35.0)
    assert isinstance(third, RetransmissionRequested)
    assert (third.packet_ids, third.attempt) == ((4, 5), 1)
    [fourth] = reassembler.handle_timer(45.0)
    assert isinstance(fourth, RetransmissionRequested)
    assert fourth.attempt == 2

    assert reassembler.handle_timer(55.0) == [
        PartialMessageDropped(
            msg_id=QUERY_PARAMETERS_RESPONSE,
            first_serial=200,
            total=5,
            received=3,
            held_bytes=3 + 3 * PACKET_OVERHEAD,
            age=55.0,
            reason=DropReason.RETRIES_EXHAUSTED,
        )
    ]
    assert (reassembler.pending, reassembler.held_bytes, reassembler.next_deadline()) == (
        0,
        0,
        None,
    )
    assert (reassembler.stats.retransmission_requests, reassembler.stats.dropped) == (4, 1)


def test_a_message_still_incomplete_at_the_absolute_deadline_is_dropped() -> None:
    reassembler = Reassembler(retransmit_after=10.0, max_retries=100, give_up_after=30.0)
    for index, now in ((1, 0.0), (2, 8.0), (3, 16.0), (4, 24.0)):
        reassembler.receive(packet(index, 9, index), b"x", now=now)

    assert reassembler.next_deadline() == 30.0  # before 24 + 10
    [dropped] = reassembler.handle_timer(30.0)

    assert isinstance(dropped, PartialMessageDropped)
    assert (dropped.reason, dropped.received, dropped.total, dropped.age) == (
        DropReason.DEADLINE,
        4,
        9,
        30.0,
    )


def test_no_retries_means_a_silent_message_is_dropped_at_the_first_deadline() -> None:
    reassembler = Reassembler(retransmit_after=5.0, max_retries=0)
    reassembler.receive(packet(1, 2, 1), b"x", now=0.0)

    [dropped] = reassembler.handle_timer(5.0)

    assert isinstance(dropped, PartialMessageDropped)
    assert dropped.reason is DropReason.RETRIES_EXHAUSTED


@pytest.mark.parametrize(
    ("version", "most_ids"), [(V2011, 255), (V2013, 255), (V2019, 509)], ids=str
)
def test_a_request_names_no_more_packets_than_one_0x8003_can_carry(
    version: ProtocolVersion, most_ids: int
) -> None:
    reassembler = Reassembler(max_total=4000, retransmit_after=1.0)
    reassembler.receive(packet(10, 4000, 1, version=version), b"x", now=0.0)

    [request] = reassembler.handle_timer(1.0)

    assert isinstance(request, RetransmissionRequested)
    assert request.packet_ids == tuple(range(2, 2 + most_ids))
    body = request.body()
    assert body == PlatformRetransmitRequest(
        original_serial=10, packet_ids=list(range(2, 2 + most_ids))
    )
    wire = encode_body(body, version)
    assert len(wire) <= 1023
    if version is not V2019:
        assert wire[2] == 255  # the count is a BYTE before 2019


def test_close_drops_every_partial_message_with_its_reason() -> None:
    reassembler = Reassembler()
    reassembler.receive(packet(1, 2, 1), b"x", now=0.0)
    reassembler.receive(packet(9, 3, 2), b"y", now=1.0)

    dropped = reassembler.close(now=4.0)

    assert [(d.first_serial, d.reason, d.age) for d in dropped] == [
        (1, DropReason.CLOSED, 4.0),
        (8, DropReason.CLOSED, 3.0),
    ]
    assert (reassembler.pending, reassembler.held_bytes) == (0, 0)


# ---- serial gaps (real terminals) -------------------------------------------------------------


def parameter_ids(body: bytes) -> list[int]:
    """The ids of a 0x0104 body walked by hand: reply serial WORD, count BYTE, id DWORD/len BYTE."""
    ids: list[int] = []
    position = 3
    while position < len(body):
        ids.append(int.from_bytes(body[position : position + 4], "big"))
        position += 5 + body[position + 4]
    assert position == len(body), "the parameter list must end exactly at the end of the body"
    return ids


@pytest.mark.parametrize("order", [("v175", "v176"), ("v176", "v175")], ids=["1-2", "2-1"])
def test_real_0x0104_sent_in_two_packets_with_a_serial_gap_is_reassembled(
    order: tuple[str, str],
) -> None:
    first, second = (real_packet(vector_id) for vector_id in order)
    reassembler = Reassembler()

    assert reassembler.receive_fragment(first, now=0.0) is None
    done = completed(reassembler.receive_fragment(second, now=1.0))

    assert done.serials == (0x04D1, 0x04E2)
    assert done.header.msg_id == QUERY_PARAMETERS_RESPONSE
    assert done.header.phone == "011275400381"
    assert done.error is None
    assert len(done.data) == 0x3F0 + 0xD3
    assert done.data[:3] == bytes.fromhex("00006b")  # reply serial 0, 0x6B parameters
    ids = parameter_ids(done.data)
    assert len(ids) == 0x6B
    assert {0xF364, 0xF365, 0xF373, 0xFF00} <= set(ids)
    assert reassembler.stats.gap_joins == 1


@pytest.mark.parametrize(("max_serial_gap", "joined"), [(0, False), (15, False), (16, True)])
def test_max_serial_gap_bounds_how_far_apart_joined_packets_may_be(
    max_serial_gap: int, joined: bool
) -> None:
    # The two 0x0104 packets are 17 serials apart: 16 more than consecutive packets.
    reassembler = Reassembler(max_serial_gap=max_serial_gap)

    reassembler.receive_fragment(real_packet("v175"), now=0.0)
    result = reassembler.receive_fragment(real_packet("v176"), now=0.0)

    assert (result is not None) is joined
    assert reassembler.pending == (0 if joined else 2)


def test_a_packet_that_could_join_two_messages_joins_neither() -> None:
    reassembler = Reassembler()
    reassembler.receive(packet(100, 3, 1), b"A1", now=0.0)
    reassembler.receive(packet(110, 3, 1), b"B1", now=0.0)

    assert reassembler.receive(packet(112, 3, 2), b"?2", now=0.0) is None

    assert (reassembler.pending, reassembler.stats.gap_joins) == (3, 0)


def test_a_packet_whose_serial_is_before_its_lower_neighbour_does_not_join() -> None:
    reassembler = Reassembler()
    reassembler.receive(packet(100, 3, 2), b"2", now=0.0)

    reassembler.receive(packet(98, 3, 3), b"3", now=0.0)  # index 3 sent before index 2?

    assert reassembler.pending == 2


JPEG_PACKETS = [f"v{number}" for number in range(179, 190)]  # v179 and v180 are the same frame


@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed"])
def test_real_0x0801_photo_in_ten_packets_with_serial_gaps_is_reassembled(reverse: bool) -> None:
    # The SmallChi capture's check codes do not match; its bodies are what is tested here.
    packets = [real_packet(vector_id, verify_checksum=False) for vector_id in JPEG_PACKETS]
    reassembler = Reassembler()

    results = [
        reassembler.receive_fragment(message, now=0.0)
        for message in (reversed(packets) if reverse else packets)
    ]

    [done] = [result for result in results if result is not None]
    # The frame sent twice is a duplicate, or (arriving last) a late resend of a done message.
    stats = reassembler.stats
    assert (stats.duplicates, stats.late_duplicates) == ((0, 1) if reverse else (1, 0))
    assert reassembler.pending == 0
    assert done.serials == (
        0x2031,
        0x2032,
        0x2033,
        0x2035,
        0x2036,
        0x2037,
        0x2039,
        0x203A,
        0x203B,
        0x203C,
    )
    assert done.data[:4] == bytes.fromhex("0000271d")  # multimedia id
    assert done.data[36:38] == b"\xff\xd8"  # JPEG start of image after the 36-byte preamble
    assert done.data[-2:] == b"\xff\xd9"  # ... and its end
    assert len(done.data) == sum(
        len(message.body.data) for message in packets[1:] if isinstance(message.body, Fragment)
    )


def test_a_resend_of_a_packet_that_joined_across_a_gap_is_a_duplicate() -> None:
    packets = [real_packet(vector_id, verify_checksum=False) for vector_id in JPEG_PACKETS[1:5]]
    reassembler = Reassembler()
    for message in packets:  # indexes 1 to 4; 4 (serial 0x2035) follows 3 (0x2033)
        reassembler.receive_fragment(message, now=0.0)
    assert reassembler.stats.gap_joins == 1

    assert reassembler.receive_fragment(packets[3], now=1.0) is None

    assert (reassembler.pending, reassembler.stats.duplicates) == (1, 1)


def test_real_0x1205_in_two_consecutive_packets_is_reassembled() -> None:
    reassembler = Reassembler()
    reassembler.receive_fragment(real_packet("v177"), now=0.0)

    done = completed(reassembler.receive_fragment(real_packet("v178"), now=0.0))

    assert done.serials == (0x00EB, 0x00EC)
    assert done.data[:2] == bytes.fromhex("015a")  # reply serial
    count = int.from_bytes(done.data[2:6], "big")
    assert count == 35
    assert len(done.data) == 6 + count * 28  # JT/T 1078 resource items are 28 bytes
    assert reassembler.stats.gap_joins == 0


# ---- split / reassemble round trip -----------------------------------------------------------


@given(
    body=st.integers(min_value=0, max_value=10_000).flatmap(
        lambda size: st.binary(min_size=size, max_size=size)
    ),
    max_size=st.integers(min_value=64, max_value=1023),
    first_serial=st.integers(min_value=0, max_value=0xFFFF),
    version=st.sampled_from([V2011, V2013, V2019]),
    shuffler=st.randoms(use_true_random=False),
    resends=st.lists(st.integers(min_value=0, max_value=200), max_size=5),
)
def test_any_body_split_then_received_in_any_order_comes_back_whole(
    *,
    body: bytes,
    max_size: int,
    first_serial: int,
    version: ProtocolVersion,
    shuffler: random.Random,
    resends: list[int],
) -> None:
    template = Header(VENDOR_ID, PHONE, 0, version)
    split = encode_split(template, body, serials_from(first_serial), max_size=max_size)
    messages = [decode_frame(frame, version_hint=version) for frame in split.frames]
    expected_serials = tuple((first_serial + n) % 0x10000 for n in range(split.total))
    assert split.serials == expected_serials

    if len(body) <= max_size:
        [message] = messages
        assert message.header.packet is None
        assert message.body == RawBody(raw=body)
        return

    assert [m.header.packet for m in messages] == [
        PacketInfo(split.total, index) for index in range(1, split.total + 1)
    ]
    arrivals = list(messages)
    shuffler.shuffle(arrivals)
    last = arrivals.pop()  # held back: the message completes only with it
    arrivals += [
        messages[n % len(messages)] for n in resends if messages[n % len(messages)] != last
    ]
    reassembler = Reassembler()

    assert [reassembler.receive_fragment(m, now=0.0) for m in arrivals] == [None] * len(arrivals)
    done = completed(reassembler.receive_fragment(last, now=0.0))

    assert done.data == body
    assert done.serials == expected_serials
    assert done.header == dataclasses.replace(messages[0].header, packet=None)
    assert (done.header.serial, done.header.version) == (first_serial, version)
    assert done.message is not None and done.message.body == RawBody(raw=body)
    assert (reassembler.pending, reassembler.held_bytes) == (0, 0)


# --------------------------------------------------------------------------------------------
# Splitting


@pytest.mark.parametrize(
    ("size", "slices"),
    [
        (0, [0]),
        (1, [1]),
        (1023, [1023]),
        (1024, [1023, 1]),
        (2046, [1023, 1023]),
        (2047, [1023, 1023, 1]),
    ],
)
def test_split_body_cuts_1023_byte_slices_and_keeps_a_fitting_body_whole(
    size: int, slices: list[int]
) -> None:
    data = bytes(n % 251 for n in range(size))

    pieces = split_body(data)

    assert [len(piece) for piece in pieces] == slices
    assert b"".join(pieces) == data


@pytest.mark.parametrize("max_size", [0, 1024])
def test_split_body_refuses_a_slice_size_the_length_field_cannot_carry(max_size: int) -> None:
    with pytest.raises(ValueError, match="max_size"):
        split_body(b"abc", max_size)


def reference_checksum(data: bytes) -> int:
    return reduce(xor, data, 0)


def frame_hex(packet_hex: str) -> str:
    raw = bytes.fromhex(packet_hex)
    return (raw + bytes([reference_checksum(raw)])).hex().join(["7e", "7e"])


def test_encode_split_golden_frames_carry_the_packet_item_and_consecutive_serials() -> None:
    template = Header(0x8103, PHONE, serial=999, packet=PacketInfo(9, 9))  # both replaced

    split = encode_split(template, bytes.fromhex("010203"), serials_from(0x0001), max_size=2)

    # id 8103 | props 0x2000 + length | phone | serial | total | index | body
    assert [frame.hex() for frame in split.frames] == [
        frame_hex("810320020139123456780001000200010102"),
        frame_hex("8103200101391234567800020002000203"),
    ]
    assert (split.msg_id, split.serials, split.first_serial, split.total) == (
        0x8103,
        (1, 2),
        1,
        2,
    )


def test_encode_split_sends_a_fitting_body_as_one_frame_without_packet_item() -> None:
    split = encode_split(
        Header(0x8103, PHONE, 0, packet=PacketInfo(2, 1)), b"\x01", serials_from(5)
    )

    assert [frame.hex() for frame in split.frames] == [frame_hex("81030001013912345678000501")]


def test_encode_split_serials_wrap_past_65535() -> None:
    split = encode_split(Header(0x8108, PHONE, 0), bytes(2500), serials_from(65535))

    assert split.serials == (65535, 0, 1)
    assert [decode_frame(frame).header.serial for frame in split.frames] == [65535, 0, 1]


def test_encode_split_refuses_serials_that_are_not_consecutive() -> None:
    jumpy = iter([10, 12])
    with pytest.raises(EncodeError, match="consecutive"):
        encode_split(Header(0x8108, PHONE, 0), bytes(2000), lambda: next(jumpy))


def test_encode_split_refuses_more_than_65535_packets_before_taking_a_serial() -> None:
    def no_serial() -> int:
        raise AssertionError("no serial should be taken")

    with pytest.raises(EncodeError, match="65535"):
        encode_split(Header(0x8108, PHONE, 0), bytes(65536), no_serial, max_size=1)


# --------------------------------------------------------------------------------------------
# What we sent, for the terminal's 0x0005


def sent(first_serial: int, size: int = 3000, *, msg_id: int = 0x8108) -> SplitMessage:
    template = Header(msg_id, PHONE, 0, V2019, 1)
    return encode_split(template, bytes(n % 256 for n in range(size)), serials_from(first_serial))


def test_a_0x0005_request_is_answered_with_the_identical_packets() -> None:
    upgrade = sent(40)
    cache = SentCache()
    assert cache.add(upgrade)
    wire = encode(
        Header(0x0005, "17299841738", 7, V2019, 1),
        TerminalRetransmitRequest(original_serial=40, packet_ids=[3, 1]),
    )
    request = decode_frame(wire).body
    assert isinstance(request, TerminalRetransmitRequest)

    frames = cache.resend(request.original_serial, request.packet_ids)

    assert frames == [upgrade.frames[2], upgrade.frames[0]]
    assert [
        (decode_frame(frame).header.serial, decode_frame(frame).header.packet) for frame in frames
    ] == [(42, PacketInfo(3, 3)), (40, PacketInfo(3, 1))]
    assert cache.stats.resent_packets == 2


def test_a_request_skips_unknown_and_repeated_packet_ids() -> None:
    cache = SentCache()
    upgrade = sent(40)
    cache.add(upgrade)

    assert cache.resend(40, [0, 2, 2, 4, 65535]) == [upgrade.frames[1]]
    assert cache.resend(40, []) == []


def test_a_request_for_a_message_not_held_gets_none() -> None:
    cache = SentCache()

    assert cache.resend(40, [1]) is None
    assert cache.stats.unknown_requests == 1


def test_the_sent_cache_evicts_the_oldest_message_past_max_messages() -> None:
    cache = SentCache(max_messages=2)
    for first in (100, 200, 300):
        cache.add(sent(first))

    assert (cache.get(100), len(cache), cache.stats.evicted) == (None, 2, 1)
    assert cache.get(200) is not None and cache.get(300) is not None


def test_the_sent_cache_evicts_the_oldest_messages_past_max_bytes() -> None:
    small, large = sent(100, 2000), sent(200, 2000)
    cache = SentCache(max_bytes=small.size + large.size + 10)
    cache.add(small)
    cache.add(large)

    cache.add(sent(300, 2000))

    assert cache.get(100) is None
    assert cache.held_bytes == large.size + sent(300, 2000).size
    assert cache.stats.evicted == 1


def test_the_sent_cache_keeps_neither_single_frames_nor_messages_larger_than_itself() -> None:
    cache = SentCache(max_bytes=4000)

    assert not cache.add(sent(1, 10))  # one frame: 0x0005 cannot ask for it
    assert not cache.add(sent(2, 5000))

    assert (len(cache), cache.held_bytes, cache.stats.too_large) == (0, 0, 1)


def test_a_message_reusing_a_first_serial_replaces_the_old_one() -> None:
    cache = SentCache()
    old, new = sent(7, 2000), sent(7, 3000)
    cache.add(old)

    cache.add(new)

    assert cache.get(7) is new
    assert (len(cache), cache.held_bytes) == (1, new.size)
    cache.discard(7)
    assert (len(cache), cache.held_bytes) == (0, 0)
