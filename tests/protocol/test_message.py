"""Whole messages: header + body from and to wire bytes (decode_packet, decode_frame, encode).

Errors carry what a server needs to answer: the header (serial and id to name in 0x8001), the
offset in the packet, and the result code. Bytes the core cannot interpret (unknown ids,
encrypted bodies, packets of a sub-packaged message, bytes after a body's layout) are kept, never
an exception and never lost.
"""

from __future__ import annotations

import json
from functools import reduce
from operator import xor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.bodies.general import (
    Heartbeat,
    PlatformGeneralResponse,
    PlatformRetransmitRequest,
    TerminalGeneralResponse,
)
from gateway.protocol.bodies.location import LocationReport
from gateway.protocol.bodies.registration import TerminalAuthenticate, TerminalRegisterResponse
from gateway.protocol.body import Body, Fragment, RawBody, body_class, known_ids
from gateway.protocol.errors import (
    BodyError,
    ChecksumError,
    EncodeError,
    FramingError,
    HeaderError,
    ProtocolError,
    ResultCode,
    TruncatedBodyError,
)
from gateway.protocol.framing import encode_frame, split_frame
from gateway.protocol.header import Header, PacketInfo, encode_header
from gateway.protocol.message import (
    Message,
    decode_frame,
    decode_packet,
    encode,
    encode_message,
)
from gateway.protocol.versions import V2011, V2013, V2019, ProtocolVersion

from .real_frames import real_frame_bytes

#: A message id in the vendor range (0x0F00-0x0FFF, 2019 appendix B) that no body claims.
UNKNOWN_ID = 0x0F01


def check_code(data: bytes) -> bytes:
    return bytes((reduce(xor, data, 0),))


def packet_of(header_hex: str, body_hex: str) -> bytes:
    """Header + body + a correct check code, built by hand."""
    data = bytes.fromhex(header_hex + body_hex)
    return data + check_code(data)


# --------------------------------------------------------------------------------------------
# Real and reference frames


def test_decode_real_2013_terminal_general_response() -> None:
    # v117 (SC): 0x0001, phone 012345678900, serial 1203, reply to 0x0002 serial 1000.
    wire = real_frame_bytes("v117")
    message = decode_frame(wire)
    assert message.header == Header(0x0001, "012345678900", 1203, V2013)
    assert message.body == TerminalGeneralResponse(reply_serial=1000, reply_id=0x0002, result=0)
    assert message.trailing == b""
    assert message.msg_id == 0x0001
    assert encode_message(message) == wire


def test_decode_reference_2019_platform_response_with_an_escaped_check_code() -> None:
    # Reference §8.2: the 0x8001 answer to a 2019 0x0704; its check code 0x7E is sent as 7D 02.
    wire = bytes.fromhex("7e8001400501000008664960775821640000881d0704007d027e")
    message = decode_frame(wire)
    assert message.header == Header(0x8001, "00000866496077582164", 0, V2019, protocol_version=1)
    assert message.body == PlatformGeneralResponse(reply_serial=0x881D, reply_id=0x0704, result=0)
    assert encode_message(message) == wire


def test_decode_reference_heartbeat_with_an_escaped_serial() -> None:
    # Reference §8.5: serial 0x7E7D is sent as 7D 02 7D 01.
    wire = bytes.fromhex("7e000200000139123456787d027d01317e")
    message = decode_frame(wire)
    assert message.header.serial == 0x7E7D
    assert message.body == Heartbeat()
    assert encode_message(message) == wire


def test_decode_reference_2019_registration_response() -> None:
    wire = bytes.fromhex("7e8100400901000008664960775821640001521800313233343536a87e")
    message = decode_frame(wire)
    assert message.body == TerminalRegisterResponse(
        reply_serial=0x5218, result=0, auth_code="123456"
    )
    assert encode_message(message) == wire


def test_decode_real_location_from_a_device_that_flags_2019_but_sends_2013() -> None:
    # v130: bit 14 set, 6-byte phone. The header falls back to 2013 and the body decodes.
    message = decode_frame(real_frame_bytes("v130"))
    assert message.header.version is V2013
    assert message.header.phone == "010030000681"
    assert isinstance(message.body, LocationReport)


def test_decode_frame_takes_a_frame_with_or_without_delimiters() -> None:
    wire = bytes.fromhex("7e000200000139123456787d027d01317e")
    assert decode_frame(wire[1:-1]) == decode_frame(wire)
    assert decode_frame(wire[1:]) == decode_frame(wire)


def test_decode_frame_without_escapes_equals_decode_packet() -> None:
    wire = real_frame_bytes("v117")
    assert decode_frame(wire) == decode_packet(wire[1:-1])


def test_decode_frame_rejects_a_bad_escape() -> None:
    with pytest.raises(FramingError) as caught:
        decode_frame(real_frame_bytes("v237"))  # 7E 02 00 7D 03 7E
    assert caught.value.offset == 3


def test_decode_frame_rejects_two_frames() -> None:
    wire = real_frame_bytes("v117")
    with pytest.raises(FramingError):
        decode_frame(wire + wire)


# --------------------------------------------------------------------------------------------
# Encoding


def test_encode_message_golden_2013() -> None:
    header = Header(0x8001, "13912345678", 0x0102, V2013)
    body = PlatformGeneralResponse(reply_serial=0x7E7D, reply_id=0x0200, result=0)
    packet = packet_of("8001 0005 013912345678 0102", "7e7d 0200 00")
    expected = b"\x7e" + packet.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")
    assert encode_message(Message(header, body)) == expected + b"\x7e"


def test_encode_message_golden_2019() -> None:
    header = Header(0x0102, "13912345678", 9, V2019, protocol_version=1)
    body = TerminalAuthenticate(auth_code="ab", imei="866496077582164", software_version="v1")
    body_hex = "02 6162" + b"866496077582164".hex() + "7631" + "00" * 18
    packet = packet_of("0102 4026 01 00000000013912345678 0009", body_hex)
    assert encode_message(Message(header, body)) == encode_frame(packet[:-1])
    assert split_frame(encode_message(Message(header, body))) == packet


def test_encode_is_encode_message_without_trailing_bytes() -> None:
    header = Header(0x0001, "013912345678", 5)
    body = TerminalGeneralResponse(reply_serial=1, reply_id=2, result=3)
    assert encode(header, body) == encode_message(Message(header, body))


@pytest.mark.parametrize(
    ("version", "header_hex", "body_hex"),
    [
        (V2013, "8003 0007 013912345678 0001", "0102 02 0002 0005"),
        (V2019, "8003 4008 01 00000000013912345678 0001", "0102 0002 0002 0005"),
    ],
)
def test_encode_writes_the_body_in_the_header_revision(
    version: ProtocolVersion, header_hex: str, body_hex: str
) -> None:
    # 0x8003: the count of packet ids is a BYTE in 2013 and a WORD in 2019.
    header = Header(0x8003, "13912345678", 1, version, 1 if version is V2019 else 0)
    body = PlatformRetransmitRequest(original_serial=0x0102, packet_ids=[2, 5])
    wire = encode(header, body)
    assert wire == encode_frame(packet_of(header_hex, body_hex)[:-1])
    assert decode_frame(wire).body == body


def test_encode_body_longer_than_1023_bytes_is_an_encode_error() -> None:
    header = Header(UNKNOWN_ID, "013912345678", 1)
    assert encode_message(Message(header, RawBody(raw=bytes(1023))))
    with pytest.raises(EncodeError, match="1023"):
        encode_message(Message(header, RawBody(raw=bytes(1024))))
    with pytest.raises(EncodeError):
        encode_message(Message(Header(0x0002, "013912345678", 1), Heartbeat(), bytes(1024)))


headers = st.builds(
    Header,
    msg_id=st.just(0x0001),
    phone=st.text("0123456789", min_size=12, max_size=12),
    serial=st.integers(0, 0xFFFF),
    version=st.sampled_from([V2011, V2013, V2019]),
    protocol_version=st.integers(1, 0xFF),
    encryption=st.sampled_from([0, 0b010, 0b100, 0b110]),  # RSA (bit 10) clear
    packet=st.none() | st.just(PacketInfo(1, 1)),
)
responses = st.builds(
    TerminalGeneralResponse,
    reply_serial=st.integers(0, 0xFFFF),
    reply_id=st.integers(0, 0xFFFF),
    result=st.integers(0, 0xFF),
)


@given(headers, responses, st.binary(max_size=30))
def test_message_round_trips(header: Header, body: Body, trailing: bytes) -> None:
    if header.version is not V2019:
        header.protocol_version = 0
    else:
        header.phone = header.phone.rjust(20, "0")
    message = Message(header, body, trailing)
    wire = encode_message(message)
    hint = V2011 if header.version is V2011 else None
    decoded = decode_frame(wire, version_hint=hint)
    assert decoded == message
    assert encode_message(decoded) == wire
    assert decode_packet(split_frame(wire), version_hint=hint) == message


# --------------------------------------------------------------------------------------------
# Check code


def test_checksum_error_carries_the_header_and_the_check_code_offset() -> None:
    packet = bytearray(packet_of("0001 0005 013912345678 0102", "0003 0002 00"))
    packet[-1] ^= 0xFF
    with pytest.raises(ChecksumError) as caught:
        decode_packet(bytes(packet))
    error = caught.value
    assert error.offset == len(packet) - 1 == 17
    assert error.header == Header(0x0001, "013912345678", 0x0102, V2013)
    assert error.result_code is ResultCode.MESSAGE_ERROR


def test_real_frame_with_a_wrong_check_code() -> None:
    # v231 (go-jt808): check code 0x54 where the XOR is 0x53.
    with pytest.raises(ChecksumError) as caught:
        decode_frame(real_frame_bytes("v231"))
    assert caught.value.header is not None
    assert caught.value.header.msg_id == 0x0801
    assert caught.value.header.serial == 0x02DE
    assert caught.value.offset == len(split_frame(real_frame_bytes("v231"))) - 1


def test_checksum_can_be_ignored() -> None:
    packet = bytearray(packet_of("0001 0005 013912345678 0102", "0003 0002 00"))
    packet[-1] ^= 0xFF
    message = decode_packet(bytes(packet), verify_checksum=False)
    assert message.body == TerminalGeneralResponse(reply_serial=3, reply_id=2, result=0)


def test_header_errors_come_before_the_check_code() -> None:
    for vector_id in ("v232", "v242", "v230", "v233", "v234"):
        with pytest.raises(HeaderError):
            decode_frame(real_frame_bytes(vector_id))


# --------------------------------------------------------------------------------------------
# Body errors: packet offsets and the header


@pytest.mark.parametrize(
    ("header_hex", "offset"),
    [
        ("0001 0003 013912345678 0007", 12),
        ("0001 2003 013912345678 0007 0001 0001", 16),
        ("0001 4003 01 00000000013912345678 0007", 17),
        ("0001 6003 01 00000000013912345678 0007 0001 0001", 21),
    ],
    ids=["2013", "2013-subpackaged-1-of-1", "2019", "2019-subpackaged-1-of-1"],
)
def test_truncated_body_offset_is_a_packet_offset(header_hex: str, offset: int) -> None:
    # 0x0001 needs 5 bytes; 3 are sent.
    with pytest.raises(TruncatedBodyError) as caught:
        decode_packet(packet_of(header_hex, "0001 02"))
    error = caught.value
    assert error.offset == offset
    assert error.header is not None
    assert error.header.msg_id == 0x0001
    assert error.header.serial == 7
    assert error.result_code is ResultCode.MESSAGE_ERROR
    assert "0x0001" in str(error)


def test_body_error_offset_inside_the_body() -> None:
    # 2019 0x0102: the code length says 10 but 3 bytes follow; the code starts at body byte 1.
    with pytest.raises(BodyError) as caught:
        decode_packet(packet_of("0102 4004 01 00000000013912345678 0009", "0a 616263"))
    assert caught.value.offset == 17 + 1
    assert caught.value.header is not None
    assert caught.value.header.version is V2019


def test_body_error_offset_of_a_missing_list_item() -> None:
    # 2013 0x8003: count 2 but one packet id; the second would start at body byte 5.
    with pytest.raises(TruncatedBodyError) as caught:
        decode_packet(packet_of("8003 0005 013912345678 0001", "0102 02 0002"))
    assert caught.value.offset == 12 + 5


def test_body_error_of_a_short_location_names_the_body_start() -> None:
    with pytest.raises(TruncatedBodyError) as caught:
        decode_packet(packet_of("0200 0004 013912345678 0001", "00000000"))
    assert caught.value.offset == 12
    assert caught.value.header is not None
    assert caught.value.header.msg_id == 0x0200


# The protocol core's own bodies (other body modules are tested with their modules).
CORE_IDS = [
    msg_id
    for msg_id in known_ids()
    if (cls := body_class(msg_id)) is not None
    and cls.__module__.rsplit(".", 1)[-1] in {"general", "registration", "location"}
]


@given(
    st.sampled_from(CORE_IDS),
    st.sampled_from([V2011, V2013, V2019]),
    st.binary(max_size=120),
)
def test_any_body_bytes_give_a_message_or_a_body_error(
    msg_id: int, version: ProtocolVersion, data: bytes
) -> None:
    header = Header(msg_id, "013912345678", 1, version, 1 if version is V2019 else 0)
    packet = encode_header(header, len(data)) + data
    try:
        message = decode_packet(packet + check_code(packet))
    except BodyError as error:
        assert error.header is not None
        assert error.offset is not None
        assert header.length <= error.offset <= len(packet)
        return
    assert message.header.msg_id == msg_id


# --------------------------------------------------------------------------------------------
# Bytes the core keeps without interpreting them


def test_unknown_id_gives_a_raw_body() -> None:
    assert body_class(UNKNOWN_ID) is None
    message = decode_packet(packet_of("0f01 0003 013912345678 0001", "010203"))
    assert message.header.msg_id == UNKNOWN_ID
    assert message.body == RawBody(raw=b"\x01\x02\x03")
    assert message.trailing == b""
    header_view = message.to_json()["header"]
    assert isinstance(header_view, dict)
    assert header_view["msg_name"] == "unknown_0x0f01"


@given(
    st.integers(0, 0xFFFF).filter(lambda i: body_class(i) is None),
    st.sampled_from([V2013, V2019]),
    st.binary(max_size=64),
)
def test_unknown_ids_never_raise_and_round_trip(
    msg_id: int, version: ProtocolVersion, data: bytes
) -> None:
    header = Header(msg_id, "013912345678".rjust(20 if version is V2019 else 12, "0"), 1, version)
    if version is V2019:
        header.protocol_version = 1
    wire = encode_message(Message(header, RawBody(raw=data)))
    message = decode_frame(wire)
    assert message == Message(header, RawBody(raw=data))
    assert encode_message(message) == wire


@pytest.mark.parametrize("total", [2, 10, 0xFFFF])
def test_packet_of_a_sub_packaged_message_is_a_fragment(total: int) -> None:
    # A 3-byte slice of a location: it would be a body error on its own.
    message = decode_packet(packet_of(f"0200 2003 013912345678 0001 {total:04x} 0002", "000102"))
    assert message.body == Fragment(data=b"\x00\x01\x02")
    assert message.header.packet == PacketInfo(total, 2)


def test_only_packet_of_a_sub_packaged_message_is_decoded() -> None:
    message = decode_packet(packet_of("0001 2005 013912345678 0001 0001 0001", "0003 0002 00"))
    assert message.body == TerminalGeneralResponse(reply_serial=3, reply_id=2, result=0)


def test_sub_packaged_2019_fragment_round_trips() -> None:
    header = Header(0x0801, "00000000013812345678", 5, V2019, 1, packet=PacketInfo(3, 2))
    message = Message(header, Fragment(data=bytes(range(200))))
    assert decode_frame(encode_message(message)) == message


@pytest.mark.parametrize("encryption", [0b001, 0b011, 0b101, 0b111])
def test_rsa_encrypted_body_is_kept_raw(encryption: int) -> None:
    props = f"{(encryption << 10) | 3:04x}"
    message = decode_packet(packet_of(f"0200 {props} 013912345678 0001", "000102"))
    assert message.header.encryption == encryption
    assert message.body == RawBody(raw=b"\x00\x01\x02")
    assert encode_message(message) == encode_frame(
        packet_of(f"0200 {props} 013912345678 0001", "000102")[:-1]
    )


def test_trailing_bytes_after_the_layout_are_kept_and_written_back() -> None:
    # v118 (SC): a 0x0001 with two vendor bytes (00 A8) after the result.
    wire = real_frame_bytes("v118")
    message = decode_frame(wire)
    assert message.body == TerminalGeneralResponse(reply_serial=1000, reply_id=0x0002, result=0)
    assert message.trailing == b"\x00\xa8"
    assert message.to_json()["trailing"] == "00a8"
    assert encode_message(message) == wire


def test_a_body_to_the_end_leaves_no_trailing_bytes() -> None:
    message = decode_packet(packet_of("0102 0006 013912345678 0001", "616263000000"))
    assert message.body == TerminalAuthenticate(auth_code="abc")
    assert message.trailing == b""


# --------------------------------------------------------------------------------------------
# JSON view


def test_to_json_header_shape() -> None:
    message = decode_frame(real_frame_bytes("v117"))
    view = message.to_json()
    assert view == {
        "header": {
            "msg_id": 0x0001,
            "msg_name": "terminal_general_response",
            "version": 2013,
            "phone": "012345678900",
            "serial": 1203,
            "encryption": 0,
            "packet": None,
        },
        "body": {"reply_serial": 1000, "reply_id": 2, "result": 0},
    }
    assert json.loads(json.dumps(view)) == view


def test_to_json_of_a_sub_packaged_2019_packet() -> None:
    header = Header(0x0801, "00000000013812345678", 5, V2019, 1, packet=PacketInfo(3, 2))
    view = Message(header, Fragment(data=b"\x7e\x00")).to_json()
    assert view["header"] == {
        "msg_id": 0x0801,
        "msg_name": "multimedia_data",
        "version": 2019,
        "phone": "00000000013812345678",
        "serial": 5,
        "encryption": 0,
        "packet": {"total": 3, "index": 2},
    }
    assert view["body"] == {"data": "7e00"}
    assert "trailing" not in view


def test_protocol_errors_are_all_protocol_errors() -> None:
    for error_type in (FramingError, HeaderError, ChecksumError, BodyError, TruncatedBodyError):
        assert issubclass(error_type, ProtocolError)
