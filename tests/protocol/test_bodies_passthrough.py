"""Pass-through, compression and RSA keys: 0x8900, 0x0900, 0x0901, 0x8A00, 0x0A00 (reference
§3.36-§3.38)."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol import (
    V2011,
    V2013,
    V2019,
    BodyError,
    EncodeError,
    ProtocolVersion,
    decode_frame,
    encode_message,
)
from gateway.protocol.bodies.passthrough import (
    MAX_DECOMPRESSED_SIZE,
    CompressedUpload,
    DecompressionError,
    DownlinkPassthrough,
    PassthroughType,
    PlatformRsaKey,
    TerminalRsaKey,
    UplinkPassthrough,
)
from gateway.protocol.body import Body

from .body_properties import body_property_tests, golden_bytes_test, truncation_test
from .strategies import decode_layout, encode_layout

ALL = (V2011, V2013, V2019)
BODIES: list[tuple[type[Body], tuple[ProtocolVersion, ...]]] = [
    (DownlinkPassthrough, ALL),
    (UplinkPassthrough, ALL),
    (CompressedUpload, ALL),
    (PlatformRsaKey, ALL),
    (TerminalRsaKey, ALL),
]

test_body_properties = body_property_tests(BODIES)


# --------------------------------------------------------------------------------------------
# Golden bytes, built by hand from reference §3.36-§3.38.

# A 1024-bit modulus: top bit set, then a recognisable pattern, odd.
MODULUS = bytes([0xC5]) + bytes(range(1, 127)) + bytes([0x0B])

GOLDEN: list[tuple[Body, tuple[ProtocolVersion, ...], str]] = [
    (
        DownlinkPassthrough(type=PassthroughType.SERIAL_PORT_1, data=b"AT\r\n"),
        ALL,
        "41 41540d0a",
    ),
    (DownlinkPassthrough(type=0xF0, data=b""), ALL, "f0"),
    (
        UplinkPassthrough(type=PassthroughType.GNSS_DETAIL, data=bytes.fromhex("b562")),
        ALL,
        "00 b562",
    ),
    (CompressedUpload(data=bytes.fromhex("1f8b0800")), ALL, "00000004 1f8b0800"),
    (PlatformRsaKey(exponent=65537, modulus=MODULUS), ALL, "00010001 " + MODULUS.hex()),
    (TerminalRsaKey(exponent=3, modulus=MODULUS), ALL, "00000003 " + MODULUS.hex()),
]

test_golden_bytes = golden_bytes_test(GOLDEN)

#: (layout, revision, a complete body, every prefix length that must be a
#: ``TruncatedBodyError``; None: every one shorter than the body)
TRUNCATED: list[tuple[type[Body], ProtocolVersion, str, list[int] | None]] = [
    (DownlinkPassthrough, V2013, "41 41540d0a", [0]),
    (UplinkPassthrough, V2013, "00 b562", [0]),
    (CompressedUpload, V2013, "00000004 1f8b0800", None),
    (PlatformRsaKey, V2013, "00010001 " + MODULUS.hex(), None),
    (TerminalRsaKey, V2013, "00000003 " + MODULUS.hex(), None),
]

test_truncated_bodies_raise_truncated_body_error = truncation_test(TRUNCATED)


def test_passthrough_json_names_are_type_and_hex_data() -> None:
    body = UplinkPassthrough(type=PassthroughType.IC_CARD, data=bytes.fromhex("00ff"))
    assert body.to_json() == {"type": 0x0B, "data": "00ff"}
    assert DownlinkPassthrough(type=0xF3, data=b"").to_json() == {"type": 0xF3, "data": ""}


def test_user_defined_passthrough_types_stay_plain_ints() -> None:
    body = decode_layout(UplinkPassthrough, bytes.fromhex("f5 01"), V2013)
    assert type(body.type) is int
    assert body.type == 0xF5
    assert decode_layout(UplinkPassthrough, bytes.fromhex("42"), V2013).type is (
        PassthroughType.SERIAL_PORT_2
    )


def test_rsa_modulus_must_be_128_bytes() -> None:
    with pytest.raises(EncodeError):
        encode_layout(PlatformRsaKey(exponent=65537, modulus=bytes(127)), V2013)


def test_rsa_modulus_as_an_integer_is_big_endian() -> None:
    key = TerminalRsaKey(exponent=65537, modulus=bytes(127) + b"\x05")
    assert key.modulus_int == 5
    assert PlatformRsaKey(exponent=3, modulus=MODULUS).modulus_int.bit_length() == 1024


# --------------------------------------------------------------------------------------------
# Real frames (/work/shared/vectors/real-frames.json).


def test_real_0900_frame_with_a_user_type() -> None:
    # v155 SmallChi/JT808:src/JT808.Protocol.Test/MessageBody/JT808_0x0900Test.cs#L46
    wire = "7e09000009000123456789000a83736d616c6c6368691d7e"
    message = decode_frame(bytes.fromhex(wire))
    assert message.header.serial == 10
    assert isinstance(message.body, UplinkPassthrough)
    assert message.body.to_json() == {"type": 0x83, "data": b"smallchi".hex()}
    assert encode_message(message).hex() == wire


def test_real_8900_body_with_the_ic_card_type() -> None:
    # v170 SmallChi/JT808:src/JT808.Protocol.Test/MessageBody/JT808_0x8900Test.cs#L40 (body
    # only): type 0x0B, then a custom DWORD 12345 and BYTE 1 the platform does not interpret.
    body = decode_layout(DownlinkPassthrough, bytes.fromhex("0b0000303901"), V2013)
    assert body.type is PassthroughType.IC_CARD
    assert body.data == (12345).to_bytes(4, "big") + b"\x01"


# --------------------------------------------------------------------------------------------
# 0x0901 decompression.


@given(payload=st.binary(max_size=2048))
def test_compress_then_decompress_gives_the_payload(payload: bytes) -> None:
    body = CompressedUpload.compress(payload)
    assert body.data[:2] == b"\x1f\x8b"
    assert decode_layout(CompressedUpload, encode_layout(body, V2013), V2013) == body
    assert body.decompress() == payload


def test_decompress_allows_exactly_max_size_bytes() -> None:
    body = CompressedUpload.compress(bytes(1000))
    assert body.decompress(max_size=1000) == bytes(1000)
    with pytest.raises(DecompressionError):
        body.decompress(max_size=999)


def test_zip_bomb_is_refused_without_inflating_it() -> None:
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    bomb = b"".join([deflater.compress(chunk) for _ in range(64)] + [deflater.flush()])
    assert len(bomb) < 128 * 1024  # 64 MiB of zeros
    tracemalloc.start()
    try:
        with pytest.raises(DecompressionError, match="inflates past"):
            CompressedUpload(data=bomb).decompress()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_DECOMPRESSED_SIZE


def test_concatenated_gzip_members_decompress_to_their_concatenation() -> None:
    body = CompressedUpload(data=gzip.compress(b"first ") + gzip.compress(b"second"))
    assert body.decompress() == b"first second"


def test_the_size_bound_covers_all_members_together() -> None:
    body = CompressedUpload(data=gzip.compress(bytes(600)) + gzip.compress(bytes(600)))
    with pytest.raises(DecompressionError):
        body.decompress(max_size=1000)


# mtime=0: the member's bytes (and so the test ids) are the same in every run and worker.
_PAYLOAD_GZIP = gzip.compress(b"payload", mtime=0)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"not gzip at all", "not gzip", id="not-gzip"),
        pytest.param(_PAYLOAD_GZIP[:-6], "cut before the end", id="cut"),
        pytest.param(_PAYLOAD_GZIP[:-8] + b"\x00" * 8, "bad CRC", id="bad-crc"),
        pytest.param(_PAYLOAD_GZIP + b"junk", "junk after the member", id="junk-after"),
        pytest.param(zlib.compress(b"payload"), "zlib, not gzip", id="zlib"),
    ],
)
def test_invalid_gzip_is_a_decompression_error(data: bytes, why: str) -> None:
    with pytest.raises(DecompressionError):
        CompressedUpload(data=data).decompress()


def test_decompression_error_is_a_body_error() -> None:
    assert issubclass(DecompressionError, BodyError)


def test_a_negative_bound_is_refused() -> None:
    with pytest.raises(ValueError):
        CompressedUpload.compress(b"x").decompress(max_size=-1)
