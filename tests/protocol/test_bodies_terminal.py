"""0x8105 terminal control, 0x8107/0x0107 attributes, 0x8108/0x0108 upgrade (reference
§3.15-§3.19)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gateway.protocol import (
    V2011,
    V2013,
    V2019,
    BodyError,
    EncodeError,
    ProtocolVersion,
    TruncatedBodyError,
    decode_body,
    decode_frame,
)
from gateway.protocol.bodies.terminal import (
    ATTRIBUTES_MANUFACTURER_2019,
    COMMAND_FIELDS_CODEC,
    UPGRADE_MANUFACTURER_2019,
    CommunicationModule,
    GnssModule,
    QueryAttributes,
    QueryAttributesResponse,
    TerminalCommand,
    TerminalControl,
    TerminalType,
    UpgradePackage,
    UpgradeResult,
    UpgradeResultCode,
    UpgradeType,
)
from gateway.protocol.body import Body
from gateway.protocol.framing import split_frame
from gateway.protocol.ids import MessageId
from gateway.protocol.wire import Reader, encode_text

from .body_properties import (
    body_property_tests,
    every_prefix_test,
    golden_bytes_test,
    truncation_test,
)
from .real_frames import real_frame_bytes
from .strategies import (
    CUSTOM,
    assert_round_trip,
    decode_layout,
    encode_layout,
    layout_strategy,
    text_fitting,
)


def _control_fields(version: ProtocolVersion) -> st.SearchStrategy[list[str]]:
    # No ';' inside a field, and [""] is written exactly like [] (both are no parameter bytes).
    field_text = text_fitting(12).filter(lambda text: ";" not in text)
    return st.lists(field_text, max_size=6).filter(lambda fields: fields != [""])


CUSTOM[COMMAND_FIELDS_CODEC] = _control_fields
CUSTOM[ATTRIBUTES_MANUFACTURER_2019] = lambda version: text_fitting(11)
CUSTOM[UPGRADE_MANUFACTURER_2019] = lambda version: text_fitting(11)


# --------------------------------------------------------------------------------------------
# Round trips in every revision each message exists in.

BODIES: list[tuple[type[Body], tuple[ProtocolVersion, ...]]] = [
    (TerminalControl, (V2011, V2013, V2019)),
    (QueryAttributes, (V2013, V2019)),
    (QueryAttributesResponse, (V2013,)),
    (UpgradePackage, (V2013,)),
    (UpgradeResult, (V2013, V2019)),
]

test_body_properties = body_property_tests(BODIES)

#: The 2019 bodies with a 5- or 11-byte manufacturer id: how its width is read, and where it
#: starts in the body.
MANUFACTURER_2019: list[tuple[type[Body], Callable[[Reader], int], int]] = [
    (QueryAttributesResponse, ATTRIBUTES_MANUFACTURER_2019.width_at, 2),
    (UpgradePackage, UPGRADE_MANUFACTURER_2019.width_at, 1),
]

test_every_prefix_of_a_2019_body_with_a_manufacturer_id_decodes_or_raises_body_error = (
    every_prefix_test([(cls, (V2019,)) for cls, _, _ in MANUFACTURER_2019])
)


def _written_width(manufacturer_id: str) -> int:
    return 5 if len(encode_text(manufacturer_id)) <= 5 else 11


@pytest.mark.parametrize(
    ("cls", "width_at", "offset"),
    MANUFACTURER_2019,
    ids=[c.__name__ for c, _, _ in MANUFACTURER_2019],
)
@given(data=st.data())
def test_2019_round_trip_with_5_or_11_byte_manufacturer(
    cls: type[Body], width_at: Callable[[Reader], int], offset: int, data: st.DataObject
) -> None:
    value: Any = data.draw(layout_strategy(cls, V2019))
    wire = encode_layout(value, V2019)
    # An 11-byte body whose bytes also happen to read exactly with 5 is read with 5: that
    # ambiguity is in the wire format, so such draws are not a round-trip counterexample.
    assume(width_at(Reader(wire, V2019, pos=offset)) == _written_width(value.manufacturer_id))
    assert_round_trip(value, V2019)


def test_registered_ids_and_first_revisions() -> None:
    assert (TerminalControl.MSG_ID, TerminalControl.SINCE) == (MessageId.TERMINAL_CONTROL, V2011)
    assert (QueryAttributes.MSG_ID, QueryAttributes.SINCE) == (MessageId.QUERY_ATTRIBUTES, V2013)
    assert QueryAttributesResponse.MSG_ID == MessageId.QUERY_ATTRIBUTES_RESPONSE
    assert (UpgradePackage.MSG_ID, UpgradePackage.SINCE) == (MessageId.UPGRADE_PACKAGE, V2013)
    assert (UpgradeResult.MSG_ID, UpgradeResult.SINCE) == (MessageId.UPGRADE_RESULT, V2013)


# --------------------------------------------------------------------------------------------
# Golden bytes, written from the reference tables; spaces in the hex only separate fields.

ICCID = "89860012345678901234"


def padded(hex_text: str, size: int) -> str:
    """A BYTE[size] text field: the text's hex right-padded with 0x00."""
    return hex_text + "00" * (size - len(hex_text) // 2)


ATTRIBUTES_2013 = " ".join(
    [
        "0005",  # terminal type: passenger + general freight
        "3730313131",  # manufacturer "70111", BYTE[5]
        padded("4a542d4d31", 20),  # model "JT-M1", BYTE[20]
        padded("54303031", 7),  # terminal id "T001", BYTE[7]
        ICCID,  # BCD[10]
        "03 312e30",  # hardware version "1.0"
        "05 322e312e35",  # firmware version "2.1.5"
        "03",  # GNSS: GPS + BeiDou
        "21",  # comms: GPRS + TD-LTE
    ]
)
ATTRIBUTES_2019_TAIL = " ".join(
    [
        padded("4a542d4d31", 30),  # model "JT-M1", BYTE[30]
        padded("54303031", 30),  # terminal id "T001", BYTE[30]
        ICCID,
        "03 312e30",
        "05 322e312e35",
        "0f",  # GNSS: all four
        "20",  # comms: TD-LTE
    ]
)
ATTRIBUTES_2019_5 = "0104 3730313131 " + ATTRIBUTES_2019_TAIL  # trailer + general freight
ATTRIBUTES_2019_11 = "0104 41434d452d474e53532d31 " + ATTRIBUTES_2019_TAIL  # "ACME-GNSS-1"


def _attributes(manufacturer_id: str, terminal_type: int, gnss: int, comms: int) -> Body:
    return QueryAttributesResponse(
        terminal_type=terminal_type,
        manufacturer_id=manufacturer_id,
        terminal_model="JT-M1",
        terminal_id="T001",
        iccid=ICCID,
        hardware_version="1.0",
        firmware_version="2.1.5",
        gnss_attributes=gnss,
        communication_attributes=comms,
    )


CONNECT_FIELDS = ["0", "auth", "cmnet", "", "", "10.0.0.1", "8080", "", "0"]
CONNECT_HEX = "02 30 3b 61757468 3b 636d6e6574 3b 3b 3b 31302e302e302e31 3b 38303830 3b 3b 30"

GOLDEN: list[tuple[Body, ProtocolVersion, str]] = [
    (TerminalControl(command=TerminalCommand.POWER_OFF, fields=[]), V2011, "03"),
    (
        TerminalControl(command=TerminalCommand.CONNECT_SERVER, fields=CONNECT_FIELDS),
        V2013,
        CONNECT_HEX,
    ),
    (TerminalControl(command=TerminalCommand.CONNECT_SERVER, fields=["1"]), V2019, "02 31"),
    (TerminalControl(command=TerminalCommand.RESET), V2019, "04"),
    (TerminalControl(command=7, fields=["", ""]), V2013, "07 3b"),
    (QueryAttributes(), V2013, ""),
    (QueryAttributes(), V2019, ""),
    (_attributes("70111", 0x0005, 0x03, 0x21), V2013, ATTRIBUTES_2013),
    (_attributes("70111", 0x0104, 0x0F, 0x20), V2019, ATTRIBUTES_2019_5),
    (_attributes("ACME-GNSS-1", 0x0104, 0x0F, 0x20), V2019, ATTRIBUTES_2019_11),
    (
        UpgradePackage(upgrade_type=0, manufacturer_id="70111", version="V1.2", package=b"\1\2\3"),
        V2013,
        "00 3730313131 04 56312e32 00000003 010203",
    ),
    (
        UpgradePackage(upgrade_type=0x34, manufacturer_id="70111", version="", package=b"~}"),
        V2019,
        "34 3730313131 00 00000002 7e7d",
    ),
    (
        UpgradePackage(upgrade_type=0x0C, manufacturer_id="ACME-GNSS-1", version="1", package=b""),
        V2019,
        "0c 41434d452d474e53532d31 01 31 00000000",
    ),
    (UpgradeResult(upgrade_type=0, result=1), V2013, "00 01"),
    (UpgradeResult(upgrade_type=0x34, result=2), V2019, "34 02"),
]

test_golden_bytes = golden_bytes_test(GOLDEN)


# --------------------------------------------------------------------------------------------
# 0x8105 terminal control.


def test_real_control_reset_from_traccar() -> None:
    message = decode_frame(bytes.fromhex("7e81050001024530313349000004bd7e"))
    assert message.body == TerminalControl(command=TerminalCommand.RESET, fields=[])


def test_real_control_factory_reset_has_no_fields() -> None:
    message = decode_frame(real_frame_bytes("v167"))
    assert message.body == TerminalControl(command=5, fields=[])
    assert isinstance(message.body, TerminalControl)
    assert message.body.command_type is TerminalCommand.FACTORY_RESET


def test_real_control_with_binary_ports_is_kept_byte_for_byte() -> None:
    # SmallChi writes the 2013 binary types inside the ';' list (ports 0x2266/0x0CEA, time
    # limit 0x003C). Read as text, those fields are not numbers, but nothing is lost.
    wire = real_frame_bytes("v166")
    message = decode_frame(wire)
    body = message.body
    assert isinstance(body, TerminalControl)
    assert body.command_type is TerminalCommand.WIRELESS_UPGRADE
    assert body.fields[1:5] == ["TKName", "TK", "TK123", "www.baidu.com"]
    assert body.fields[7:12] == ["12345", "code", "2.0", "1.0", "www.TK.com"]
    assert encode_text(body.fields[5]) == b"\x22\x66"
    assert encode_text(body.fields[6]) == b"\x0c\xea"
    assert encode_text(body.fields[12]) == b"\x00\x3c"
    assert body.fields[13] == ""  # the list ends with ';'
    assert encode_layout(body, V2013) == split_frame(wire)[12:-1]


def test_control_fields_are_named_for_connect_server() -> None:
    body = TerminalControl(command=TerminalCommand.CONNECT_SERVER, fields=CONNECT_FIELDS)
    assert body.named_fields == {
        "connection_control": "0",
        "auth_code": "auth",
        "apn": "cmnet",
        "dial_user": "",
        "dial_password": "",
        "address": "10.0.0.1",
        "tcp_port": "8080",
        "udp_port": "",
        "time_limit_min": "0",
    }
    assert body.to_json() == {
        "command": 2,
        "fields": CONNECT_FIELDS,
        "named_fields": body.named_fields,
    }


def test_control_to_switch_back_names_only_the_fields_sent() -> None:
    body = TerminalControl(command=TerminalCommand.CONNECT_SERVER, fields=["1"])
    assert body.named_fields == {"connection_control": "1"}


def test_control_commands_without_fields_or_unknown_have_no_names() -> None:
    assert TerminalControl(command=4).named_fields == {}
    unknown = TerminalControl(command=0x64, fields=["x"])
    assert unknown.command_type is None
    assert unknown.named_fields == {}
    assert unknown.to_json() == {"command": 0x64, "fields": ["x"]}


def test_control_fields_are_gbk_text() -> None:
    body = TerminalControl(command=2, fields=["0", "鉴权"])
    assert encode_layout(body, V2019).hex() == "02303bbcf8c8a8"


def test_control_2011_drops_one_zero_terminator_other_revisions_keep_bytes() -> None:
    assert decode_layout(TerminalControl, bytes.fromhex("0500"), V2011).fields == []
    assert decode_layout(TerminalControl, bytes.fromhex("02313b3000"), V2011).fields == ["1", "0"]
    assert decode_layout(TerminalControl, bytes.fromhex("0500"), V2013).fields == ["\x00"]


@pytest.mark.parametrize("fields", [["a;b"], [""]])
def test_control_refuses_fields_it_cannot_write_unambiguously(fields: list[str]) -> None:
    with pytest.raises(EncodeError):
        encode_layout(TerminalControl(command=2, fields=fields), V2013)


@pytest.mark.parametrize("version", [V2011, V2013, V2019])
def test_truncated_control_raises_truncated_body_error(version: ProtocolVersion) -> None:
    with pytest.raises(TruncatedBodyError):
        TerminalControl.decode(b"", version)


# --------------------------------------------------------------------------------------------
# 0x8107 / 0x0107 attributes.


def test_real_2013_attributes() -> None:
    message = decode_frame(real_frame_bytes("v135"))
    assert message.body == QueryAttributesResponse(
        terminal_type=5,
        manufacturer_id="10601",
        terminal_model="10455545955103",
        terminal_id="4d6a13",
        iccid="12345678901234567890",
        hardware_version="abcdefg",
        firmware_version="poiuytrewq",
        gnss_attributes=7,
        communication_attributes=9,
    )


def test_real_2019_attributes_with_an_11_byte_manufacturer() -> None:
    message = decode_frame(real_frame_bytes("v136"))
    assert message.header.version is V2019
    body = message.body
    assert isinstance(body, QueryAttributesResponse)
    assert message.trailing == b""
    assert (body.manufacturer_id, body.terminal_model, body.terminal_id) == ("", "", "0")
    assert body.iccid == "89860833192330760501"
    assert body.hardware_version == "EC200AEUHAR01A26M16_69609920521106"
    assert body.firmware_version == "6.2.84"
    assert (body.gnss_attributes, body.communication_attributes) == (0x03, 0xFF)


def test_real_2019_attributes_with_the_standard_5_byte_manufacturer() -> None:
    # SmallChi calls this frame non-standard; it is exactly the 2019 table-20 layout.
    message = decode_frame(real_frame_bytes("v137"))
    body = message.body
    assert isinstance(body, QueryAttributesResponse)
    assert message.trailing == b""
    assert (body.manufacturer_id, body.terminal_model, body.terminal_id) == (
        "88888",
        "CK100C",
        "1000493",
    )
    assert body.iccid == "89860324947560032900"
    assert (body.hardware_version, body.firmware_version) == ("HW-V2.5", "CK100C-JT-V024")
    assert body.terminal_types == TerminalType(0xFF)
    assert body.gnss_modules == GnssModule.BEIDOU
    assert body.communication_modules == CommunicationModule.TD_LTE


def test_2019_attributes_that_fit_neither_width_read_the_standard_5_and_keep_the_rest() -> None:
    wire = bytes.fromhex(ATTRIBUTES_2019_5 + "ffff")
    body, trailing = decode_body(MessageId.QUERY_ATTRIBUTES_RESPONSE, wire, V2019)
    assert body == _attributes("70111", 0x0104, 0x0F, 0x20)
    assert trailing == b"\xff\xff"
    with pytest.raises(BodyError):
        QueryAttributesResponse.decode(wire, V2019)


def test_2019_manufacturer_longer_than_11_bytes_is_refused() -> None:
    with pytest.raises(EncodeError):
        encode_layout(_attributes("ACME-GNSS-12", 0, 0, 0), V2019)


def test_2013_manufacturer_longer_than_5_bytes_is_refused() -> None:
    with pytest.raises(EncodeError):
        encode_layout(_attributes("ACME-G", 0, 0, 0), V2013)


# --------------------------------------------------------------------------------------------
# 0x8108 / 0x0108 upgrade.


def test_2019_upgrade_package_with_an_11_byte_zero_padded_manufacturer() -> None:
    wire = bytes.fromhex("00 3132333435000000000000 01 31 00000001 ff")
    body = decode_layout(UpgradePackage, wire, V2019)
    assert body == UpgradePackage(
        upgrade_type=UpgradeType.TERMINAL, manufacturer_id="12345", version="1", package=b"\xff"
    )


def test_2013_upgrade_package_reads_5_bytes_whatever_the_length() -> None:
    wire = bytes.fromhex("00 3132333435000000000000 01 31 00000001 ff")
    with pytest.raises(BodyError):
        UpgradePackage.decode(wire, V2013)


def test_upgrade_enums_follow_the_standard() -> None:
    assert [int(t) for t in UpgradeType] == [0, 0x0C, 0x34]
    assert [int(r) for r in UpgradeResultCode] == [0, 1, 2]


# --------------------------------------------------------------------------------------------
# Truncation: every prefix shorter than these whole bodies.

TRUNCATED: list[tuple[type[Body], ProtocolVersion, str, list[int] | None]] = [
    (QueryAttributesResponse, V2013, ATTRIBUTES_2013, None),
    # Too short for either manufacturer width.
    (QueryAttributesResponse, V2019, ATTRIBUTES_2019_11, None),
    (UpgradePackage, V2013, "00 3730313131 04 56312e32 00000003 010203", None),
    (UpgradePackage, V2019, "34 3730313131 00 00000002 7e7d", None),
    (UpgradePackage, V2019, "0c 41434d452d474e53532d31 01 31 00000000", None),
    (UpgradeResult, V2013, "00 01", None),
    (UpgradeResult, V2019, "34 02", None),
]

test_truncated_bodies_raise_truncated_body_error = truncation_test(TRUNCATED)
