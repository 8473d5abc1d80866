"""0x8103 set parameters, 0x8104/0x8106 queries and the 0x0104 answer (reference §3.12-§3.14)."""

from __future__ import annotations

from typing import Any

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
    decode_body,
    decode_frame,
)
from gateway.protocol.bodies.parameters import (
    BYTE,
    DWORD,
    PARAMETERS,
    STRING,
    WORD,
    Parameter,
    ParameterId,
    QueryAllParameters,
    QueryParameters,
    QueryParametersResponse,
    SetParameters,
)
from gateway.protocol.body import Body
from gateway.protocol.ids import MessageId

from .body_properties import body_property_tests, golden_bytes_test, truncation_test
from .real_frames import real_frame_bytes
from .strategies import decode_layout, encode_layout, text_fitting

# --------------------------------------------------------------------------------------------
# Round trips in every revision each message exists in.

BODIES: list[tuple[type[Body], tuple[ProtocolVersion, ...]]] = [
    (SetParameters, (V2011, V2013, V2019)),
    (QueryAllParameters, (V2011, V2013, V2019)),
    (QueryParameters, (V2013, V2019)),
    (QueryParametersResponse, (V2011, V2013, V2019)),
]

test_body_properties = body_property_tests(BODIES)


def test_registered_ids_and_first_revisions() -> None:
    assert SetParameters.MSG_ID == MessageId.SET_PARAMETERS
    assert QueryAllParameters.MSG_ID == MessageId.QUERY_ALL_PARAMETERS
    assert (QueryParameters.MSG_ID, QueryParameters.SINCE) == (MessageId.QUERY_PARAMETERS, V2013)
    assert QueryParametersResponse.MSG_ID == MessageId.QUERY_PARAMETERS_RESPONSE
    assert SetParameters.SINCE == QueryParametersResponse.SINCE == V2011


# --------------------------------------------------------------------------------------------
# Golden bytes, written from the reference tables (id DWORD, length BYTE, value); spaces in
# the hex only separate fields.

HEARTBEAT_30 = "00000001 04 0000001e"
SERVER_127_0_0_1 = "00000013 09 3132372e302e302e31"  # "127.0.0.1"
PROVINCE_44 = "00000081 02 002c"
PLATE_COLOR_2 = "00000084 01 02"
TCP_PORT_8080 = "00000018 04 00001f90"

GOLDEN: list[tuple[Body, ProtocolVersion, str]] = [
    (
        SetParameters(parameters=[Parameter.of(ParameterId.TCP_RETRANSMIT_COUNT, 3)]),
        V2011,
        "01 00000003 04 00000003",
    ),
    (
        SetParameters(
            parameters=[
                Parameter.of(ParameterId.HEARTBEAT_INTERVAL, 30),
                Parameter.of(ParameterId.MAIN_SERVER_ADDRESS, "127.0.0.1"),
                Parameter.of(ParameterId.PROVINCE_ID, 44),
                Parameter.of(ParameterId.PLATE_COLOR, 2),
            ]
        ),
        V2013,
        "04" + HEARTBEAT_30 + SERVER_127_0_0_1 + PROVINCE_44 + PLATE_COLOR_2,
    ),
    (
        SetParameters(
            parameters=[
                Parameter.of(ParameterId.MAIN_SERVER_ADDRESS, "a:1;b:2"),
                Parameter.of(ParameterId.ILLEGAL_DRIVING_PERIOD, bytes([22, 50, 10, 30])),
                Parameter.of(ParameterId.SECONDARY_SERVER_APN, ""),
                Parameter.of(ParameterId.CAN_ID_COLLECTION, bytes.fromhex("0000006480000123")),
            ]
        ),
        V2019,
        "04"
        " 00000013 07 613a313b623a32"
        " 00000032 04 16320a1e"
        " 00000023 00"
        " 00000110 08 0000006480000123",
    ),
    (SetParameters(parameters=[]), V2013, "00"),
    (QueryAllParameters(), V2011, ""),
    (QueryAllParameters(), V2019, ""),
    (QueryParameters(ids=[0x0001, 0x0013]), V2013, "02 00000001 00000013"),
    (QueryParameters(ids=[0xF364]), V2019, "01 0000f364"),
    (
        QueryParametersResponse(
            reply_serial=1, parameters=[Parameter.of(ParameterId.SERVER_TCP_PORT, 8080)]
        ),
        V2011,
        "0001 01" + TCP_PORT_8080,
    ),
    (
        QueryParametersResponse(
            reply_serial=0x1234,
            parameters=[Parameter.of(ParameterId.HEARTBEAT_INTERVAL, 30)],
        ),
        V2013,
        "1234 01" + HEARTBEAT_30,
    ),
    (
        QueryParametersResponse(
            reply_serial=0xBEEF,
            parameters=[
                Parameter.of(ParameterId.BACKUP_SERVER_ADDRESS, "a:1"),
                Parameter(id=0xF000, raw=b"\x01\x02"),
                Parameter.of(ParameterId.BACKUP_SERVER_ADDRESS, "b:2"),
            ],
        ),
        V2019,
        "beef 03 00000017 03 613a31 0000f000 02 0102 00000017 03 623a32",
    ),
]

test_golden_bytes = golden_bytes_test(GOLDEN)


def test_typed_values_of_the_2019_golden_body() -> None:
    body = decode_layout(SetParameters, bytes.fromhex(GOLDEN[2][2]), V2019)
    assert [(p.name, p.value) for p in body.parameters] == [
        ("main_server_address", "a:1;b:2"),
        ("illegal_driving_period", bytes([22, 50, 10, 30])),
        ("secondary_server_apn", ""),
        ("can_id_collection", bytes.fromhex("0000006480000123")),
    ]


# --------------------------------------------------------------------------------------------
# Real frames (shared vectors and the reference's verified frames).


def test_real_set_parameters_one_dword() -> None:
    message = decode_frame(real_frame_bytes("v160"))
    assert isinstance(message.body, SetParameters)
    assert [(p.id, p.value) for p in message.body.parameters] == [(0x0001, 10)]


def test_real_set_parameters_can_id_collection_is_eight_bytes() -> None:
    message = decode_frame(real_frame_bytes("v161"))
    assert isinstance(message.body, SetParameters)
    (item,) = message.body.parameters
    assert (item.id, item.name, item.value) == (0x0110, "can_id_collection", b"\xff" * 8)


def test_real_set_parameters_default_report_interval_from_traccar() -> None:
    message = decode_frame(bytes.fromhex("7e8103000a02453031334900000100000029040000000a927e"))
    assert isinstance(message.body, SetParameters)
    item = message.body.parameter(ParameterId.DEFAULT_REPORT_INTERVAL)
    assert item is not None and item.value == 10


@pytest.mark.parametrize(
    ("vector_id", "version"), [("v162", V2013), ("v201", V2019), ("v163", V2019)]
)
def test_real_query_all_parameters_is_empty(vector_id: str, version: ProtocolVersion) -> None:
    # v163 sets no version flag but carries a 2019 header; the header's length check finds it.
    message = decode_frame(real_frame_bytes(vector_id))
    assert message.header.version is version
    assert message.body == QueryAllParameters()
    assert message.trailing == b""


def test_real_response_with_one_dword() -> None:
    message = decode_frame(real_frame_bytes("v131"))
    assert message.body == QueryParametersResponse(
        reply_serial=20, parameters=[Parameter(id=1, raw=bytes.fromhex("0000000a"))]
    )


def test_real_response_with_a_string() -> None:
    message = decode_frame(real_frame_bytes("v132"))
    assert isinstance(message.body, QueryParametersResponse)
    assert message.body.reply_serial == 20
    assert [(p.id, p.value) for p in message.body.parameters] == [
        (0x0001, 10),
        (0x0013, "www.baidu.com"),
    ]


def test_real_response_keeps_a_jtt1078_parameter_raw() -> None:
    message = decode_frame(real_frame_bytes("v133"))
    assert isinstance(message.body, QueryParametersResponse)
    (item,) = message.body.parameters
    assert (item.id, len(item.raw), item.name, item.value) == (0x0077, 0xBE, None, None)
    assert item.to_json() == {"id": 0x0077, "raw": item.raw.hex()}


def test_real_response_with_fewer_items_than_its_count_delivers_what_it_has() -> None:
    # The device declares 9 items and sends 7, ending cleanly after the 7th.
    message = decode_frame(real_frame_bytes("v134"))
    assert isinstance(message.body, QueryParametersResponse)
    values = {p.id: p.value for p in message.body.parameters}
    assert len(message.body.parameters) == 7
    assert values[0x0013] == "223.108.133.163"  # sent with a 0x00 terminator, length 16
    assert values[0x0017] == ""  # length 1: just the terminator
    assert values[0x0018] == 808


def test_real_2019_response_with_91_parameters() -> None:
    message = decode_frame(real_frame_bytes("v202"))
    assert message.header.version is V2019
    body = message.body
    assert isinstance(body, QueryParametersResponse)
    assert (body.reply_serial, len(body.parameters)) == (4, 91)
    expected = {
        0x0001: 10,
        0x0002: 60,
        0x0010: "13012345670",
        0x0013: "127.0.0.1:7000",
        0x001B: 1111,
        0x001C: 1112,
        0x0031: 60,
        0x0055: 60,
        0x0057: 14400,
        0x0080: 36,
        0x0081: 11,
        0x0082: 102,
        0x0083: "京AX0001",
        0x0084: 1,
        0x0101: 5000,
        0x0110: bytes([0, 0, 0, 0, 0, 0, 1, 1]),
    }
    for parameter_id, value in expected.items():
        item = body.parameter(parameter_id)
        assert item is not None and item.value == value, hex(parameter_id)
    assert body.parameter(ParameterId.ILLEGAL_DRIVING_PERIOD) == Parameter(
        id=0x0032, raw=bytes.fromhex("16320a1e")
    )


def test_merged_sub_packaged_response_decodes_from_the_reassembled_body() -> None:
    first = decode_frame(real_frame_bytes("v175")).body
    second = decode_frame(real_frame_bytes("v176")).body
    merged = first.data + second.data  # type: ignore[attr-defined]
    body, trailing = decode_body(MessageId.QUERY_PARAMETERS_RESPONSE, merged, V2013)
    assert trailing == b""
    assert isinstance(body, QueryParametersResponse)
    assert (body.reply_serial, len(body.parameters)) == (0, 107)
    values = {p.id: p.value for p in body.parameters}
    assert values[0x0001] == 600
    assert values[0x0010] == "CMNET"
    assert values[0x0013] == "222.184.26.22"
    assert values[0x0018] == 2021  # 2013 device: the port parameter 2019 reserves
    assert values[0x0083] == "测试视频车辆"  # GBK
    vendor = [p for p in body.parameters if p.id >= 0xF000]
    assert [p.id for p in vendor] == [0xF364, 0xF365, 0xFF01, 0xFF02, 0xF373, 0xFF00]
    assert all(p.name is None and p.value is None for p in vendor)
    # A 2013 device sends 0x0023 (a 2019 STRING id) as four zero bytes: read as empty text.
    assert body.parameter(0x0023) == Parameter(id=0x0023, raw=bytes(4))
    assert values[0x0023] == ""
    assert encode_layout(body, V2013) == merged


# --------------------------------------------------------------------------------------------
# The parameter table.


def test_every_parameter_id_has_its_lowercase_name_in_the_table() -> None:
    for parameter_id in ParameterId:
        assert PARAMETERS[parameter_id].name == parameter_id.name.lower()


@pytest.mark.parametrize(
    ("parameter_id", "kind"),
    [
        (0x0001, "DWORD"),
        (0x0013, "STRING"),
        (0x0018, "DWORD"),  # reserved in 2019, kept as the 2011/2013 TCP port
        (0x0019, "DWORD"),
        (0x001A, "STRING"),
        (0x0023, "STRING"),  # 2019 secondary server
        (0x0024, "STRING"),
        (0x0025, "STRING"),
        (0x0026, "STRING"),
        (0x0031, "WORD"),
        (0x0032, "BYTE[4]"),  # 2019 illegal driving period
        (0x005D, "WORD"),
        (0x0081, "WORD"),
        (0x0083, "STRING"),
        (0x0084, "BYTE"),
        (0x0094, "BYTE"),
        (0x0095, "DWORD"),
        (0x0101, "WORD"),
        (0x0110, "BYTE[8]"),
        (0x01FF, "BYTE[8]"),
    ],
)
def test_parameter_types_follow_the_standard(parameter_id: int, kind: str) -> None:
    assert PARAMETERS[parameter_id].type.describe() == kind


def test_can_id_range_is_0110_to_01ff() -> None:
    can = [i for i in PARAMETERS if PARAMETERS[i].name == "can_id_collection"]
    assert can == list(range(0x0110, 0x0200))


@pytest.mark.parametrize("parameter_id", [0x0000, 0x0008, 0x0075, 0x007C, 0x0200, 0xF000, 0xFFFF])
def test_reserved_jtt1078_and_vendor_ids_are_not_in_the_table(parameter_id: int) -> None:
    assert parameter_id not in PARAMETERS
    item = Parameter(id=parameter_id, raw=b"\x01\x02\x03")
    assert (item.name, item.value) == (None, None)
    assert item.to_json() == {"id": parameter_id, "raw": "010203"}


# --------------------------------------------------------------------------------------------
# Parameter items.


@pytest.mark.parametrize(
    ("parameter_id", "raw"),
    [
        (ParameterId.HEARTBEAT_INTERVAL, "000a"),  # DWORD sent as 2 bytes
        (ParameterId.GEOFENCE_RADIUS, "0000003c"),  # WORD sent as 4 bytes
        (ParameterId.PLATE_COLOR, ""),  # BYTE with no byte
        (ParameterId.ILLEGAL_DRIVING_PERIOD, "16320a"),  # BYTE[4] with 3
        (ParameterId.CAN_ID_COLLECTION, "00" * 9),  # BYTE[8] with 9
    ],
)
def test_value_of_the_wrong_length_is_none_and_raw_is_kept(parameter_id: int, raw: str) -> None:
    item = Parameter(id=parameter_id, raw=bytes.fromhex(raw))
    assert item.value is None
    assert item.name == ParameterId(parameter_id).name.lower()
    assert item.to_json() == {"id": parameter_id, "raw": raw, "name": item.name}
    body = SetParameters(parameters=[item])
    assert decode_layout(SetParameters, encode_layout(body, V2013), V2013) == body


def test_json_view_has_name_and_typed_value() -> None:
    body = QueryParametersResponse(
        reply_serial=7,
        parameters=[
            Parameter.of(ParameterId.MAX_SPEED, 120),
            Parameter.of(ParameterId.PLATE, "粤B12345"),
            Parameter.of(ParameterId.ILLEGAL_DRIVING_PERIOD, bytes([22, 50, 10, 30])),
        ],
    )
    assert body.to_json() == {
        "reply_serial": 7,
        "parameters": [
            {"id": 0x55, "raw": "00000078", "name": "max_speed", "value": 120},
            {
                "id": 0x83,
                "raw": "d4c1423132333435",
                "name": "plate",
                "value": "粤B12345",
            },
            {
                "id": 0x32,
                "raw": "16320a1e",
                "name": "illegal_driving_period",
                "value": "16320a1e",
            },
        ],
    }


def test_multi_valued_parameter_keeps_its_items_in_order() -> None:
    wire = bytes.fromhex("03 00000013 01 61 00000001 04 00000005 00000013 01 62")
    body = decode_layout(SetParameters, wire, V2019)
    assert [p.value for p in body.parameters_with(ParameterId.MAIN_SERVER_ADDRESS)] == ["a", "b"]
    first = body.parameter(ParameterId.MAIN_SERVER_ADDRESS)
    assert first is not None and first.value == "a"
    assert body.parameter(ParameterId.MAX_SPEED) is None
    assert encode_layout(body, V2019) == wire


def test_string_value_drops_a_2011_terminator_but_raw_keeps_it() -> None:
    item = Parameter(id=ParameterId.MAIN_SERVER_APN, raw=b"CMNET\x00")
    assert item.value == "CMNET"
    assert item.raw == b"CMNET\x00"


def _typed_values(kind: Any) -> st.SearchStrategy[Any]:
    if kind is DWORD:
        return st.integers(0, 0xFFFFFFFF)
    if kind is WORD:
        return st.integers(0, 0xFFFF)
    if kind is BYTE:
        return st.integers(0, 0xFF)
    if kind is STRING:
        return text_fitting(64)
    size = int(kind.describe()[5:-1])  # BYTE[n]
    return st.binary(min_size=size, max_size=size)


@given(data=st.data(), parameter_id=st.sampled_from(sorted(PARAMETERS)))
def test_typed_value_survives_of_and_value(data: st.DataObject, parameter_id: int) -> None:
    value = data.draw(_typed_values(PARAMETERS[parameter_id].type))
    item = Parameter.of(parameter_id, value)
    assert item.value == value
    assert decode_layout(Parameter, encode_layout(item, V2019), V2019) == item


@pytest.mark.parametrize(
    ("parameter_id", "value"),
    [
        (0xF000, 1),  # not a standard id
        (ParameterId.HEARTBEAT_INTERVAL, 1 << 32),
        (ParameterId.GEOFENCE_RADIUS, -1),
        (ParameterId.PLATE_COLOR, "2"),
        (ParameterId.PLATE_COLOR, True),
        (ParameterId.PLATE, 5),
        (ParameterId.PLATE, "x" * 256),
        (ParameterId.ILLEGAL_DRIVING_PERIOD, b"\x01\x02\x03"),
        (ParameterId.CAN_ID_COLLECTION, "0000000000000000"),
    ],
)
def test_of_refuses_values_that_do_not_fit(parameter_id: int, value: Any) -> None:
    with pytest.raises(EncodeError):
        Parameter.of(parameter_id, value)


def test_encoding_refuses_a_value_longer_than_255_bytes() -> None:
    body = SetParameters(parameters=[Parameter(id=0xF000, raw=bytes(256))])
    with pytest.raises(EncodeError):
        encode_layout(body, V2013)


def test_encoding_refuses_more_than_255_items() -> None:
    body = SetParameters(parameters=[Parameter.of(ParameterId.HEARTBEAT_INTERVAL, 1)] * 256)
    with pytest.raises(EncodeError):
        encode_layout(body, V2013)


# --------------------------------------------------------------------------------------------
# Truncated and malformed bodies.

TWO_ITEMS = "02" + HEARTBEAT_30 + SERVER_127_0_0_1
#: Cuts between two items are a short count, tolerated (see the v134 test): every other cut.
TWO_ITEMS_CUTS = [
    size
    for size in range(len(bytes.fromhex(TWO_ITEMS)))
    if size not in {1, 1 + len(bytes.fromhex(HEARTBEAT_30))}
]
ONE_ITEM_RESPONSE = "1234 01" + HEARTBEAT_30

TRUNCATED: list[tuple[type[Body], ProtocolVersion, str, list[int] | None]] = [
    *[(SetParameters, version, TWO_ITEMS, TWO_ITEMS_CUTS) for version in (V2011, V2013, V2019)],
    # Three bytes (serial and count, then no item) is a short count too.
    *[
        (
            QueryParametersResponse,
            version,
            ONE_ITEM_RESPONSE,
            [*range(3), *range(4, len(bytes.fromhex(ONE_ITEM_RESPONSE)))],
        )
        for version in (V2011, V2013, V2019)
    ],
    *[(QueryParameters, version, "02 00000001 00000013", None) for version in (V2013, V2019)],
]

test_truncated_bodies_raise_truncated_body_error = truncation_test(TRUNCATED)


def test_set_parameters_cut_between_items_delivers_the_items_present() -> None:
    body = SetParameters.decode(bytes.fromhex("02" + HEARTBEAT_30), V2013)
    assert [p.value for p in body.parameters] == [30]
    assert SetParameters.decode(bytes.fromhex("02"), V2013) == SetParameters(parameters=[])


def test_bytes_after_the_declared_items_are_kept_as_trailing() -> None:
    wire = bytes.fromhex("01" + HEARTBEAT_30 + "abcd")
    body, trailing = decode_body(MessageId.SET_PARAMETERS, wire, V2013)
    assert isinstance(body, SetParameters) and len(body.parameters) == 1
    assert trailing == b"\xab\xcd"
    with pytest.raises(BodyError):
        SetParameters.decode(wire, V2013)


def test_query_all_parameters_with_a_body_keeps_it_as_trailing() -> None:
    body, trailing = decode_body(MessageId.QUERY_ALL_PARAMETERS, b"\x00", V2013)
    assert (body, trailing) == (QueryAllParameters(), b"\x00")
