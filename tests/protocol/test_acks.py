"""0x8001 from a per-terminal template: byte for byte what the generic encoder writes, in every
revision, for every serial (escaped bytes included)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol import (
    V2011,
    V2013,
    V2019,
    Header,
    MessageId,
    ProtocolVersion,
    decode_frame,
    encode,
)
from gateway.protocol.acks import GeneralResponseTemplate
from gateway.protocol.bodies.general import PlatformGeneralResponse

U16 = st.integers(0, 0xFFFF)
PHONES = st.text("0123456789", min_size=1, max_size=12)


def generic(
    phone: str, version: ProtocolVersion, protocol_version: int, args: tuple[int, ...]
) -> bytes:
    serial, reply_serial, reply_id, result = args
    header = Header(MessageId.PLATFORM_GENERAL_RESPONSE, phone, serial, version, protocol_version)
    body = PlatformGeneralResponse(reply_serial=reply_serial, reply_id=reply_id, result=result)
    return encode(header, body)


@given(
    phone=PHONES,
    version=st.sampled_from([V2011, V2013, V2019]),
    protocol_version=st.integers(0, 255),
    args=st.tuples(U16, U16, U16, st.integers(0, 4)),
)
def test_template_frame_equals_the_generic_encoding(
    phone: str, version: ProtocolVersion, protocol_version: int, args: tuple[int, int, int, int]
) -> None:
    """``args``: platform serial, reply serial, reply id, result."""
    if version is not V2019:
        protocol_version = 0
    template = GeneralResponseTemplate(phone, version, protocol_version)
    assert template.frame(*args) == generic(phone, version, protocol_version, args)


def test_bytes_that_need_escaping_are_escaped_in_serials_and_check_code() -> None:
    template = GeneralResponseTemplate("013800000000", V2013)
    for serial in (0x7E7E, 0x7D7D, 0x007E, 0x7D00):
        frame = template.frame(serial, serial, 0x0200, 0)
        assert frame.count(0x7E) == 2  # only the delimiters
        decoded = decode_frame(frame)
        assert decoded.header.serial == serial
        body = decoded.body
        assert isinstance(body, PlatformGeneralResponse)
        assert (body.reply_serial, body.reply_id, body.result) == (serial, 0x0200, 0)


def test_a_template_answers_only_its_own_header_form() -> None:
    template = GeneralResponseTemplate("013800000000", V2019, 1)
    assert template.matches("013800000000", V2019, 1)
    assert not template.matches("013800000000", V2013, 0)
    assert not template.matches("013800000001", V2019, 1)
    assert not template.matches("013800000000", V2019, 2)
