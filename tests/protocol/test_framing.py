"""Framing (JT/T 808-2019 §4.4.1-§4.4.2): 0x7E delimiters, 0x7D escaping, the XOR check code.

The frame decoder is tested the way h11 tests its readers: the whole input at once, one byte at a
time, in random chunkings, and with trailing bytes left over. Garbage, damage and oversized runs
cost only themselves: the next good frame always comes out.
"""

from __future__ import annotations

from functools import reduce
from itertools import pairwise
from operator import xor
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.errors import (
    FramingError,
    GarbageError,
    ProtocolError,
    ResultCode,
)
from gateway.protocol.framing import (
    MAX_FRAME_LENGTH,
    MAX_PACKET_LENGTH,
    NEED_DATA,
    FrameDecoder,
    NeedData,
    checksum,
    encode_frame,
    escape,
    split_frame,
    unescape,
)
from gateway.protocol.message import decode_packet

from .real_frames import real_frames, real_frames_by_id

VECTORS: list[dict[str, Any]] = real_frames()

Event = bytes | FramingError


def vector(vector_id: str) -> dict[str, Any]:
    return real_frames_by_id()[vector_id]


def wire_bytes(hex_text: str) -> bytes:
    """The bytes of a vector's hex; an odd trailing nibble is dropped (as Go's decoder does)."""
    return bytes.fromhex(hex_text[: len(hex_text) // 2 * 2])


def reference_checksum(data: bytes) -> int:
    """The check code as the standard words it: XOR of every byte, one at a time."""
    return reduce(xor, data, 0)


def feed_chunks(decoder: FrameDecoder, chunks: list[bytes]) -> list[Event]:
    events: list[Event] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


def one_byte_at_a_time(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def summary(events: list[Event]) -> list[tuple[str, object]]:
    """Events as comparable values: packets by content, errors by type and stream offset."""
    return [("packet", e) if isinstance(e, bytes) else (type(e).__name__, e.offset) for e in events]


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    if len(data) < 2:
        return [data]
    cuts = draw(st.lists(st.integers(1, len(data) - 1), max_size=12))
    return split_at(data, cuts)


packets = st.binary(max_size=60)
#: Pieces of streams that exercise every branch of the decoder: delimiters, valid and invalid
#: escapes, plain data, and (one piece in eleven) a run long enough to pass the small
#: ``max_frame_length`` the stream tests use.
STREAM_PIECES = [b"\x7e", b"\x7e", b"\x7d", b"\x01", b"\x02", b"\x03", b"\x55", b"\x55"]
STREAM_PIECES += [b"\x7d\x01", b"\x7d\x02"]
stream_bytes = st.lists(
    st.integers(0, len(STREAM_PIECES)).flatmap(
        lambda i: (
            st.just(STREAM_PIECES[i])
            if i < len(STREAM_PIECES)
            else st.integers(1, 40).map(lambda n: b"\x55" * n)
        )
    ),
    max_size=60,
).map(b"".join)


# --------------------------------------------------------------------------------------------
# Escaping


def test_escape_of_the_standards_example() -> None:
    # §4.4.2: content 30 7E 08 7D 55 is sent as 7E 30 7D 02 08 7D 01 55 7E.
    assert escape(bytes.fromhex("307e087d55")) == bytes.fromhex("307d02087d0155")


def test_unescape_of_the_standards_example() -> None:
    assert unescape(bytes.fromhex("307d02087d0155")) == bytes.fromhex("307e087d55")


def test_decoder_turns_the_standards_example_back_into_its_content() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(bytes.fromhex("7e307d02087d01557e")) == [bytes.fromhex("307e087d55")]


def test_escape_escapes_7d_before_7e_so_no_byte_is_escaped_twice() -> None:
    assert escape(b"\x7e") == b"\x7d\x02"
    assert escape(b"\x7d") == b"\x7d\x01"
    # A literal 7D 02 in the content is 7D 01 02, not 7D 02 (which would read back as 7E).
    assert escape(b"\x7d\x02") == b"\x7d\x01\x02"
    assert escape(b"\x7e\x7d") == b"\x7d\x02\x7d\x01"


def test_escape_leaves_bytes_without_7d_or_7e_alone() -> None:
    data = bytes(b for b in range(256) if b not in (0x7D, 0x7E))
    assert escape(data) == data
    assert unescape(data) == data


@given(packets)
def test_escaped_bytes_have_no_delimiter_and_only_valid_escapes(data: bytes) -> None:
    escaped = escape(data)
    assert 0x7E not in escaped
    for i, byte in enumerate(escaped):
        if byte == 0x7D:
            assert escaped[i + 1 : i + 2] in (b"\x01", b"\x02")
    assert len(escaped) == len(data) + data.count(0x7D) + data.count(0x7E)


@given(packets)
def test_unescape_undoes_escape(data: bytes) -> None:
    assert unescape(escape(data)) == data


def test_unescape_accepts_a_bytearray() -> None:
    assert unescape(bytearray(b"\x7d\x02\x7d\x01")) == b"\x7e\x7d"


@pytest.mark.parametrize(
    ("escaped", "bad_at"),
    [
        ("7d03", 0),
        ("307d00", 1),
        ("307d7d01", 1),  # 7D 7D: the first 7D is followed by another 7D
        ("7d01307d0455", 3),  # the first escape is valid, the second is not
        ("7d027d01307dff", 5),
        ("307d", 1),  # a trailing 7D has nothing after it
        ("7d", 0),
        ("7d017d", 2),
    ],
)
def test_invalid_escape_is_a_framing_error_at_the_7d(escaped: str, bad_at: int) -> None:
    with pytest.raises(FramingError) as caught:
        unescape(bytes.fromhex(escaped))
    assert caught.value.offset == bad_at


def test_invalid_escape_offset_counts_from_the_given_stream_offset() -> None:
    with pytest.raises(FramingError) as caught:
        unescape(bytes.fromhex("30317d05"), offset=100)
    assert caught.value.offset == 102


def test_framing_errors_answer_message_error() -> None:
    error = FramingError("bad escape", offset=3)
    assert isinstance(error, ProtocolError)
    assert error.result_code is ResultCode.MESSAGE_ERROR
    assert "at byte 3" in str(error)


# --------------------------------------------------------------------------------------------
# Check code


def test_checksum_of_nothing_is_zero() -> None:
    assert checksum(b"") == 0


def test_checksum_of_a_real_heartbeat() -> None:
    # Reference §8.5: 2013 heartbeat, phone 013912345678, serial 0x7E7D, check code 0x31.
    assert checksum(bytes.fromhex("000200000139123456787e7d")) == 0x31


@given(st.binary(max_size=MAX_PACKET_LENGTH))
def test_checksum_is_the_xor_of_every_byte(data: bytes) -> None:
    assert checksum(data) == reference_checksum(data)


# Sizes where the big-integer fold changes shape: 64 bytes (one fold round), powers of two, and
# the largest packet (2019 header with sub-package fields + 1023-byte body + check code).
FOLD_SIZES = [1, 2, 7, 8, 9, 31, 32, 33, 63, 64, 65, 66, 127, 128, 129, 255, 256, 257, 511, 512]
FOLD_SIZES += [513, 1023, 1024, 1025, 1044, MAX_PACKET_LENGTH]


@given(st.sampled_from(FOLD_SIZES).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
def test_checksum_is_the_xor_of_every_byte_at_fold_boundaries(data: bytes) -> None:
    assert checksum(data) == reference_checksum(data)


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_checksum_sees_a_single_byte_anywhere_in_packets_of_every_size(position: str) -> None:
    for size in range(1, MAX_PACKET_LENGTH + 1):
        data = bytearray(size)
        index = {"first": 0, "middle": size // 2, "last": size - 1}[position]
        data[index] = 0xA5
        assert checksum(bytes(data)) == 0xA5, size


def test_checksum_of_all_ones_bytes_of_every_size() -> None:
    for size in range(MAX_PACKET_LENGTH + 1):
        assert checksum(b"\xff" * size) == (0xFF if size % 2 else 0), size


def test_checksum_accepts_bytearray_and_memoryview() -> None:
    data = bytes(range(100))
    expected = reference_checksum(data)
    assert checksum(bytearray(data)) == expected
    assert checksum(memoryview(data)) == expected


def test_checksum_is_the_xor_of_every_byte_beyond_the_largest_frame() -> None:
    # Sub-package reassembly and tools may checksum more than one frame's worth.
    for size in (2047, 2048, 2049, 4095, 4096, 4097, 10_000):
        assert checksum(b"\x01" * size) == size % 2, size
        assert checksum(b"\x5a" + bytes(size - 1)) == 0x5A, size


@given(st.binary(min_size=MAX_PACKET_LENGTH, max_size=5000))
def test_checksum_of_long_data_is_the_xor_of_every_byte(data: bytes) -> None:
    assert checksum(data) == reference_checksum(data)


# --------------------------------------------------------------------------------------------
# Encoding a frame


def test_encode_frame_of_the_reference_heartbeat() -> None:
    # Reference §8.5: serial 7E 7D is escaped, the check code 0x31 is appended.
    packet = bytes.fromhex("000200000139123456787e7d")
    assert encode_frame(packet) == bytes.fromhex("7e000200000139123456787d027d01317e")


def test_encode_frame_escapes_a_check_code_of_7e() -> None:
    # Reference §8.2: the 2019 0x8001 reply whose check code is 0x7E, sent as 7D 02.
    packet = bytes.fromhex("8001400501000008664960775821640000881d070400")
    assert checksum(packet) == 0x7E
    expected = "7e8001400501000008664960775821640000881d0704007d027e"
    assert encode_frame(packet) == bytes.fromhex(expected)


@given(packets)
def test_encode_frame_is_delimited_escaped_packet_plus_check_code(packet: bytes) -> None:
    frame = encode_frame(packet)
    assert frame[0] == frame[-1] == 0x7E
    assert 0x7E not in frame[1:-1]
    assert unescape(frame[1:-1]) == packet + bytes((reference_checksum(packet),))


@given(packets)
def test_a_decoded_frame_has_a_zero_xor(packet: bytes) -> None:
    (decoded,) = FrameDecoder().feed(encode_frame(packet))
    assert isinstance(decoded, bytes)
    assert checksum(decoded) == 0


def test_split_frame_takes_a_frame_with_or_without_delimiters() -> None:
    assert split_frame(bytes.fromhex("7e307d02087d01557e")) == bytes.fromhex("307e087d55")
    assert split_frame(bytes.fromhex("307d02087d0155")) == bytes.fromhex("307e087d55")


def test_split_frame_rejects_two_frames() -> None:
    with pytest.raises(FramingError) as caught:
        split_frame(bytes.fromhex("7e01027e7e03047e"))
    assert caught.value.offset == 3


def test_split_frame_names_the_wire_offset_of_a_bad_escape() -> None:
    # v237 (go-jt808): 7D 03 is not an escape.
    with pytest.raises(FramingError) as caught:
        split_frame(wire_bytes(vector("v237")["hex"]))
    assert caught.value.offset == 3


# --------------------------------------------------------------------------------------------
# Decoding a stream: whole, byte by byte, random chunks, leftovers


def test_need_data_is_a_singleton_sentinel() -> None:
    assert NeedData() is NEED_DATA
    assert repr(NEED_DATA) == "NEED_DATA"


def test_a_new_decoder_needs_data() -> None:
    decoder = FrameDecoder()
    assert decoder.next_event() is NEED_DATA
    assert decoder.buffered == 0


def test_receive_data_only_buffers() -> None:
    decoder = FrameDecoder()
    frame = encode_frame(b"\x01\x02")
    decoder.receive_data(frame)
    assert decoder.buffered == len(frame)
    assert decoder.next_event() == b"\x01\x02\x03"
    assert decoder.next_event() is NEED_DATA
    assert decoder.buffered == 0


@given(st.lists(packets, max_size=8))
def test_frames_fed_at_once_come_out_in_order(frames: list[bytes]) -> None:
    decoder = FrameDecoder()
    stream = b"".join(encode_frame(p) for p in frames)
    assert decoder.feed(stream) == [p + bytes((reference_checksum(p),)) for p in frames]
    assert decoder.buffered == 0


@given(st.lists(packets, max_size=4))
def test_frames_fed_one_byte_at_a_time_come_out_in_order(frames: list[bytes]) -> None:
    decoder = FrameDecoder()
    stream = b"".join(encode_frame(p) for p in frames)
    events = feed_chunks(decoder, one_byte_at_a_time(stream))
    assert events == [p + bytes((reference_checksum(p),)) for p in frames]
    assert decoder.buffered == 0


@given(st.data(), st.lists(packets, max_size=8))
def test_frames_fed_in_random_chunks_come_out_in_order(
    data: st.DataObject, frames: list[bytes]
) -> None:
    stream = b"".join(encode_frame(p) for p in frames)
    chunks = data.draw(chunkings(stream))
    decoder = FrameDecoder()
    assert feed_chunks(decoder, chunks) == [p + bytes((reference_checksum(p),)) for p in frames]


@given(st.data(), st.lists(packets, max_size=4), packets)
def test_a_trailing_partial_frame_waits_for_its_end(
    data: st.DataObject, frames: list[bytes], last: bytes
) -> None:
    complete = b"".join(encode_frame(p) for p in frames)
    tail = encode_frame(last)
    cut = data.draw(st.integers(1, len(tail) - 1))
    decoder = FrameDecoder()
    events = feed_chunks(decoder, data.draw(chunkings(complete + tail[:cut])))
    assert events == [p + bytes((reference_checksum(p),)) for p in frames]
    assert decoder.next_event() is NEED_DATA
    # Everything after the opening delimiter of the last frame is held, nothing else.
    assert decoder.buffered == cut - 1
    assert decoder.feed(tail[cut:]) == [last + bytes((reference_checksum(last),))]
    assert decoder.buffered == 0


def test_back_to_back_frames_share_nothing_but_their_delimiters() -> None:
    stream = bytes.fromhex("7e01027e7e03047e")
    assert FrameDecoder().feed(stream) == [b"\x01\x02", b"\x03\x04"]


def test_frames_sharing_one_delimiter_both_come_out() -> None:
    # 7E A 7E B 7E: every 0x7E is a boundary, so the shared delimiter separates the two.
    assert FrameDecoder().feed(bytes.fromhex("7e01027e03047e")) == [b"\x01\x02", b"\x03\x04"]


def test_empty_frames_are_ignored() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x7e\x7e\x7e\x7e") == []
    assert decoder.feed(b"\x7e\x01\x7e\x7e\x7e\x7e\x02\x7e\x7e") == [b"\x01", b"\x02"]
    assert decoder.buffered == 0


@given(stream_bytes.map(lambda s: b"\x7e" + s), st.data())
def test_chunking_never_changes_the_events(stream: bytes, data: st.DataObject) -> None:
    whole = FrameDecoder(max_frame_length=24)
    expected = summary(whole.feed(stream))
    chunked = FrameDecoder(max_frame_length=24)
    assert summary(feed_chunks(chunked, data.draw(chunkings(stream)))) == expected
    assert chunked.buffered == whole.buffered
    bytewise = FrameDecoder(max_frame_length=24)
    assert summary(feed_chunks(bytewise, one_byte_at_a_time(stream))) == expected
    assert bytewise.buffered == whole.buffered


@given(stream_bytes, st.data())
def test_chunking_never_changes_the_events_even_after_leading_garbage(
    stream: bytes, data: st.DataObject
) -> None:
    expected = summary(FrameDecoder(max_frame_length=24).feed(stream))
    chunked = feed_chunks(FrameDecoder(max_frame_length=24), data.draw(chunkings(stream)))
    assert summary(chunked) == expected
    garbage = [e for e in chunked if isinstance(e, GarbageError)]
    if stream and stream[0] != 0x7E:
        assert [e.offset for e in garbage] == [0]
    else:
        assert not garbage


@given(stream_bytes, st.data())
def test_the_decoder_never_raises_and_returns_only_packets_or_framing_errors(
    stream: bytes, data: st.DataObject
) -> None:
    decoder = FrameDecoder(max_frame_length=16)
    for event in feed_chunks(decoder, data.draw(chunkings(stream))):
        assert isinstance(event, bytes | FramingError)
        if isinstance(event, bytes):
            assert event  # empty frames are never events


# --------------------------------------------------------------------------------------------
# Garbage, damage and resynchronisation


def test_garbage_before_the_first_delimiter_is_reported_then_the_frame_comes_out() -> None:
    decoder = FrameDecoder()
    events = decoder.feed(b"GET / HTTP/1.1\r\n" + encode_frame(b"\x01\x02"))
    assert summary(events) == [("GarbageError", 0), ("packet", b"\x01\x02\x03")]
    assert isinstance(events[0], GarbageError)
    assert "16 bytes" in str(events[0])


def test_garbage_without_any_delimiter_is_dropped_not_buffered() -> None:
    decoder = FrameDecoder()
    events = decoder.feed(b"\x00" * 5000)
    assert summary(events) == [("GarbageError", 0)]
    assert decoder.buffered == 0
    assert decoder.feed(encode_frame(b"\x01")) == [b"\x01\x01"]


def test_offsets_after_garbage_are_stream_offsets() -> None:
    decoder = FrameDecoder()
    assert summary(decoder.feed(b"abc")) == [("GarbageError", 0)]
    # a b c d e 7E 30 7D 03 7E: the bad escape is stream byte 7.
    assert summary(decoder.feed(b"de\x7e\x30\x7d\x03\x7e")) == [("FramingError", 7)]


def test_garbage_before_the_first_delimiter_is_reported_once_however_it_is_chunked() -> None:
    decoder = FrameDecoder()
    events = feed_chunks(decoder, one_byte_at_a_time(b"junk" + encode_frame(b"\x01")))
    assert summary(events) == [("GarbageError", 0), ("packet", b"\x01\x01")]


def test_garbage_between_frames_is_a_candidate_of_its_own_and_costs_only_itself() -> None:
    first, second = encode_frame(b"\x00\x02" + bytes(10)), encode_frame(b"\x00\x03" + bytes(10))
    events = FrameDecoder().feed(first + b"\x13\x37junk" + second)
    assert events == [first[1:-1], b"\x13\x37junk", second[1:-1]]
    # The garbage candidate is rejected when it is parsed as a packet.
    with pytest.raises(ProtocolError):
        decode_packet(b"\x13\x37junk")


def test_a_truncated_frame_followed_by_a_good_one_still_yields_the_good_one() -> None:
    good = encode_frame(bytes.fromhex("000200000139123456787e7d"))
    truncated = good[:9]  # opening delimiter and 8 bytes, then the sender restarted
    events = FrameDecoder().feed(truncated + good)
    assert events == [truncated[1:], unescape(good[1:-1])]


def test_a_frame_with_a_bad_escape_is_an_error_and_the_next_frame_still_decodes() -> None:
    good = encode_frame(b"\x01\x02\x03")
    events = FrameDecoder().feed(good + b"\x7e\x30\x7d\x03\x7e" + good)
    bad_escape_at = len(good) + 2
    assert summary(events) == [
        ("packet", b"\x01\x02\x03\x00"),
        ("FramingError", bad_escape_at),
        ("packet", b"\x01\x02\x03\x00"),
    ]


def test_a_trailing_7d_before_the_delimiter_is_a_framing_error_at_the_7d() -> None:
    # v228 (go-jt808): the sender did not escape a check code of 0x7D. We reject it: a bare 7D
    # cannot be told from damage, and the checksum would be the only other guard.
    wire = wire_bytes(vector("v228")["hex"])
    events = FrameDecoder().feed(wire)
    assert summary(events) == [("FramingError", len(wire) - 2)]


# --------------------------------------------------------------------------------------------
# Size limits


def test_max_frame_length_is_the_fully_escaped_largest_packet() -> None:
    # 2019 header with sub-package fields (21) + 1023-byte body + check code, each byte doubled.
    assert MAX_PACKET_LENGTH == 21 + 1023 + 1
    assert MAX_FRAME_LENGTH == 2 * MAX_PACKET_LENGTH + 2 == 2092


def test_a_largest_escaped_frame_passes_the_default_limit() -> None:
    run = b"\x7d\x01" * MAX_PACKET_LENGTH  # 2090 bytes: every unescaped byte is a 0x7D
    assert FrameDecoder().feed(b"\x7e" + run + b"\x7e") == [b"\x7d" * MAX_PACKET_LENGTH]


def test_one_byte_more_than_the_largest_frame_is_too_large() -> None:
    events = FrameDecoder().feed(b"\x7e" + b"\x55" * (MAX_FRAME_LENGTH - 1) + b"\x7e")
    assert summary(events) == [("FrameTooLargeError", 1)]


@pytest.mark.parametrize("feeding", ["whole", "bytewise"])
def test_custom_max_frame_length_counts_both_delimiters(feeding: str) -> None:
    stream = b"\x7e" + b"\x55" * 8 + b"\x7e" + b"\x7e" + b"\x55" * 9 + b"\x7e"
    decoder = FrameDecoder(max_frame_length=10)
    chunks = [stream] if feeding == "whole" else one_byte_at_a_time(stream)
    assert summary(feed_chunks(decoder, chunks)) == [
        ("packet", b"\x55" * 8),
        ("FrameTooLargeError", 11),
    ]


def test_max_frame_length_must_leave_room_for_one_byte() -> None:
    with pytest.raises(ValueError, match="max_frame_length"):
        FrameDecoder(max_frame_length=2)
    assert FrameDecoder(max_frame_length=3).feed(b"\x7e\x01\x7e") == [b"\x01"]


def test_an_oversized_run_is_reported_once_and_never_buffered() -> None:
    decoder = FrameDecoder(max_frame_length=64)
    events = decoder.feed(b"\x7e")
    chunk = b"\x55" * 7
    for _ in range(200):  # 1400 bytes without a delimiter
        decoder.receive_data(chunk)
        assert decoder.buffered <= 64 + len(chunk)
        while (event := decoder.next_event()) is not NEED_DATA:
            assert isinstance(event, bytes | FramingError)
            events.append(event)
        assert decoder.buffered <= 64
    assert summary(events) == [("FrameTooLargeError", 1)]
    # The rest of the run up to the next delimiter is dropped; the next frame decodes.
    assert decoder.feed(b"\x55\x55\x7e" + encode_frame(b"\x01\x02")) == [b"\x01\x02\x03"]


def test_an_oversized_run_costs_only_itself_in_a_real_stream() -> None:
    good = encode_frame(bytes.fromhex("000200000139123456787e7d"))
    stream = good + b"\x7e" + b"\x00" * 5000 + good
    decoder = FrameDecoder()
    assert summary(decoder.feed(stream)) == [
        ("packet", unescape(good[1:-1])),
        ("FrameTooLargeError", len(good) + 1),
        ("packet", unescape(good[1:-1])),
    ]


@given(stream_bytes, st.data())
def test_buffered_never_exceeds_the_max_frame_length_plus_the_last_chunk(
    stream: bytes, data: st.DataObject
) -> None:
    decoder = FrameDecoder(max_frame_length=16)
    for chunk in data.draw(chunkings(stream * 4)):
        decoder.receive_data(chunk)
        assert decoder.buffered <= 16 + len(chunk)
        while decoder.next_event() is not NEED_DATA:
            pass
        assert decoder.buffered <= 16


# --------------------------------------------------------------------------------------------
# Real frames from the vectors


def test_every_real_frame_of_the_vectors_splits_back_out_of_one_stream() -> None:
    frames = [wire_bytes(v["hex"]) for v in VECTORS if v["kind"] == "frame"]
    expected = []
    for frame in frames:
        try:
            expected.append(unescape(frame[1:-1]))
        except FramingError:
            continue
    events = FrameDecoder().feed(b"".join(frames))
    assert [e for e in events if isinstance(e, bytes)] == expected


@pytest.mark.parametrize("vector_id", ["v240", "v241"])
def test_real_stream_vector(vector_id: str) -> None:
    v = vector(vector_id)
    stream = wire_bytes(v["hex"])
    expected_frames = [unescape(wire_bytes(f)[1:-1]) for f in v["expect"]["frames"]]
    for chunks in ([stream], one_byte_at_a_time(stream)):
        decoder = FrameDecoder()
        assert feed_chunks(decoder, chunks) == expected_frames
        # go-jt808 counts the opening 0x7E of the pending frame; we have consumed it.
        pending = v["expect"]["pending_bytes"]
        assert decoder.buffered == max(pending - 1, 0)


def test_real_stream_with_a_corrupt_middle_frame_still_yields_the_frame_after_it() -> None:
    # v243 (go-jt808): go stops at the corrupt frame with 15 bytes pending. Here the corrupt
    # frame is its own candidate, rejected by the header parser, and the third frame decodes.
    v = vector("v243")
    stream = wire_bytes(v["hex"])
    events = FrameDecoder().feed(stream)
    (first,) = v["expect"]["frames_before_error"]
    assert len(events) == 3
    assert events[0] == unescape(wire_bytes(first)[1:-1])
    corrupt, last = events[1], events[2]
    assert isinstance(corrupt, bytes)
    assert isinstance(last, bytes)
    with pytest.raises(ProtocolError):
        decode_packet(corrupt)
    assert decode_packet(last).header.serial == 0x7FFF


def test_real_incomplete_frame_is_held_until_its_end() -> None:
    # v229 (go-jt808): a frame with no end flag.
    decoder = FrameDecoder()
    stream = wire_bytes(vector("v229")["hex"])
    assert decoder.feed(stream) == []
    assert decoder.buffered == len(stream) - 1


def test_real_escape_only_vector_unescapes() -> None:
    v = vector("v238")
    wire = wire_bytes(v["hex"])
    assert FrameDecoder().feed(wire) == [bytes.fromhex(v["expect"]["unescaped_inner"])]
    assert split_frame(wire) == bytes.fromhex(v["expect"]["unescaped_inner"])


def test_real_escape_only_vector_escapes() -> None:
    v = vector("v239")
    inner = bytes.fromhex(v["expect"]["escaped_from_inner"])
    assert b"\x7e" + escape(inner) + b"\x7e" == wire_bytes(v["hex"])
    assert FrameDecoder().feed(wire_bytes(v["hex"])) == [inner]
