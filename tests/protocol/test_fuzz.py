"""Fuzzing the decoders: whatever the bytes, the result is frames, messages or typed errors.

Inputs are random bytes and real frames (the vectors) damaged the way links damage them: bit
flips, truncation, inserted and deleted bytes, stray 0x7D/0x7E. They go through the stream
decoder in any chunking and through ``decode_packet``/``decode_body``. The properties:

* ``FrameDecoder`` only yields packets (bytes) and ``FramingError`` events, never raises, and
  holds at most one maximum frame once drained;
* chunking never changes which packets come out, nor where the framing errors are;
* decoding a packet or a body gives a ``Message``/``Body`` or raises a ``ProtocolError``, and a
  decoded message always has a JSON view.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Any, Final

from hypothesis import given
from hypothesis import strategies as st

import gateway.protocol.bodies
from gateway.protocol.body import Body, decode_body, known_ids
from gateway.protocol.errors import FramingError, ProtocolError
from gateway.protocol.framing import (
    MAX_FRAME_LENGTH,
    FrameDecoder,
    NeedData,
    checksum,
    encode_frame,
    split_frame,
)
from gateway.protocol.header import LENGTH_MASK, decode_header
from gateway.protocol.message import Message, decode_frame, decode_packet
from gateway.protocol.versions import ALL_VERSIONS, ProtocolVersion

from .real_frames import real_frames

# Fuzz every body layout present, whether or not the package __init__ imports it yet.
for _module in pkgutil.iter_modules(gateway.protocol.bodies.__path__):
    importlib.import_module(f"gateway.protocol.bodies.{_module.name}")

_VECTORS: Final[list[dict[str, Any]]] = real_frames()
REAL_WIRES: Final = [bytes.fromhex(v["hex"]) for v in _VECTORS if v["kind"] == "frame"]


def _splittable(wire: bytes) -> bytes | None:
    try:
        return split_frame(wire)
    except ProtocolError:
        return None


def _header_length(packet: bytes) -> int | None:
    try:
        return decode_header(packet)[1]
    except ProtocolError:
        return None


#: (unescaped packet, header length) of every real frame whose header parses.
REAL_PACKETS: Final = [
    (packet, length)
    for packet in map(_splittable, REAL_WIRES)
    if packet is not None and (length := _header_length(packet)) is not None
]


# --- strategies ------------------------------------------------------------------------------


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with one to four kinds of link damage applied."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "inject"]))
        at = draw(st.integers(0, len(out)))
        if kind == "flip" and at < len(out):
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del out[at:]
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del out[at : at + draw(st.integers(1, 16))]
        else:  # a stray delimiter or escape byte, inserted or overwriting
            byte = draw(st.sampled_from([0x7D, 0x7E]))
            if draw(st.booleans()) or at == len(out):
                out.insert(at, byte)
            else:
                out[at] = byte
    return bytes(out)


def real_wire() -> st.SearchStrategy[bytes]:
    return st.sampled_from(REAL_WIRES)


def damaged_wire() -> st.SearchStrategy[bytes]:
    return real_wire().flatmap(damaged)


def stream() -> st.SearchStrategy[bytes]:
    """Several real frames back to back, some damaged, with garbage between some of them."""
    piece = st.one_of(real_wire(), damaged_wire(), st.binary(max_size=24))
    return st.lists(piece, min_size=1, max_size=6).map(b"".join)


def chunk_sizes() -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(1, 300), min_size=1, max_size=40)


def chunked(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` cut into pieces of the given sizes, cycling through them."""
    pieces: list[bytes] = []
    at = 0
    index = 0
    while at < len(data):
        size = sizes[index % len(sizes)]
        pieces.append(data[at : at + size])
        at += size
        index += 1
    return pieces


# --- helpers ---------------------------------------------------------------------------------


def drain(decoder: FrameDecoder, pieces: list[bytes], limit: int) -> list[bytes | FramingError]:
    """Feed every piece, draining events after each; the buffer stays within one frame."""
    events: list[bytes | FramingError] = []
    for piece in pieces:
        decoder.receive_data(piece)
        while True:
            event = decoder.next_event()
            if isinstance(event, NeedData):
                break
            assert isinstance(event, bytes | FramingError), type(event)
            events.append(event)
        assert decoder.buffered <= limit
    return events


def decode_or_protocol_error(packet: bytes, **options: Any) -> Message | ProtocolError:
    """Decode a packet; anything but a ``Message`` or a ``ProtocolError`` fails the test."""
    try:
        message = decode_packet(packet, **options)
    except ProtocolError as error:
        assert isinstance(error.message, str)
        return error
    json.dumps(message.to_json())  # every decoded message has a JSON view
    return message


def signature(events: list[bytes | FramingError]) -> list[Any]:
    """Packets, and the type and stream offset of each framing error (their wording may say
    how much was known when they were reported, which depends on the chunking)."""
    return [
        event if isinstance(event, bytes) else (type(event).__name__, event.offset)
        for event in events
    ]


# --- the stream decoder ----------------------------------------------------------------------


@given(
    data=st.binary(max_size=3000),
    sizes=chunk_sizes(),
    max_frame_length=st.one_of(st.just(MAX_FRAME_LENGTH), st.integers(3, 200)),
)
def test_random_bytes_give_only_packets_and_framing_errors(
    data: bytes, sizes: list[int], max_frame_length: int
) -> None:
    decoder = FrameDecoder(max_frame_length)
    for event in drain(decoder, chunked(data, sizes), max_frame_length):
        if isinstance(event, bytes):
            assert 0 < len(event) <= max_frame_length
            decode_or_protocol_error(event)


@given(data=stream(), sizes=chunk_sizes())
def test_chunking_does_not_change_packets_or_error_positions(data: bytes, sizes: list[int]) -> None:
    whole = drain(FrameDecoder(), [data], MAX_FRAME_LENGTH)
    pieces = drain(FrameDecoder(), chunked(data, sizes), MAX_FRAME_LENGTH)
    one_by_one = [data[i : i + 1] for i in range(len(data))]
    byte_by_byte = drain(FrameDecoder(), one_by_one, MAX_FRAME_LENGTH)
    assert signature(whole) == signature(pieces) == signature(byte_by_byte)


@given(data=stream(), sizes=chunk_sizes())
def test_damaged_streams_decode_to_messages_or_protocol_errors(
    data: bytes, sizes: list[int]
) -> None:
    for event in drain(FrameDecoder(), chunked(data, sizes), MAX_FRAME_LENGTH):
        if isinstance(event, bytes):
            decode_or_protocol_error(event)
            decode_or_protocol_error(event, verify_checksum=False)


def test_an_endless_frame_is_discarded_not_buffered() -> None:
    decoder = FrameDecoder()
    events = drain(decoder, [b"\x7e"] + [b"\x01" * 1000] * 50, MAX_FRAME_LENGTH)
    assert [type(event).__name__ for event in events] == ["FrameTooLargeError"]
    assert drain(decoder, [b"\x7e" + REAL_WIRES[0]], MAX_FRAME_LENGTH) == [
        split_frame(REAL_WIRES[0])
    ]


# --- whole frames, packets and bodies --------------------------------------------------------


@given(wire=damaged_wire(), hint=st.sampled_from([None, *ALL_VERSIONS]))
def test_damaged_real_frames_decode_or_raise_protocol_errors(
    wire: bytes, hint: ProtocolVersion | None
) -> None:
    try:
        message = decode_frame(wire, version_hint=hint)
    except ProtocolError:
        return
    json.dumps(message.to_json())


@given(packet=st.binary(max_size=1100), hint=st.sampled_from([None, *ALL_VERSIONS]))
def test_random_packets_decode_or_raise_protocol_errors(
    packet: bytes, hint: ProtocolVersion | None
) -> None:
    decode_or_protocol_error(packet, version_hint=hint, verify_checksum=False)


@st.composite
def packets_with_damaged_bodies(draw: st.DrawFn) -> bytes:
    """A real header with a damaged body, its length field and check code made consistent, so
    that the damage reaches the body decoder instead of stopping at the header or check."""
    packet, header_length = draw(st.sampled_from(REAL_PACKETS))
    body = draw(damaged(packet[header_length:-1]))[:LENGTH_MASK]
    head = bytearray(packet[:header_length])
    properties = (int.from_bytes(head[2:4], "big") & ~LENGTH_MASK) | len(body)
    head[2:4] = properties.to_bytes(2, "big")
    unchecked = bytes(head) + body
    return unchecked + bytes((checksum(unchecked),))


@given(packet=packets_with_damaged_bodies())
def test_damaged_real_bodies_decode_or_raise_protocol_errors(packet: bytes) -> None:
    result = decode_or_protocol_error(packet)
    if isinstance(result, ProtocolError):  # the header is sound, so the error names it
        assert result.header is not None
    # The same packet framed and escaped comes out of the stream decoder unchanged.
    assert drain(FrameDecoder(), [encode_frame(packet[:-1])], MAX_FRAME_LENGTH) == [packet]


@given(
    msg_id=st.sampled_from(known_ids()),
    data=st.binary(max_size=LENGTH_MASK),
    version=st.sampled_from(ALL_VERSIONS),
)
def test_random_bodies_of_every_registered_message(
    msg_id: int, data: bytes, version: ProtocolVersion
) -> None:
    try:
        body, trailing = decode_body(msg_id, data, version)
    except ProtocolError:
        return
    assert isinstance(body, Body)
    assert data.endswith(trailing)
    json.dumps(body.to_json())


@st.composite
def consistent_packets(draw: st.DrawFn) -> bytes:
    """Random header fields and body, with a length field and check code that agree, so the
    body reaches its decoder (any id, any revision layout, sub-packaged or encrypted)."""
    msg_id = draw(st.one_of(st.sampled_from(known_ids()), st.integers(0, 0xFFFF)))
    flags = draw(st.integers(0, 0x3F)) << 10  # encryption, sub-package, 2019, reserved bits
    body = draw(st.binary(max_size=300))
    head = msg_id.to_bytes(2, "big") + (flags | len(body)).to_bytes(2, "big")
    if flags & 0x4000:  # 2019: version byte and 10-byte phone
        head += draw(st.binary(min_size=11, max_size=11))
    else:
        head += draw(st.binary(min_size=6, max_size=6))
    head += draw(st.binary(min_size=2, max_size=2))  # serial
    if flags & 0x2000:  # total and index
        head += draw(st.binary(min_size=4, max_size=4))
    return head + body + bytes((checksum(head + body),))


@given(packet=consistent_packets())
def test_random_bodies_behind_consistent_headers(packet: bytes) -> None:
    result = decode_or_protocol_error(packet)
    if isinstance(result, ProtocolError):
        assert result.header is not None


def test_every_registered_body_on_every_truncation_of_some_patterns() -> None:
    """A systematic sweep next to the random ones: each registered id, each revision, every
    length up to 64 and a few long ones, of three byte patterns."""
    patterns = [bytes(1023), b"\xff" * 1023, bytes(range(256)) * 4]
    lengths = [*range(65), 100, 255, 256, 257, 1000, 1023]
    for msg_id in known_ids():
        for version in ALL_VERSIONS:
            for pattern in patterns:
                for length in lengths:
                    data = pattern[:length]
                    try:
                        body, trailing = decode_body(msg_id, data, version)
                    except ProtocolError:
                        continue
                    assert data.endswith(trailing)
                    json.dumps(body.to_json())
