"""Message header of the three revisions (JT/T 808-2013 §4.4.3, 2019 §4.4.3; reference §2).

Golden hex below is built by hand from the reference's tables: message id WORD, properties
WORD (length bits 0-9, encryption 10-12, sub-package 13, version flag 14), [2019: version
BYTE], phone BCD[6] (BCD[10] in 2019), serial WORD, [total WORD, index WORD].
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.errors import EncodeError, HeaderError
from gateway.protocol.framing import split_frame
from gateway.protocol.header import Header, PacketInfo, decode_header, encode_header
from gateway.protocol.versions import V2011, V2013, V2019, ProtocolVersion

from .real_frames import real_frame_bytes


def vector_packet(vector_id: str) -> bytes:
    return split_frame(real_frame_bytes(vector_id))


def packet(header_hex: str, body_length: int) -> bytes:
    """A packet with the given header, a body of ``body_length`` bytes and a check code byte."""
    return bytes.fromhex(header_hex) + bytes(i % 256 for i in range(body_length)) + b"\x00"


# --------------------------------------------------------------------------------------------
# Decoding the four header forms


def test_decode_2013_header() -> None:
    header, start = decode_header(packet("0102 0006 013912345678 0001", 6))
    assert start == 12
    assert header == Header(msg_id=0x0102, phone="013912345678", serial=1, version=V2013)
    assert header.packet is None
    assert header.protocol_version == 0
    assert header.length == 12


def test_decode_2013_sub_packaged_header() -> None:
    # As in the 0x0801 upload of vector v179: packet 1 of 10, body 0x324 bytes.
    header, start = decode_header(packet("0801 2324 013812345678 2031 000a 0001", 0x324))
    assert start == 16
    assert header.msg_id == 0x0801
    assert header.serial == 0x2031
    assert header.version is V2013
    assert header.packet == PacketInfo(total=10, index=1)
    assert header.length == 16


def test_decode_2019_header() -> None:
    # Reference §8.1: the 0x8100 reply to the TC 2019 registration.
    header, start = decode_header(packet("8100 4009 01 00000866496077582164 0001", 9))
    assert start == 17
    assert header == Header(
        msg_id=0x8100,
        phone="00000866496077582164",
        serial=1,
        version=V2019,
        protocol_version=1,
    )
    assert header.length == 17


def test_decode_2019_sub_packaged_header() -> None:
    header, start = decode_header(packet("0801 6100 01 00000000013812345678 2031 000a 0002", 256))
    assert start == 21
    assert header.version is V2019
    assert header.phone == "00000000013812345678"
    assert header.packet == PacketInfo(total=10, index=2)
    assert header.length == 21


def test_decode_keeps_the_2019_protocol_version_byte() -> None:
    header, _ = decode_header(packet("0002 4000 02 00000000013912345678 0003", 0))
    assert header.protocol_version == 2


def test_decode_real_2019_registration_header() -> None:
    # Reference §3.9: the TC 2019 registration, body of 0x5C = 92 bytes.
    body = bytes(4 + 11) + b"MD300".ljust(30, b"\x00") + b"866496077582164".ljust(30, b"\x00")
    body += b"\x04" + bytes(16)
    head = bytes.fromhex("0100 405c 01 00000866496077582164 5218")
    header, start = decode_header(head + body + b"\x7a")
    assert start == 17
    assert header.msg_id == 0x0100
    assert header.version is V2019
    assert header.phone == "00000866496077582164"
    assert header.serial == 0x5218


# --------------------------------------------------------------------------------------------
# Telling the revisions apart (reference §2.3)


def test_version_flag_with_a_2013_header_falls_back_to_2013_real_device() -> None:
    # v130: a terminal sets bit 14 but sends a 6-byte phone; 17 + 108 + 1 does not fit, 12 does.
    header, start = decode_header(vector_packet("v130"))
    assert start == 12
    assert header.version is V2013
    assert header.msg_id == 0x0200
    assert header.phone == "010030000681"
    assert header.serial == 0x090E
    assert header.protocol_version == 0


def test_version_flag_with_a_2013_header_falls_back_for_authentication_too() -> None:
    # v129: the same terminal's 0x0102; body "J10030000681".
    header, start = decode_header(vector_packet("v129"))
    assert (header.version, start, header.serial) == (V2013, 12, 0x0902)


def test_version_flag_with_a_2013_sub_packaged_header_falls_back() -> None:
    header, start = decode_header(packet("0801 6003 013812345678 0007 0002 0001", 3))
    assert start == 16
    assert header.version is V2013
    assert header.packet == PacketInfo(total=2, index=1)


def test_2019_header_without_the_version_flag_is_read_as_2019() -> None:
    # v163: properties 0x0000 but a version byte and a 10-byte phone follow.
    header, start = decode_header(vector_packet("v163"))
    assert start == 17
    assert header.version is V2019
    assert header.protocol_version == 1
    assert header.phone == "00000000013419905507"
    assert header.serial == 1


def test_2019_sub_packaged_header_without_the_version_flag_is_read_as_2019() -> None:
    header, start = decode_header(packet("0801 2002 01 00000000013812345678 0007 0003 0003", 2))
    assert start == 21
    assert header.version is V2019
    assert header.packet == PacketInfo(total=3, index=3)


def test_unflagged_header_without_a_hint_is_2013() -> None:
    header, _ = decode_header(packet("0002 0000 013912345678 0001", 0))
    assert header.version is V2013


@pytest.mark.parametrize(
    ("hint", "expected"), [(None, V2013), (V2011, V2011), (V2013, V2013), (V2019, V2013)]
)
def test_version_hint_tells_2011_from_2013(
    hint: ProtocolVersion | None, expected: ProtocolVersion
) -> None:
    header, _ = decode_header(packet("0200 0000 013912345678 0001", 0), version_hint=hint)
    assert header.version is expected


def test_version_hint_does_not_override_the_version_flag() -> None:
    header, _ = decode_header(
        packet("0002 4000 01 00000000013912345678 0001", 0), version_hint=V2011
    )
    assert header.version is V2019


@pytest.mark.parametrize(
    ("body_length", "expected"),
    [(25, V2011), (36, V2011), (37, V2013), (38, V2013), (60, V2013)],
)
def test_registration_body_length_tells_2011_from_2013(
    body_length: int, expected: ProtocolVersion
) -> None:
    # 2013 registration is at least 37 bytes (empty plate); 2011 is 25 + plate. At 37 both fit:
    # the core reads 2013 there (as YZH and GO do).
    props = f"{body_length:04x}"
    for hint in (None, V2011, V2013):
        header, _ = decode_header(
            packet(f"0100 {props} 013912345678 0001", body_length), version_hint=hint
        )
        assert header.version is expected, hint


def test_flagged_registration_is_2019_whatever_its_length() -> None:
    header, _ = decode_header(packet("0100 4024 01 00000000013912345678 0001", 36))
    assert header.version is V2019


# --------------------------------------------------------------------------------------------
# Phone digits and encryption bits


def test_phone_keeps_leading_zeros() -> None:
    header, _ = decode_header(packet("0002 0000 000012345678 0001", 0))
    assert header.phone == "000012345678"


def test_phone_keeps_non_bcd_nibbles_as_hex_letters() -> None:
    # A TC test device sends 4f07788ef676 as its "phone"; it must stay a usable key.
    header, _ = decode_header(packet("0002 0000 4f07788ef676 0001", 0))
    assert header.phone == "4f07788ef676"


@pytest.mark.parametrize(
    ("props", "encryption"), [(0x0000, 0), (0x0400, 1), (0x0800, 2), (0x1C00, 7)]
)
def test_encryption_bits_are_bits_10_to_12(props: int, encryption: int) -> None:
    header, _ = decode_header(packet(f"0200 {props | 3:04x} 013912345678 0001", 3))
    assert header.encryption == encryption


def test_reserved_bit_15_is_ignored() -> None:
    header, start = decode_header(packet("0200 8003 013912345678 0001", 3))
    assert (header.version, start, header.encryption) == (V2013, 12, 0)


# --------------------------------------------------------------------------------------------
# Malformed headers


# Not 8: a 2013 packet 5 bytes longer than declared fits the 2019 header (see the fallback).
@pytest.mark.parametrize("actual", [0, 2, 4, 9, 100])
def test_length_field_disagreeing_with_the_packet_is_a_header_error(actual: int) -> None:
    with pytest.raises(HeaderError) as caught:
        decode_header(packet("0200 0003 013912345678 0001", actual))
    assert caught.value.offset == 2  # the properties word


def test_real_frame_with_a_body_shorter_than_declared_is_a_header_error() -> None:
    # v232 (go-jt808): sub-packaged 0x0801 declaring 5 body bytes but carrying 4.
    with pytest.raises(HeaderError):
        decode_header(vector_packet("v232"))


def test_real_frame_without_its_check_code_is_a_header_error() -> None:
    with pytest.raises(HeaderError):
        decode_header(vector_packet("v242"))


@pytest.mark.parametrize("vector_id", ["v230", "v233", "v234"])
def test_real_frames_too_short_for_a_header_are_header_errors(vector_id: str) -> None:
    with pytest.raises(HeaderError):
        decode_header(vector_packet(vector_id))


@pytest.mark.parametrize("size", range(13))
def test_packet_shorter_than_the_smallest_header_is_a_header_error(size: int) -> None:
    with pytest.raises(HeaderError):
        decode_header(bytes.fromhex("0002 0000 013912345678 0001 00")[:size])


def test_sub_package_bit_without_the_packet_fields_is_a_header_error() -> None:
    with pytest.raises(HeaderError):
        decode_header(packet("0801 2000 013912345678 0001", 0))


@given(st.binary(max_size=80))
def test_decode_header_raises_only_header_error(data: bytes) -> None:
    try:
        header, start = decode_header(data)
    except HeaderError:
        return
    assert start == header.length
    assert len(data) == start + (int.from_bytes(data[2:4], "big") & 0x3FF) + 1


# --------------------------------------------------------------------------------------------
# Encoding


def test_encode_2013_header() -> None:
    header = Header(msg_id=0x0102, phone="013912345678", serial=1)
    assert encode_header(header, 6) == bytes.fromhex("0102 0006 013912345678 0001")


def test_encode_2011_header_is_the_2013_form() -> None:
    header = Header(msg_id=0x0102, phone="013912345678", serial=1, version=V2011)
    assert encode_header(header, 6) == bytes.fromhex("0102 0006 013912345678 0001")


def test_encode_2013_sub_packaged_header() -> None:
    header = Header(0x0801, "013812345678", 0x2031, V2013, packet=PacketInfo(10, 1))
    expected = "0801 2324 013812345678 2031 000a 0001"
    assert encode_header(header, 0x324) == bytes.fromhex(expected)


def test_encode_2019_header() -> None:
    # Reference §8.1: header of the 0x8100 reply, body 9 bytes.
    header = Header(0x8100, "00000866496077582164", 1, V2019, protocol_version=1)
    expected = "8100 4009 01 00000866496077582164 0001"
    assert encode_header(header, 9) == bytes.fromhex(expected)


def test_encode_2019_sub_packaged_header() -> None:
    header = Header(0x0801, "13812345678", 0x2031, V2019, 1, packet=PacketInfo(10, 2))
    expected = "0801 6100 01 00000000013812345678 2031 000a 0002"
    assert encode_header(header, 256) == bytes.fromhex(expected)


def test_encode_2019_header_without_a_protocol_version_writes_version_1() -> None:
    header = Header(0x0002, "13912345678", 7, V2019)
    assert encode_header(header, 0) == bytes.fromhex("0002 4000 01 00000000013912345678 0007")


def test_encode_keeps_a_later_protocol_version() -> None:
    header = Header(0x0002, "13912345678", 7, V2019, protocol_version=3)
    assert encode_header(header, 0)[4] == 3


def test_encode_encryption_bits() -> None:
    header = Header(0x0200, "013912345678", 1, encryption=0b101)
    assert encode_header(header, 0x10)[2:4] == bytes.fromhex("1410")


def test_encode_maximum_body_length() -> None:
    header = Header(0x0200, "013912345678", 1)
    assert encode_header(header, 1023)[2:4] == bytes.fromhex("03ff")


@pytest.mark.parametrize("body_length", [-1, 1024, 5000])
def test_encode_body_length_outside_0_to_1023_is_an_encode_error(body_length: int) -> None:
    with pytest.raises(EncodeError, match="1023"):
        encode_header(Header(0x0200, "013912345678", 1), body_length)


@pytest.mark.parametrize(
    ("phone", "version", "expected"),
    [
        ("13912345678", V2013, "013912345678"),  # left-padded with 0
        ("", V2013, "000000000000"),
        ("013912345678", V2011, "013912345678"),
        ("13912345678", V2019, "00000000013912345678"),
        ("00000000013912345678", V2013, "013912345678"),  # extra leading zeros dropped
        ("0013912345678", V2013, "013912345678"),
        ("000000000013912345678", V2019, "00000000013912345678"),
        ("4f07788ef676", V2013, "4f07788ef676"),  # non-BCD nibbles a device sent, kept
        ("4F07788EF676", V2013, "4f07788ef676"),
    ],
)
def test_encode_phone_padding_and_truncation(
    phone: str, version: ProtocolVersion, expected: str
) -> None:
    head = encode_header(Header(0x0002, phone, 1, version), 0)
    at = 5 if version is V2019 else 4
    width = 10 if version is V2019 else 6
    assert head[at : at + width].hex() == expected


@pytest.mark.parametrize(
    ("phone", "version"),
    [
        ("1013912345678", V2013),  # 13 digits, the extra one is not 0
        ("10000000013912345678", V2013),  # a 2019 phone that does not fit the 2013 header
        ("100000000013912345678", V2019),
    ],
)
def test_encode_too_long_phone_is_an_encode_error(phone: str, version: ProtocolVersion) -> None:
    with pytest.raises(EncodeError, match="digits"):
        encode_header(Header(0x0002, phone, 1, version), 0)


@pytest.mark.parametrize("phone", ["1391234567x", "+8613912345", "139-1234-56", "1391234567８"])
def test_encode_non_bcd_phone_is_an_encode_error(phone: str) -> None:
    with pytest.raises(EncodeError):
        encode_header(Header(0x0002, phone, 1), 0)


@pytest.mark.parametrize("phone", ["13 91 234567", "  0139123456"])
def test_encode_phone_with_spaces_is_an_encode_error(phone: str) -> None:
    with pytest.raises(EncodeError):
        encode_header(Header(0x0002, phone, 1), 0)


@pytest.mark.parametrize(
    "header",
    [
        Header(0x10000, "013912345678", 1),
        Header(-1, "013912345678", 1),
        Header(0x0002, "013912345678", 0x10000),
        Header(0x0002, "013912345678", 1, encryption=8),
        Header(0x0002, "013912345678", 1, encryption=-1),
        Header(0x0002, "013912345678", 1, packet=PacketInfo(0x10000, 1)),
        Header(0x0002, "013912345678", 1, packet=PacketInfo(2, -1)),
        Header(0x0002, "13912345678", 1, V2019, protocol_version=256),
    ],
)
def test_encode_field_out_of_range_is_an_encode_error(header: Header) -> None:
    with pytest.raises(EncodeError):
        encode_header(header, 0)


# --------------------------------------------------------------------------------------------
# Round trip


@st.composite
def headers(draw: st.DrawFn) -> Header:
    version = draw(st.sampled_from([V2011, V2013, V2019]))
    digits = 20 if version is V2019 else 12
    return Header(
        msg_id=draw(st.integers(0, 0xFFFF)),
        phone=draw(st.text("0123456789abcdef", min_size=digits, max_size=digits)),
        serial=draw(st.integers(0, 0xFFFF)),
        version=version,
        protocol_version=draw(st.integers(1, 0xFF)) if version is V2019 else 0,
        encryption=draw(st.integers(0, 7)),
        packet=draw(
            st.none() | st.builds(PacketInfo, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
        ),
    )


@given(headers(), st.integers(0, 1023))
def test_header_round_trips(header: Header, body_length: int) -> None:
    head = encode_header(header, body_length)
    assert len(head) == header.length
    decoded, start = decode_header(
        head + bytes(body_length) + b"\x00",
        version_hint=V2011 if header.version is V2011 else None,
    )
    assert start == header.length
    expected = header
    if header.msg_id == 0x0100 and header.version is not V2019:
        # An unflagged registration is told 2011 or 2013 by its body length, not by the hint.
        expected = Header(
            header.msg_id,
            header.phone,
            header.serial,
            V2011 if body_length < 37 else V2013,
            header.protocol_version,
            header.encryption,
            header.packet,
        )
    assert decoded == expected
    assert encode_header(decoded, body_length) == head
